//! The chain steps of one registration attempt: sign, send, confirm, and verify an existing
//! account (the order of checks is in the parent module's docs).

use std::str::FromStr;

use chain::{CreateEventParams, Pubkey};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use solana_hash::Hash;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

use resilience::ResilienceError;

use super::{
    Claim, MAX_RESIGNS_PER_ATTEMPT, Outcome, Registrar, database_unavailable, failed, from_rpc, retry, untried,
};
use crate::clients::solana::{AccountData, SignatureState};
use crate::storage::blockchain_outbox::Work;

impl Registrar {
    /// The chain part of an attempt (see the module docs for the order of checks).
    pub(super) async fn register(
        &self,
        claim: &Claim,
        params: &CreateEventParams,
        venue_pda: &Pubkey,
        mut pending: Option<(Transaction, Hash)>,
    ) -> Outcome {
        let program = self.config.program_id;
        let (event_pda, _) = chain::event_pda(&program, venue_pda, params.event_id);
        // Nothing was ever sent for this row: no account of ours can exist unless an operator
        // re-queued it, and then the program's "already in use" leads to the same check.
        let mut look_first = pending.is_some();
        for _ in 0..=MAX_RESIGNS_PER_ATTEMPT {
            if let Some((tx, blockhash)) = pending.take() {
                match self.blockhashes.is_valid(&blockhash).await {
                    Err(e) => return from_rpc("checking the blockhash", &e),
                    Ok(true) => {
                        // Its fate is unknown and it may still land: send the same bytes again.
                        match self.send_and_confirm(&tx, &blockhash, &event_pda, params, venue_pda).await {
                            Some(outcome) => return outcome,
                            None => continue,
                        }
                    }
                    // Expired: that transaction can never land any more.
                    Ok(false) => {}
                }
            }

            if look_first {
                match self.solana.account(&event_pda).await {
                    Err(e) => return from_rpc("checking the event account", &e),
                    Ok(Some(account)) => return verify(&account, &program, params, venue_pda, event_pda, None, true),
                    Ok(None) => {}
                }
            }
            look_first = true;

            let blockhash = match self.blockhashes.latest().await {
                Ok(b) => b,
                Err(e) => return from_rpc("getting a blockhash", &e),
            };
            let ix = chain::create_event_instruction(&program, &self.wallet.pubkey(), venue_pda, params);
            let payer = self.wallet.pubkey();
            let tx = Transaction::new_signed_with_payer(&[ix], Some(&payer), &[self.wallet.0.as_ref()], blockhash);
            // Stored before it is sent: after a crash the next attempt knows it may have landed.
            match self.store_pending(claim, params, venue_pda, &event_pda, &tx, &blockhash).await {
                Ok(true) => {}
                Ok(false) => return Outcome::LostLease,
                Err(e) => return database_unavailable(&e),
            }
            if let Some(outcome) = self.send_and_confirm(&tx, &blockhash, &event_pda, params, venue_pda).await {
                return outcome;
            }
        }
        retry("the blockhash kept expiring before the transaction confirmed")
    }

    /// Sends `tx` and waits for it, holding one of the worker's slots on the chain. `None`: its
    /// blockhash expired without it landing, so a new transaction must be signed.
    async fn send_and_confirm(
        &self,
        tx: &Transaction,
        blockhash: &Hash,
        event_pda: &Pubkey,
        params: &CreateEventParams,
        venue: &Pubkey,
    ) -> Option<Outcome> {
        let slot = tokio::select! {
            slot = self.chain_slots.clone().acquire_owned() => slot.ok(),
            _ = self.shutdown.cancelled() => None,
        };
        // Shutdown (the semaphore is never closed): the row goes back with its transaction
        // stored, and the next attempt sends the same bytes while they are valid.
        let Some(_slot) = slot else {
            return Some(untried("shutting down before the transaction was sent", None));
        };
        let outcome = match self.send(tx, event_pda, params, venue).await {
            Sent::Accepted => match self.confirm(tx, blockhash, event_pda, params, venue).await {
                Confirm::Done(outcome) => Some(outcome),
                Confirm::Expired => None,
            },
            Sent::Resign => None,
            Sent::Done(outcome) => Some(outcome),
        };
        if outcome.is_none() {
            // No new transaction may be signed with it.
            self.blockhashes.expired(blockhash);
        }
        outcome
    }

    async fn send(&self, tx: &Transaction, event_pda: &Pubkey, params: &CreateEventParams, venue: &Pubkey) -> Sent {
        match self.solana.send(tx).await {
            Ok(_) => Sent::Accepted,
            Err(ResilienceError::Inner(e)) => match e.transaction_error() {
                Some(err) => match self.transaction_failed(err, event_pda, params, venue).await {
                    Some(outcome) => Sent::Done(outcome),
                    None => Sent::Resign,
                },
                // A JSON-RPC error without a transaction error (e.g. signature verification):
                // nothing was processed, but it is not ours to interpret; retry later.
                None if e.is_preflight_failure() => Sent::Done(retry(format!("sending: {e}"))),
                // Transport error or timeout: the node may have accepted it. Find out.
                None => Sent::Accepted,
            },
            // Cut off mid-call: it may have been accepted. Polling the signature tells.
            Err(ResilienceError::AttemptTimeout { .. } | ResilienceError::DeadlineExceeded { .. }) => Sent::Accepted,
            Err(e) => Sent::Done(from_rpc("sending", &e)),
        }
    }

    /// Maps a transaction error (from preflight or execution). `None`: the blockhash expired,
    /// sign again.
    async fn transaction_failed(
        &self,
        err: TransactionError,
        event_pda: &Pubkey,
        params: &CreateEventParams,
        venue: &Pubkey,
    ) -> Option<Outcome> {
        match err {
            TransactionError::BlockhashNotFound => None,
            TransactionError::AlreadyProcessed => Some(self.check_existing(event_pda, params, venue).await),
            TransactionError::InstructionError(_, solana_instruction_error::InstructionError::Custom(code)) => {
                let chain_error = chain::classify_instruction_error(code);
                Some(if chain_error.is_permanent() {
                    failed(format!("program error {code}: {}", chain::describe_custom_code(code)))
                } else {
                    // "Already in use": ours if the content matches.
                    self.check_existing(event_pda, params, venue).await
                })
            }
            TransactionError::AccountNotFound
            | TransactionError::InsufficientFundsForFee
            | TransactionError::InsufficientFundsForRent { .. } => {
                Some(retry(format!("the platform wallet cannot pay ({err}); fund {}", self.wallet.pubkey())))
            }
            other => Some(failed(format!("transaction rejected: {other}"))),
        }
    }

    async fn check_existing(&self, event_pda: &Pubkey, params: &CreateEventParams, venue: &Pubkey) -> Outcome {
        match self.solana.account(event_pda).await {
            Ok(Some(account)) => verify(&account, &self.config.program_id, params, venue, *event_pda, None, true),
            // Processed but not visible yet at our commitment: look again next attempt.
            Ok(None) => retry("the transaction was processed but the event account is not visible yet"),
            Err(e) => from_rpc("checking the event account", &e),
        }
    }

    /// Polls the signature (in the shared batches) until it is final, fails, its blockhash
    /// expires, the confirm timeout ends the attempt, or shutdown begins (the row keeps the
    /// transaction; the next attempt goes on). The first poll goes out with the next batch.
    ///
    /// While the node knows nothing of it, the same bytes are sent again every
    /// [`RESEND_POLLS`] polls: a send cut off by a timeout, or a transaction a node dropped,
    /// lands as soon as the node takes it, instead of holding the row's slot until the
    /// blockhash expires or the confirm timeout ends (all slots of a replica sat out a minute
    /// that way after a hung node recovered). A duplicate of a transaction the node has is a
    /// no-op; one that landed meanwhile answers in preflight like any send (`send`).
    async fn confirm(
        &self,
        tx: &Transaction,
        blockhash: &Hash,
        event_pda: &Pubkey,
        params: &CreateEventParams,
        venue: &Pubkey,
    ) -> Confirm {
        let signature = &tx.signatures[0];
        let deadline = tokio::time::Instant::now() + self.config.confirm_timeout;
        let mut first = true;
        let mut polls = 0u32;
        loop {
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.confirm_poll) => {}
                    _ = self.shutdown.cancelled() => {
                        return Confirm::Done(untried(
                            format!("shutting down while transaction {signature} was unconfirmed"),
                            None,
                        ));
                    }
                }
            }
            first = false;
            match self.statuses.state(*signature).await {
                Err(e) => return Confirm::Done(from_rpc("polling the signature", &e)),
                Ok(SignatureState::Done(Ok(()))) => {
                    return Confirm::Done(Outcome::Synced {
                        event_pda: *event_pda,
                        signature: Some(signature.to_string()),
                        already: false,
                    });
                }
                Ok(SignatureState::Done(Err(err))) => {
                    return match self.transaction_failed(err, event_pda, params, venue).await {
                        Some(outcome) => Confirm::Done(outcome),
                        None => Confirm::Expired,
                    };
                }
                Ok(SignatureState::Unknown) => {}
            }
            match self.blockhashes.is_valid(blockhash).await {
                Err(e) => return Confirm::Done(from_rpc("checking the blockhash", &e)),
                // It can no longer land. One last look, in case it landed just before.
                Ok(false) => {
                    return match self.statuses.state(*signature).await {
                        Ok(SignatureState::Unknown) => Confirm::Expired,
                        Ok(SignatureState::Done(_)) => {
                            Confirm::Done(self.check_existing(event_pda, params, venue).await)
                        }
                        Err(e) => Confirm::Done(from_rpc("polling the signature", &e)),
                    };
                }
                Ok(true) => {}
            }
            polls += 1;
            if polls.is_multiple_of(RESEND_POLLS) {
                match self.send(tx, event_pda, params, venue).await {
                    Sent::Accepted => {}
                    Sent::Resign => return Confirm::Expired,
                    // An open breaker ends the attempt here: the row goes back with its
                    // transaction, and the next attempt sends the same bytes while valid.
                    Sent::Done(outcome) => return Confirm::Done(outcome),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Confirm::Done(retry(format!(
                    "transaction {signature} not confirmed within {:?}",
                    self.config.confirm_timeout
                )));
            }
        }
    }
}

/// Polls of an unknown signature between two sends of the same bytes (2 s at the default
/// `SOLANA_CONFIRM_POLL_MS`).
const RESEND_POLLS: u32 = 4;

enum Sent {
    Accepted,
    Resign,
    Done(Outcome),
}

enum Confirm {
    Done(Outcome),
    Expired,
}

/// An existing event account is success only with the expected owner, layout and content.
fn verify(
    account: &AccountData,
    program: &Pubkey,
    params: &CreateEventParams,
    venue: &Pubkey,
    event_pda: Pubkey,
    signature: Option<String>,
    already: bool,
) -> Outcome {
    if account.owner != *program {
        return failed(format!("the event address {event_pda} holds an account of another program"));
    }
    match chain::decode_event_account(&account.data) {
        Ok(existing) if existing.matches(params, venue) => Outcome::Synced { event_pda, signature, already },
        Ok(_) => failed(format!("the event account {event_pda} exists with different content")),
        Err(e) => failed(format!("the account at {event_pda} is not an Event: {e}")),
    }
}

/// Printable ASCII (the program's rule for names), non-ASCII replaced by '?', cut to `max` bytes.
fn ascii_within(s: &str, max: usize) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(max).collect()
}

/// Cut to at most `max` bytes on a character boundary.
fn utf8_within(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The `create_event` arguments for an event (documented in docs/solana.md). Deterministic, and
/// fixed in the outbox row at the first attempt.
pub(super) fn build_params(w: &Work, lamports_per_unit: u64) -> Result<CreateEventParams, String> {
    let (Some(starts_at), Some(ends_at)) = (w.starts_at, w.ends_at) else {
        return Err("the event has no schedule".to_owned());
    };
    let artist_wallet = w
        .artist_wallet
        .as_deref()
        .and_then(|a| Pubkey::from_str(a).ok())
        .ok_or_else(|| "the event has no valid artist_wallet".to_owned())?;
    let event_id = u64::try_from(w.chain_event_id).map_err(|_| "the chain event id is negative".to_owned())?;
    let bps = |pct: Decimal| (pct * Decimal::ONE_HUNDRED).round().to_u16().unwrap_or(u16::MAX);
    let ticket_price = w
        .min_price
        .and_then(|p| (p * Decimal::from(lamports_per_unit)).round().to_u64())
        .unwrap_or(0)
        .clamp(chain::instruction::MIN_TICKET_PRICE, chain::instruction::MAX_TICKET_PRICE);
    let total_tickets = w.capacity.and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
    let description = w.short_description.as_deref().or(w.description.as_deref()).unwrap_or_default();
    let metadata_uri = w
        .banner_image_url
        .as_deref()
        .filter(|u| u.len() <= chain::instruction::MAX_METADATA_URI_LEN)
        .unwrap_or_default();
    Ok(CreateEventParams {
        event_id,
        name: ascii_within(&w.name, chain::instruction::MAX_NAME_LEN),
        ticket_price,
        total_tickets,
        start_time: starts_at.timestamp(),
        end_time: ends_at.timestamp(),
        refund_window: (i64::from(w.cancellation_deadline_hours) * 3_600)
            .clamp(0, chain::instruction::MAX_REFUND_WINDOW_SECS),
        metadata_uri: metadata_uri.to_owned(),
        oracle_feed: Pubkey::default(),
        description: utf8_within(description, chain::instruction::MAX_DESCRIPTION_LEN).to_owned(),
        transferable: w.allow_transfers,
        resaleable: w.resaleable,
        artist_wallet,
        artist_percentage: bps(w.artist_percentage),
        venue_percentage: bps(w.venue_percentage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_printable_ascii_within_32_bytes() {
        assert_eq!(ascii_within("Café Noir", 32), "Caf? Noir");
        assert_eq!(ascii_within(&"x".repeat(40), 32).len(), 32);
        assert_eq!(utf8_within("ééé", 3), "é");
    }
}
