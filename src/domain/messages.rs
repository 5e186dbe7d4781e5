//! The messages this service announces its changes with, in the shapes the platform's consumers
//! read (`reference/platform-contracts.md` §4; every message is listed in `docs/events.md`).
//!
//! * Exchange `tickettoken_events` (topic, durable): the payload's fields beside
//!   `metadata{userId?, tenantId, timestamp, source}`, then `_meta{source, publishedAt,
//!   routingKey}`. `publishedAt` is filled in by the relay at publication.
//! * Exchange `search.sync` (topic, durable): the payload's fields plus `timestamp` and
//!   `routingKey`.
//!
//! camelCase names, ISO-8601 times. Fields the original read from columns that did not exist
//! (`organizerId`, `startDate`) are filled from the real data. Where a running consumer expects
//! another shape than the original published (notification-service's `event.cancelled`), the
//! consumer's shape is used.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::domain::event_out::EventOut;

pub const SOURCE: &str = "event-service";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// `tickettoken_events`: notifications, analytics, blockchain-service.
    Events,
    /// `search.sync`: search-service.
    SearchSync,
}

impl Exchange {
    pub fn name(self) -> &'static str {
        match self {
            Exchange::Events => "tickettoken_events",
            Exchange::SearchSync => "search.sync",
        }
    }

    pub fn all() -> [Exchange; 2] {
        [Exchange::Events, Exchange::SearchSync]
    }
}

/// One message, as written to the outbox in the transaction that makes the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub exchange: Exchange,
    pub routing_key: &'static str,
    /// The complete body, except `_meta.publishedAt` (set when it is published).
    pub body: Value,
}

/// Who made a change and when.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub tenant: TenantId,
    /// The acting user (`sub`), or a job's name.
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

impl Origin<'_> {
    fn events(&self, routing_key: &'static str, payload: Value) -> Message {
        let mut body = object(payload);
        body.insert(
            "metadata".to_owned(),
            json!({ "userId": self.actor, "tenantId": self.tenant, "timestamp": self.at, "source": SOURCE }),
        );
        body.insert("_meta".to_owned(), json!({ "source": SOURCE, "routingKey": routing_key }));
        Message { exchange: Exchange::Events, routing_key, body: Value::Object(body) }
    }

    fn search(&self, routing_key: &'static str, payload: Value) -> Message {
        let mut body = object(payload);
        body.insert("timestamp".to_owned(), json!(self.at));
        body.insert("routingKey".to_owned(), json!(routing_key));
        Message { exchange: Exchange::SearchSync, routing_key, body: Value::Object(body) }
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A timestamp as the event's body writes it.
fn at(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(crate::domain::wire_time::format(&t)))
}

/// `event.created` on both exchanges, from the event as the API returns it (with its first
/// schedule and capacity totals).
pub fn created(origin: &Origin<'_>, event: &EventOut) -> Vec<Message> {
    vec![
        origin.events(
            "event.created",
            json!({
                "eventId": event.id, "name": event.name,
                // The original read a column that never existed; the creator is the organiser.
                "organizerId": event.created_by.shown(),
                "venueId": event.venue_id, "startDate": at(event.starts_at), "endDate": at(event.ends_at),
                "status": event.status, "createdAt": at(Some(event.created_at)),
            }),
        ),
        origin.search(
            "event.created",
            json!({
                "id": event.id, "name": event.name, "description": event.description, "venueId": event.venue_id,
                "status": event.status, "eventType": event.event_type, "startsAt": at(event.starts_at),
                "capacity": event.capacity, "tags": event.tags, "isFeatured": event.is_featured,
            }),
        ),
    ]
}

/// What an update changed, in the original's `changes` object: only fields the request sent.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    /// `short_description`, else `description`, as the original.
    pub description: Option<String>,
    pub status: Option<String>,
    pub tags: Option<Vec<String>>,
    pub is_featured: Option<bool>,
}

impl Changes {
    fn to_json(&self) -> Value {
        let mut map = Map::new();
        if let Some(v) = &self.name {
            map.insert("name".to_owned(), json!(v));
        }
        if let Some(v) = &self.description {
            map.insert("description".to_owned(), json!(v));
        }
        if let Some(v) = &self.status {
            map.insert("status".to_owned(), json!(v));
        }
        if let Some(v) = &self.tags {
            map.insert("tags".to_owned(), json!(v));
        }
        if let Some(v) = self.is_featured {
            map.insert("isFeatured".to_owned(), json!(v));
        }
        Value::Object(map)
    }
}

/// `event.updated` on both exchanges.
pub fn updated(origin: &Origin<'_>, event_id: Uuid, changes: &Changes) -> Vec<Message> {
    let changes = changes.to_json();
    vec![
        origin.events("event.updated", json!({ "eventId": event_id, "changes": changes, "updatedAt": origin.at })),
        origin.search("event.updated", json!({ "id": event_id, "changes": changes })),
    ]
}

/// `event.published` on `tickettoken_events`, and `event.updated` `{status: PUBLISHED}` on
/// `search.sync`, as the original's publish did.
pub fn published(origin: &Origin<'_>, event: &EventOut) -> Vec<Message> {
    vec![
        origin.events(
            "event.published",
            json!({
                "eventId": event.id, "name": event.name, "startDate": at(event.starts_at), "venueId": event.venue_id,
                "publishedAt": at(event.published_at),
            }),
        ),
        origin.search("event.updated", json!({ "id": event.id, "changes": { "status": "PUBLISHED" } })),
    ]
}

/// `event.deleted` on both exchanges.
pub fn deleted(origin: &Origin<'_>, event_id: Uuid) -> Vec<Message> {
    vec![
        origin.events("event.deleted", json!({ "eventId": event_id, "deletedAt": origin.at })),
        origin.search("event.deleted", json!({ "id": event_id })),
    ]
}

/// Every status change, whoever makes it: `event.status.changed` on `search.sync`. The original
/// sent it for the time-based job only (`changedBy: "system-job"`).
pub fn status_changed(origin: &Origin<'_>, event_id: Uuid, from: &str, to: &str) -> Message {
    origin.search(
        "event.status.changed",
        json!({
            "id": event_id, "tenantId": origin.tenant, "previousStatus": from, "newStatus": to,
            "changedAt": origin.at, "changedBy": origin.actor,
        }),
    )
}

/// What `event.cancelled` tells notification-service.
pub struct Cancellation<'a> {
    pub event_id: Uuid,
    pub venue_id: Uuid,
    pub event_name: &'a str,
    pub event_date: Option<DateTime<Utc>>,
    pub reason: &'a str,
    pub refund_policy: &'a str,
    pub notify_customers: bool,
    pub tickets_sold: i64,
}

/// `event.cancelled` on `tickettoken_events`, in the shape its running consumer reads
/// (notification-service, `types/events.types.ts`): `{venueId, data:{eventId, eventName,
/// eventDate, reason, refundAvailable, affectedTickets:[{ticketId, userId, email}]}}`. The
/// ticket list belongs to ticket-service; this service does not know it, so it is empty and
/// `ticketsSold` says how many there are. The original's flat fields are kept beside it.
pub fn cancelled(origin: &Origin<'_>, c: &Cancellation<'_>) -> Message {
    origin.events(
        "event.cancelled",
        json!({
            "venueId": c.venue_id,
            "data": {
                "eventId": c.event_id, "eventName": c.event_name, "eventDate": c.event_date,
                "reason": c.reason, "refundAvailable": c.refund_policy != "none", "affectedTickets": [],
                "ticketsSold": c.tickets_sold, "notifyCustomers": c.notify_customers,
            },
            "eventId": c.event_id, "reason": c.reason, "cancelledBy": origin.actor,
            "refundPolicy": c.refund_policy, "cancelledAt": origin.at,
        }),
    )
}

/// The body as published: `_meta.publishedAt` filled in (only `tickettoken_events` has `_meta`).
pub fn at_publication(mut body: Value, now: DateTime<Utc>) -> Value {
    if let Some(meta) = body.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.insert("publishedAt".to_owned(), json!(now));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin {
            tenant: TenantId::from_uuid(Uuid::nil()),
            actor: "user-1",
            at: "2026-05-01T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn tickettoken_events_bodies_carry_the_originals_envelope() {
        let id = Uuid::new_v4();
        let [events, search] = <[Message; 2]>::try_from(deleted(&origin(), id)).unwrap();
        assert_eq!((events.exchange.name(), events.routing_key), ("tickettoken_events", "event.deleted"));
        assert_eq!(events.body["metadata"]["tenantId"], Uuid::nil().to_string());
        assert_eq!(events.body["metadata"]["source"], "event-service");
        assert_eq!(events.body["_meta"]["routingKey"], "event.deleted");
        assert_eq!(events.body["eventId"], id.to_string());
        let published = at_publication(events.body, "2026-05-01T10:00:01Z".parse().unwrap());
        assert_eq!(published["_meta"]["publishedAt"], "2026-05-01T10:00:01Z");
        assert_eq!(
            (search.exchange.name(), search.body["routingKey"].as_str()),
            ("search.sync", Some("event.deleted"))
        );
        assert_eq!(search.body["timestamp"], "2026-05-01T10:00:00Z");
        assert!(search.body.get("metadata").is_none(), "search.sync has no metadata");
    }

    #[test]
    fn updates_carry_only_what_the_request_changed() {
        let changes = Changes { name: Some("New".into()), is_featured: Some(true), ..Changes::default() };
        let messages = updated(&origin(), Uuid::nil(), &changes);
        assert_eq!(messages[0].body["changes"], json!({"name": "New", "isFeatured": true}));
        assert_eq!(messages[1].body["changes"], json!({"name": "New", "isFeatured": true}));
    }
}
