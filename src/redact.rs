//! Keeping credentials out of what users and logs see.
//!
//! RPC providers put API keys in the URL (`?api-key=...`, or a token as a path segment), and
//! HTTP client errors quote the URL they failed on. Any text that may carry one goes through
//! [`urls`] before it is stored where users read it or written to a log: every URL is reduced
//! to its scheme, host and port. Hosts are kept: an operator needs to know which endpoint failed.

use url::Url;

/// `scheme://host[:port]` of a URL: no user, password, path, query or fragment.
pub fn url_host(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}://", url.scheme()),
    }
}

/// `text` with every `http(s)://` and `ws(s)://` URL reduced to its host.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_scheme(rest) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '(' | '"' | '\'' | '<' | '>' | ',' | ';' | '`'))
            .unwrap_or(tail.len());
        match Url::parse(&tail[..end]) {
            Ok(url) => out.push_str(&url_host(&url)),
            // Not a URL after all: keep the scheme, drop the rest of the token.
            Err(_) => out.push_str("<url>"),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_scheme(s: &str) -> Option<usize> {
    ["https://", "http://", "wss://", "ws://"].iter().filter_map(|p| s.find(p)).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_paths_and_queries_but_keep_their_host() {
        let text = "error sending request for url (https://mainnet.helius-rpc.com/?api-key=SECRET-KEY): \
                    connection refused; also http://user:pw@10.0.0.5:8899/TOKEN/ and wss://x.quiknode.pro/abc123";
        let clean = urls(text);
        assert_eq!(
            clean,
            "error sending request for url (https://mainnet.helius-rpc.com): connection refused; also \
             http://10.0.0.5:8899 and wss://x.quiknode.pro"
        );
        for secret in ["SECRET-KEY", "user", "pw@", "TOKEN", "abc123"] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        assert_eq!(urls("no url here"), "no url here");
    }

    #[test]
    fn a_url_reduces_to_scheme_host_and_port() {
        let url = Url::parse("https://u:p@rpc.example.com:8443/v1/KEY?api-key=K#f").unwrap();
        assert_eq!(url_host(&url), "https://rpc.example.com:8443");
    }
}
