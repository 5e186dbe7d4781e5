//! The program's `Event` account (499 bytes, zero-padded fixed strings), decoded and encoded at the §10 offsets.

use solana_pubkey::Pubkey;

use crate::instruction::CreateEventParams;

/// `sha256("account:Event")[..8]`.
pub const EVENT_DISCRIMINATOR: [u8; 8] = [125, 192, 125, 158, 9, 115, 152, 233];
/// Allocated size; bytes 491..499 are unused (the program's `SIZE` already counts the discriminator).
pub const EVENT_ACCOUNT_SIZE: usize = 499;

const VENUE: usize = 8;
const EVENT_ID: usize = 40;
const NAME: usize = 48;
const TICKET_PRICE: usize = 80;
const TOTAL_TICKETS: usize = 88;
const TICKETS_SOLD: usize = 92;
const TICKETS_RESERVED: usize = 96;
const START_TIME: usize = 100;
const END_TIME: usize = 108;
const REFUND_WINDOW: usize = 116;
const METADATA_URI: usize = 124;
const ORACLE_FEED: usize = 188;
const DESCRIPTION: usize = 220;
const TRANSFERABLE: usize = 420;
const RESALEABLE: usize = 421;
const MERKLE_TREE: usize = 422;
const ARTIST_WALLET: usize = 454;
const ARTIST_PERCENTAGE: usize = 486;
const VENUE_PERCENTAGE: usize = 488;
const BUMP: usize = 490;

/// Field-for-field image of the on-chain account. Fixed strings are kept raw (zero-padded) so the codec is
/// lossless; use [`trim_padding`] to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAccount {
    pub venue: Pubkey,
    pub event_id: u64,
    pub name: [u8; 32],
    pub ticket_price: u64,
    pub total_tickets: u32,
    pub tickets_sold: u32,
    pub tickets_reserved: u32,
    pub start_time: i64,
    pub end_time: i64,
    pub refund_window: i64,
    pub metadata_uri: [u8; 64],
    pub oracle_feed: Pubkey,
    pub description: [u8; 200],
    pub transferable: bool,
    pub resaleable: bool,
    pub merkle_tree: Pubkey,
    pub artist_wallet: Pubkey,
    pub artist_percentage: u16,
    pub venue_percentage: u16,
    pub bump: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("event account data is {0} bytes, expected at least {EVENT_ACCOUNT_SIZE}")]
    TooShort(usize),
    #[error("account discriminator {0:?} is not the Event discriminator")]
    WrongDiscriminator([u8; 8]),
}

/// `s` zero-padded to `N` bytes; `None` if longer than `N`.
pub fn fixed_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    out.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
    Some(out)
}

/// A fixed string field without its trailing zero padding.
pub fn trim_padding(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

fn arr<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    data[at..at + N].try_into().expect("length checked by caller")
}

/// Reads an `Event` account (discriminator checked; trailing bytes beyond 499 ignored).
pub fn decode_event_account(data: &[u8]) -> Result<EventAccount, DecodeError> {
    if data.len() < EVENT_ACCOUNT_SIZE {
        return Err(DecodeError::TooShort(data.len()));
    }
    let disc: [u8; 8] = arr(data, 0);
    if disc != EVENT_DISCRIMINATOR {
        return Err(DecodeError::WrongDiscriminator(disc));
    }
    Ok(EventAccount {
        venue: Pubkey::new_from_array(arr(data, VENUE)),
        event_id: u64::from_le_bytes(arr(data, EVENT_ID)),
        name: arr(data, NAME),
        ticket_price: u64::from_le_bytes(arr(data, TICKET_PRICE)),
        total_tickets: u32::from_le_bytes(arr(data, TOTAL_TICKETS)),
        tickets_sold: u32::from_le_bytes(arr(data, TICKETS_SOLD)),
        tickets_reserved: u32::from_le_bytes(arr(data, TICKETS_RESERVED)),
        start_time: i64::from_le_bytes(arr(data, START_TIME)),
        end_time: i64::from_le_bytes(arr(data, END_TIME)),
        refund_window: i64::from_le_bytes(arr(data, REFUND_WINDOW)),
        metadata_uri: arr(data, METADATA_URI),
        oracle_feed: Pubkey::new_from_array(arr(data, ORACLE_FEED)),
        description: arr(data, DESCRIPTION),
        transferable: data[TRANSFERABLE] != 0,
        resaleable: data[RESALEABLE] != 0,
        merkle_tree: Pubkey::new_from_array(arr(data, MERKLE_TREE)),
        artist_wallet: Pubkey::new_from_array(arr(data, ARTIST_WALLET)),
        artist_percentage: u16::from_le_bytes(arr(data, ARTIST_PERCENTAGE)),
        venue_percentage: u16::from_le_bytes(arr(data, VENUE_PERCENTAGE)),
        bump: data[BUMP],
    })
}

/// Writes the 499-byte account image (discriminator included, unused tail zero), e.g. for a chain simulator.
pub fn encode_event_account(account: &EventAccount) -> Vec<u8> {
    let mut d = vec![0u8; EVENT_ACCOUNT_SIZE];
    let mut put = |at: usize, bytes: &[u8]| d[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &EVENT_DISCRIMINATOR);
    put(VENUE, account.venue.as_ref());
    put(EVENT_ID, &account.event_id.to_le_bytes());
    put(NAME, &account.name);
    put(TICKET_PRICE, &account.ticket_price.to_le_bytes());
    put(TOTAL_TICKETS, &account.total_tickets.to_le_bytes());
    put(TICKETS_SOLD, &account.tickets_sold.to_le_bytes());
    put(TICKETS_RESERVED, &account.tickets_reserved.to_le_bytes());
    put(START_TIME, &account.start_time.to_le_bytes());
    put(END_TIME, &account.end_time.to_le_bytes());
    put(REFUND_WINDOW, &account.refund_window.to_le_bytes());
    put(METADATA_URI, &account.metadata_uri);
    put(ORACLE_FEED, account.oracle_feed.as_ref());
    put(DESCRIPTION, &account.description);
    put(TRANSFERABLE, &[u8::from(account.transferable)]);
    put(RESALEABLE, &[u8::from(account.resaleable)]);
    put(MERKLE_TREE, account.merkle_tree.as_ref());
    put(ARTIST_WALLET, account.artist_wallet.as_ref());
    put(ARTIST_PERCENTAGE, &account.artist_percentage.to_le_bytes());
    put(VENUE_PERCENTAGE, &account.venue_percentage.to_le_bytes());
    put(BUMP, &[account.bump]);
    d
}

impl EventAccount {
    /// The account `create_event` would write for `params` under `venue` (counters zero, merkle tree default).
    /// `None` if a string does not fit its fixed field (such params fail validation anyway).
    pub fn from_params(params: &CreateEventParams, venue: &Pubkey, bump: u8) -> Option<Self> {
        Some(Self {
            venue: *venue,
            event_id: params.event_id,
            name: fixed_bytes(&params.name)?,
            ticket_price: params.ticket_price,
            total_tickets: params.total_tickets,
            tickets_sold: 0,
            tickets_reserved: 0,
            start_time: params.start_time,
            end_time: params.end_time,
            refund_window: params.refund_window,
            metadata_uri: fixed_bytes(&params.metadata_uri)?,
            oracle_feed: params.oracle_feed,
            description: fixed_bytes(&params.description)?,
            transferable: params.transferable,
            resaleable: params.resaleable,
            merkle_tree: Pubkey::default(),
            artist_wallet: params.artist_wallet,
            artist_percentage: params.artist_percentage,
            venue_percentage: params.venue_percentage,
            bump,
        })
    }

    /// True if this account is the registration of `params` under `venue`: every field `create_event` sets from
    /// its arguments is equal. Counters (sold/reserved, which change after sales), merkle tree and bump are not
    /// compared. Used after an ambiguous send or an "already in use" error to count the event as registered.
    pub fn matches(&self, params: &CreateEventParams, venue: &Pubkey) -> bool {
        self.venue == *venue
            && self.event_id == params.event_id
            && trim_padding(&self.name) == params.name.as_bytes()
            && self.ticket_price == params.ticket_price
            && self.total_tickets == params.total_tickets
            && self.start_time == params.start_time
            && self.end_time == params.end_time
            && self.refund_window == params.refund_window
            && trim_padding(&self.metadata_uri) == params.metadata_uri.as_bytes()
            && self.oracle_feed == params.oracle_feed
            && trim_padding(&self.description) == params.description.as_bytes()
            && self.transferable == params.transferable
            && self.resaleable == params.resaleable
            && self.artist_wallet == params.artist_wallet
            && self.artist_percentage == params.artist_percentage
            && self.venue_percentage == params.venue_percentage
    }
}
