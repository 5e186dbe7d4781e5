//! Native builtin stand-in of the TicketToken program's `create_event` (original-service.md §10).
//!
//! Checked, in this order (first failure wins):
//! 1. Instruction discriminator (else Custom(101)), Borsh deserialization of `CreateEventParams` with no
//!    trailing bytes (else Custom(102)).
//! 2. At least 5 accounts (else MissingAccount), authority (account 0) is a signer (else MissingRequiredSignature),
//!    system program id at index 4 (else IncorrectProgramId).
//! 3. Venue account (index 1) loads as an Anchor `Account<Venue>`: missing / zero lamports / empty data
//!    → Custom(3012) AccountNotInitialized; owner != program → Custom(3007) AccountOwnedByWrongProgram;
//!    data shorter than [`VENUE_ACCOUNT_SIZE`] or discriminator != [`venue_discriminator`] → Custom(3002)
//!    AccountDiscriminatorMismatch (real Anchor would say 3001 for < 8 bytes and 3003 for a short body).
//! 4. Event PDA `[b"event", venue, event_id LE]` and guard PDA `[b"reentrancy", event]` (else Custom(2006)).
//! 5. Venue state: `!verified` → 6010 VenueNotVerified, `!active` → 6011 VenueInactive,
//!    `venue.owner != authority` → 6013 UnauthorizedVenue.
//! 6. The parameter limits (6031/6025/6026/6015/6019/6020/6021/6032/6034, see [`CreateEventParams::check`]).
//! 7. Creates the event PDA (499 bytes) and guard PDA (10 bytes), both owned by the program, through the
//!    system program with signer seeds; an existing PDA fails with the system program's Custom(0).
//! 8. Writes both accounts, then `venue.event_count += 1` (overflow → ArithmeticOverflow).
//!
//! **Venue layout (the simulator's assumption; §10 does not give it):** [`VENUE_ACCOUNT_SIZE`] = 51 bytes:
//! 0..8 discriminator `sha256("account:Venue")[..8]`, 8..40 owner pubkey, 40 verified (u8 bool),
//! 41 active (u8 bool), 42..50 event_count u64 LE, 50 bump of the venue PDA `[b"venue", seed]`.
//! A flag byte counts as true when non-zero.
//!
//! NOT checked (simplified): the venue account's own PDA seeds / bump (the real program's venue seed
//! constraint on `create_event` is not known for sure); the writable flags (a read-only venue fails the
//! final increment with ReadonlyDataModified instead of Anchor's 2000 ConstraintMut); no `EventCreated`
//! event is emitted; the relative order of the venue-state checks, the PDA checks, the parameter checks and
//! "already in use" may differ from the real program when several fail at once.

use solana_address::Address;
use solana_instruction::error::InstructionError;
use solana_program_runtime::declare_process_instruction;

pub const PROGRAM_ID: Address = Address::from_str_const("BnYanHjkV6bBDFYfC7F76TyYk6NA9p3wvcAfY1XZCXYS");
pub const CREATE_EVENT_DISCRIMINATOR: [u8; 8] = [49, 219, 29, 203, 22, 98, 100, 87];
pub const EVENT_DISCRIMINATOR: [u8; 8] = [125, 192, 125, 158, 9, 115, 152, 233];
pub const EVENT_ACCOUNT_SIZE: usize = 499;
pub const GUARD_ACCOUNT_SIZE: usize = 10;
/// Size of the simulator's assumed `Venue` account (see the module docs for the layout).
pub const VENUE_ACCOUNT_SIZE: usize = 51;
/// Seed prefix of the venue PDA `[b"venue", seed]`.
pub const VENUE_SEED_PREFIX: &[u8] = b"venue";

pub const ERR_INSTRUCTION_FALLBACK_NOT_FOUND: u32 = 101;
pub const ERR_INSTRUCTION_DID_NOT_DESERIALIZE: u32 = 102;
pub const ERR_CONSTRAINT_SEEDS: u32 = 2006;
pub const ERR_ACCOUNT_DISCRIMINATOR_MISMATCH: u32 = 3002;
pub const ERR_ACCOUNT_OWNED_BY_WRONG_PROGRAM: u32 = 3007;
pub const ERR_ACCOUNT_NOT_INITIALIZED: u32 = 3012;
pub const ERR_VENUE_NOT_VERIFIED: u32 = 6010;
pub const ERR_VENUE_INACTIVE: u32 = 6011;
pub const ERR_UNAUTHORIZED_VENUE: u32 = 6013;
pub const ERR_INVALID_CAPACITY: u32 = 6015;
pub const ERR_START_TIME_TOO_SOON: u32 = 6019;
pub const ERR_END_BEFORE_START: u32 = 6020;
pub const ERR_EVENT_TOO_LONG: u32 = 6021;
pub const ERR_PRICE_TOO_LOW: u32 = 6025;
pub const ERR_PRICE_TOO_HIGH: u32 = 6026;
pub const ERR_INVALID_CHARACTERS: u32 = 6031;
pub const ERR_REFUND_WINDOW_TOO_LONG: u32 = 6032;
pub const ERR_INVALID_ROYALTY: u32 = 6034;

// Deliberately not shared with `crates/chain`: the simulator stands in for the independent
// on-chain program, so its decoding is written separately from the reference. A shared
// encoder would let a layout bug agree with itself and pass every end-to-end test.

/// `CreateEventParams` in Borsh order.
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
    pub oracle_feed: [u8; 32],
    pub description: String,
    pub transferable: bool,
    pub resaleable: bool,
    pub artist_wallet: [u8; 32],
    pub artist_percentage: u16,
    pub venue_percentage: u16,
}

struct Reader<'a>(&'a [u8]);
impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).map(|s| s.try_into().expect("length checked"))
    }
    fn string(&mut self) -> Option<String> {
        let len = u32::from_le_bytes(self.arr()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn boolean(&mut self) -> Option<bool> {
        match self.arr::<1>()?[0] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl CreateEventParams {
    /// Parses the Borsh arguments (after the discriminator). Trailing bytes are rejected.
    pub fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Reader(data);
        let p = Self {
            event_id: u64::from_le_bytes(r.arr()?),
            name: r.string()?,
            ticket_price: u64::from_le_bytes(r.arr()?),
            total_tickets: u32::from_le_bytes(r.arr()?),
            start_time: i64::from_le_bytes(r.arr()?),
            end_time: i64::from_le_bytes(r.arr()?),
            refund_window: i64::from_le_bytes(r.arr()?),
            metadata_uri: r.string()?,
            oracle_feed: r.arr()?,
            description: r.string()?,
            transferable: r.boolean()?,
            resaleable: r.boolean()?,
            artist_wallet: r.arr()?,
            artist_percentage: u16::from_le_bytes(r.arr()?),
            venue_percentage: u16::from_le_bytes(r.arr()?),
        };
        r.0.is_empty().then_some(p)
    }

    /// Discriminator ++ Borsh(params).
    pub fn instruction_data(&self) -> Vec<u8> {
        fn s(out: &mut Vec<u8>, v: &str) {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
        }
        let mut o = CREATE_EVENT_DISCRIMINATOR.to_vec();
        o.extend_from_slice(&self.event_id.to_le_bytes());
        s(&mut o, &self.name);
        o.extend_from_slice(&self.ticket_price.to_le_bytes());
        o.extend_from_slice(&self.total_tickets.to_le_bytes());
        o.extend_from_slice(&self.start_time.to_le_bytes());
        o.extend_from_slice(&self.end_time.to_le_bytes());
        o.extend_from_slice(&self.refund_window.to_le_bytes());
        s(&mut o, &self.metadata_uri);
        o.extend_from_slice(&self.oracle_feed);
        s(&mut o, &self.description);
        o.push(u8::from(self.transferable));
        o.push(u8::from(self.resaleable));
        o.extend_from_slice(&self.artist_wallet);
        o.extend_from_slice(&self.artist_percentage.to_le_bytes());
        o.extend_from_slice(&self.venue_percentage.to_le_bytes());
        o
    }

    /// The program's parameter checks, first failure wins (order as in the program's handler).
    pub fn check(&self, now_unix: i64) -> Result<(), u32> {
        let printable = |v: &str| v.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if self.name.len() > 32 || !printable(&self.name) {
            return Err(ERR_INVALID_CHARACTERS);
        }
        if self.metadata_uri.len() > 64 || self.description.len() > 200 {
            return Err(ERR_INVALID_CHARACTERS);
        }
        if self.ticket_price < 100_000 {
            return Err(ERR_PRICE_TOO_LOW);
        }
        if self.ticket_price > 1_000_000_000_000 {
            return Err(ERR_PRICE_TOO_HIGH);
        }
        if self.total_tickets == 0 || self.total_tickets > 16_384 {
            return Err(ERR_INVALID_CAPACITY);
        }
        if self.start_time <= now_unix.saturating_add(3_600) {
            return Err(ERR_START_TIME_TOO_SOON);
        }
        if self.end_time <= self.start_time {
            return Err(ERR_END_BEFORE_START);
        }
        if i128::from(self.end_time) - i128::from(self.start_time) > 365 * 24 * 3_600 {
            return Err(ERR_EVENT_TOO_LONG);
        }
        if self.refund_window > 172_800 {
            return Err(ERR_REFUND_WINDOW_TOO_LONG);
        }
        if u32::from(self.artist_percentage) + u32::from(self.venue_percentage) > 10_000 {
            return Err(ERR_INVALID_ROYALTY);
        }
        Ok(())
    }
}

/// The 499-byte Event account image at the §10 offsets (counters zero, merkle tree default).
pub fn encode_event_account(p: &CreateEventParams, venue: &Address, bump: u8) -> Vec<u8> {
    let mut d = vec![0u8; EVENT_ACCOUNT_SIZE];
    let mut put = |at: usize, b: &[u8]| d[at..at + b.len()].copy_from_slice(b);
    put(0, &EVENT_DISCRIMINATOR);
    put(8, venue.as_ref());
    put(40, &p.event_id.to_le_bytes());
    put(48, p.name.as_bytes());
    put(80, &p.ticket_price.to_le_bytes());
    put(88, &p.total_tickets.to_le_bytes());
    put(100, &p.start_time.to_le_bytes());
    put(108, &p.end_time.to_le_bytes());
    put(116, &p.refund_window.to_le_bytes());
    put(124, p.metadata_uri.as_bytes());
    put(188, &p.oracle_feed);
    put(220, p.description.as_bytes());
    put(420, &[u8::from(p.transferable)]);
    put(421, &[u8::from(p.resaleable)]);
    put(454, &p.artist_wallet);
    put(486, &p.artist_percentage.to_le_bytes());
    put(488, &p.venue_percentage.to_le_bytes());
    put(490, &[bump]);
    d
}

/// The simulator's assumed `Venue` account (51 bytes; layout in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Venue {
    pub owner: Address,
    pub verified: bool,
    pub active: bool,
    pub event_count: u64,
    pub bump: u8,
}

impl Venue {
    /// Offsets inside the account data.
    pub const OWNER: usize = 8;
    pub const VERIFIED: usize = 40;
    pub const ACTIVE: usize = 41;
    pub const EVENT_COUNT: usize = 42;
    pub const BUMP: usize = 50;

    /// Discriminator ++ fields, [`VENUE_ACCOUNT_SIZE`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = vec![0u8; VENUE_ACCOUNT_SIZE];
        d[..8].copy_from_slice(&venue_discriminator());
        d[Self::OWNER..Self::OWNER + 32].copy_from_slice(self.owner.as_ref());
        d[Self::VERIFIED] = u8::from(self.verified);
        d[Self::ACTIVE] = u8::from(self.active);
        d[Self::EVENT_COUNT..Self::EVENT_COUNT + 8].copy_from_slice(&self.event_count.to_le_bytes());
        d[Self::BUMP] = self.bump;
        d
    }

    /// `None` if shorter than [`VENUE_ACCOUNT_SIZE`] or the discriminator differs. Trailing bytes are
    /// ignored (as Anchor does); a non-zero flag byte counts as true.
    pub fn decode(data: &[u8]) -> Option<Self> {
        if data.len() < VENUE_ACCOUNT_SIZE || data[..8] != venue_discriminator() {
            return None;
        }
        Some(Self {
            owner: Address::new_from_array(data[Self::OWNER..Self::OWNER + 32].try_into().ok()?),
            verified: data[Self::VERIFIED] != 0,
            active: data[Self::ACTIVE] != 0,
            event_count: u64::from_le_bytes(data[Self::EVENT_COUNT..Self::EVENT_COUNT + 8].try_into().ok()?),
            bump: data[Self::BUMP],
        })
    }
}

/// `sha256("account:Venue")[..8]`.
pub fn venue_discriminator() -> [u8; 8] {
    use sha2::Digest;
    let h = sha2::Sha256::digest(b"account:Venue");
    h[..8].try_into().expect("8 bytes")
}

/// `[b"venue", seed]` under the program (the seed is 32 bytes, as `crates/chain` derives it).
pub fn venue_pda(seed: &[u8; 32]) -> (Address, u8) {
    Address::find_program_address(&[VENUE_SEED_PREFIX, seed.as_ref()], &PROGRAM_ID)
}

/// `sha256("account:ReentrancyGuard")[..8]`; the struct name is an assumption (not in §10).
pub fn guard_discriminator() -> [u8; 8] {
    use sha2::Digest;
    let h = sha2::Sha256::digest(b"account:ReentrancyGuard");
    h[..8].try_into().expect("8 bytes")
}

pub fn event_pda(venue: &Address, event_id: u64) -> (Address, u8) {
    Address::find_program_address(&[b"event", venue.as_ref(), &event_id.to_le_bytes()], &PROGRAM_ID)
}

pub fn guard_pda(event: &Address) -> (Address, u8) {
    Address::find_program_address(&[b"reentrancy", event.as_ref()], &PROGRAM_ID)
}

/// The `create_event` instruction with the program's five accounts in order.
pub fn create_event_instruction(
    authority: &Address,
    venue: &Address,
    params: &CreateEventParams,
) -> solana_instruction::Instruction {
    use solana_instruction::AccountMeta;
    let (event, _) = event_pda(venue, params.event_id);
    let (guard, _) = guard_pda(&event);
    solana_instruction::Instruction {
        program_id: PROGRAM_ID,
        accounts: vec![
            AccountMeta::new(*authority, true),
            AccountMeta::new(*venue, false),
            AccountMeta::new(event, false),
            AccountMeta::new(guard, false),
            AccountMeta::new_readonly(Address::default(), false),
        ],
        data: params.instruction_data(),
    }
}

declare_process_instruction!(CreateEventBuiltin, 1_150, |invoke_context| {
    // Copy out everything, then drop the instruction-context borrow before the CPIs.
    let (authority, venue, event, guard, venue_state, params) = {
        let tc = &invoke_context.transaction_context;
        let ix = tc.get_current_instruction_context()?;
        let data = ix.get_instruction_data();
        if data.len() < 8 || data[..8] != CREATE_EVENT_DISCRIMINATOR {
            return Err(InstructionError::Custom(ERR_INSTRUCTION_FALLBACK_NOT_FOUND));
        }
        let params = CreateEventParams::decode(&data[8..])
            .ok_or(InstructionError::Custom(ERR_INSTRUCTION_DID_NOT_DESERIALIZE))?;
        ix.check_number_of_instruction_accounts(5)?;
        if !ix.is_instruction_account_signer(0)? {
            return Err(InstructionError::MissingRequiredSignature);
        }
        if *ix.get_key_of_instruction_account(4)? != Address::default() {
            return Err(InstructionError::IncorrectProgramId);
        }
        // The venue loads as Anchor's `Account<Venue>` (its PDA seeds are deliberately not checked).
        let venue_state = {
            let acc = ix.try_borrow_instruction_account(1)?;
            if acc.get_lamports() == 0 || acc.get_data().is_empty() {
                return Err(InstructionError::Custom(ERR_ACCOUNT_NOT_INITIALIZED));
            }
            if *acc.get_owner() != PROGRAM_ID {
                return Err(InstructionError::Custom(ERR_ACCOUNT_OWNED_BY_WRONG_PROGRAM));
            }
            Venue::decode(acc.get_data()).ok_or(InstructionError::Custom(ERR_ACCOUNT_DISCRIMINATOR_MISMATCH))?
        };
        (
            *ix.get_key_of_instruction_account(0)?,
            *ix.get_key_of_instruction_account(1)?,
            *ix.get_key_of_instruction_account(2)?,
            *ix.get_key_of_instruction_account(3)?,
            venue_state,
            params,
        )
    };
    let (expected_event, event_bump) = event_pda(&venue, params.event_id);
    if event != expected_event {
        return Err(InstructionError::Custom(ERR_CONSTRAINT_SEEDS));
    }
    let (expected_guard, guard_bump) = guard_pda(&event);
    if guard != expected_guard {
        return Err(InstructionError::Custom(ERR_CONSTRAINT_SEEDS));
    }
    if !venue_state.verified {
        return Err(InstructionError::Custom(ERR_VENUE_NOT_VERIFIED));
    }
    if !venue_state.active {
        return Err(InstructionError::Custom(ERR_VENUE_INACTIVE));
    }
    if venue_state.owner != authority {
        return Err(InstructionError::Custom(ERR_UNAUTHORIZED_VENUE));
    }
    let clock = invoke_context.environment_config.sysvar_cache().get_clock()?;
    let rent = invoke_context.environment_config.sysvar_cache().get_rent()?;
    params.check(clock.unix_timestamp).map_err(InstructionError::Custom)?;

    let event_id_le = params.event_id.to_le_bytes();
    invoke_context.native_invoke_signed(
        solana_system_interface::instruction::create_account(
            &authority,
            &event,
            rent.minimum_balance(EVENT_ACCOUNT_SIZE),
            EVENT_ACCOUNT_SIZE as u64,
            &PROGRAM_ID,
        ),
        &[&[b"event", venue.as_ref(), &event_id_le, &[event_bump]]],
    )?;
    invoke_context.native_invoke_signed(
        solana_system_interface::instruction::create_account(
            &authority,
            &guard,
            rent.minimum_balance(GUARD_ACCOUNT_SIZE),
            GUARD_ACCOUNT_SIZE as u64,
            &PROGRAM_ID,
        ),
        &[&[b"reentrancy", event.as_ref(), &[guard_bump]]],
    )?;

    let tc = &invoke_context.transaction_context;
    let ix = tc.get_current_instruction_context()?;
    {
        let mut acc = ix.try_borrow_instruction_account(2)?;
        acc.set_data_from_slice(&encode_event_account(&params, &venue, event_bump))?;
    }
    {
        // Guard: Anchor discriminator sha256("account:ReentrancyGuard")[..8] (struct name assumed),
        // then {is_locked: false, bump}.
        let mut acc = ix.try_borrow_instruction_account(3)?;
        let mut g = [0u8; GUARD_ACCOUNT_SIZE];
        g[..8].copy_from_slice(&guard_discriminator());
        g[9] = guard_bump;
        acc.set_data_from_slice(&g)?;
    }
    {
        // venue.event_count += 1, in place (re-read: the account may have changed since the check).
        let mut acc = ix.try_borrow_instruction_account(1)?;
        let data = acc.get_data_mut()?;
        let at = Venue::EVENT_COUNT..Venue::EVENT_COUNT + 8;
        let bytes = data.get(at.clone()).ok_or(InstructionError::InvalidAccountData)?;
        let count = u64::from_le_bytes(bytes.try_into().map_err(|_| InstructionError::InvalidAccountData)?);
        let count = count.checked_add(1).ok_or(InstructionError::ArithmeticOverflow)?;
        data[at].copy_from_slice(&count.to_le_bytes());
    }
    Ok(())
});

impl CreateEventBuiltin {
    pub const ID: Address = PROGRAM_ID;
}

/// A fresh LiteSVM with the stand-in registered.
/// Transactions whose status `getSignatureStatuses` (and the duplicate check) remembers.
pub const STATUS_HISTORY: usize = 50_000;

pub fn new_svm() -> litesvm::LiteSVM {
    use solana_program_runtime::solana_sbpf::program::BuiltinFunctionDefinition;
    // LiteSVM remembers 32 transactions by default, so `getSignatureStatuses` forgot a signature
    // after 32 more sends and a client with many transactions in flight never saw most of them
    // confirm. A validator's status cache covers about 150 slots (tens of thousands of
    // transactions); this keeps the last STATUS_HISTORY.
    let mut svm = litesvm::LiteSVM::new().with_transaction_history(STATUS_HISTORY);
    svm.add_builtin(PROGRAM_ID, CreateEventBuiltin::register);
    svm
}
