//! What the worker does with a stored event: SMS delivery reports update the SMS message's
//! status, other events become an in-app notification when the endpoint asks for it.
//! Processing happens once per event however many copies of its message arrive (SQS
//! redelivery, the sweeper's re-drive, two workers at once): a worker claims the event with a
//! conditional write and a claim token (`queued` -> `processing`) and writes the outcome
//! under that token; a copy that finds the event finished does nothing, one that finds a
//! fresh claim retries later. A claim older than `WEBHOOK_CLAIM_TIMEOUT_SECONDS` (the
//! queue's visibility timeout: its worker died) is taken over. Delivery reports never move
//! an SMS status backwards, and a replay reuses the notification it created.
//!
//! The other capabilities are reached through two small traits ([`DeliveryReportSink`],
//! [`Notifier`]) wired in `context/webhooks.rs`, so this module names none of their types.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use super::delivery_report::{DeliveryReport, SMS_DELIVERY_REPORT, parse_delivery_report};
use super::error::WebhookError;
use super::events::{Claim, EventStore};
use super::model::*;
use super::registry::EndpointStore;
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::subscriptions::EventPublisher;

/// A delivery report applied to a stored SMS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedReport {
    pub sms_message_id: String,
    /// The message's new status (`delivered`, ...).
    pub status: String,
}

/// Where delivery reports go: the SMS capability. `None` when no message has the report's
/// provider id, or the report changed nothing.
pub trait DeliveryReportSink: Send + Sync {
    fn apply<'a>(
        &'a self,
        report: &'a DeliveryReport,
    ) -> BoxFuture<'a, Result<Option<AppliedReport>, WebhookError>>;
}

/// An in-app notification about an event. The payload is never copied into it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventNotification {
    pub user_id: String,
    pub title: String,
    pub message: String,
    pub data: serde_json::Value,
}

/// Where notifications go: the notifications capability. Answers the notification's id.
pub trait Notifier: Send + Sync {
    fn notify(
        &self,
        notification: EventNotification,
    ) -> BoxFuture<'_, Result<String, WebhookError>>;
}

/// Why an event was not processed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The event does not exist (expired, or never stored): retrying cannot help.
    #[error("event {0} does not exist")]
    UnknownEvent(String),
    /// Try again: the event could not be read, or processing failed (counted as an attempt).
    #[error("{code}: {detail}")]
    Retry { code: &'static str, detail: String },
}

impl From<crate::store::StoreError> for ProcessError {
    fn from(e: crate::store::StoreError) -> Self {
        let e = WebhookError::from(e);
        ProcessError::Retry {
            code: crate::error::DomainError::code(&e),
            detail: e.public_detail(),
        }
    }
}

/// One delivery of an event's queue message.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub event_id: &'a str,
    /// The SQS message id (the integration log's request id).
    pub message_id: &'a str,
    /// `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
}

/// The worker's service, built once per cold start (`HubContext::webhook_processor`).
pub struct EventProcessor {
    pub events: EventStore,
    endpoints: EndpointStore,
    reports: Arc<dyn DeliveryReportSink>,
    notifier: Arc<dyn Notifier>,
    log: IntegrationLog,
    /// `WEBHOOK_MAX_ATTEMPTS`: the attempt that marks the event `failed`.
    max_attempts: u32,
    /// `WEBHOOK_CLAIM_TIMEOUT_SECONDS`: a claim older than this is taken over.
    claim_timeout_secs: i64,
    /// Where `webhook.received` is announced; `None`: nowhere.
    publisher: Option<EventPublisher>,
}

/// Announced once per verified provider event, when the worker processes it.
pub const EVENT_WEBHOOK_RECEIVED: &str = "webhook.received";

impl EventProcessor {
    pub fn new(
        events: EventStore,
        endpoints: EndpointStore,
        reports: Arc<dyn DeliveryReportSink>,
        notifier: Arc<dyn Notifier>,
        log: IntegrationLog,
        max_attempts: u32,
        claim_timeout_secs: i64,
    ) -> Self {
        Self {
            events,
            endpoints,
            reports,
            notifier,
            log,
            max_attempts,
            claim_timeout_secs,
            publisher: None,
        }
    }

    pub fn with_events(mut self, publisher: EventPublisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Forwards a verified provider event to the subscribers who ask for `webhook.received`:
    /// its ids and types, never its payload (it may hold personal or medical data; admins read
    /// it through the events API). Keyed by the event id, so a retried or replayed processing
    /// announces it once; a failure fails this processing attempt, which is retried.
    async fn announce(&self, event: &WebhookEvent) -> Result<(), WebhookError> {
        let Some(publisher) = &self.publisher else {
            return Ok(());
        };
        let data = serde_json::json!({
            "webhook_event_id": event.id,
            "provider": event.provider_slug,
            "endpoint": event.endpoint_slug,
            "event_type": event.event_type,
            "provider_event_id": event.provider_event_id,
        });
        publisher
            .publish_once(EVENT_WEBHOOK_RECEIVED, &event.id, data)
            .await
            .map(|_| ())
            .map_err(|e| WebhookError::from(e.into_store_error()))
    }

    /// Processes one delivery of an event's message: claims the event, processes it and
    /// marks it `processed`, or on failure `queued` again (`failed` after the last attempt).
    /// A delivery for a finished event does nothing; one for an event another worker holds
    /// is retried later.
    pub async fn process(&self, delivery: Delivery<'_>) -> Result<(), ProcessError> {
        let event_id = delivery.event_id;
        let now = (crate::clock::now_ms() / 1000) as i64;
        let claimed = match self
            .events
            .claim(event_id, now, self.claim_timeout_secs)
            .await?
        {
            Claim::Claimed(claimed) => claimed,
            Claim::Done(status) => {
                tracing::info!(%event_id, status = status.as_str(), "event already handled; skipping this delivery");
                return Ok(());
            }
            Claim::Busy => {
                tracing::info!(%event_id, "event claimed by another worker; retrying later");
                return Err(ProcessError::Retry {
                    code: "in_progress",
                    detail: "another worker is processing this event".into(),
                });
            }
            Claim::Missing => return Err(ProcessError::UnknownEvent(event_id.to_string())),
        };
        let claimed = *claimed;
        let (event, token, attempt) = (claimed.event, claimed.token, claimed.attempt);
        let started = Instant::now();
        // From here every failure (the body's S3 read included) counts as an attempt.
        let outcome = match self.events.body_of(&event, claimed.inline_body).await {
            Ok(body) => self.apply(&event, &body).await,
            Err(e) => Err(e),
        };
        let mut record =
            CallRecord::new(&event.provider_slug, "webhook.process", delivery.message_id);
        record.reference = Some(event_id.to_string());
        record.latency = started.elapsed();
        match outcome {
            Ok(result) => {
                let processed_at = crate::clock::now_rfc3339_millis();
                if !self
                    .events
                    .mark_processed(event_id, &token, &result, &processed_at)
                    .await?
                {
                    tracing::warn!(%event_id, "claim taken over (or replayed) while processing; the other outcome stands");
                }
                self.log.record(&record).await;
                tracing::info!(%event_id, event_type = %event.event_type, attempt, "webhook event processed");
                Ok(())
            }
            Err(e) => {
                let final_attempt = delivery.receive_count.max(attempt) >= self.max_attempts;
                let code = crate::error::DomainError::code(&e);
                let detail = e.public_detail();
                let _ = self
                    .events
                    .mark_failure(event_id, &token, &detail, final_attempt)
                    .await;
                record.outcome = Outcome::Failure;
                record.error_code = Some(code.to_string());
                self.log.record(&record).await;
                tracing::warn!(%event_id, attempt, final_attempt, code, "webhook event processing failed");
                // Retry either way: after the last attempt SQS moves the message to the DLQ.
                Err(ProcessError::Retry { code, detail })
            }
        }
    }

    /// What processing does with the event; the answer becomes the event's `result`.
    async fn apply(
        &self,
        event: &WebhookEvent,
        body: &[u8],
    ) -> Result<serde_json::Value, WebhookError> {
        let mut result = serde_json::Map::new();
        if event.event_type == SMS_DELIVERY_REPORT {
            self.apply_report(&event.provider_slug, body, &mut result)
                .await?;
        }
        let endpoint = self.endpoints.cached(&event.endpoint_slug).await?;
        if let Some(endpoint) = endpoint.as_deref()
            && let Some(user_id) = endpoint.notify_user_id.as_deref()
        {
            let id = self.notify(endpoint, user_id, event).await?;
            result.insert("notification_id".into(), serde_json::Value::String(id));
        }
        self.announce(event).await?;
        Ok(serde_json::Value::Object(result))
    }

    /// Applies the delivery report of the endpoint's provider (`provider_slug`, stored with
    /// the event from its endpoint). Another provider's report is not applied, with the
    /// reason in the result (the receive path refuses those; this covers events stored
    /// before it did, and replays).
    async fn apply_report(
        &self,
        provider_slug: &str,
        body: &[u8],
        result: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), WebhookError> {
        let report = match parse_delivery_report(provider_slug, body) {
            Ok(report) => report,
            Err(refusal) => {
                result.insert("delivery_report".into(), serde_json::Value::Null);
                result.insert("sms_status_applied".into(), serde_json::Value::Bool(false));
                result.insert(
                    "reason".into(),
                    serde_json::Value::String(refusal.to_string()),
                );
                return Ok(());
            }
        };
        let applied = self.reports.apply(&report).await?;
        result.insert(
            "delivery_report".into(),
            serde_json::to_value(&report).map_err(WebhookError::internal)?,
        );
        result.insert(
            "sms_status_applied".into(),
            serde_json::Value::Bool(applied.is_some()),
        );
        if let Some(applied) = applied {
            result.insert(
                "sms_message_id".into(),
                serde_json::Value::String(applied.sms_message_id),
            );
            result.insert(
                "sms_status".into(),
                serde_json::Value::String(applied.status),
            );
        }
        Ok(())
    }

    /// The in-app notification for an event: only its type, id and endpoint (the payload
    /// may hold medical or personal data). A replay finds the first processing's
    /// notification id in the event's result and does not notify twice.
    async fn notify(
        &self,
        endpoint: &WebhookEndpoint,
        user_id: &str,
        event: &WebhookEvent,
    ) -> Result<String, WebhookError> {
        if let Some(id) = event
            .result
            .as_ref()
            .and_then(|r| r.get("notification_id"))
            .and_then(|v| v.as_str())
        {
            return Ok(id.to_string());
        }
        self.notifier
            .notify(EventNotification {
                user_id: user_id.to_string(),
                title: endpoint
                    .notification_title
                    .clone()
                    .unwrap_or_else(|| format!("{}: {}", endpoint.name, event.event_type)),
                message: format!(
                    "{} event received from {}",
                    event.event_type, endpoint.provider_slug
                ),
                data: serde_json::json!({
                    "webhook_event_id": event.id,
                    "endpoint_url": event.endpoint_slug,
                    "event_type": event.event_type,
                    "provider_event_id": event.provider_event_id,
                }),
            })
            .await
    }
}
