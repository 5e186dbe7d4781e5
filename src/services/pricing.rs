//! Pricing tiers and ticket types (`reference/original-service.md` §3.4, §6). A ticket type
//! is a pricing tier seen through the original's `/ticket-types` routes; both share these use
//! cases and the parent-event rules of [`crate::services::schedules`].

use futures::FutureExt;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::Mode;
use crate::domain::TenantId;
use crate::domain::pricing::{
    PriceInputs, PricingEnvelope, PricingFields, Quote, TicketTypeEnvelope, Tier, TierEnvelope, quote,
};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::services::schedules::{readable_parent, writable_parent};
use crate::services::{Creation, stored};
use crate::state::AppState;
use crate::storage::TenantTx;
use crate::storage::idempotency::{self, Fingerprint};
use crate::storage::pricing::{self as store, ChildTable};

/// Which surface a request came through: it decides the envelope and the names in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/events/:id/pricing`, `/pricing/:id`: `{pricing}`.
    Pricing,
    /// `/events/:id/ticket-types`: `{success, data}`; a price change after sales is refused.
    TicketTypes,
}

impl Surface {
    /// The envelope of one tier on this surface.
    pub fn envelope(self, tier: Tier) -> TierEnvelope {
        match self {
            Self::Pricing => TierEnvelope::Pricing(PricingEnvelope { pricing: tier }),
            Self::TicketTypes => TierEnvelope::TicketType(TicketTypeEnvelope { success: true, data: tier }),
        }
    }

    fn not_found(self) -> ApiError {
        match self {
            Self::Pricing => ApiError::not_found("Pricing"),
            Self::TicketTypes => ApiError::not_found("Ticket type"),
        }
    }
}

/// Tiers of an event; `active_only` as `GET .../pricing/active`.
pub async fn list(state: &AppState, tenant: TenantId, event_id: Uuid, active_only: bool) -> ApiResult<Vec<Tier>> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                readable_parent(tx, event_id).await?;
                store::list(tx, event_id, active_only).await
            }
            .boxed()
        })
        .await
}

pub async fn get(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<Tier> {
    state
        .db
        .read(tenant, move |tx| async move { store::find(tx, id).await }.boxed())
        .await?
        .ok_or_else(|| Surface::Pricing.not_found())
}

/// `schedule_id` and `capacity_id` must name rows of the same event (and tenant): 422 naming
/// each field that does not.
async fn check_references(tx: &mut TenantTx, event_id: Uuid, f: &PricingFields) -> ApiResult<()> {
    let mut errors = Vec::new();
    for (field, table, id) in
        [("schedule_id", ChildTable::Schedules, f.schedule_id), ("capacity_id", ChildTable::Capacity, f.capacity_id)]
    {
        if let Some(id) = id
            && !store::belongs_to_event(tx, table, id, event_id).await?
        {
            errors.push(FieldError::new(field, "INVALID_REFERENCE", "no such row in this event"));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::unprocessable(errors)) }
}

/// `POST /events/:id/pricing` and `POST /events/:id/ticket-types`: the tier and, with an
/// `Idempotency-Key`, the stored response, in one transaction.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    fields: PricingFields,
    idem: Option<Fingerprint>,
    surface: Surface,
) -> ApiResult<Creation<TierEnvelope>> {
    fields.validate(Mode::Create, None).map_err(ApiError::unprocessable)?;
    let actor = user.clone();
    state
        .db
        .write(user.tenant, move |tx| {
            let (fields, idem, actor) = (fields.clone(), idem.clone(), actor.clone());
            async move {
                if let Some(fp) = &idem
                    && let Some(stored) = idempotency::begin(tx, fp).await?
                {
                    return Ok(Creation::Replayed(stored));
                }
                writable_parent(tx, &actor, event_id).await?;
                check_references(tx, event_id, &fields).await?;
                let tier = store::insert(tx, event_id, &fields).await?;
                let body = surface.envelope(tier);
                if let Some(fp) = &idem {
                    idempotency::finish(tx, fp, &stored(&body)?).await?;
                }
                Ok(Creation::New(body))
            }
            .boxed()
        })
        .await
}

/// `PUT /pricing/:id` and `PUT /events/:id/ticket-types/:typeId` (`event_id` given): a partial
/// update of the row locked `FOR UPDATE`, under an optimistic lock when `version` is given
/// (409 `VERSION_CONFLICT`). When `base_price` changes on a tier that is not dynamic,
/// `current_price` follows it. Through ticket types, a price change once tickets of the event
/// were sold is refused with 400 `PRICE_LOCKED_AFTER_SALES`, as the original did.
pub async fn update(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    event_id: Option<Uuid>,
    fields: PricingFields,
    surface: Surface,
) -> ApiResult<Tier> {
    fields.validate(Mode::Update, None).map_err(ApiError::unprocessable)?;
    let actor = user.clone();
    state
        .db
        .write(user.tenant, move |tx| {
            let (fields, actor) = (fields.clone(), actor.clone());
            async move {
                // The event is locked before the tier, in the order creation takes them.
                let seen = store::find(tx, id).await?.ok_or_else(|| surface.not_found())?;
                if event_id.is_some_and(|e| e != seen.event_id) {
                    return Err(surface.not_found());
                }
                writable_parent(tx, &actor, seen.event_id).await?;
                let current = store::lock(tx, id).await?.ok_or_else(|| surface.not_found())?;
                if let Some(expected) = fields.version
                    && expected != current.version
                {
                    return Err(ApiError::conflict(
                        "VERSION_CONFLICT",
                        format!("the pricing is at version {}, not {expected}; reload and retry", current.version),
                    ));
                }
                fields.validate(Mode::Update, Some(&current)).map_err(ApiError::unprocessable)?;
                check_references(tx, current.event_id, &fields).await?;
                let price_changes = fields.base_price.is_some_and(|p| p != current.base_price);
                if surface == Surface::TicketTypes
                    && price_changes
                    && store::sold_count(tx, current.event_id).await? > 0
                {
                    return Err(ApiError::bad_request(
                        "PRICE_LOCKED_AFTER_SALES",
                        "the price cannot change once tickets of this event were sold",
                    ));
                }
                let dynamic = fields.is_dynamic.unwrap_or(current.is_dynamic);
                let current_price: Option<Decimal> = if price_changes && !dynamic { fields.base_price } else { None };
                store::update(tx, id, &fields, current_price).await
            }
            .boxed()
        })
        .await
}

/// `POST /pricing/:id/calculate`; see [`quote`] for the formula and the rounding.
pub async fn calculate(
    state: &AppState,
    tenant: TenantId,
    id: Uuid,
    quantity: u32,
    apply_group_discount: bool,
) -> ApiResult<Quote> {
    let tier = get(state, tenant, id).await?;
    Ok(quote(&PriceInputs::from(&tier), quantity, apply_group_discount, &tier.currency))
}

/// The ticket types of an event (all its tiers).
pub async fn ticket_types(state: &AppState, tenant: TenantId, event_id: Uuid) -> ApiResult<Vec<Tier>> {
    list(state, tenant, event_id, false).await
}
