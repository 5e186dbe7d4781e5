//! Typed path ids. `Id<Event>` is the `{id}` of a route that names one event: a segment that
//! is not a UUID is answered 404 like an id that exists nowhere (it cannot name a resource),
//! and the extractor documents its own path parameter (`params(Id<Event>)`).

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::extract::RawPathParams;
use axum::extract::rejection::RawPathParamsRejection;
use axum::http::request::Parts;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{KnownFormat, ObjectBuilder, Required, SchemaFormat, Type};
use uuid::Uuid;

use crate::error::ApiError;

/// A kind of resource a path can name: what a 404 calls it, and its path parameter.
pub trait Resource {
    /// `Event`, as in "Event not found".
    const NAME: &'static str;
    /// The parameter's name in the route's path template.
    const PARAM: &'static str;
    /// The parameter's description in the API document.
    const DESCRIPTION: &'static str;
}

macro_rules! resources {
    ($($marker:ident = ($name:literal, $param:literal, $description:literal)),* $(,)?) => {$(
        #[doc = concat!("Names one ", $name, " in a path.")]
        pub enum $marker {}
        impl Resource for $marker {
            const NAME: &'static str = $name;
            const PARAM: &'static str = $param;
            const DESCRIPTION: &'static str = $description;
        }
    )*};
}

resources! {
    Event = ("Event", "id", "The event."),
    Section = ("Capacity section", "id", "The capacity section."),
    Hold = ("Reservation", "id", "The hold (reservation)."),
    Pricing = ("Pricing", "id", "The price tier."),
    Schedule = ("Schedule", "schedule_id", "The schedule."),
    TicketType = ("Ticket type", "type_id", "The ticket type (a price tier)."),
    Venue = ("Venue", "venue_id", "The venue."),
    Tenant = ("Tenant", "tenant", "The tenant."),
}

/// The one id of a route's path, for resource `R`.
pub struct Id<R>(pub Uuid, pub PhantomData<R>);

/// The two ids of a nested route's path (`/events/{id}/schedules/{schedule_id}`), in order.
pub struct Ids<A, B>(pub Uuid, pub Uuid, pub PhantomData<(A, B)>);

async fn raw_params(parts: &mut Parts) -> Result<Vec<String>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|e: RawPathParamsRejection| ApiError::bad_request("INVALID_PATH", e.body_text()))?;
    Ok(params.iter().map(|(_, value)| value.to_owned()).collect())
}

fn parse<R: Resource>(raw: Option<&String>) -> Result<Uuid, ApiError> {
    raw.and_then(|v| v.parse().ok()).ok_or_else(|| ApiError::not_found(R::NAME))
}

impl<S: Send + Sync, R: Resource> FromRequestParts<S> for Id<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = raw_params(parts).await?;
        debug_assert_eq!(params.len(), 1, "Id<{}> on a route with {} path parameters", R::NAME, params.len());
        Ok(Id(parse::<R>(params.last())?, PhantomData))
    }
}

impl<S: Send + Sync, A: Resource, B: Resource> FromRequestParts<S> for Ids<A, B> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = raw_params(parts).await?;
        debug_assert_eq!(
            params.len(),
            2,
            "Ids<{}, {}> on a route with {} path parameters",
            A::NAME,
            B::NAME,
            params.len()
        );
        Ok(Ids(parse::<A>(params.first())?, parse::<B>(params.get(1))?, PhantomData))
    }
}

fn parameter<R: Resource>() -> Parameter {
    ParameterBuilder::new()
        .name(R::PARAM)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(format!("{} Not a UUID: 404, like an unknown id.", R::DESCRIPTION)))
        .schema(Some(
            ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build()
}

impl<R: Resource> IntoParams for Id<R> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![parameter::<R>()]
    }
}

impl<A: Resource, B: Resource> IntoParams for Ids<A, B> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![parameter::<A>(), parameter::<B>()]
    }
}
