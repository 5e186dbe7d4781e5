//! The process-local tier in front of the Redis cache, for the hottest read (one event).
//!
//! A warm `GET /events/:id` spent about a third of its CPU on the Redis round trip (docs/
//! benchmarks.md, row 1). This tier keeps the bytes of values read from Redis in the process,
//! so a repeated read is a map lookup. It is only as fresh as Redis itself, because:
//!
//! * **Every invalidation is announced.** `Cache::delete`'s script publishes the value keys it
//!   drops on [`CHANNEL`] (in the same atomic script as the generation bump), and every replica
//!   subscribes ([`listen`]) and drops the key. The replica that wrote drops it at once, without
//!   waiting for its own message.
//! * **No stale fill.** A value is copied in only if no invalidation reached this process since
//!   *before* the Redis read that returned it ([`LocalTier::ticket`]): a value Redis returned
//!   before a write's script ran is either refused (its message already arrived) or dropped by
//!   the message when it arrives (it was sent after the script, so after the read).
//! * **Nothing is trusted without a subscription.** Until the subscription is confirmed, after it
//!   is lost, or while its connection does not answer a `PING` within [`PING_TIMEOUT`], the tier
//!   is empty and bypassed (messages may have been missed).
//! * **Bounded.** At most `REDIS_LOCAL_CACHE_MAX_MB` of values (oldest first out), each for at
//!   most `REDIS_LOCAL_CACHE_TTL_MS`: the bound if a message is delayed (another replica's write
//!   is seen after its pub/sub delivery, usually well under a millisecond; a connection that dies
//!   silently is noticed within [`PING_EVERY`] + [`PING_TIMEOUT`]).
//!
//! Keys are the full tenant keys (`tenant:{<tenant>}:...`), so the tier is tenant-scoped like
//! Redis. Only values read through `Cache::get_bytes_hot` enter it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

/// The channel `Cache::delete` publishes the value keys it drops on (newline-separated).
pub const CHANNEL: &str = "event-service:cache:invalidate";
/// How often the subscription's connection must prove it is alive.
pub const PING_EVERY: Duration = Duration::from_secs(1);
pub const PING_TIMEOUT: Duration = Duration::from_millis(500);

pub struct LocalTier {
    max_bytes: usize,
    ttl: Duration,
    /// Bumped (under the lock) by every invalidation and every change of the subscription.
    seq: AtomicU64,
    /// The subscription is confirmed and answering: the tier may be read and filled.
    live: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Insertion order for eviction, `(key, entry id)`; an id no longer in the map is skipped.
    order: VecDeque<(String, u64)>,
    bytes: usize,
    next_id: u64,
}

struct Entry {
    value: Bytes,
    expires: Instant,
    id: u64,
}

/// Taken before a Redis read; a fill with it succeeds only if nothing was invalidated since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl LocalTier {
    /// `None` when `max_bytes` is 0 (the tier is off).
    pub fn new(max_bytes: usize, ttl: Duration) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            max_bytes,
            ttl,
            seq: AtomicU64::new(0),
            live: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the map consistent, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        if !self.is_live() {
            return None;
        }
        let inner = self.lock();
        let entry = inner.map.get(key)?;
        // An expired entry stays until it is replaced, invalidated or evicted: reading it is
        // only refused.
        (entry.expires > Instant::now()).then(|| entry.value.clone())
    }

    /// `None` while the tier is not live: then nothing read now may be kept.
    pub fn ticket(&self) -> Option<Ticket> {
        self.is_live().then(|| Ticket(self.seq.load(Ordering::SeqCst)))
    }

    /// Keeps `value` under `key` unless an invalidation (of any key) or a change of the
    /// subscription happened since `ticket` was taken. Returns whether it was kept.
    pub fn fill(&self, ticket: Ticket, key: String, value: Bytes) -> bool {
        let size = key.len() + value.len();
        if size > self.max_bytes / 4 {
            return false;
        }
        let mut inner = self.lock();
        // Checked under the lock that every invalidation takes to bump `seq`.
        if !self.is_live() || self.seq.load(Ordering::SeqCst) != ticket.0 {
            return false;
        }
        let inner = &mut *inner;
        inner.next_id += 1;
        let id = inner.next_id;
        let entry = Entry { value, expires: Instant::now() + self.ttl, id };
        if let Some(old) = inner.map.insert(key.clone(), entry) {
            inner.bytes -= key.len() + old.value.len();
        }
        inner.bytes += size;
        inner.order.push_back((key, id));
        while inner.bytes > self.max_bytes {
            let Some((key, id)) = inner.order.pop_front() else { break };
            if inner.map.get(&key).is_some_and(|e| e.id == id) {
                let old = inner.map.remove(&key).expect("checked above");
                inner.bytes -= key.len() + old.value.len();
            }
        }
        // Replaced and invalidated entries leave their order slot behind: compact before the
        // queue outgrows the map by much.
        if inner.order.len() > 2 * inner.map.len() + 64 {
            let map = &inner.map;
            inner.order.retain(|(key, id)| map.get(key).is_some_and(|e| e.id == *id));
        }
        true
    }

    /// Drops `keys` and refuses every fill whose ticket predates this call.
    pub fn invalidate<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        let mut inner = self.lock();
        self.seq.fetch_add(1, Ordering::SeqCst);
        for key in keys {
            if let Some(old) = inner.map.remove(key) {
                inner.bytes -= key.len() + old.value.len();
            }
        }
    }

    /// The subscription is confirmed (`true`) or lost (`false`): either way, what the tier
    /// holds may predate a missed message.
    fn set_live(&self, live: bool) {
        let mut inner = self.lock();
        self.seq.fetch_add(1, Ordering::SeqCst);
        *inner = Inner::default();
        self.live.store(live, Ordering::SeqCst);
        metrics::gauge!("cache_local_tier_live").set(if live { 1.0 } else { 0.0 });
    }

    /// Bytes held (keys and values), for tests and the admin page.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Subscribes to [`CHANNEL`] until `shutdown`, reconnecting with backoff; the tier is live only
/// while a subscription is confirmed and answering pings. `redis_urls`: the server, or the
/// nodes of a Redis Cluster (which delivers a `PUBLISH` on any node to subscribers on every
/// node); each reconnect moves on to the next node.
pub async fn listen(tier: std::sync::Arc<LocalTier>, redis_urls: Vec<SecretString>, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(100);
    for attempt in 0usize.. {
        let Some(redis_url) = redis_urls.get(attempt % redis_urls.len().max(1)) else { return };
        let outcome = tokio::select! {
            outcome = subscribe_once(&tier, redis_url) => outcome,
            () = shutdown.cancelled() => { tier.set_live(false); return }
        };
        tier.set_live(false);
        metrics::counter!("cache_local_tier_reconnects_total").increment(1);
        match outcome {
            // It was live: try again soon.
            Ok(()) => {
                tracing::info!("cache invalidation subscription lost; local tier off until it is back");
                delay = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::debug!(error = %e, retry_in_ms = delay.as_millis() as u64, "cache invalidation channel lost; local tier off")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// One subscription: `Ok` after it was live and then lost, `Err` if it never became live.
async fn subscribe_once(tier: &LocalTier, redis_url: &SecretString) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url.expose_secret())?;
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    tokio::time::timeout(Duration::from_secs(2), pubsub.subscribe(CHANNEL))
        .await
        .map_err(|_| anyhow::anyhow!("subscribe timed out"))??;
    let (mut sink, mut messages) = pubsub.split();
    tier.set_live(true);
    tracing::debug!(channel = CHANNEL, "subscribed to cache invalidations; local tier on");
    // Side by side, so a ping in flight never holds up a message.
    let consumer = async {
        while let Some(message) = messages.next().await {
            // The keys one invalidation dropped, separated by newlines.
            match std::str::from_utf8(message.get_payload_bytes()) {
                Ok(keys) => tier.invalidate(keys.split('\n')),
                // Which keys it named is unknown: drop them all.
                Err(_) => tier.set_live(true),
            }
        }
        tracing::debug!("cache invalidation subscription closed");
    };
    let pinger = async {
        let mut every = tokio::time::interval(PING_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if !matches!(tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                tracing::debug!("cache invalidation subscription did not answer a ping");
                return;
            }
        }
    };
    tokio::select! {
        () = consumer => {}
        () = pinger => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_tier(max: usize) -> LocalTier {
        let tier = LocalTier::new(max, Duration::from_secs(60)).unwrap();
        tier.set_live(true);
        tier
    }

    #[test]
    fn a_fill_after_an_invalidation_since_its_ticket_is_refused() {
        let tier = live_tier(1 << 20);
        let ticket = tier.ticket().unwrap();
        // A write's message arrives while the Redis read that returned the old value is in flight.
        tier.invalidate(["tenant:{t}:event:1"]);
        assert!(!tier.fill(ticket, "tenant:{t}:event:1".into(), Bytes::from_static(b"old")));
        assert_eq!(tier.get("tenant:{t}:event:1"), None);
        let ticket = tier.ticket().unwrap();
        assert!(tier.fill(ticket, "tenant:{t}:event:1".into(), Bytes::from_static(b"new")));
        assert_eq!(tier.get("tenant:{t}:event:1").as_deref(), Some(&b"new"[..]));
        // The message of a later write drops it.
        tier.invalidate(["tenant:{t}:event:1"]);
        assert_eq!(tier.get("tenant:{t}:event:1"), None);
    }

    #[test]
    fn nothing_is_read_or_kept_without_a_subscription_and_a_reconnect_empties_the_tier() {
        let tier = LocalTier::new(1 << 20, Duration::from_secs(60)).unwrap();
        assert!(tier.ticket().is_none(), "not live before the first subscription");
        tier.set_live(true);
        let ticket = tier.ticket().unwrap();
        assert!(tier.fill(ticket, "k".into(), Bytes::from_static(b"v")));
        tier.set_live(false);
        assert_eq!(tier.get("k"), None);
        assert!(!tier.fill(ticket, "k".into(), Bytes::from_static(b"v")), "not live");
        tier.set_live(true);
        assert_eq!(tier.get("k"), None, "emptied: messages may have been missed while down");
        assert!(!tier.fill(ticket, "k".into(), Bytes::from_static(b"v")), "a ticket from before the loss");
    }

    #[test]
    fn the_tier_stays_within_its_bytes_oldest_out_first() {
        let tier = live_tier(1000);
        for i in 0..100 {
            let ticket = tier.ticket().unwrap();
            assert!(tier.fill(ticket, format!("key-{i:03}"), Bytes::from(vec![b'x'; 93])));
            assert!(tier.bytes() <= 1000);
        }
        assert_eq!(tier.bytes(), 1000, "ten entries of 100 bytes");
        assert!(tier.get("key-099").is_some() && tier.get("key-090").is_some());
        assert!(tier.get("key-089").is_none());
        // Refills and invalidations leave no growing queue behind.
        for _ in 0..1000 {
            tier.invalidate(["key-099"]);
            let ticket = tier.ticket().unwrap();
            tier.fill(ticket, "key-099".into(), Bytes::from(vec![b'x'; 93]));
        }
        let (queued, held) = {
            let inner = tier.lock();
            (inner.order.len(), inner.map.len())
        };
        assert!(queued <= 2 * held + 65, "{queued} queued for {held} held");
        assert_eq!(tier.bytes(), 1000);
        // A value larger than a quarter of the tier is not kept at all.
        let ticket = tier.ticket().unwrap();
        assert!(!tier.fill(ticket, "big".into(), Bytes::from(vec![b'x'; 300])));
    }

    #[test]
    fn an_expired_entry_is_not_served() {
        let tier = LocalTier::new(1 << 20, Duration::ZERO).unwrap();
        tier.set_live(true);
        let ticket = tier.ticket().unwrap();
        assert!(tier.fill(ticket, "k".into(), Bytes::from_static(b"v")));
        assert_eq!(tier.get("k"), None);
    }
}
