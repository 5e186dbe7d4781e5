//! The receiving side of the platform's HMAC (`shared:hmac/validator.ts` as venue-service and
//! ticket-service run it, §2.2): required headers, a ±60 s timestamp, a single-use nonce of at
//! least 16 characters, the body hash when there is a body, the signature over
//! `service:timestamp:nonce:METHOD:request.url:bodyHash` (`request.url` is the path and query
//! as received), and last the receiver's allow-list, compared case-insensitively.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::Reply;

pub struct HmacCheck {
    secret: Vec<u8>,
    allowed: Vec<String>,
    /// `service:nonce` -> first seen (ms); entries live 60 s, like the Redis keys.
    nonces: Mutex<HashMap<String, i64>>,
}

impl HmacCheck {
    pub fn new(secret: &[u8], allowed: &[&str]) -> Self {
        Self {
            secret: secret.to_vec(),
            allowed: allowed.iter().map(|s| s.to_ascii_lowercase()).collect(),
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok(service)` or the receiver's 401/403 answer.
    pub fn verify(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<String, Reply> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let unauthorized =
            |message: &str| Reply::json(401, serde_json::json!({"error": "Unauthorized", "message": message}));
        let (service, signature) = (header("x-internal-service"), header("x-internal-signature"));
        if service.is_empty() || signature.is_empty() {
            return Err(unauthorized("Missing authentication headers"));
        }
        let timestamp = header("x-internal-timestamp");
        let now = chrono::Utc::now().timestamp_millis();
        match timestamp.parse::<i64>() {
            Ok(ts) if (now - ts).abs() <= 60_000 => {}
            _ => return Err(unauthorized("Request timestamp expired or invalid")),
        }
        let nonce = header("x-internal-nonce");
        if nonce.len() < 16 {
            return Err(unauthorized("Invalid nonce"));
        }
        {
            let mut seen = self.nonces.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.retain(|_, at| now - *at < 60_000);
            if seen.insert(format!("{service}:{nonce}"), now).is_some() {
                return Err(unauthorized("Nonce already used (replay attack detected)"));
            }
        }
        let claimed_hash = header("x-internal-body-hash");
        if !body.is_empty() {
            if claimed_hash.is_empty() {
                return Err(unauthorized("Missing body hash"));
            }
            if hex::encode(Sha256::digest(body)) != claimed_hash {
                return Err(unauthorized("Body hash mismatch"));
            }
        }
        let url = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let payload =
            format!("{service}:{timestamp}:{nonce}:{}:{url}:{claimed_hash}", method.as_str().to_ascii_uppercase());
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(payload.as_bytes());
        let valid = hex::decode(&signature).map(|s| mac.verify_slice(&s).is_ok()).unwrap_or(false);
        if !valid {
            return Err(unauthorized("Invalid signature"));
        }
        if !self.allowed.contains(&service.to_ascii_lowercase()) {
            return Err(Reply::json(
                403,
                serde_json::json!({"error": "Forbidden", "message": "Service not authorized"}),
            ));
        }
        Ok(service)
    }
}
