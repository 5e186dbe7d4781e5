//! Program error codes, pre-send validation errors and the classification of `Custom(n)` instruction errors.

/// `#[error_code]` values of the TicketToken program that `create_event` can produce (§10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ProgramErrorCode {
    VenueNotVerified = 6010,
    VenueInactive = 6011,
    UnauthorizedVenue = 6013,
    InvalidCapacity = 6015,
    StartTimeTooSoon = 6019,
    EndBeforeStart = 6020,
    EventTooLong = 6021,
    PriceTooLow = 6025,
    PriceTooHigh = 6026,
    /// Also produced for an over-long name, metadata URI or description.
    InvalidCharacters = 6031,
    RefundWindowTooLong = 6032,
    InvalidRoyaltyPercentage = 6034,
}

impl ProgramErrorCode {
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(code: u32) -> Option<Self> {
        use ProgramErrorCode as C;
        Some(match code {
            6010 => C::VenueNotVerified,
            6011 => C::VenueInactive,
            6013 => C::UnauthorizedVenue,
            6015 => C::InvalidCapacity,
            6019 => C::StartTimeTooSoon,
            6020 => C::EndBeforeStart,
            6021 => C::EventTooLong,
            6025 => C::PriceTooLow,
            6026 => C::PriceTooHigh,
            6031 => C::InvalidCharacters,
            6032 => C::RefundWindowTooLong,
            6034 => C::InvalidRoyaltyPercentage,
            _ => return None,
        })
    }
}

/// A parameter the program would reject; `code()` is the program error it would produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("name must be printable ASCII (graphic or space)")]
    NameInvalidCharacters,
    #[error("name is {0} bytes, at most 32 allowed")]
    NameTooLong(usize),
    #[error("ticket price {0} lamports is below the minimum of 100000")]
    PriceTooLow(u64),
    #[error("ticket price {0} lamports is above the maximum of 1000000000000")]
    PriceTooHigh(u64),
    #[error("total tickets {0} must be between 1 and 16384")]
    InvalidCapacity(u32),
    #[error("start time must be more than one hour from now")]
    StartTimeTooSoon,
    #[error("end time must be after start time")]
    EndBeforeStart,
    #[error("event lasts longer than 365 days")]
    EventTooLong,
    #[error("refund window {0} s must be between 0 and 172800")]
    RefundWindowTooLong(i64),
    #[error("metadata URI is {0} bytes, at most 64 allowed")]
    MetadataUriTooLong(usize),
    #[error("description is {0} bytes, at most 200 allowed")]
    DescriptionTooLong(usize),
    #[error("artist + venue royalty is {0} bps, at most 10000 allowed")]
    InvalidRoyaltyPercentage(u32),
}

impl ParamError {
    /// The program error the program itself would return for this parameter.
    pub fn code(&self) -> ProgramErrorCode {
        use ProgramErrorCode as C;
        match self {
            Self::NameInvalidCharacters
            | Self::NameTooLong(_)
            | Self::MetadataUriTooLong(_)
            | Self::DescriptionTooLong(_) => C::InvalidCharacters,
            Self::PriceTooLow(_) => C::PriceTooLow,
            Self::PriceTooHigh(_) => C::PriceTooHigh,
            Self::InvalidCapacity(_) => C::InvalidCapacity,
            Self::StartTimeTooSoon => C::StartTimeTooSoon,
            Self::EndBeforeStart => C::EndBeforeStart,
            Self::EventTooLong => C::EventTooLong,
            Self::RefundWindowTooLong(_) => C::RefundWindowTooLong,
            Self::InvalidRoyaltyPercentage(_) => C::InvalidRoyaltyPercentage,
        }
    }
}

/// Anchor `ConstraintSeeds`: an account did not match its PDA seeds.
pub const ANCHOR_CONSTRAINT_SEEDS: u32 = 2006;

/// Anchor account-constraint errors the venue account can produce (`Account<Venue>`).
pub const ANCHOR_ACCOUNT_DISCRIMINATOR_MISMATCH: u32 = 3002;
pub const ANCHOR_ACCOUNT_OWNED_BY_WRONG_PROGRAM: u32 = 3007;
pub const ANCHOR_ACCOUNT_NOT_INITIALIZED: u32 = 3012;

/// A short human reason for a custom code, for the `failed` reason operators read.
pub fn describe_custom_code(code: u32) -> &'static str {
    use ProgramErrorCode as C;
    match code {
        0 => "event account already in use",
        ANCHOR_CONSTRAINT_SEEDS => "a PDA does not match its seeds",
        ANCHOR_ACCOUNT_DISCRIMINATOR_MISMATCH => "the venue account is not a Venue",
        ANCHOR_ACCOUNT_OWNED_BY_WRONG_PROGRAM => "the venue account is not owned by the program",
        ANCHOR_ACCOUNT_NOT_INITIALIZED => "the venue is not registered on chain",
        n => match ProgramErrorCode::from_code(n) {
            Some(C::VenueNotVerified) => "the venue is not verified on chain",
            Some(C::VenueInactive) => "the venue is inactive on chain",
            Some(C::UnauthorizedVenue) => "the platform wallet is not the venue's owner",
            Some(C::InvalidCapacity) => "invalid capacity",
            Some(C::StartTimeTooSoon) => "the event starts too soon",
            Some(C::EndBeforeStart) => "the event ends before it starts",
            Some(C::EventTooLong) => "the event lasts too long",
            Some(C::PriceTooLow) => "ticket price too low",
            Some(C::PriceTooHigh) => "ticket price too high",
            Some(C::InvalidCharacters) => "invalid characters or an over-long string",
            Some(C::RefundWindowTooLong) => "refund window too long",
            Some(C::InvalidRoyaltyPercentage) => "invalid royalty percentages",
            None => "unknown program error",
        },
    }
}

/// What an `InstructionError(_, Custom(n))` from `create_event` means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// System program `AccountAlreadyInUse` from `init` of an existing PDA: a possible duplicate.
    /// Not a failure by itself: read the event account and compare it with [`crate::EventAccount::matches`].
    #[error("event account already in use (verify the existing account)")]
    AlreadyInUse,
    /// A known program error: resending the same transaction fails the same way.
    #[error("program error {} ({:?})", .0.code(), .0)]
    Program(ProgramErrorCode),
    /// Anchor 2006: a PDA passed does not match its seeds (a bug in seed derivation).
    #[error("anchor ConstraintSeeds (2006): wrong PDA")]
    ConstraintSeeds,
    /// Any other custom code (Anchor 100-102 deserialisation, 3001 discriminator, unknown program codes).
    #[error("custom instruction error {0}")]
    Other(u32),
}

impl ChainError {
    /// Deterministic failure: mark the registration `failed`, never retry. Only `AlreadyInUse` is not.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::AlreadyInUse)
    }

    pub fn code(&self) -> u32 {
        match self {
            Self::AlreadyInUse => 0,
            Self::Program(c) => c.code(),
            Self::ConstraintSeeds => ANCHOR_CONSTRAINT_SEEDS,
            Self::Other(n) => *n,
        }
    }
}

/// Maps the `n` of `InstructionError(_, Custom(n))` (solana.md §3 error table).
pub fn classify_instruction_error(custom_code: u32) -> ChainError {
    match custom_code {
        0 => ChainError::AlreadyInUse,
        ANCHOR_CONSTRAINT_SEEDS => ChainError::ConstraintSeeds,
        n => ProgramErrorCode::from_code(n).map_or(ChainError::Other(n), ChainError::Program),
    }
}
