//! Pricing tiers (and ticket types, which are the same rows): the request bodies, their
//! rules (`reference/original-service.md` §3.4 and §6) and the price calculation.
//!
//! **Money** is `rust_decimal::Decimal` end to end (`numeric(10, 2)` in Postgres), never a
//! binary float (§11.20). Requests accept a JSON number (`12.5`) or a numeric string
//! (`"12.50"`); responses always carry every decimal column as a **string** with the column's
//! scale (`"12.50"` for money, `"0.0825"` for `tax_rate`), so no client has to parse money
//! through a double.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Mode;
use crate::domain::check::Check;
use crate::error::FieldError;

/// The largest price a `numeric(10, 2)` column holds: 9,999,999.99.
pub const MAX_PRICE: Decimal = Decimal::from_parts(999_999_999, 0, 0, false, 2);
const MAX_FACTOR: Decimal = Decimal::from_parts(10, 0, 0, false, 0);

/// One row of `event_pricing`, as every pricing and ticket-type route returns it. Every
/// decimal is a string with the column's scale (`"49.99"`, `"0.0825"`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(
    as = PricingTier,
    description = "A price tier (also the shape of a ticket type). Every decimal is a string with the \
        column's scale (`\"49.99\"`, `\"0.0825\"`)."
)]
pub struct Tier {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub schedule_id: Option<Uuid>,
    pub capacity_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub tier: Option<String>,
    pub base_price: Decimal,
    pub service_fee: Decimal,
    pub facility_fee: Decimal,
    pub tax_rate: Decimal,
    pub is_dynamic: bool,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    /// `{demand_factor, time_factor}` for dynamic pricing.
    pub price_adjustment_rules: Option<Value>,
    pub current_price: Option<Decimal>,
    pub early_bird_price: Option<Decimal>,
    pub early_bird_ends_at: Option<DateTime<Utc>>,
    pub last_minute_price: Option<Decimal>,
    pub last_minute_starts_at: Option<DateTime<Utc>>,
    pub group_size_min: Option<i32>,
    pub group_discount_percentage: Option<Decimal>,
    pub currency: String,
    pub sales_start_at: Option<DateTime<Utc>>,
    pub sales_end_at: Option<DateTime<Utc>>,
    pub max_per_order: Option<i32>,
    pub max_per_customer: Option<i32>,
    pub is_active: bool,
    pub is_visible: bool,
    pub display_order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// The body of `POST /events/:id/pricing` and `PUT /pricing/:id`: the `event_pricing`
/// columns minus ids, `current_price` and timestamps (all optional here; create checks its
/// required ones). `version` is the optimistic lock of an update (ignored on create).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = PricingUpdate,
    description = "A price tier's fields; absent or `null` keeps the value on update. Decimals are JSON \
        numbers or numeric strings."
)]
pub struct PricingFields {
    /// A schedule of the same event.
    pub schedule_id: Option<Uuid>,
    /// A capacity section of the same event.
    pub capacity_id: Option<Uuid>,
    /// Not blank.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(max_length = 50)]
    pub tier: Option<String>,
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub base_price: Option<Decimal>,
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub service_fee: Option<Decimal>,
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub facility_fee: Option<Decimal>,
    /// 0-1 with at most 4 decimals.
    #[schema(schema_with = crate::domain::schema::tax_rate_input)]
    pub tax_rate: Option<Decimal>,
    /// Dynamic pricing needs `min_price <= base_price <= max_price` and both factors.
    pub is_dynamic: Option<bool>,
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub min_price: Option<Decimal>,
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub max_price: Option<Decimal>,
    /// `demand_factor` and `time_factor`: numbers (or numeric strings) from 0 to 10.
    pub price_adjustment_rules: Option<Map<String, Value>>,
    /// Less than `base_price`.
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub early_bird_price: Option<Decimal>,
    /// Before `sales_start_at`.
    pub early_bird_ends_at: Option<DateTime<Utc>>,
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub last_minute_price: Option<Decimal>,
    pub last_minute_starts_at: Option<DateTime<Utc>>,
    /// Given together with `group_discount_percentage`.
    #[schema(minimum = 1, maximum = 1000)]
    pub group_size_min: Option<i32>,
    /// 0-100 with at most 2 decimals; given together with `group_size_min`.
    #[schema(schema_with = crate::domain::schema::percentage_input)]
    pub group_discount_percentage: Option<Decimal>,
    /// ISO 4217, upper case (default `USD`).
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    pub sales_start_at: Option<DateTime<Utc>>,
    /// After `sales_start_at`.
    pub sales_end_at: Option<DateTime<Utc>>,
    #[schema(minimum = 1, maximum = 100)]
    pub max_per_order: Option<i32>,
    #[schema(minimum = 1, maximum = 1000)]
    pub max_per_customer: Option<i32>,
    pub is_active: Option<bool>,
    pub is_visible: Option<bool>,
    pub display_order: Option<i32>,
    /// Optimistic lock for updates (409 `VERSION_CONFLICT`); ignored on create.
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

/// The body of the ticket-type routes, the fields the original's handler read. `price` is
/// accepted as an alias of `base_price` (the original's route schema called it that).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = TicketTypeUpdate,
    description = "A ticket type's fields (a price tier seen through the ticket-type routes); absent or \
        `null` keeps the value on update."
)]
pub struct TicketTypeFields {
    /// Not blank.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// Also accepted as `price`. Cannot change once tickets of the event were sold (400
    /// `PRICE_LOCKED_AFTER_SALES`).
    #[serde(alias = "price")]
    #[schema(schema_with = crate::domain::schema::money_input)]
    pub base_price: Option<Decimal>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(max_length = 50)]
    pub tier: Option<String>,
    /// ISO 4217, upper case (default `USD`).
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    #[schema(minimum = 1, maximum = 100)]
    pub max_per_order: Option<i32>,
    pub sales_start_at: Option<DateTime<Utc>>,
    /// After `sales_start_at`.
    pub sales_end_at: Option<DateTime<Utc>>,
    pub is_active: Option<bool>,
    pub is_visible: Option<bool>,
    /// Optimistic lock for updates (409 `VERSION_CONFLICT`); ignored on create.
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

impl From<TicketTypeFields> for PricingFields {
    fn from(t: TicketTypeFields) -> Self {
        PricingFields {
            name: t.name,
            base_price: t.base_price,
            description: t.description,
            tier: t.tier,
            currency: t.currency,
            max_per_order: t.max_per_order,
            sales_start_at: t.sales_start_at,
            sales_end_at: t.sales_end_at,
            is_active: t.is_active,
            is_visible: t.is_visible,
            version: t.version,
            ..PricingFields::default()
        }
    }
}

/// Checks only pricing bodies need.
impl Check {
    /// 0 to 9,999,999.99 with at most 2 decimals (trailing zeros do not count).
    fn money(&mut self, field: &str, value: Option<Decimal>) {
        let Some(v) = value else { return };
        if v.is_sign_negative() && !v.is_zero() {
            self.fail(field, "VALUE_TOO_SMALL", "must not be negative");
        } else if v > MAX_PRICE {
            self.fail(field, "VALUE_TOO_LARGE", "must be at most 9999999.99");
        } else if v.normalize().scale() > 2 {
            self.fail(field, "INVALID_PRECISION", "must have at most 2 decimals");
        }
    }

    fn decimal(&mut self, field: &str, value: Option<Decimal>, max: Decimal, decimals: u32) {
        let Some(v) = value else { return };
        if v < Decimal::ZERO || v > max {
            self.fail(field, "INVALID_RANGE", format!("must be between 0 and {max}"));
        } else if v.normalize().scale() > decimals {
            self.fail(field, "INVALID_PRECISION", format!("must have at most {decimals} decimals"));
        }
    }
}

/// The values the cross-field rules see: the request over the current row (update) or over
/// the column defaults (create), as the original's `data.x ?? existing.x`.
#[derive(Debug, Clone, Default)]
struct Effective {
    base_price: Option<Decimal>,
    is_dynamic: bool,
    min_price: Option<Decimal>,
    max_price: Option<Decimal>,
    price_adjustment_rules: Option<Map<String, Value>>,
    early_bird_price: Option<Decimal>,
    early_bird_ends_at: Option<DateTime<Utc>>,
    sales_start_at: Option<DateTime<Utc>>,
    sales_end_at: Option<DateTime<Utc>>,
    group_size_min: Option<i32>,
    group_discount_percentage: Option<Decimal>,
}

fn factor(rules: &Map<String, Value>, key: &str) -> Option<Result<Decimal, ()>> {
    match rules.get(key) {
        None | Some(Value::Null) => None,
        Some(v @ (Value::Number(_) | Value::String(_))) => Some(serde_json::from_value(v.clone()).map_err(|_| ())),
        Some(_) => Some(Err(())),
    }
}

impl PricingFields {
    /// Checks every rule and returns all violations at once (422). `current` is the row an
    /// update applies to.
    pub fn validate(&self, mode: Mode, current: Option<&Tier>) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        for (field, value) in [
            ("early_bird_ends_at", self.early_bird_ends_at),
            ("last_minute_starts_at", self.last_minute_starts_at),
            ("sales_start_at", self.sales_start_at),
            ("sales_end_at", self.sales_end_at),
        ] {
            c.date(field, value);
        }
        if mode == Mode::Create {
            if self.name.is_none() {
                c.fail("name", "REQUIRED_FIELD", "is required");
            }
            if self.base_price.is_none() {
                c.fail("base_price", "REQUIRED_FIELD", "is required");
            }
        }
        if let Some(name) = &self.name
            && name.trim().is_empty()
        {
            c.fail("name", "STRING_TOO_SHORT", "must not be blank");
        }
        c.len("name", &self.name, 0, 100);
        c.len("tier", &self.tier, 0, 50);
        c.len("description", &self.description, 0, 10_000);
        for (field, value) in [
            ("base_price", self.base_price),
            ("service_fee", self.service_fee),
            ("facility_fee", self.facility_fee),
            ("min_price", self.min_price),
            ("max_price", self.max_price),
            ("early_bird_price", self.early_bird_price),
            ("last_minute_price", self.last_minute_price),
        ] {
            c.money(field, value);
        }
        c.decimal("tax_rate", self.tax_rate, Decimal::ONE, 4);
        c.decimal("group_discount_percentage", self.group_discount_percentage, Decimal::ONE_HUNDRED, 2);
        c.range("group_size_min", self.group_size_min, 1, 1000);
        c.range("max_per_order", self.max_per_order, 1, 100);
        c.range("max_per_customer", self.max_per_customer, 1, 1000);
        if let Some(currency) = &self.currency
            && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            c.fail("currency", "INVALID_PATTERN", "must be a 3-letter upper-case ISO 4217 code such as USD");
        }
        if let Some(rules) = &self.price_adjustment_rules {
            for key in ["demand_factor", "time_factor"] {
                let field = format!("price_adjustment_rules.{key}");
                match factor(rules, key) {
                    Some(Err(())) => c.fail(&field, "INVALID_TYPE", "must be a number"),
                    Some(Ok(v)) if v < Decimal::ZERO || v > MAX_FACTOR => {
                        c.fail(&field, "INVALID_RANGE", "must be between 0 and 10")
                    }
                    _ => {}
                }
            }
        }
        if self.version.is_some_and(|v| v < 1) {
            c.fail("version", "VALUE_TOO_SMALL", "must be at least 1");
        }
        if c.errors.is_empty() {
            self.check_rules(&mut c, &self.effective(current));
        }
        if c.errors.is_empty() { Ok(()) } else { Err(c.errors) }
    }

    fn effective(&self, current: Option<&Tier>) -> Effective {
        let cur = current.map(|t| Effective {
            base_price: Some(t.base_price),
            is_dynamic: t.is_dynamic,
            min_price: t.min_price,
            max_price: t.max_price,
            price_adjustment_rules: t.price_adjustment_rules.as_ref().and_then(Value::as_object).cloned(),
            early_bird_price: t.early_bird_price,
            early_bird_ends_at: t.early_bird_ends_at,
            sales_start_at: t.sales_start_at,
            sales_end_at: t.sales_end_at,
            group_size_min: t.group_size_min,
            group_discount_percentage: t.group_discount_percentage,
        });
        let cur = cur.unwrap_or_default();
        Effective {
            base_price: self.base_price.or(cur.base_price),
            is_dynamic: self.is_dynamic.unwrap_or(cur.is_dynamic),
            min_price: self.min_price.or(cur.min_price),
            max_price: self.max_price.or(cur.max_price),
            price_adjustment_rules: self.price_adjustment_rules.clone().or(cur.price_adjustment_rules),
            early_bird_price: self.early_bird_price.or(cur.early_bird_price),
            early_bird_ends_at: self.early_bird_ends_at.or(cur.early_bird_ends_at),
            sales_start_at: self.sales_start_at.or(cur.sales_start_at),
            sales_end_at: self.sales_end_at.or(cur.sales_end_at),
            group_size_min: self.group_size_min.or(cur.group_size_min),
            group_discount_percentage: self.group_discount_percentage.or(cur.group_discount_percentage),
        }
    }

    /// The original's cross-field checks (§6 "Pricing checks"), on the effective values.
    fn check_rules(&self, c: &mut Check, e: &Effective) {
        if let (Some(start), Some(end)) = (e.sales_start_at, e.sales_end_at)
            && end <= start
        {
            c.fail("sales_end_at", "INVALID_DATE_ORDER", "must be after sales_start_at");
        }
        // The original's rule, kept as it is: the early-bird period ends before general sales.
        if let (Some(early), Some(start)) = (e.early_bird_ends_at, e.sales_start_at)
            && early >= start
        {
            c.fail("early_bird_ends_at", "INVALID_DATE_ORDER", "must be before sales_start_at");
        }
        if let (Some(early), Some(base)) = (e.early_bird_price, e.base_price)
            && early >= base
        {
            c.fail("early_bird_price", "INVALID_RANGE", "must be less than base_price");
        }
        if e.is_dynamic {
            if e.min_price.is_none() {
                c.fail("min_price", "REQUIRED_FIELD", "is required for dynamic pricing");
            }
            if e.max_price.is_none() {
                c.fail("max_price", "REQUIRED_FIELD", "is required for dynamic pricing");
            }
            let rules = e.price_adjustment_rules.clone().unwrap_or_default();
            for key in ["demand_factor", "time_factor"] {
                if factor(&rules, key).is_none() {
                    c.fail(
                        &format!("price_adjustment_rules.{key}"),
                        "REQUIRED_FIELD",
                        "is required for dynamic pricing",
                    );
                }
            }
            if let (Some(min), Some(base)) = (e.min_price, e.base_price)
                && min > base
            {
                c.fail("min_price", "INVALID_RANGE", "must not exceed base_price");
            }
            if let (Some(max), Some(base)) = (e.max_price, e.base_price)
                && base > max
            {
                c.fail("max_price", "INVALID_RANGE", "must not be below base_price");
            }
        }
        match (e.group_size_min.is_some(), e.group_discount_percentage.is_some()) {
            (true, false) => {
                c.fail("group_discount_percentage", "REQUIRED_FIELD", "is required when group_size_min is set")
            }
            (false, true) => {
                c.fail("group_size_min", "REQUIRED_FIELD", "is required when group_discount_percentage is set")
            }
            _ => {}
        }
    }
}

// Price calculation -----------------------------------------------------------------------------

/// Rounds to cents, half away from zero (0.125 -> 0.13, never banker's 0.12), and always
/// returns scale 2, so `"5.00"` is rendered with its cents.
pub fn cents(v: Decimal) -> Decimal {
    let mut r = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r
}

/// What a quote depends on, taken from a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceInputs {
    /// `current_price`, or `base_price` when the tier has none.
    pub unit_price: Decimal,
    pub service_fee: Decimal,
    pub facility_fee: Decimal,
    pub tax_rate: Decimal,
    pub group_size_min: Option<i32>,
    pub group_discount_percentage: Option<Decimal>,
}

impl From<&Tier> for PriceInputs {
    fn from(t: &Tier) -> Self {
        PriceInputs {
            unit_price: t.current_price.unwrap_or(t.base_price),
            service_fee: t.service_fee,
            facility_fee: t.facility_fee,
            tax_rate: t.tax_rate,
            group_size_min: t.group_size_min,
            group_discount_percentage: t.group_discount_percentage,
        }
    }
}

/// The answer of `POST /pricing/:id/calculate`; every amount is a 2-decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quote {
    /// Tickets before any discount: `quantity * unit_price`.
    pub base_price: Decimal,
    /// `quantity * service_fee`.
    pub service_fee: Decimal,
    /// `quantity * facility_fee`.
    pub facility_fee: Decimal,
    /// The group discount taken off `base_price` (`"0.00"` when none applies).
    pub group_discount: Decimal,
    /// `base_price - group_discount + service_fee + facility_fee`.
    pub subtotal: Decimal,
    /// `cents(subtotal * tax_rate)`.
    pub tax: Decimal,
    /// `subtotal + tax`.
    pub total: Decimal,
    /// `cents(total / quantity)`; informational, so `per_ticket * quantity` may differ from
    /// `total` by the division remainder (`total` is what is charged).
    pub per_ticket: Decimal,
    pub quantity: u32,
    pub currency: String,
    /// True when the group discount applied (`apply_group_discount`, the tier has a group
    /// rule, `quantity >= group_size_min` and a percentage above zero).
    pub discount_applied: bool,
}

/// Prices `quantity` tickets (1-100, checked by the caller).
///
/// The original's formula (§6) plus the group discount it ignored:
///
/// ```text
/// base_price     = q * unit_price
/// group_discount = cents(base_price * group_discount_percentage / 100)
///                  if apply_group_discount and q >= group_size_min, else 0
/// service_fee    = q * service_fee          facility_fee = q * facility_fee
/// subtotal       = base_price - group_discount + service_fee + facility_fee
/// tax            = cents(subtotal * tax_rate)
/// total          = subtotal + tax
/// per_ticket     = cents(total / q)
/// ```
///
/// The discount applies to the ticket price only, never to the fees; tax is charged on the
/// discounted subtotal including fees (as the original taxed fees). Every rounding is to the
/// cent, half away from zero ([`cents`]). Inputs are at most 2 decimals (prices) and 4
/// (tax rate), so only the discount, the tax and `per_ticket` ever need rounding.
pub fn quote(p: &PriceInputs, quantity: u32, apply_group_discount: bool, currency: &str) -> Quote {
    let q = Decimal::from(quantity);
    let base_price = cents(q * p.unit_price);
    let service_fee = cents(q * p.service_fee);
    let facility_fee = cents(q * p.facility_fee);
    let discount_rule = match (p.group_size_min, p.group_discount_percentage) {
        (Some(min), Some(pct))
            if apply_group_discount && i64::from(quantity) >= i64::from(min) && pct > Decimal::ZERO =>
        {
            Some(pct)
        }
        _ => None,
    };
    let group_discount = cents(discount_rule.map_or(Decimal::ZERO, |pct| base_price * pct / Decimal::ONE_HUNDRED));
    let subtotal = cents(base_price - group_discount + service_fee + facility_fee);
    let tax = cents(subtotal * p.tax_rate);
    let total = cents(subtotal + tax);
    let per_ticket = cents(total / q);
    Quote {
        base_price,
        service_fee,
        facility_fee,
        group_discount,
        subtotal,
        tax,
        total,
        per_ticket,
        quantity,
        currency: currency.to_owned(),
        discount_applied: discount_rule.is_some(),
    }
}

/// The body of `POST /pricing/{id}/calculate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PriceCalculation)]
pub struct CalculateBody {
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: i64,
    /// Default true.
    pub apply_group_discount: Option<bool>,
    #[schema(schema_with = crate::domain::schema::unsupported_promo_code)]
    pub promo_code: Option<String>,
}

impl CalculateBody {
    /// The quantity to price, or why the request is refused. `promo_code` is refused (422
    /// `PROMO_CODES_UNSUPPORTED`) rather than silently ignored as the original did.
    pub fn validate(&self) -> Result<u32, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !(1..=100).contains(&self.quantity) {
            let code = if self.quantity < 1 { "VALUE_TOO_SMALL" } else { "VALUE_TOO_LARGE" };
            errors.push(FieldError::new("quantity", code, "must be between 1 and 100"));
        }
        if self.promo_code.is_some() {
            errors.push(FieldError::new("promo_code", "PROMO_CODES_UNSUPPORTED", "promotion codes are not supported"));
        }
        if errors.is_empty() { Ok(u32::try_from(self.quantity).unwrap_or(1)) } else { Err(errors) }
    }
}

/// `{pricing}`, one tier on the pricing routes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PricingEnvelope {
    pub pricing: Tier,
}

/// `{pricing: [...]}`, an event's tiers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PricingList {
    pub pricing: Vec<Tier>,
}

/// `{success, data}`, one tier on the ticket-type routes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketTypeEnvelope {
    pub success: bool,
    pub data: Tier,
}

/// `{success, data: [...]}`, an event's ticket types.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketTypeList {
    pub success: bool,
    pub data: Vec<Tier>,
}

/// One tier in the envelope of the surface it was asked through.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum TierEnvelope {
    Pricing(PricingEnvelope),
    TicketType(TicketTypeEnvelope),
}

crate::domain::schema::create_body!(
    /// The body of `POST /events/{id}/pricing`.
    PricingCreate = PricingFields, required: ["name", "base_price"]
);
crate::domain::schema::create_body!(
    /// The body of `POST /events/{id}/ticket-types`.
    TicketTypeCreate = TicketTypeFields, required: ["name", "base_price"]
);

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn inputs(unit: &str, service: &str, facility: &str, tax: &str) -> PriceInputs {
        PriceInputs {
            unit_price: d(unit),
            service_fee: d(service),
            facility_fee: d(facility),
            tax_rate: d(tax),
            group_size_min: None,
            group_discount_percentage: None,
        }
    }

    fn strings(q: &Quote) -> [String; 8] {
        [q.base_price, q.service_fee, q.facility_fee, q.group_discount, q.subtotal, q.tax, q.total, q.per_ticket]
            .map(|v| v.to_string())
    }

    #[test]
    fn fees_and_tax_to_the_cent() {
        // 3 x 49.99 = 149.97; fees 3 x 5.25 and 3 x 2.00; subtotal 171.72; tax 8.25 % = 14.1669.
        let q = quote(&inputs("49.99", "5.25", "2.00", "0.0825"), 3, true, "USD");
        assert_eq!(strings(&q), ["149.97", "15.75", "6.00", "0.00", "171.72", "14.17", "185.89", "61.96"]);
        assert!(!q.discount_applied);
        assert_eq!(q.currency, "USD");
    }

    #[test]
    fn a_half_cent_rounds_away_from_zero_not_to_even() {
        // 10.50 x 5 % = 0.525 -> 0.53 (banker's rounding would give 0.52).
        let q = quote(&inputs("10.50", "0", "0", "0.05"), 1, true, "USD");
        assert_eq!(q.tax.to_string(), "0.53");
        assert_eq!(q.total.to_string(), "11.03");
        // 0.10 x 25 % = 0.025 -> 0.03.
        let q = quote(&inputs("0.10", "0", "0", "0.25"), 1, true, "USD");
        assert_eq!(q.tax.to_string(), "0.03");
    }

    #[test]
    fn per_ticket_rounds_the_division_remainder() {
        // 3 x 3.00 = 9.00; tax 11.11 % = 0.9999 -> 1.00; total 10.00; 10.00 / 3 = 3.333.. -> 3.33
        // (3 x 3.33 = 9.99: `total` is what is charged).
        let q = quote(&inputs("3.00", "0", "0", "0.1111"), 3, true, "EUR");
        assert_eq!(strings(&q), ["9.00", "0.00", "0.00", "0.00", "9.00", "1.00", "10.00", "3.33"]);
        // 20.00 / 3 = 6.666.. -> 6.67.
        let q = quote(&inputs("6.00", "0", "0", "0.1111"), 3, true, "EUR");
        assert_eq!((q.total.to_string(), q.per_ticket.to_string()), ("20.00".to_owned(), "6.67".to_owned()));
    }

    #[test]
    fn the_group_discount_applies_to_tickets_only_from_the_group_size() {
        let mut p = inputs("25.00", "3.00", "1.50", "0.10");
        p.group_size_min = Some(4);
        p.group_discount_percentage = Some(d("12.5"));
        // Below the group size: no discount.
        let q = quote(&p, 3, true, "USD");
        assert_eq!(strings(&q), ["75.00", "9.00", "4.50", "0.00", "88.50", "8.85", "97.35", "32.45"]);
        assert!(!q.discount_applied);
        // 4 x 25 = 100; 12.5 % = 12.50 off; fees 12.00 + 6.00; subtotal 105.50; tax 10.55.
        let q = quote(&p, 4, true, "USD");
        assert_eq!(strings(&q), ["100.00", "12.00", "6.00", "12.50", "105.50", "10.55", "116.05", "29.01"]);
        assert!(q.discount_applied);
        // The caller may decline it.
        let q = quote(&p, 4, false, "USD");
        assert_eq!(q.group_discount.to_string(), "0.00");
        assert!(!q.discount_applied);
        assert_eq!(q.subtotal.to_string(), "118.00");
    }

    #[test]
    fn the_group_discount_itself_rounds_half_away_from_zero() {
        let mut p = inputs("0.35", "0", "0", "0");
        p.group_size_min = Some(1);
        p.group_discount_percentage = Some(d("10"));
        // 0.35 x 10 % = 0.035 -> 0.04.
        let q = quote(&p, 1, true, "USD");
        assert_eq!((q.group_discount.to_string(), q.total.to_string()), ("0.04".to_owned(), "0.31".to_owned()));
    }

    fn sample_tier() -> Tier {
        Tier {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            event_id: Uuid::nil(),
            schedule_id: None,
            capacity_id: None,
            name: "GA".to_owned(),
            description: None,
            tier: None,
            base_price: d("10.00"),
            service_fee: d("0.00"),
            facility_fee: d("0.00"),
            tax_rate: d("0.0000"),
            is_dynamic: false,
            min_price: None,
            max_price: None,
            price_adjustment_rules: None,
            current_price: Some(d("10.00")),
            early_bird_price: None,
            early_bird_ends_at: None,
            last_minute_price: None,
            last_minute_starts_at: None,
            group_size_min: None,
            group_discount_percentage: None,
            currency: "USD".to_owned(),
            sales_start_at: None,
            sales_end_at: None,
            max_per_order: None,
            max_per_customer: None,
            is_active: true,
            is_visible: true,
            display_order: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn current_price_wins_over_base_price_and_money_serializes_as_strings() {
        let tier = Tier { current_price: Some(d("12.00")), ..sample_tier() };
        assert_eq!(quote(&PriceInputs::from(&tier), 2, true, "USD").total.to_string(), "24.00");
        let tier = Tier { current_price: None, ..sample_tier() };
        assert_eq!(quote(&PriceInputs::from(&tier), 2, true, "USD").total.to_string(), "20.00");
        let json = serde_json::to_value(&tier).unwrap();
        assert_eq!(json["base_price"], "10.00", "money is a string with its cents");
        assert_eq!(json["tax_rate"], "0.0000");
        let q = serde_json::to_value(quote(&PriceInputs::from(&tier), 1, true, "USD")).unwrap();
        assert_eq!((q["total"].as_str(), q["quantity"].as_u64()), (Some("10.00"), Some(1)));
    }

    fn create(json: Value) -> Result<(), Vec<(String, &'static str)>> {
        let fields: PricingFields = serde_json::from_value(json).unwrap();
        fields.validate(Mode::Create, None).map_err(|e| e.into_iter().map(|e| (e.field, e.code)).collect())
    }

    fn fails(json: Value, field: &str, code: &str) {
        let shown = json.to_string();
        let errors = create(json).unwrap_err();
        assert!(errors.iter().any(|(f, c)| f == field && *c == code), "{shown}: {errors:?}");
    }

    #[test]
    fn money_accepts_numbers_and_strings_and_checks_range_and_precision() {
        assert!(create(serde_json::json!({"name": "GA", "base_price": 12.5})).is_ok());
        assert!(create(serde_json::json!({"name": "GA", "base_price": "12.50", "service_fee": "0.10"})).is_ok());
        assert!(create(serde_json::json!({"name": "GA", "base_price": "9999999.99"})).is_ok());
        fails(serde_json::json!({"name": "GA", "base_price": "10000000.00"}), "base_price", "VALUE_TOO_LARGE");
        fails(serde_json::json!({"name": "GA", "base_price": -1}), "base_price", "VALUE_TOO_SMALL");
        fails(serde_json::json!({"name": "GA", "base_price": 1.005}), "base_price", "INVALID_PRECISION");
        fails(
            serde_json::json!({"name": "GA", "base_price": 1, "tax_rate": "0.12345"}),
            "tax_rate",
            "INVALID_PRECISION",
        );
        fails(serde_json::json!({"name": "GA", "base_price": 1, "tax_rate": 1.5}), "tax_rate", "INVALID_RANGE");
        fails(serde_json::json!({"base_price": 1}), "name", "REQUIRED_FIELD");
        fails(serde_json::json!({"name": "GA"}), "base_price", "REQUIRED_FIELD");
    }

    #[test]
    fn cross_field_rules_use_the_current_row_on_update() {
        let current = Tier { base_price: d("15.00"), sales_start_at: Some(Utc::now()), ..sample_tier() };
        let update = |json: Value| {
            let fields: PricingFields = serde_json::from_value(json).unwrap();
            fields
                .validate(Mode::Update, Some(&current))
                .map_err(|e| e.into_iter().map(|e| (e.field, e.code)).collect::<Vec<_>>())
        };
        assert!(update(serde_json::json!({"early_bird_price": "14.99"})).is_ok());
        assert_eq!(
            update(serde_json::json!({"early_bird_price": "15.00"})).unwrap_err(),
            [("early_bird_price".to_owned(), "INVALID_RANGE")]
        );
        assert_eq!(
            update(serde_json::json!({"sales_end_at": Utc::now() - chrono::Duration::hours(1)})).unwrap_err(),
            [("sales_end_at".to_owned(), "INVALID_DATE_ORDER")]
        );
        assert_eq!(
            update(serde_json::json!({"group_size_min": 4})).unwrap_err(),
            [("group_discount_percentage".to_owned(), "REQUIRED_FIELD")]
        );
        let dynamic = update(serde_json::json!({"is_dynamic": true, "min_price": 16})).unwrap_err();
        for expected in [
            ("max_price", "REQUIRED_FIELD"),
            ("price_adjustment_rules.demand_factor", "REQUIRED_FIELD"),
            ("price_adjustment_rules.time_factor", "REQUIRED_FIELD"),
            ("min_price", "INVALID_RANGE"),
        ] {
            assert!(dynamic.contains(&(expected.0.to_owned(), expected.1)), "{expected:?} in {dynamic:?}");
        }
        assert!(
            update(serde_json::json!({"is_dynamic": true, "min_price": 10, "max_price": "20",
                "price_adjustment_rules": {"demand_factor": 1.5, "time_factor": "2"}}))
            .is_ok()
        );
        assert_eq!(
            update(serde_json::json!({"price_adjustment_rules": {"demand_factor": 11}})).unwrap_err(),
            [("price_adjustment_rules.demand_factor".to_owned(), "INVALID_RANGE")]
        );
    }
}
