//! What every call to another platform service has in common: the headers of one attempt
//! (tenant, request id, `traceparent`, service identity, the platform's HMAC signature with a
//! fresh nonce per attempt), the idempotency key of a logical call, `Retry-After`, and the
//! rule that service URLs use https in production.
//!
//! HMAC wire format (the platform's `shared:hmac/signer.ts`): `x-internal-service`,
//! `x-internal-timestamp` (epoch ms), `x-internal-nonce` (UUID v4), `x-internal-signature`
//! (hex HMAC-SHA256 of `service:timestamp:nonce:METHOD:path:bodyHash`) and, only when there is a
//! body, `x-internal-body-hash` (hex SHA-256 of the body). `path` is the path and query exactly
//! as sent, without scheme and host.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use resilience::Idempotency;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::{Host, Position, Url};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::http::request_id;

/// Our identity towards other services (`X-Service-ID`, `x-internal-service`). venue-service's
/// and ticket-service's default allow-lists both name it.
pub const SERVICE_NAME: &str = "event-service";

pub const HEADER_SERVICE: &str = "x-internal-service";
pub const HEADER_TIMESTAMP: &str = "x-internal-timestamp";
pub const HEADER_NONCE: &str = "x-internal-nonce";
pub const HEADER_SIGNATURE: &str = "x-internal-signature";
pub const HEADER_BODY_HASH: &str = "x-internal-body-hash";

type HmacSha256 = Hmac<Sha256>;

/// Hex SHA-256 of the body, or "" for an empty body (the platform's convention).
pub fn body_hash(body: &[u8]) -> String {
    if body.is_empty() { String::new() } else { hex::encode(Sha256::digest(body)) }
}

pub(crate) fn mac(
    secret: &[u8],
    service: &str,
    timestamp: &str,
    nonce: &str,
    method: &str,
    path: &str,
    hash: &str,
) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(format!("{service}:{timestamp}:{nonce}:{method}:{path}:{hash}").as_bytes());
    mac
}

/// Signs an outbound call: returns `(body_hash, signature)` for the `x-internal-body-hash` and
/// `x-internal-signature` headers. `method` is upper case, `path` includes any query string.
pub fn sign(
    secret: &[u8],
    service: &str,
    timestamp_ms: i64,
    nonce: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> (String, String) {
    let hash = body_hash(body);
    let signature = mac(secret, service, &timestamp_ms.to_string(), nonce, method, path, &hash).finalize();
    (hash, hex::encode(signature.into_bytes()))
}

/// A plain reqwest client for one dependency: the resilience stack owns timeouts and retries.
/// - `retry(never())`: reqwest >= 0.12.23 retries protocol-level NACKs (e.g. HTTP/2
///   REFUSED_STREAM) by default, invisibly multiplying our attempts (resilience.md §7).
/// - no `timeout`: the attempt timeout drops the future, which cancels the request.
/// - `connect_timeout` below the attempt timeout, so a black-holed host reports as a connect
///   error rather than an anonymous attempt timeout.
/// - no redirects: a 3xx would carry our tenant and signature headers to another URL.
/// - a bounded idle pool: idle sockets beyond modest concurrency only pin file descriptors.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .retry(reqwest::retry::never())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(2))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(16)
        .user_agent(concat!("event-service/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `base` with `segments` appended to its path (any path prefix of `base` is kept).
pub fn join_path(base: &Url, segments: &[&str]) -> anyhow::Result<Url> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("{base} cannot be a base URL"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// What stays the same across the attempts of one logical call.
pub struct OutboundCall {
    pub method: Method,
    pub url: Url,
    pub tenant: TenantId,
    pub request_id: String,
    /// Present exactly for mutating methods; one key per logical call, so retries dedupe.
    pub idempotency_key: Option<String>,
    pub body: Vec<u8>,
}

impl OutboundCall {
    pub fn new(
        method: Method,
        url: Url,
        tenant: TenantId,
        request_id: String,
        operation: &str,
        resource_id: &str,
    ) -> Self {
        let idempotency_key = is_mutating(&method).then(|| idempotency_key(operation, resource_id));
        Self { method, url, tenant, request_id, idempotency_key, body: Vec::new() }
    }

    /// Reads, and writes carrying an idempotency key, may be retried; nothing else.
    pub fn idempotency(&self) -> Idempotency {
        if !is_mutating(&self.method) || self.idempotency_key.is_some() {
            Idempotency::Safe
        } else {
            Idempotency::Unsafe
        }
    }

    /// Path and query exactly as sent: what the HMAC signs.
    pub fn path_and_query(&self) -> &str {
        &self.url[Position::BeforePath..Position::AfterQuery]
    }

    /// The headers of one attempt, signed at `now_ms` with `nonce`.
    pub fn headers(&self, secret: Option<&SecretString>, now_ms: i64, nonce: Uuid) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            // Every value here is ASCII we built ourselves, or a request id that was
            // sanitised on the way in; an invalid one is dropped rather than sent mangled.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put("x-tenant-id", &self.tenant.to_string());
        put(request_id::HEADER, &self.request_id);
        put("traceparent", &traceparent(&self.request_id));
        put("x-service-id", SERVICE_NAME);
        put("x-service-name", SERVICE_NAME);
        if let Some(key) = &self.idempotency_key {
            put("idempotency-key", key);
        }
        if let Some(secret) = secret {
            let nonce = nonce.to_string();
            let (body_hash, signature) = sign(
                secret.expose_secret().as_bytes(),
                SERVICE_NAME,
                now_ms,
                &nonce,
                self.method.as_str(),
                self.path_and_query(),
                &self.body,
            );
            put(HEADER_SERVICE, SERVICE_NAME);
            put(HEADER_TIMESTAMP, &now_ms.to_string());
            put(HEADER_NONCE, &nonce);
            put(HEADER_SIGNATURE, &signature);
            // Like the platform's signer: the body hash header only when there is a body.
            if !body_hash.is_empty() {
                put(HEADER_BODY_HASH, &body_hash);
            }
        }
        headers
    }
}

/// POST, PUT, PATCH and DELETE: the methods that carry an `Idempotency-Key`.
pub fn is_mutating(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// The original client's key format, `event-svc:{operation}:{resourceId}:{timestamp}:{nonce}`
/// (epoch milliseconds, a v4 UUID without hyphens). Build it once per logical call and reuse it
/// on every retry, or it deduplicates nothing.
pub fn idempotency_key(operation: &str, resource_id: &str) -> String {
    let timestamp = Utc::now().timestamp_millis();
    let nonce = Uuid::new_v4().simple();
    format!("event-svc:{operation}:{resource_id}:{timestamp}:{nonce}")
}

/// W3C trace context: the trace id is the request id's 128 bits when it is a (non-nil) UUID,
/// so one id follows the request across services; the span id is fresh per attempt.
fn traceparent(request_id: &str) -> String {
    let trace = Uuid::parse_str(request_id).ok().filter(|u| !u.is_nil()).unwrap_or_else(Uuid::new_v4);
    // A v4 UUID's first 8 bytes contain the version nibble, so the span id is never all zero.
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{}-{span}-01", trace.simple())
}

/// `Retry-After` in either form (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`, which RFC 2822 parsing accepts). A date in the past means
/// "now". The obsolete RFC 850 and asctime date forms are not accepted (no hint, so backoff).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate instead of failing.
        return Some(Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// HTTPS for service calls in production. `http` is accepted outside production, for loopback
/// hosts (127.0.0.0/8, ::1, `localhost`: the traffic never leaves the machine, e.g. a sidecar),
/// or when `allow_insecure` (`ALLOW_INSECURE_SERVICE_CALLS=true`) is set; the caller must log
/// that override loudly (see [`uses_insecure_override`]). Any other scheme is refused.
pub fn check_url_security(url: &Url, production: bool, allow_insecure: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if !production || is_loopback(url) || allow_insecure => Ok(()),
        "http" => Err(format!(
            "must use https in production (got http://{}); use https, a loopback address, or set \
             ALLOW_INSECURE_SERVICE_CALLS=true to override",
            url.host_str().unwrap_or_default()
        )),
        other => Err(format!("must be an http(s) URL, got scheme {other:?}")),
    }
}

/// True when [`check_url_security`] accepted `url` only because of the override: log it.
pub fn uses_insecure_override(url: &Url, production: bool, allow_insecure: bool) -> bool {
    production && allow_insecure && url.scheme() == "http" && !is_loopback(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::internal_auth;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn call(method: Method) -> OutboundCall {
        let url =
            Url::parse("https://venues.internal/internal/venues/6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11?x=1").unwrap();
        let tenant = TenantId::from_uuid(Uuid::new_v4());
        OutboundCall::new(method, url, tenant, "req-1".to_owned(), "reserve", "6f1c1f3e")
    }

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
    }

    #[test]
    fn reads_never_carry_an_idempotency_key() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            let call = call(method.clone());
            let headers = call.headers(Some(&SecretString::from(SECRET)), 1, Uuid::new_v4());
            assert!(headers.get("idempotency-key").is_none(), "{method} carried an Idempotency-Key");
            assert_eq!(call.idempotency(), Idempotency::Safe);
        }
    }

    #[test]
    fn writes_carry_one_key_in_the_original_format_reused_across_attempts() {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let call = call(method);
            let first = call.headers(None, 1, Uuid::new_v4());
            let second = call.headers(None, 2, Uuid::new_v4());
            let key = header(&first, "idempotency-key");
            assert_eq!(key, header(&second, "idempotency-key"), "a retry must reuse the key");
            let parts: Vec<&str> = key.split(':').collect();
            assert_eq!(parts[..3], ["event-svc", "reserve", "6f1c1f3e"]);
            assert!(parts[3].parse::<i64>().unwrap() > 1_600_000_000_000, "epoch ms");
            assert_eq!(parts[4].len(), 32);
            assert_eq!(call.idempotency(), Idempotency::Safe);
        }
    }

    #[test]
    fn headers_identify_tenant_request_trace_and_service_and_sign_the_exact_path() {
        let call = call(Method::GET);
        let nonce = Uuid::new_v4();
        let headers = call.headers(Some(&SecretString::from(SECRET)), 1_700_000_000_000, nonce);
        assert_eq!(header(&headers, "x-tenant-id"), call.tenant.to_string());
        assert_eq!(header(&headers, "x-request-id"), "req-1");
        assert_eq!(header(&headers, "x-service-id"), "event-service");
        assert_eq!(header(&headers, "x-service-name"), "event-service");
        assert!(headers.get("authorization").is_none());
        assert!(headers.get("x-internal-body-hash").is_none(), "no body, no body hash (as the platform's signer)");
        let path = "/internal/venues/6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11?x=1";
        assert_eq!(call.path_and_query(), path);
        let nonce = nonce.to_string();
        let signed = internal_auth::SignedRequest {
            service: header(&headers, "x-internal-service"),
            timestamp: header(&headers, "x-internal-timestamp"),
            nonce: header(&headers, "x-internal-nonce"),
            signature: header(&headers, "x-internal-signature"),
            body_hash: header(&headers, "x-internal-body-hash"),
            method: "GET",
            path,
            body: b"",
        };
        assert_eq!(signed.nonce, nonce);
        assert_eq!(
            internal_auth::verify(SECRET.as_bytes(), &signed, 1_700_000_000_000, &["event-service".into()]),
            Ok(())
        );
        // Without a secret, nothing pretends to be signed.
        let unsigned = call.headers(None, 1, Uuid::new_v4());
        assert!(unsigned.get("x-internal-signature").is_none() && unsigned.get("x-internal-service").is_none());
    }

    #[test]
    fn traceparent_reuses_a_uuid_request_id_and_is_well_formed_otherwise() {
        let id = Uuid::new_v4();
        let tp = traceparent(&id.to_string());
        assert!(tp.starts_with(&format!("00-{}-", id.simple())) && tp.ends_with("-01"), "{tp}");
        for tp in [traceparent("not-a-uuid"), traceparent(&Uuid::nil().to_string())] {
            let parts: Vec<&str> = tp.split('-').collect();
            assert_eq!((parts.len(), parts[0], parts[1].len(), parts[2].len(), parts[3]), (4, "00", 32, 16, "01"));
            assert_ne!(parts[1], "0".repeat(32));
            assert!(parts[1..3].iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
        }
    }

    #[test]
    fn retry_after_accepts_delta_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO), "past = now");
        for bad in ["", "-1", "1.5", "soon", "Sunday, 06-Nov-94 08:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn production_requires_https_except_loopback_or_an_explicit_override() {
        let url = |s: &str| Url::parse(s).unwrap();
        for ok in [
            "https://venue-service:3002",
            "http://127.0.0.1:3002",
            "http://127.8.9.10",
            "http://[::1]:3002",
            "http://localhost:3002",
            "http://LOCALHOST.",
        ] {
            assert_eq!(check_url_security(&url(ok), true, false), Ok(()), "{ok}");
            assert!(!uses_insecure_override(&url(ok), true, true), "{ok}");
        }
        for bad in [
            "http://venue-service:3002",
            "http://10.0.0.5",
            "http://localhost.evil.com",
            "http://[::2]",
            "http://128.0.0.1",
        ] {
            assert!(check_url_security(&url(bad), true, false).is_err(), "{bad}");
            assert_eq!(check_url_security(&url(bad), true, true), Ok(()), "{bad} with the override");
            assert!(uses_insecure_override(&url(bad), true, true), "{bad}");
            assert_eq!(check_url_security(&url(bad), false, false), Ok(()), "{bad} outside production");
        }
        assert!(check_url_security(&url("ftp://venue-service"), false, true).is_err());
        let message = check_url_security(&url("http://venue-service:3002"), true, false).unwrap_err();
        assert!(message.contains("https") && message.contains("ALLOW_INSECURE_SERVICE_CALLS"), "{message}");
    }
}
