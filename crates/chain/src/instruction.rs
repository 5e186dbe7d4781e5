//! `create_event` instruction: Anchor discriminator + hand-written Borsh of `CreateEventParams`, the account
//! list, and the validation that mirrors the program's checks.

use solana_instruction::{AccountMeta, Instruction};
use solana_pubkey::Pubkey;

use crate::error::ParamError;
use crate::seeds;

/// `sha256("global:create_event")[..8]`.
pub const CREATE_EVENT_DISCRIMINATOR: [u8; 8] = [49, 219, 29, 203, 22, 98, 100, 87];

/// `11111111111111111111111111111111`.
pub const SYSTEM_PROGRAM_ID: Pubkey = Pubkey::new_from_array([0; 32]);

pub const MAX_NAME_LEN: usize = 32;
pub const MAX_METADATA_URI_LEN: usize = 64;
pub const MAX_DESCRIPTION_LEN: usize = 200;
pub const MIN_TICKET_PRICE: u64 = 100_000;
pub const MAX_TICKET_PRICE: u64 = 1_000_000_000_000;
pub const MAX_TOTAL_TICKETS: u32 = 16_384;
pub const MIN_START_LEAD_SECS: i64 = 3_600;
pub const MAX_EVENT_DURATION_SECS: i64 = 365 * 24 * 3_600;
pub const MAX_REFUND_WINDOW_SECS: i64 = 172_800;
pub const MAX_ROYALTY_BPS: u32 = 10_000;

/// The program's `CreateEventParams`, fields in Borsh (declaration) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateEventParams {
    pub event_id: u64,
    pub name: String,
    pub ticket_price: u64,
    pub total_tickets: u32,
    pub start_time: i64,
    pub end_time: i64,
    pub refund_window: i64,
    pub metadata_uri: String,
    pub oracle_feed: Pubkey,
    pub description: String,
    pub transferable: bool,
    pub resaleable: bool,
    pub artist_wallet: Pubkey,
    pub artist_percentage: u16,
    pub venue_percentage: u16,
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).expect("string longer than u32::MAX bytes");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl CreateEventParams {
    /// Discriminator ++ Borsh(params): LE integers, `u32` LE length-prefixed strings, 1-byte bools, raw pubkeys.
    pub fn instruction_data(&self) -> Vec<u8> {
        let strings = self.name.len() + self.metadata_uri.len() + self.description.len();
        let mut out = Vec::with_capacity(8 + 8 + 4 + 8 + 4 + 24 + 4 + 32 + 4 + 2 + 32 + 4 + strings);
        out.extend_from_slice(&CREATE_EVENT_DISCRIMINATOR);
        out.extend_from_slice(&self.event_id.to_le_bytes());
        put_string(&mut out, &self.name);
        out.extend_from_slice(&self.ticket_price.to_le_bytes());
        out.extend_from_slice(&self.total_tickets.to_le_bytes());
        out.extend_from_slice(&self.start_time.to_le_bytes());
        out.extend_from_slice(&self.end_time.to_le_bytes());
        out.extend_from_slice(&self.refund_window.to_le_bytes());
        put_string(&mut out, &self.metadata_uri);
        out.extend_from_slice(self.oracle_feed.as_ref());
        put_string(&mut out, &self.description);
        out.push(u8::from(self.transferable));
        out.push(u8::from(self.resaleable));
        out.extend_from_slice(self.artist_wallet.as_ref());
        out.extend_from_slice(&self.artist_percentage.to_le_bytes());
        out.extend_from_slice(&self.venue_percentage.to_le_bytes());
        out
    }

    /// The inverse of [`Self::instruction_data`]: `None` unless `data` is exactly one discriminator and one
    /// Borsh `CreateEventParams`. Used to re-read the arguments an outbox row fixed at its first attempt.
    pub fn from_instruction_data(data: &[u8]) -> Option<Self> {
        let mut r = Reader(data.strip_prefix(&CREATE_EVENT_DISCRIMINATOR)?);
        let params = Self {
            event_id: u64::from_le_bytes(r.array()?),
            name: r.string()?,
            ticket_price: u64::from_le_bytes(r.array()?),
            total_tickets: u32::from_le_bytes(r.array()?),
            start_time: i64::from_le_bytes(r.array()?),
            end_time: i64::from_le_bytes(r.array()?),
            refund_window: i64::from_le_bytes(r.array()?),
            metadata_uri: r.string()?,
            oracle_feed: Pubkey::new_from_array(r.array()?),
            description: r.string()?,
            transferable: r.boolean()?,
            resaleable: r.boolean()?,
            artist_wallet: Pubkey::new_from_array(r.array()?),
            artist_percentage: u16::from_le_bytes(r.array()?),
            venue_percentage: u16::from_le_bytes(r.array()?),
        };
        r.0.is_empty().then_some(params)
    }

    /// Every check the program makes on the parameters, so nothing is sent that must fail. `now_unix` is the
    /// current Unix time (the program uses the cluster clock; leave margin for clock skew and confirmation time).
    /// A negative refund window is also rejected (the program only checks the upper bound).
    pub fn validate(&self, now_unix: i64) -> Result<(), Vec<ParamError>> {
        let mut errors = Vec::new();
        if !self.name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            errors.push(ParamError::NameInvalidCharacters);
        }
        if self.name.len() > MAX_NAME_LEN {
            errors.push(ParamError::NameTooLong(self.name.len()));
        }
        if self.ticket_price < MIN_TICKET_PRICE {
            errors.push(ParamError::PriceTooLow(self.ticket_price));
        }
        if self.ticket_price > MAX_TICKET_PRICE {
            errors.push(ParamError::PriceTooHigh(self.ticket_price));
        }
        if !(1..=MAX_TOTAL_TICKETS).contains(&self.total_tickets) {
            errors.push(ParamError::InvalidCapacity(self.total_tickets));
        }
        if self.start_time <= now_unix.saturating_add(MIN_START_LEAD_SECS) {
            errors.push(ParamError::StartTimeTooSoon);
        }
        if self.end_time <= self.start_time {
            errors.push(ParamError::EndBeforeStart);
        } else if i128::from(self.end_time) - i128::from(self.start_time) > i128::from(MAX_EVENT_DURATION_SECS) {
            errors.push(ParamError::EventTooLong);
        }
        if !(0..=MAX_REFUND_WINDOW_SECS).contains(&self.refund_window) {
            errors.push(ParamError::RefundWindowTooLong(self.refund_window));
        }
        if self.metadata_uri.len() > MAX_METADATA_URI_LEN {
            errors.push(ParamError::MetadataUriTooLong(self.metadata_uri.len()));
        }
        if self.description.len() > MAX_DESCRIPTION_LEN {
            errors.push(ParamError::DescriptionTooLong(self.description.len()));
        }
        let royalty = u32::from(self.artist_percentage) + u32::from(self.venue_percentage);
        if royalty > MAX_ROYALTY_BPS {
            errors.push(ParamError::InvalidRoyaltyPercentage(royalty));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// A Borsh reader over the bytes left to decode.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(u32::from_le_bytes(self.array()?)).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.array::<1>()? {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

/// The `create_event` instruction with its five accounts in program order. The event and reentrancy-guard PDAs
/// are derived from `venue_pda` and `params.event_id` (the single source of the event id, so the seed and the
/// argument cannot disagree).
pub fn create_event_instruction(
    program_id: &Pubkey,
    authority: &Pubkey,
    venue_pda: &Pubkey,
    params: &CreateEventParams,
) -> Instruction {
    let (event, _) = seeds::event_pda(program_id, venue_pda, params.event_id);
    let (guard, _) = seeds::reentrancy_guard_pda(program_id, &event);
    Instruction {
        program_id: *program_id,
        accounts: vec![
            AccountMeta::new(*authority, true),
            AccountMeta::new(*venue_pda, false),
            AccountMeta::new(event, false),
            AccountMeta::new(guard, false),
            AccountMeta::new_readonly(SYSTEM_PROGRAM_ID, false),
        ],
        data: params.instruction_data(),
    }
}
