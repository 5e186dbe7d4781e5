//! The auth-service's token signing keys, as it rotates them.
//!
//! auth-service signs access tokens with RS256 and names the key in the header: `kid` is
//! `current` (production) or `dev` (other environments), and `previous` while a rotation is in
//! progress (`JWT_PUBLIC_KEY_PREVIOUS`). We hold a current and an optional previous public key
//! and pick by `kid`; a token without `kid` (older issuers, hand-made tokens) is tried against
//! the current key, then the previous one. An unknown `kid` is refused.
//!
//! Keys come from files (`JWT_PUBLIC_KEY_PATH`, `JWT_PUBLIC_KEY_PREVIOUS_PATH`, as mounted
//! secrets) or inline (`JWT_PUBLIC_KEY`, `JWT_PUBLIC_KEY_PREVIOUS`: PEM, or base64 of the PEM,
//! as auth-service itself accepts). Files are re-read periodically and on SIGHUP, so a rotation
//! needs no restart; a file that cannot be read or parsed at reload keeps the keys in use (and
//! is logged and counted), so a half-written secret never locks every user out.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::DecodingKey;
use sha2::{Digest, Sha256};

/// Where one public key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    File(PathBuf),
    /// PEM text (already base64-decoded if it was given that way).
    Inline(String),
}

impl KeyOrigin {
    /// `JWT_PUBLIC_KEY`-style values: PEM, or base64 of a PEM.
    pub fn inline(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.starts_with("-----BEGIN") {
            return Ok(Self::Inline(value.replace("\\n", "\n")));
        }
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.as_bytes())
            .map_err(|_| "is neither a PEM nor base64 of a PEM".to_owned())?;
        let text = String::from_utf8(decoded).map_err(|_| "base64 does not decode to a PEM".to_owned())?;
        if !text.trim_start().starts_with("-----BEGIN") {
            return Err("base64 does not decode to a PEM".to_owned());
        }
        Ok(Self::Inline(text))
    }

    fn read(&self, variable: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            KeyOrigin::File(path) => {
                std::fs::read(path).map_err(|e| anyhow::anyhow!("{variable}: cannot read {}: {e}", path.display()))
            }
            KeyOrigin::Inline(pem) => Ok(pem.as_bytes().to_vec()),
        }
    }
}

/// `JWT_PUBLIC_KEY[_PATH]` and, optionally, `JWT_PUBLIC_KEY_PREVIOUS[_PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySources {
    pub current: KeyOrigin,
    pub previous: Option<KeyOrigin>,
}

struct Loaded {
    current: DecodingKey,
    previous: Option<DecodingKey>,
    /// SHA-256 of the PEM bytes, to log a reload only when something changed.
    fingerprint: [u8; 32],
}

/// Which key(s) a token's `kid` selects.
pub enum Selected {
    One(DecodingKey),
    /// No `kid`: the current key, then the previous one.
    Either(DecodingKey, Option<DecodingKey>),
    Unknown,
}

pub struct KeyRing {
    sources: KeySources,
    loaded: RwLock<Arc<Loaded>>,
}

impl KeyRing {
    /// Loads both keys; any problem stops start-up with the variable named.
    pub fn load(sources: KeySources) -> anyhow::Result<Self> {
        let loaded = load(&sources)?;
        Ok(Self { sources, loaded: RwLock::new(Arc::new(loaded)) })
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn select(&self, kid: Option<&str>) -> Selected {
        let keys = self.current();
        match kid {
            // auth-service: `current` in production, `dev` elsewhere.
            Some("current" | "dev") => Selected::One(keys.current.clone()),
            Some("previous") => keys.previous.clone().map_or(Selected::Unknown, Selected::One),
            Some(_) => Selected::Unknown,
            None => Selected::Either(keys.current.clone(), keys.previous.clone()),
        }
    }

    /// Re-reads the sources. Returns whether the keys changed; on error the old keys stay.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let fresh = load(&self.sources)?;
        let mut slot = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        if slot.fingerprint == fresh.fingerprint {
            return Ok(false);
        }
        *slot = Arc::new(fresh);
        Ok(true)
    }

    /// Reload and report: the periodic task and SIGHUP both come here. True when the keys
    /// changed.
    pub fn reload_logged(&self, why: &'static str) -> bool {
        match self.reload() {
            Ok(true) => {
                metrics::counter!("jwt_key_reloads_total", "outcome" => "changed").increment(1);
                tracing::info!(trigger = why, "JWT public keys reloaded: a new key set is in use");
                true
            }
            Ok(false) => {
                metrics::counter!("jwt_key_reloads_total", "outcome" => "unchanged").increment(1);
                false
            }
            Err(e) => {
                metrics::counter!("jwt_key_reloads_total", "outcome" => "failed").increment(1);
                tracing::error!(trigger = why, error = %e, "JWT public keys could not be reloaded; the previous keys stay in use");
                false
            }
        }
    }
}

fn load(sources: &KeySources) -> anyhow::Result<Loaded> {
    let mut hash = Sha256::new();
    let current_pem = sources.current.read("JWT_PUBLIC_KEY_PATH")?;
    hash.update(&current_pem);
    let current = parse(&current_pem, "JWT_PUBLIC_KEY_PATH")?;
    let previous = match &sources.previous {
        None => None,
        Some(origin) => match origin.read("JWT_PUBLIC_KEY_PREVIOUS_PATH") {
            Ok(pem) => {
                hash.update(b"|previous|");
                hash.update(&pem);
                Some(parse(&pem, "JWT_PUBLIC_KEY_PREVIOUS_PATH")?)
            }
            // A previous key file removed after a rotation finished is normal.
            Err(_) if matches!(origin, KeyOrigin::File(p) if !p.exists()) => None,
            Err(e) => return Err(e),
        },
    };
    Ok(Loaded { current, previous, fingerprint: hash.finalize().into() })
}

fn parse(pem: &[u8], variable: &str) -> anyhow::Result<DecodingKey> {
    DecodingKey::from_rsa_pem(pem).map_err(|e| anyhow::anyhow!("{variable}: not an RSA public key in PEM format ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_keys_accept_pem_and_base64_of_pem_only() {
        let pem = "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n";
        assert_eq!(KeyOrigin::inline(pem), Ok(KeyOrigin::Inline(pem.trim().to_owned())));
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(KeyOrigin::inline(&b64), Ok(KeyOrigin::Inline(pem.to_owned())));
        assert!(KeyOrigin::inline("not a key").is_err());
        let not_pem = base64::engine::general_purpose::STANDARD.encode("hello");
        assert!(KeyOrigin::inline(&not_pem).is_err());
    }
}
