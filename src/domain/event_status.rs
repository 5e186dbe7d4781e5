//! The event lifecycle (`reference/original-service.md` §5). This table governs every status
//! change: the API's actions, `publish`, cancellation and the time-based job.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    Draft,
    Review,
    Approved,
    Published,
    OnSale,
    SalesPaused,
    SoldOut,
    InProgress,
    Completed,
    Cancelled,
    Postponed,
    Rescheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventAction {
    SubmitForReview,
    Approve,
    Reject,
    Publish,
    StartSales,
    PauseSales,
    ResumeSales,
    SoldOut,
    StartEvent,
    EndEvent,
    Cancel,
    Postpone,
    Reschedule,
}

impl EventStatus {
    pub const ALL: [EventStatus; 12] = [
        Self::Draft,
        Self::Review,
        Self::Approved,
        Self::Published,
        Self::OnSale,
        Self::SalesPaused,
        Self::SoldOut,
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
        Self::Postponed,
        Self::Rescheduled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Review => "REVIEW",
            Self::Approved => "APPROVED",
            Self::Published => "PUBLISHED",
            Self::OnSale => "ON_SALE",
            Self::SalesPaused => "SALES_PAUSED",
            Self::SoldOut => "SOLD_OUT",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Postponed => "POSTPONED",
            Self::Rescheduled => "RESCHEDULED",
        }
    }

    /// Where `action` leads from this state, or `None` if the machine forbids it.
    pub fn apply(self, action: EventAction) -> Option<EventStatus> {
        use EventAction as A;
        use EventStatus as S;
        let target = match (self, action) {
            (S::Completed | S::Cancelled, _) => return None,
            (_, A::Cancel) => S::Cancelled,
            (S::Draft, A::SubmitForReview) => S::Review,
            (S::Draft | S::Approved | S::Rescheduled, A::Publish) => S::Published,
            (S::Review, A::Approve) => S::Approved,
            (S::Review, A::Reject) => S::Draft,
            (S::Published | S::Rescheduled, A::StartSales) => S::OnSale,
            (S::Published | S::OnSale | S::SalesPaused | S::SoldOut, A::Postpone) => S::Postponed,
            (S::OnSale, A::PauseSales) => S::SalesPaused,
            (S::OnSale, A::SoldOut) => S::SoldOut,
            (S::OnSale | S::SalesPaused | S::SoldOut, A::StartEvent) => S::InProgress,
            (S::SalesPaused, A::ResumeSales) => S::OnSale,
            (S::InProgress, A::EndEvent) => S::Completed,
            (S::Postponed, A::Reschedule) => S::Rescheduled,
            _ => return None,
        };
        Some(target)
    }

    /// The one action that leads from this state to `target`, if any (status changes sent
    /// through PUT/PATCH go through the machine this way).
    pub fn action_to(self, target: EventStatus) -> Option<EventAction> {
        EventAction::ALL.into_iter().find(|a| self.apply(*a) == Some(target))
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Declared policy: tickets are sold only while ON_SALE.
    pub fn allows_sales(self) -> bool {
        self == Self::OnSale
    }

    /// Declared policy: modification only before sales start (and only with zero sold, which
    /// the caller checks against the sections).
    pub fn allows_modification(self) -> bool {
        matches!(self, Self::Draft | Self::Review | Self::Approved | Self::Published)
    }

    /// Declared policy: deletion only in DRAFT or CANCELLED (with zero sold).
    pub fn allows_deletion(self) -> bool {
        matches!(self, Self::Draft | Self::Cancelled)
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or(())
    }
}

impl EventAction {
    pub const ALL: [EventAction; 13] = [
        Self::SubmitForReview,
        Self::Approve,
        Self::Reject,
        Self::Publish,
        Self::StartSales,
        Self::PauseSales,
        Self::ResumeSales,
        Self::SoldOut,
        Self::StartEvent,
        Self::EndEvent,
        Self::Cancel,
        Self::Postpone,
        Self::Reschedule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubmitForReview => "SUBMIT_FOR_REVIEW",
            Self::Approve => "APPROVE",
            Self::Reject => "REJECT",
            Self::Publish => "PUBLISH",
            Self::StartSales => "START_SALES",
            Self::PauseSales => "PAUSE_SALES",
            Self::ResumeSales => "RESUME_SALES",
            Self::SoldOut => "SOLD_OUT",
            Self::StartEvent => "START_EVENT",
            Self::EndEvent => "END_EVENT",
            Self::Cancel => "CANCEL",
            Self::Postpone => "POSTPONE",
            Self::Reschedule => "RESCHEDULE",
        }
    }
}

impl FromStr for EventAction {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::EventAction as A;
    use super::EventStatus as S;

    /// The reference table, row by row.
    const TABLE: &[(S, &[(A, S)])] = &[
        (S::Draft, &[(A::SubmitForReview, S::Review), (A::Publish, S::Published), (A::Cancel, S::Cancelled)]),
        (S::Review, &[(A::Approve, S::Approved), (A::Reject, S::Draft), (A::Cancel, S::Cancelled)]),
        (S::Approved, &[(A::Publish, S::Published), (A::Cancel, S::Cancelled)]),
        (S::Published, &[(A::StartSales, S::OnSale), (A::Cancel, S::Cancelled), (A::Postpone, S::Postponed)]),
        (
            S::OnSale,
            &[
                (A::PauseSales, S::SalesPaused),
                (A::SoldOut, S::SoldOut),
                (A::StartEvent, S::InProgress),
                (A::Cancel, S::Cancelled),
                (A::Postpone, S::Postponed),
            ],
        ),
        (
            S::SalesPaused,
            &[
                (A::ResumeSales, S::OnSale),
                (A::StartEvent, S::InProgress),
                (A::Cancel, S::Cancelled),
                (A::Postpone, S::Postponed),
            ],
        ),
        (S::SoldOut, &[(A::StartEvent, S::InProgress), (A::Cancel, S::Cancelled), (A::Postpone, S::Postponed)]),
        (S::InProgress, &[(A::EndEvent, S::Completed), (A::Cancel, S::Cancelled)]),
        (S::Postponed, &[(A::Reschedule, S::Rescheduled), (A::Cancel, S::Cancelled)]),
        (S::Rescheduled, &[(A::Publish, S::Published), (A::StartSales, S::OnSale), (A::Cancel, S::Cancelled)]),
        (S::Completed, &[]),
        (S::Cancelled, &[]),
    ];

    const ACTIONS: [A; 13] = A::ALL;

    #[test]
    fn every_pair_of_state_and_action_matches_the_reference_table() {
        for (from, allowed) in TABLE {
            for action in ACTIONS {
                let expected = allowed.iter().find(|(a, _)| *a == action).map(|(_, to)| *to);
                assert_eq!(from.apply(action), expected, "{from} + {}", action.as_str());
            }
        }
        assert_eq!(TABLE.len(), S::ALL.len());
    }

    #[test]
    fn terminal_states_and_policies() {
        assert!(S::Completed.is_terminal() && S::Cancelled.is_terminal());
        assert_eq!(S::ALL.iter().filter(|s| s.allows_sales()).count(), 1);
        assert!(S::Published.allows_modification() && !S::OnSale.allows_modification());
        assert!(S::Draft.allows_deletion() && S::Cancelled.allows_deletion() && !S::Published.allows_deletion());
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>(), Ok(s));
        }
    }
}
