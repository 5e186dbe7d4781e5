//! Start-up configuration of the `chain-sim` binary, read from the environment.
//!
//! | Variable | Format | Default |
//! |---|---|---|
//! | `CHAIN_SIM_HOST` | IP address literal to bind, e.g. `0.0.0.0` | `127.0.0.1` |
//! | `CHAIN_SIM_PORT` | port, `0` = ephemeral | `8899` |
//! | `CHAIN_SIM_VENUES` | comma-separated `seed_hex:owner_b58` (64 hex chars : base58 pubkey); each creates the venue PDA `[b"venue", seed]`, verified and active | none |
//! | `CHAIN_SIM_AIRDROP` | comma-separated `pubkey_b58:lamports` (lamports > 0) | none |
//!
//! An unset or empty variable takes the default; whitespace around entries is ignored, and so are empty
//! entries (a trailing comma). Anything else that does not parse is an error.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use solana_address::Address;

use crate::server::{Sim, parse_pubkey, parse_seed_hex};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    /// `(seed, owner)`; created verified and active.
    pub venues: Vec<([u8; 32], Address)>,
    /// `(pubkey, lamports)`.
    pub airdrops: Vec<(Address, u64)>,
}

impl Config {
    pub const DEFAULT_PORT: u16 = 8899;

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        let mut bad = None;
        let cfg = Self::from_lookup(|k| match std::env::var(k) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                bad.get_or_insert_with(|| format!("{k} is not valid UTF-8"));
                None
            }
        });
        match bad {
            Some(e) => Err(e),
            None => cfg,
        }
    }

    /// Reads the variables through `get` (for tests).
    pub fn from_lookup(mut get: impl FnMut(&str) -> Option<String>) -> Result<Self, String> {
        let mut var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let host = match var("CHAIN_SIM_HOST") {
            Some(v) => v.trim().parse().map_err(|_| format!("CHAIN_SIM_HOST={v:?} is not an IP address"))?,
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let port = match var("CHAIN_SIM_PORT") {
            Some(v) => v.trim().parse().map_err(|_| format!("CHAIN_SIM_PORT={v:?} is not a port (0-65535)"))?,
            None => Self::DEFAULT_PORT,
        };
        let venues = match var("CHAIN_SIM_VENUES") {
            Some(v) => parse_venues(&v).map_err(|e| format!("CHAIN_SIM_VENUES: {e}"))?,
            None => Vec::new(),
        };
        let airdrops = match var("CHAIN_SIM_AIRDROP") {
            Some(v) => parse_airdrops(&v).map_err(|e| format!("CHAIN_SIM_AIRDROP: {e}"))?,
            None => Vec::new(),
        };
        Ok(Self { host, port, venues, airdrops })
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Funds the airdrop accounts, then creates the venues (verified, active). Returns the venue PDAs.
    pub fn apply(&self, sim: &mut Sim) -> Result<Vec<(Address, u8)>, String> {
        for (who, lamports) in &self.airdrops {
            sim.fund(who, *lamports)?;
        }
        self.venues.iter().map(|(seed, owner)| sim.put_venue(seed, *owner, true, true)).collect()
    }
}

fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// `seed_hex:owner_b58[,…]`.
pub fn parse_venues(list: &str) -> Result<Vec<([u8; 32], Address)>, String> {
    entries(list)
        .map(|e| {
            let (seed, owner) = e.split_once(':').ok_or_else(|| format!("entry {e:?} is not seed_hex:owner_b58"))?;
            let seed = parse_seed_hex(seed.trim()).map_err(|m| format!("entry {e:?}: {m}"))?;
            let owner = parse_pubkey(owner.trim()).map_err(|m| format!("entry {e:?}: owner {m}"))?;
            Ok((seed, owner))
        })
        .collect()
}

/// `pubkey_b58:lamports[,…]`.
pub fn parse_airdrops(list: &str) -> Result<Vec<(Address, u64)>, String> {
    entries(list)
        .map(|e| {
            let (who, lamports) = e.split_once(':').ok_or_else(|| format!("entry {e:?} is not pubkey_b58:lamports"))?;
            let who = parse_pubkey(who.trim()).map_err(|m| format!("entry {e:?}: {m}"))?;
            let lamports = lamports
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|l| *l > 0)
                .ok_or_else(|| format!("entry {e:?}: lamports must be an integer > 0"))?;
            Ok((who, lamports))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults_and_values() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.addr(), "127.0.0.1:8899".parse().unwrap());
        assert!(c.venues.is_empty() && c.airdrops.is_empty());
        let owner = Address::new_from_array([5; 32]);
        let seed = "ab".repeat(32);
        let c = cfg(&[
            ("CHAIN_SIM_HOST", "0.0.0.0"),
            ("CHAIN_SIM_PORT", "0"),
            ("CHAIN_SIM_VENUES", &format!(" {seed}:{owner} ,{}:{owner},", "00".repeat(32))),
            ("CHAIN_SIM_AIRDROP", &format!("{owner}:42")),
        ])
        .unwrap();
        assert_eq!(c.addr(), "0.0.0.0:0".parse().unwrap());
        assert_eq!(c.venues, vec![([0xab; 32], owner), ([0; 32], owner)]);
        assert_eq!(c.airdrops, vec![(owner, 42)]);
        assert_eq!(cfg(&[("CHAIN_SIM_VENUES", "")]).unwrap().venues, vec![]);
    }

    #[test]
    fn invalid_values() {
        let owner = Address::new_from_array([5; 32]).to_string();
        let seed = "ab".repeat(32);
        for (k, v) in [
            ("CHAIN_SIM_HOST", "localhost".to_owned()),
            ("CHAIN_SIM_PORT", "70000".to_owned()),
            ("CHAIN_SIM_VENUES", seed.clone()),
            ("CHAIN_SIM_VENUES", format!("{}:{owner}", "ab".repeat(31))),
            ("CHAIN_SIM_VENUES", format!("{}:{owner}", "zz".repeat(32))),
            ("CHAIN_SIM_VENUES", format!("{seed}:notbase58!")),
            ("CHAIN_SIM_AIRDROP", owner.clone()),
            ("CHAIN_SIM_AIRDROP", format!("{owner}:0")),
            ("CHAIN_SIM_AIRDROP", format!("{owner}:-1")),
            ("CHAIN_SIM_AIRDROP", "abc:5".to_owned()),
        ] {
            let e = cfg(&[(k, &v)]).unwrap_err();
            assert!(e.starts_with(k), "{k}={v}: {e}");
        }
    }
}
