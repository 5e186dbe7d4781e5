//! ticket-service, for the ticket counts of `GET /internal/events/:id/scan-stats`.
//!
//! ticket-service has no per-event statistics route (the original called one that does not
//! exist and always reported zeros, `reference/platform-contracts.md` §5). What it does offer
//! is `GET /internal/tickets/by-event/:eventId` at its root: HMAC (its default allow-list
//! names `event-service`), optional `X-Tenant-ID`, `limit` (max 5000) and `offset`, answering
//! `{eventId, tickets: [{id, status, validatedAt, ...}], count, totalCount, hasMore}`. We page
//! through it and count. The whole lookup is bounded to 5 s (the original's budget) by the
//! `ticket` resilience stack per page and an overall timeout; any failure gives `None`, and the
//! caller reports zeros, as the original did.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use resilience::{BreakerHandle, Classification, Classify, Dependency, DependencyConfig};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;
use uuid::Uuid;

use crate::clients::outbound::{self, OutboundCall};
use crate::domain::TenantId;
use crate::http::request_id;

/// The original's budget for the whole lookup.
const OVERALL: Duration = Duration::from_secs(5);
/// ticket-service's maximum page.
const PAGE: u32 = 5000;
/// Pages read at most (100,000 tickets); beyond that the counts are marked partial.
const MAX_PAGES: u32 = 20;

/// What scan-stats reports, in the original's field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketStats {
    pub total_tickets: i64,
    /// Sold to a customer, whatever happened after: sold, minted, active, transferred,
    /// checked_in, used.
    pub sold_tickets: i64,
    /// used, checked_in.
    pub used_tickets: i64,
    pub transferred_tickets: i64,
    /// cancelled, refunded, revoked.
    pub cancelled_tickets: i64,
    /// Tickets with a `validatedAt`.
    pub validated_tickets: i64,
    pub last_validation_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TicketCallError {
    #[error("ticket-service answered HTTP {0}")]
    Status(u16),
    #[error("ticket-service transport error: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("ticket-service answered with an unreadable body")]
    Decode,
}

impl From<reqwest::Error> for TicketCallError {
    fn from(e: reqwest::Error) -> Self {
        TicketCallError::Transport(e.without_url())
    }
}

struct TicketClassifier;

impl Classify<TicketCallError> for TicketClassifier {
    fn classify(&self, err: &TicketCallError) -> Classification {
        match err {
            TicketCallError::Transport(_) => Classification::TRANSIENT,
            TicketCallError::Status(s) if *s >= 500 => Classification::TRANSIENT,
            TicketCallError::Status(_) => Classification::CALLER,
            TicketCallError::Decode => Classification::FATAL,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    tickets: Vec<Ticket>,
    #[serde(default)]
    total_count: i64,
    #[serde(default)]
    has_more: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ticket {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    validated_at: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct TicketClient {
    http: reqwest::Client,
    base: Option<Url>,
    stack: Dependency<TicketCallError>,
    hmac_secret: Option<SecretString>,
}

impl TicketClient {
    /// `base` is `TICKET_SERVICE_URL`; without it every lookup is `None` (zeros).
    pub fn new(base: Option<Url>, stack: DependencyConfig, hmac_secret: Option<SecretString>) -> anyhow::Result<Self> {
        Ok(Self { http: outbound::http_client()?, base, stack: Dependency::new(stack, TicketClassifier), hmac_secret })
    }

    pub fn breaker(&self) -> BreakerHandle {
        self.stack.breaker()
    }

    /// The event's ticket counts, or `None` when ticket-service cannot say within 5 s.
    pub async fn stats(&self, tenant: TenantId, event_id: Uuid) -> Option<TicketStats> {
        let base = self.base.as_ref()?;
        match tokio::time::timeout(OVERALL, self.count(base, tenant, event_id)).await {
            Ok(Ok(stats)) => {
                metrics::counter!("ticket_stats_lookups_total", "result" => "ok").increment(1);
                Some(stats)
            }
            Ok(Err(e)) => {
                metrics::counter!("ticket_stats_lookups_total", "result" => "failed").increment(1);
                tracing::warn!(%event_id, error = %e, "ticket counts unavailable; reporting zeros");
                None
            }
            Err(_) => {
                metrics::counter!("ticket_stats_lookups_total", "result" => "timeout").increment(1);
                tracing::warn!(%event_id, "ticket counts took longer than 5 s; reporting zeros");
                None
            }
        }
    }

    async fn count(&self, base: &Url, tenant: TenantId, event_id: Uuid) -> anyhow::Result<TicketStats> {
        let mut stats = TicketStats::default();
        let request_id = request_id::current().unwrap_or_else(|| Uuid::new_v4().to_string());
        for page in 0..MAX_PAGES {
            let mut url = outbound::join_path(base, &["internal", "tickets", "by-event", &event_id.to_string()])?;
            url.query_pairs_mut()
                .append_pair("limit", &PAGE.to_string())
                .append_pair("offset", &(page * PAGE).to_string());
            let call =
                OutboundCall::new(Method::GET, url, tenant, request_id.clone(), "ticket_stats", &event_id.to_string());
            let body = self
                .stack
                .call("tickets_by_event", call.idempotency(), || self.attempt(&call))
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            stats.total_tickets = body.total_count;
            for ticket in &body.tickets {
                add(&mut stats, ticket);
            }
            if !body.has_more || body.tickets.is_empty() {
                return Ok(stats);
            }
        }
        metrics::counter!("ticket_stats_partial_total").increment(1);
        Ok(stats)
    }

    async fn attempt(&self, call: &OutboundCall) -> Result<Page, TicketCallError> {
        let headers = call.headers(self.hmac_secret.as_ref(), Utc::now().timestamp_millis(), Uuid::new_v4());
        let response = self.http.request(call.method.clone(), call.url.clone()).headers(headers).send().await?;
        if !response.status().is_success() {
            return Err(TicketCallError::Status(response.status().as_u16()));
        }
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|_| TicketCallError::Decode)
    }
}

fn add(stats: &mut TicketStats, ticket: &Ticket) {
    match ticket.status.as_deref().unwrap_or("").to_ascii_lowercase().as_str() {
        "used" | "checked_in" => {
            stats.sold_tickets += 1;
            stats.used_tickets += 1;
        }
        "transferred" => {
            stats.sold_tickets += 1;
            stats.transferred_tickets += 1;
        }
        "sold" | "minted" | "active" => stats.sold_tickets += 1,
        "cancelled" | "refunded" | "revoked" => stats.cancelled_tickets += 1,
        _ => {}
    }
    if let Some(at) = ticket.validated_at {
        stats.validated_tickets += 1;
        stats.last_validation_at = stats.last_validation_at.max(Some(at));
    }
}

fn describe(error: &resilience::ResilienceError<TicketCallError>) -> String {
    match error {
        resilience::ResilienceError::Inner(e) => e.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_counted_in_the_original_buckets() {
        let mut stats = TicketStats::default();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        for (status, validated) in [
            ("sold", None),
            ("minted", None),
            ("used", Some(at("2026-05-01T20:00:00Z"))),
            ("checked_in", Some(at("2026-05-01T21:00:00Z"))),
            ("transferred", None),
            ("refunded", None),
            ("reserved", None),
        ] {
            add(&mut stats, &Ticket { status: Some(status.to_owned()), validated_at: validated });
        }
        assert_eq!(
            stats,
            TicketStats {
                total_tickets: 0,
                sold_tickets: 5,
                used_tickets: 2,
                transferred_tickets: 1,
                cancelled_tickets: 1,
                validated_tickets: 2,
                last_validation_at: Some(at("2026-05-01T21:00:00Z")),
            }
        );
    }
}
