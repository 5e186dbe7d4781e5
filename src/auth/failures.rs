//! The failed-authentication limiter's counts (the check is in `http/authenticate.rs`).

/// Failed token verifications per client address, per minute (this replica): after
/// `AUTH_FAILURES_PER_MINUTE` of them an address's token-bearing requests are refused with 429
/// before any RSA verification, so a flood of bad tokens cannot buy CPU.
#[derive(Default)]
pub struct AuthFailures {
    map: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (i64, u32)>>,
}

impl AuthFailures {
    fn minute() -> i64 {
        chrono::Utc::now().timestamp() / 60
    }

    pub fn exceeded(&self, ip: std::net::IpAddr, limit: u32) -> bool {
        let map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&ip).is_some_and(|(minute, n)| *minute == Self::minute() && *n >= limit)
    }

    pub fn record(&self, ip: std::net::IpAddr) {
        let minute = Self::minute();
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            map.retain(|_, (m, _)| *m == minute);
        }
        let entry = map.entry(ip).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
    }
}
