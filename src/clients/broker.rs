//! RabbitMQ, for the event-delivery outbox (`src/jobs/relay.rs`).
//!
//! One connection and one channel in publisher-confirm mode per replica, made on first use and
//! made again after any failure (the relay backs off between attempts). On every (re)connection
//! both exchanges are declared as the original declared them: `tickettoken_events` and
//! `search.sync`, topic, durable. Each message is published `persistent` with its outbox row id
//! as AMQP `message_id` and counts as delivered only when the broker confirms it (`ack`); a
//! `nack`, a timeout or a lost connection leaves it pending for the relay to try again.
//!
//! Every publication goes through the `rabbitmq` resilience stack: an attempt timeout that
//! bounds the wait for the confirm, and a breaker, so a sick broker is not hammered. The stack
//! does not retry: the relay re-queues the row with backoff, in order.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use resilience::{BreakerHandle, Classification, Classify, Dependency, DependencyConfig, Idempotency, ResilienceError};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::domain::messages::Exchange;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("RabbitMQ connection failed: {0}")]
    Connect(String),
    #[error("RabbitMQ refused the publication: {0}")]
    Publish(String),
    #[error("RabbitMQ nacked the message")]
    Nacked,
}

/// Every failure counts against the breaker; none is retried by the stack (the relay decides).
struct BrokerClassifier;

impl Classify<BrokerError> for BrokerClassifier {
    fn classify(&self, _: &BrokerError) -> Classification {
        Classification { retry: resilience::RetryDecision::No, ..Classification::TRANSIENT }
    }
}

/// What the broker needs of one message.
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub message_id: Uuid,
    /// The event the message is about (AMQP `correlation_id`).
    pub event_id: Uuid,
    /// When the change happened (AMQP `timestamp`, seconds).
    pub timestamp: i64,
    pub body: &'a [u8],
}

pub struct Broker {
    url: SecretString,
    connect_timeout: Duration,
    link: Mutex<Option<(Connection, Channel)>>,
    stack: Dependency<BrokerError>,
}

impl Broker {
    /// Connects lazily: the service starts (and keeps serving) without a broker.
    pub fn new(url: SecretString, stack: DependencyConfig) -> Self {
        let connect_timeout = stack.attempt_timeout;
        Self { url, connect_timeout, link: Mutex::new(None), stack: Dependency::new(stack, BrokerClassifier) }
    }

    pub fn breaker(&self) -> BreakerHandle {
        self.stack.breaker()
    }

    /// A channel in confirm mode on a live connection, connecting (and declaring the
    /// exchanges) when there is none.
    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        let mut link = self.link.lock().await;
        if let Some((connection, channel)) = link.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *link = None;
        let connect = async {
            let connection = Connection::connect(self.url.expose_secret(), ConnectionProperties::default())
                .await
                .map_err(|e| BrokerError::Connect(e.to_string()))?;
            let channel = connection.create_channel().await.map_err(|e| BrokerError::Connect(e.to_string()))?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| BrokerError::Connect(e.to_string()))?;
            for exchange in Exchange::all() {
                channel
                    .exchange_declare(
                        exchange.name().into(),
                        ExchangeKind::Topic,
                        ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() },
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|e| BrokerError::Connect(e.to_string()))?;
            }
            Ok::<_, BrokerError>((connection, channel))
        };
        let (connection, channel) = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| BrokerError::Connect("timed out".to_owned()))??;
        tracing::info!("connected to RabbitMQ; exchanges tickettoken_events and search.sync declared");
        *link = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// Forgets the connection after a failure, so the next call makes a new one.
    pub async fn reset(&self) {
        if let Some((connection, _)) = self.link.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), connection.close(0, "resetting".into())).await;
        }
    }

    /// Publishes one message on `channel` and waits for the broker's confirm.
    pub async fn publish(&self, channel: &Channel, m: &Outgoing<'_>) -> Result<(), ResilienceError<BrokerError>> {
        self.stack
            .call("publish", Idempotency::Safe, || async move {
                let properties = BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into())
                    .with_message_id(m.message_id.to_string().into())
                    .with_correlation_id(m.event_id.to_string().into())
                    .with_app_id(crate::domain::messages::SOURCE.into())
                    .with_type(m.routing_key.into())
                    .with_timestamp(m.timestamp.max(0) as u64);
                let confirm = channel
                    .basic_publish(
                        m.exchange.into(),
                        m.routing_key.into(),
                        BasicPublishOptions::default(),
                        m.body,
                        properties,
                    )
                    .await
                    .map_err(|e| BrokerError::Publish(e.to_string()))?;
                let confirmation = confirm.await.map_err(|e| BrokerError::Publish(e.to_string()))?;
                if confirmation.is_nack() { Err(BrokerError::Nacked) } else { Ok(()) }
            })
            .await
    }
}
