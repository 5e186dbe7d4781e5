//! Cancelling an event: the request, and the report of what the cancellation did.

use serde::{Deserialize, Serialize};

use crate::domain::EventStatus;
use crate::domain::event_out::EventOut;

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefundPolicy {
    #[default]
    Full,
    Partial,
    None,
}

impl RefundPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Partial => "partial",
            Self::None => "none",
        }
    }
}

/// What the cancellation did; the same record goes to the `event.cancelled` outbox message
/// and the cancellation report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Cancellation)]
pub struct CancellationReport {
    pub reason: String,
    pub refund_policy: RefundPolicy,
    pub notify_customers: bool,
    pub holds_released: i64,
    pub seats_released: i64,
    pub sections_closed: i64,
    pub tickets_sold: i64,
    pub previous_status: EventStatus,
}

/// What `POST /events/{id}/cancel` answers: `{success, data: {event, cancellation}, message}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CancelResult {
    pub success: bool,
    pub data: CancelData,
    /// `Event cancelled`.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CancelData {
    pub event: EventOut,
    pub cancellation: CancellationReport,
}

impl CancelResult {
    pub fn new(event: EventOut, cancellation: CancellationReport) -> Self {
        CancelResult { success: true, data: CancelData { event, cancellation }, message: "Event cancelled".to_owned() }
    }
}

/// The route schema's names and the ones the original's handler read are both accepted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(description = "Why and how an event is cancelled.")]
pub struct CancelRequest {
    /// 1-1000 characters once trimmed. Also accepted as `cancellation_reason`.
    #[serde(alias = "cancellation_reason")]
    pub reason: String,
    /// Default true. Also accepted as `notifyCustomers`.
    #[serde(default, alias = "notifyCustomers")]
    pub notify_customers: Option<bool>,
    /// Default `full` (`none` when `trigger_refunds` is false). Also accepted as `refundPolicy`.
    #[serde(default, alias = "refundPolicy")]
    pub refund_policy: Option<RefundPolicy>,
    /// Also accepted as `triggerRefunds`.
    #[serde(default, alias = "triggerRefunds")]
    pub trigger_refunds: Option<bool>,
}
