//! What the worker does with a stored event: SMS delivery reports update the SMS message's
//! status, other events become an in-app notification when the endpoint asks for it.
//! Processing is idempotent: a processed event is skipped on redelivery, delivery reports
//! never move an SMS status backwards, and a replay reuses the notification it created.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::ingest::{SMS_DELIVERY_REPORT, WebhookService};
use super::model::*;
use super::registry;
use crate::error::ApiError;
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::notifications::{
    Channel, EVENT_NOTIFICATION_NEW, NewNotification, NotificationStore, Profile,
};
use crate::queue::{QueueMessage, WorkError};

/// An SMS delivery report, parsed from a Kavenegar or Twilio status callback. Carries no
/// phone number or message text (Twilio's callback has `To`/`From`; they are not copied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryReport {
    /// `kavenegar` or `twilio`.
    pub provider: String,
    /// The provider's message id (`messageid`, `MessageSid`).
    pub provider_message_id: String,
    /// The provider's status as sent (`10`, `delivered`, ...).
    pub provider_status: String,
    /// The hub's SMS status (`queued`, `sent`, `delivered`, `undelivered`, `failed`, ...).
    pub status: String,
    #[serde(default)]
    pub error_code: Option<String>,
}

/// The hub's SMS status for a provider's status (the SMS capability's mapping, so a report
/// reads the same here and on the message).
pub fn normalize_status(provider: &str, raw: &str) -> &'static str {
    crate::sms::SmsStatus::from_provider(provider, raw).as_str()
}

/// Parses a delivery report from a form body (POST) or query (GET, stored as the body).
pub fn parse_delivery_report(body: &[u8]) -> Option<DeliveryReport> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    if let (Some(sid), Some(status)) = (get("MessageSid"), get("MessageStatus")) {
        return Some(DeliveryReport {
            provider: "twilio".into(),
            status: normalize_status("twilio", &status).into(),
            provider_message_id: sid,
            provider_status: status,
            error_code: get("ErrorCode"),
        });
    }
    if let (Some(id), Some(status)) = (get("messageid"), get("status")) {
        return Some(DeliveryReport {
            provider: "kavenegar".into(),
            status: normalize_status("kavenegar", &status).into(),
            provider_message_id: id,
            provider_status: status,
            error_code: None,
        });
    }
    None
}

pub struct WebhookWorker {
    pub ctx: Arc<crate::HubContext>,
    pub service: Arc<WebhookService>,
    pub notifications: NotificationStore,
    pub log: IntegrationLog,
}

impl WebhookWorker {
    pub fn new(ctx: &Arc<crate::HubContext>, service: Arc<WebhookService>) -> Self {
        // The notifications capability's own TTL setting; its default if that is unreadable
        // (the worker must not fail its cold start over another capability's variable).
        let ttl = crate::notifications::NotificationsConfig::from_env(&ctx.env)
            .map(|c| c.ttl)
            .unwrap_or(std::time::Duration::from_secs(90 * 86_400));
        Self {
            ctx: ctx.clone(),
            service,
            notifications: NotificationStore::new(
                ctx.aws.dynamo.clone(),
                ctx.config.hub_table.clone(),
                ttl,
            ),
            log: ctx.log.clone(),
        }
    }

    /// One queue message: `{"event_id": "..."}`.
    pub async fn handle(&self, message: QueueMessage) -> Result<(), WorkError> {
        let EventMessage { event_id } = message.json()?;
        let event = self
            .service
            .events
            .get(&event_id)
            .await
            .map_err(|e| WorkError::Retry(e.to_string()))?;
        let Some(event) = event else {
            return Err(WorkError::Poison(format!(
                "event {event_id} does not exist"
            )));
        };
        if matches!(event.status, EventStatus::Processed | EventStatus::Ignored) {
            tracing::info!(%event_id, status = event.status.as_str(), "event already handled; skipping redelivery");
            return Ok(());
        }
        let started = Instant::now();
        let attempt = self
            .service
            .events
            .start_attempt(&event_id)
            .await
            .map_err(|e| WorkError::Retry(e.to_string()))?;
        // From here every failure (the body's S3 read included) counts as an attempt.
        let outcome = match self.service.events.get_with_body(&event_id).await {
            Ok(Some((event, body))) => self.process(&event, &body).await,
            Ok(None) => Err(ApiError::not_found(
                "the event disappeared while being processed",
            )),
            Err(e) => Err(e),
        };
        let mut record =
            CallRecord::new(&event.provider_slug, "webhook.process", &message.message_id);
        record.reference = Some(event_id.clone());
        record.latency = started.elapsed();
        match outcome {
            Ok(result) => {
                let processed_at = registry::timestamp(time::OffsetDateTime::now_utc());
                self.service
                    .events
                    .mark_processed(&event_id, &result, &processed_at)
                    .await
                    .map_err(|e| WorkError::Retry(e.to_string()))?;
                self.log.record(&record).await;
                tracing::info!(%event_id, event_type = %event.event_type, attempt, "webhook event processed");
                Ok(())
            }
            Err(e) => {
                let final_attempt =
                    message.receive_count.max(attempt) >= self.service.config.max_attempts;
                let _ = self
                    .service
                    .events
                    .mark_failure(&event_id, &e.detail, final_attempt)
                    .await;
                record.outcome = Outcome::Failure;
                record.error_code = Some(e.code.to_string());
                self.log.record(&record).await;
                tracing::warn!(%event_id, attempt, final_attempt, code = e.code, "webhook event processing failed");
                // Retry either way: after the last attempt SQS moves the message to the DLQ.
                Err(WorkError::Retry(format!("{}: {}", e.code, e.detail)))
            }
        }
    }

    async fn process(
        &self,
        event: &WebhookEvent,
        body: &[u8],
    ) -> Result<serde_json::Value, ApiError> {
        let mut result = serde_json::Map::new();
        if event.event_type == SMS_DELIVERY_REPORT {
            match parse_delivery_report(body) {
                Some(report) => {
                    let applied = self
                        .ctx
                        .sms_store()
                        .map_err(ApiError::internal)?
                        .apply_delivery_report(
                            &report.provider,
                            &report.provider_message_id,
                            &report.provider_status,
                            report.error_code.as_deref(),
                        )
                        .await?;
                    result.insert(
                        "delivery_report".into(),
                        serde_json::to_value(&report).map_err(ApiError::internal)?,
                    );
                    result.insert(
                        "sms_status_applied".into(),
                        serde_json::Value::Bool(applied.is_some()),
                    );
                    if let Some((sms_id, status)) = applied {
                        result.insert("sms_message_id".into(), serde_json::Value::String(sms_id));
                        result.insert(
                            "sms_status".into(),
                            serde_json::Value::String(status.as_str().into()),
                        );
                    }
                }
                None => {
                    result.insert("delivery_report".into(), serde_json::Value::Null);
                }
            }
        }
        let endpoint = self.service.registry.cached(&event.endpoint_url).await?;
        if let Some(user) = endpoint
            .as_deref()
            .and_then(|e| e.notify_user_id.as_deref().map(|u| (e, u)))
        {
            let (endpoint, user_id) = user;
            let id = self.notify(endpoint, user_id, event).await?;
            result.insert("notification_id".into(), serde_json::Value::String(id));
        }
        Ok(serde_json::Value::Object(result))
    }

    /// Creates the in-app notification through the notifications capability. The payload is
    /// not copied into it (it may hold medical or personal data): only the event's type, id
    /// and endpoint. A replay finds the first processing's notification id in the event's
    /// result and does not notify twice.
    async fn notify(
        &self,
        endpoint: &WebhookEndpoint,
        user_id: &str,
        event: &WebhookEvent,
    ) -> Result<String, ApiError> {
        if let Some(id) = event
            .result
            .as_ref()
            .and_then(|r| r.get("notification_id"))
            .and_then(|v| v.as_str())
        {
            return Ok(id.to_string());
        }
        let new = NewNotification {
            user_id: user_id.to_string(),
            kind: "webhook".into(),
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
                "endpoint_url": event.endpoint_url,
                "event_type": event.event_type,
                "provider_event_id": event.provider_event_id,
            }),
            event: EVENT_NOTIFICATION_NEW.into(),
            // In-app only: the other channels need the notifications queue and the user's
            // consent settings, which belong to an explicit send.
            channels: vec![Channel::InApp],
            email: None,
            phone: None,
        };
        // In-app delivery does not consult the profile; an empty one takes every default.
        let profile: Profile =
            serde_json::from_value(serde_json::json!({})).map_err(ApiError::internal)?;
        let (record, _) = self.notifications.create(new, &profile).await?;
        Ok(record.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twilio_and_kavenegar_reports() {
        let t = parse_delivery_report(
            b"MessageSid=SM123&MessageStatus=undelivered&ErrorCode=30003&To=%2B15551234567",
        )
        .unwrap();
        assert_eq!(t.provider, "twilio");
        assert_eq!(t.status, "undelivered");
        assert_eq!(t.error_code.as_deref(), Some("30003"));
        assert!(!serde_json::to_string(&t).unwrap().contains("5551234567"));
        let k = parse_delivery_report(b"messageid=8792343&status=10").unwrap();
        assert_eq!(
            (k.provider.as_str(), k.status.as_str()),
            ("kavenegar", "delivered")
        );
        assert!(parse_delivery_report(b"{\"a\":1}").is_none());
        assert_eq!(normalize_status("kavenegar", "4"), "sent");
        assert_eq!(normalize_status("kavenegar", "14"), "filtered");
        assert_eq!(normalize_status("twilio", "queued"), "queued");
    }
}
