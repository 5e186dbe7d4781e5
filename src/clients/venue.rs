//! The venue-service, as far as event-service needs it: "does this venue exist in this
//! tenant, is it usable, how big is it, which time zone".
//!
//! Fail closed: when the venue cannot be verified, callers get `Unavailable` and refuse the
//! write (503). There is no default venue and no "allowed because degraded".

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use resilience::{
    BreakerHandle, BreakerOutcome, Classification, Classify, Dependency, DependencyConfig, Idempotency,
    ResilienceError, RetryDecision,
};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::domain::TenantId;
use crate::http::request_id;

/// The fields event-service uses (and caches) of a venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub max_capacity: Option<i64>,
    pub timezone: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum VenueError {
    #[error("venue not found in this tenant")]
    NotFound,
    #[error("venue access forbidden")]
    Forbidden,
    #[error("venue-service unavailable")]
    Unavailable { retry_after: Option<Duration> },
}

/// What the domain asks of the venue-service; the HTTP client implements it, tests may fake it.
pub trait VenueDirectory: Send + Sync {
    fn venue(&self, tenant: TenantId, venue_id: Uuid) -> BoxFuture<'_, Result<Venue, VenueError>>;
    fn breaker(&self) -> Option<BreakerHandle> {
        None
    }
}

pub type SharedVenues = Arc<dyn VenueDirectory>;

/// One failed attempt against the venue-service.
#[derive(Debug, thiserror::Error)]
pub enum VenueCallError {
    #[error("venue-service answered HTTP {status}")]
    Status { status: u16, retry_after: Option<Duration> },
    #[error("venue-service transport error: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("venue-service answered with an unreadable body")]
    Decode,
}

/// Network errors, 5xx and 429 are transient (retried, honouring `Retry-After`) and count
/// against the breaker; other 4xx are answers, never retried, never counted.
pub struct VenueClassifier;

impl Classify<VenueCallError> for VenueClassifier {
    fn classify(&self, err: &VenueCallError) -> Classification {
        match err {
            VenueCallError::Transport(_) => {
                Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: None } }
            }
            VenueCallError::Status { status, retry_after } if *status == 429 || *status >= 500 => {
                Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: *retry_after } }
            }
            VenueCallError::Status { .. } => {
                Classification { breaker: BreakerOutcome::Ignore, retry: RetryDecision::No }
            }
            VenueCallError::Decode => Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::No },
        }
    }
}

#[derive(Debug, Deserialize)]
struct VenueBody {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    #[serde(default)]
    max_capacity: Option<i64>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

pub struct HttpVenueClient {
    http: reqwest::Client,
    base: Url,
    stack: Dependency<VenueCallError>,
}

impl HttpVenueClient {
    pub fn new(base: Url, stack: DependencyConfig) -> anyhow::Result<Self> {
        // The resilience stack owns timeouts and retries; the client adds none of its own.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { http, base, stack: Dependency::new(stack, VenueClassifier) })
    }

    async fn fetch(&self, tenant: TenantId, venue_id: Uuid) -> Result<VenueBody, VenueCallError> {
        let url = self.base.join(&format!("api/v1/venues/{venue_id}")).map_err(|_| VenueCallError::Decode)?;
        let request_id = request_id::current().unwrap_or_else(|| Uuid::new_v4().to_string());
        let response = self
            .http
            .get(url)
            .header("x-tenant-id", tenant.to_string())
            .header("x-request-id", &request_id)
            .header("traceparent", traceparent(&request_id))
            .header("x-service-id", "event-service")
            .header("x-service-name", "event-service")
            .send()
            .await?;
        let status = response.status();
        if status != StatusCode::OK {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(VenueCallError::Status { status: status.as_u16(), retry_after });
        }
        response.json::<VenueBody>().await.map_err(|_| VenueCallError::Decode)
    }
}

impl VenueDirectory for HttpVenueClient {
    fn venue(&self, tenant: TenantId, venue_id: Uuid) -> BoxFuture<'_, Result<Venue, VenueError>> {
        Box::pin(async move {
            let result = self.stack.call("get_venue", Idempotency::Safe, || self.fetch(tenant, venue_id)).await;
            match result {
                // Defence in depth: a venue of another tenant is "not found", whatever the
                // venue-service said.
                Ok(body) if body.tenant_id != *tenant.as_uuid() || body.id != venue_id => Err(VenueError::NotFound),
                Ok(body) => Ok(Venue {
                    id: body.id,
                    tenant_id: body.tenant_id,
                    name: body.name,
                    max_capacity: body.max_capacity,
                    timezone: body.timezone,
                    active: body.status.as_deref().unwrap_or("active") == "active",
                }),
                Err(ResilienceError::Inner(VenueCallError::Status { status: 404, .. })) => Err(VenueError::NotFound),
                Err(ResilienceError::Inner(VenueCallError::Status { status: 403, .. })) => Err(VenueError::Forbidden),
                Err(other) => {
                    tracing::warn!(error = %other, "venue could not be verified");
                    Err(VenueError::Unavailable { retry_after: other.retry_after().or(Some(Duration::from_secs(5))) })
                }
            }
        })
    }

    fn breaker(&self) -> Option<BreakerHandle> {
        Some(self.stack.breaker())
    }
}

/// W3C trace context: the trace id is the request id's 128 bits when it is a UUID, so one id
/// follows the request across services.
fn traceparent(request_id: &str) -> String {
    let trace = Uuid::parse_str(request_id).unwrap_or_else(|_| Uuid::new_v4()).simple().to_string();
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}
