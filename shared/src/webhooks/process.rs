//! What the worker does with a stored event: SMS delivery reports update the SMS message's
//! status, other events become an in-app notification when the endpoint asks for it.
//! Processing is idempotent: a processed event is skipped on redelivery, delivery reports
//! never move an SMS status backwards, and a replay reuses the notification it created.
//!
//! The other capabilities are reached through two small traits ([`DeliveryReportSink`],
//! [`Notifier`]) wired in `context/webhooks.rs`, so this module names none of their types.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use super::delivery_report::{DeliveryReport, SMS_DELIVERY_REPORT, parse_delivery_report};
use super::error::WebhookError;
use super::events::EventStore;
use super::model::*;
use super::registry::EndpointStore;
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};

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
}

impl EventProcessor {
    pub fn new(
        events: EventStore,
        endpoints: EndpointStore,
        reports: Arc<dyn DeliveryReportSink>,
        notifier: Arc<dyn Notifier>,
        log: IntegrationLog,
        max_attempts: u32,
    ) -> Self {
        Self {
            events,
            endpoints,
            reports,
            notifier,
            log,
            max_attempts,
        }
    }

    /// Processes one delivery of an event once: skipped when already handled, else counted
    /// as an attempt and marked `processed`, or on failure `queued` again (`failed` after the
    /// last attempt).
    pub async fn process(&self, delivery: Delivery<'_>) -> Result<(), ProcessError> {
        let event_id = delivery.event_id;
        let event = self
            .events
            .get(event_id)
            .await?
            .ok_or_else(|| ProcessError::UnknownEvent(event_id.to_string()))?;
        if matches!(event.status, EventStatus::Processed | EventStatus::Ignored) {
            tracing::info!(%event_id, status = event.status.as_str(), "event already handled; skipping redelivery");
            return Ok(());
        }
        let started = Instant::now();
        let attempt = self.events.start_attempt(event_id).await?;
        // From here every failure (the body's S3 read included) counts as an attempt.
        let outcome = match self.events.get_with_body(event_id).await {
            Ok(Some((event, body))) => self.apply(&event, &body).await,
            // The event disappeared while being processed.
            Ok(None) => Err(WebhookError::UnknownEvent {
                endpoint_slug: event.endpoint_slug.clone(),
                event_id: event_id.to_string(),
            }),
            Err(e) => Err(e),
        };
        let mut record =
            CallRecord::new(&event.provider_slug, "webhook.process", delivery.message_id);
        record.reference = Some(event_id.to_string());
        record.latency = started.elapsed();
        match outcome {
            Ok(result) => {
                let processed_at = crate::clock::now_rfc3339_millis();
                self.events
                    .mark_processed(event_id, &result, &processed_at)
                    .await?;
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
                    .mark_failure(event_id, &detail, final_attempt)
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
            self.apply_report(body, &mut result).await?;
        }
        let endpoint = self.endpoints.cached(&event.endpoint_slug).await?;
        if let Some(endpoint) = endpoint.as_deref()
            && let Some(user_id) = endpoint.notify_user_id.as_deref()
        {
            let id = self.notify(endpoint, user_id, event).await?;
            result.insert("notification_id".into(), serde_json::Value::String(id));
        }
        Ok(serde_json::Value::Object(result))
    }

    async fn apply_report(
        &self,
        body: &[u8],
        result: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), WebhookError> {
        let Some(report) = parse_delivery_report(body) else {
            result.insert("delivery_report".into(), serde_json::Value::Null);
            return Ok(());
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
