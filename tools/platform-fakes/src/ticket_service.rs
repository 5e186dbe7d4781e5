//! ticket-service's `GET /internal/tickets/by-event/:eventId` (`reference/platform-contracts.md`
//! §5), at its root: HMAC on by default, its allow-list names `event-service`; query `status`,
//! `limit` (default 1000, max 5000), `offset`; 200 `{eventId, tickets:[...], count, totalCount,
//! hasMore}`, newest first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::Reply;
use crate::hmac_check::HmacCheck;

/// ticket-service's default allow-list (`ticket-service:middleware/internal-auth.middleware.ts`).
pub const DEFAULT_ALLOWED: &[&str] = &[
    "api-gateway",
    "payment-service",
    "order-service",
    "minting-service",
    "transfer-service",
    "blockchain-service",
    "blockchain-indexer",
    "scanning-service",
    "venue-service",
    "event-service",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    /// Lower case, ticket-service's CHECK: available, reserved, sold, minted, active,
    /// transferred, checked_in, used, revoked, refunded, expired, cancelled.
    pub status: String,
    /// ISO-8601, as node-postgres serialises a timestamptz.
    pub validated_at: Option<String>,
}

impl TicketRecord {
    pub fn new(status: &str, validated_at: Option<&str>) -> Self {
        Self {
            id: uuid::Uuid::new_v4(),
            user_id: uuid::Uuid::new_v4(),
            status: status.to_owned(),
            validated_at: validated_at.map(str::to_owned),
        }
    }
}

pub struct TicketService {
    hmac: Option<HmacCheck>,
    tickets: Mutex<HashMap<uuid::Uuid, Vec<TicketRecord>>>,
    calls: AtomicU64,
}

impl TicketService {
    /// `secret`: `INTERNAL_HMAC_SECRET` (`None`: `USE_NEW_HMAC=false`).
    pub fn new(secret: Option<&[u8]>) -> Self {
        Self {
            hmac: secret.map(|s| HmacCheck::new(s, DEFAULT_ALLOWED)),
            tickets: Mutex::default(),
            calls: AtomicU64::new(0),
        }
    }

    pub fn add_tickets(&self, event: uuid::Uuid, tickets: impl IntoIterator<Item = TicketRecord>) {
        self.tickets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(event)
            .or_default()
            .extend(tickets);
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn handle(&self, method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap, body: &[u8]) -> Reply {
        let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
        let ["internal", "tickets", "by-event", event] = segments.as_slice() else {
            return Reply::json(404, json!({"error": "Not Found", "statusCode": 404}));
        };
        if method != http::Method::GET {
            return Reply::json(404, json!({"error": "Not Found", "statusCode": 404}));
        }
        if let Some(hmac) = &self.hmac
            && let Err(reply) = hmac.verify(method, uri, headers, body)
        {
            return reply;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        if event.is_empty() {
            return Reply::json(400, json!({"error": "Event ID required"}));
        }
        let mut status = None;
        let (mut limit, mut offset) = (1000usize, 0usize);
        for pair in uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "status" => status = Some(v.to_owned()),
                "limit" => limit = v.parse::<usize>().unwrap_or(1000).min(5000),
                "offset" => offset = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        let all = event
            .parse::<uuid::Uuid>()
            .ok()
            .and_then(|e| self.tickets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&e).cloned())
            .unwrap_or_default();
        let matching: Vec<&TicketRecord> =
            all.iter().rev().filter(|t| status.as_deref().is_none_or(|s| t.status == s)).collect();
        let total = matching.len();
        let page: Vec<serde_json::Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|t| {
                json!({
                    "id": t.id, "userId": t.user_id, "status": t.status, "qrCode": null, "ticketNumber": null,
                    "seatNumber": null, "seatSection": null, "seatRow": null, "tokenId": null,
                    "validatedAt": t.validated_at, "usedAt": null, "ticketTypeName": "General Admission",
                })
            })
            .collect();
        let count = page.len();
        Reply::json(
            200,
            json!({
                "eventId": event, "tickets": page, "count": count, "totalCount": total, "hasMore": offset + count < total,
            }),
        )
    }
}
