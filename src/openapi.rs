//! The OpenAPI 3.1 description of the HTTP API, served at `GET /api-docs/openapi.json`.
//!
//! Only the top level lives here: info, tags, security schemes and the shared problem+json
//! responses. Paths come from the routers themselves (`routes::api`, one `routes!` line per
//! handler, each handler annotated with `#[utoipa::path]`), and schemas from the types the
//! handlers really parse and return, so the document cannot list a route that is not served
//! or miss one that is. `routes::docs` puts the two together and serves the result;
//! `scripts/fuzz` checks real responses against it.
//!
//! The router serves health, metrics and the internal routes both at the root and under
//! `/api/v1`; the document lists both copies (the `/api/v1` ones with a `V1` suffix on their
//! operation ids).

use std::collections::HashSet;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::problem::*;

/// The whole document: this top level around `paths` (the routers' own description,
/// `routes::api(..).into_openapi()`, assembled where the document is served: `routes::docs`).
pub fn document(paths: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(paths);
    unique_operation_ids(&mut doc);
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TicketToken event-service",
        description = "Events, schedules, capacity, holds and pricing of the TicketToken platform, \
            tenant-isolated. Every error is `application/problem+json` (see the `Problem` schema): \
            `{type, title, status, detail, instance, code, errors?}`, where `code` is stable and \
            `errors` lists field-level problems. Unknown body fields and query parameters are \
            rejected with 400 `UNKNOWN_FIELD`. Creating POSTs accept an `Idempotency-Key`.",
        license(name = "MIT"),
    ),
    tags(
        (name = "health", description = "Probes: served at the root and under `/api/v1`."),
        (name = "metrics", description = "Prometheus metrics: served at the root and under `/api/v1`."),
        (name = "docs", description = "This description and an interactive page rendering it."),
        (name = "events", description = "Events and their lifecycle."),
        (name = "schedules", description = "The dates of an event."),
        (name = "capacity", description = "Sections, holds (reservations) and cancellation."),
        (name = "pricing", description = "Price tiers, quotes and the ticket-type view of tiers."),
        (name = "admin", description = "Tenant administration: the tenant admin role, inside its own tenant."),
        (name = "internal", description = "Service-to-service calls, signed with HMAC-SHA256."),
    ),
    components(
        schemas(Problem, FieldError, RateLimitProblem),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            InternalError,
            Unavailable,
        ),
    ),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

/// `bearerAuth` for platform users; the five `x-internal-*` headers for service calls.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An RS256 access token of the auth-service (`type: access`, `tenant_id`, `sub`, \
                 `role`, `permissions`). The tenant comes from the token only: an `X-Tenant-ID` \
                 header that disagrees with it is refused with 403 `TENANT_MISMATCH`. A request \
                 without a token passes authentication (probes need none), and routes that need a \
                 user answer 401; a malformed or invalid token is refused with 401 on every route.",
            ))
            .build();
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(bearer));
        let internal = [
            (
                "internalService",
                "x-internal-service",
                "The calling service; it must be on `ALLOWED_INTERNAL_SERVICES`.",
            ),
            ("internalTimestamp", "x-internal-timestamp", "Epoch milliseconds, within 60 s of the server's clock."),
            ("internalNonce", "x-internal-nonce", "A UUID, accepted once."),
            (
                "internalSignature",
                "x-internal-signature",
                "Hex HMAC-SHA256 with `INTERNAL_HMAC_SECRET` of \
                 `service:timestamp:nonce:METHOD:path-and-query:bodyHash`, where bodyHash is the \
                 `x-internal-body-hash` header as sent (hex SHA-256 of the body; empty or absent \
                 without a body).",
            ),
        ];
        for (name, header, description) in internal {
            let key = ApiKey::Header(ApiKeyValue::with_description(header, description));
            components.add_security_scheme(name, SecurityScheme::ApiKey(key));
        }
    }
}

/// The `/api/v1` copies of root routes get a `V1` suffix, so every operation id is unique.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    let root: HashSet<String> = doc
        .paths
        .paths
        .iter()
        .filter(|(path, _)| !path.starts_with("/api/v1/"))
        .flat_map(|(_, item)| operations(item).filter_map(|op| op.operation_id.clone()).collect::<Vec<_>>())
        .collect();
    for (_, item) in doc.paths.paths.iter_mut().filter(|(path, _)| path.starts_with("/api/v1/")) {
        for op in operations_mut(item) {
            if let Some(id) = op.operation_id.as_mut().filter(|id| root.contains(id.as_str())) {
                id.push_str("V1");
            }
        }
    }
}

fn operations(item: &PathItem) -> impl Iterator<Item = &Operation> {
    [&item.get, &item.put, &item.post, &item.delete, &item.patch].into_iter().flatten()
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}
