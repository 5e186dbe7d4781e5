//! Contract of the TicketToken program's `create_event` (reference: `original-service.md` §10), pure and
//! byte-exact: the instruction data (Anchor discriminator + hand-written Borsh), the account list, the PDA seeds,
//! the pre-send validation that mirrors the program's checks, the `Event` account layout and the mapping of
//! `InstructionError::Custom(n)` codes. No network, no RPC, no signing.

pub mod account;
pub mod error;
pub mod instruction;
pub mod seeds;

pub use account::{DecodeError, EVENT_ACCOUNT_SIZE, EVENT_DISCRIMINATOR, EventAccount, decode_event_account};
pub use account::{encode_event_account, fixed_bytes, trim_padding};
pub use error::{ChainError, ParamError, ProgramErrorCode, classify_instruction_error, describe_custom_code};
pub use instruction::{CREATE_EVENT_DISCRIMINATOR, CreateEventParams, SYSTEM_PROGRAM_ID, create_event_instruction};
pub use seeds::{PROGRAM_ID, event_pda, program_id, reentrancy_guard_pda, venue_pda, venue_seed};
pub use solana_instruction::{AccountMeta, Instruction};
pub use solana_pubkey::Pubkey;
