//! Other teams' services as event-service meets them, for tests and the local dev stack.
//!
//! Each fake follows `reference/platform-contracts.md` (the platform's real behaviour, read
//! from its source), not a contract of our own: the real routes at the real paths, the real
//! HMAC check with the receiver's own allow-list, the real response shapes and errors, the real
//! rate limits. They are request handlers over plain `http` types, so the same logic serves a
//! wiremock server in tests and an axum server in `tools/venue-stub`.
//!
//! The HMAC check is written here independently of event-service's own (`src/http/
//! internal_auth.rs`), so a bug there cannot hide in both.

pub mod hmac_check;
pub mod ticket_service;
pub mod venue_service;

/// What a fake answers: status, extra headers, JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self { status, headers: Vec::new(), body }
    }
}
