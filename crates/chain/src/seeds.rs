//! PDA seeds of the TicketToken program, the one place they are defined.
//!
//! Solana limits every seed to 32 bytes (`MAX_SEED_LEN`) and a PDA to 16 seeds. All seeds below are
//! deterministic (the same inputs always give the same address) and tenant-scoped:
//!
//! * **On-chain event id** (`u64`): a persisted, collision-free number allocated by the service and stored with
//!   the event; this crate takes it as input and never derives it (the original's 32-bit id collided). It also
//!   travels as field 1 of `CreateEventParams`; the program checks it against the event PDA.
//! * **Venue seed** (exactly 32 bytes): the tenant UUID's 16 raw bytes followed by the venue UUID's 16 raw
//!   bytes, see [`venue_seed`]. The same venue id under another tenant gives another seed and so another venue
//!   PDA. A UUID *string* is 36 bytes and cannot be a seed at all (the original's defect), so raw bytes are used.
//! * **Venue PDA** = `find_program_address([b"venue", venue_seed], program)`. The venue account must have been
//!   created on chain with the same seed form, be verified, active and owned by the platform wallet.
//! * **Event PDA** = `find_program_address([b"event", venue_pda, event_id.to_le_bytes()], program)`.
//! * **Reentrancy guard PDA** = `find_program_address([b"reentrancy", event_pda], program)`; the original
//!   client's `["reentrancy", "event", event]` did not match the program and failed with 2006.
//!
//! Every function returns `(address, bump)` as `Pubkey::find_program_address` does.

use solana_pubkey::Pubkey;
use uuid::Uuid;

/// The TicketToken program id (base58).
pub const PROGRAM_ID: &str = "BnYanHjkV6bBDFYfC7F76TyYk6NA9p3wvcAfY1XZCXYS";

pub const VENUE_SEED_PREFIX: &[u8] = b"venue";
pub const EVENT_SEED_PREFIX: &[u8] = b"event";
pub const REENTRANCY_SEED_PREFIX: &[u8] = b"reentrancy";

/// [`PROGRAM_ID`] as a `Pubkey`.
pub fn program_id() -> Pubkey {
    Pubkey::from_str_const(PROGRAM_ID)
}

/// Tenant-bound venue seed: `tenant_id` raw bytes (16) ++ `venue_id` raw bytes (16).
pub fn venue_seed(tenant_id: &Uuid, venue_id: &Uuid) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(tenant_id.as_bytes());
    seed[16..].copy_from_slice(venue_id.as_bytes());
    seed
}

/// `[b"venue", venue_seed]`.
pub fn venue_pda(program_id: &Pubkey, venue_seed: &[u8; 32]) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[VENUE_SEED_PREFIX, venue_seed], program_id)
}

/// `[b"event", venue_pda, event_id.to_le_bytes()]`.
pub fn event_pda(program_id: &Pubkey, venue_pda: &Pubkey, event_id: u64) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[EVENT_SEED_PREFIX, venue_pda.as_ref(), &event_id.to_le_bytes()], program_id)
}

/// `[b"reentrancy", event_pda]`.
pub fn reentrancy_guard_pda(program_id: &Pubkey, event_pda: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[REENTRANCY_SEED_PREFIX, event_pda.as_ref()], program_id)
}
