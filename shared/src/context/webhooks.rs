//! Assembly of the webhooks capability from the cold-start state: the `webhooks` function's
//! service and the worker's processor, each with only what it uses, and the adapters through
//! which the worker reaches the SMS and notifications capabilities.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::HubContext;
use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;
use crate::notifications::{
    Channel, EVENT_NOTIFICATION_NEW, NewNotification, NotificationStore, NotificationsConfig,
    Profile,
};
use crate::sms::SmsStore;
use crate::webhooks::delivery_report::DeliveryReport;
use crate::webhooks::events::{BodyBucket, EventStore};
use crate::webhooks::process::{
    AppliedReport, DeliveryReportSink, EventNotification, EventProcessor, Notifier,
};
use crate::webhooks::registry::{EndpointRegistry, EndpointStore, SecretStore, TwilioAuthToken};
use crate::webhooks::s3_bodies::S3Bodies;
use crate::webhooks::{WebhookConfig, WebhookError, WebhookService};

/// A failed verification re-reads the twilio credentials at most this often.
const TWILIO_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

impl HubContext {
    /// The `webhooks` function's service, with its settings from the environment.
    pub fn webhook_service(&self) -> Result<WebhookService, ConfigError> {
        let config = WebhookConfig::from_env(&self.env)?;
        Ok(self.webhook_service_with(config, Arc::new(SystemClock)))
    }

    /// The service with given settings and clock (tests move time through `clock`).
    pub fn webhook_service_with(
        &self,
        config: WebhookConfig,
        clock: Arc<dyn Clock>,
    ) -> WebhookService {
        let registry = EndpointRegistry::new(
            self.webhook_endpoints(&config),
            SecretStore::new(
                self.aws.secrets.clone(),
                self.config.secrets_prefix.clone(),
                config.cache_ttl,
            ),
        );
        let events = self.webhook_events(&config);
        let twilio = TwilioAuthToken::new(self.credentials.clone(), TWILIO_REFRESH_INTERVAL);
        WebhookService::new(
            config,
            registry,
            events,
            twilio,
            self.aws.sqs().clone(),
            clock,
        )
    }

    /// The worker's processor, with its settings from the environment.
    pub fn webhook_processor(self: &Arc<Self>) -> Result<EventProcessor, ConfigError> {
        let config = WebhookConfig::from_env(&self.env)?;
        Ok(self.webhook_processor_with(&config))
    }

    pub fn webhook_processor_with(self: &Arc<Self>, config: &WebhookConfig) -> EventProcessor {
        // The notifications capability's own TTL setting; its default if that is unreadable
        // (the worker must not fail its cold start over another capability's variable).
        let ttl = NotificationsConfig::from_env(&self.env)
            .map(|c| c.ttl)
            .unwrap_or(std::time::Duration::from_secs(90 * 86_400));
        // Likewise the SMS capability's message TTL (SMS_MESSAGE_TTL_DAYS, default 90 days).
        let sms_ttl = crate::sms::config::message_ttl_from_env(&self.env)
            .unwrap_or(std::time::Duration::from_secs(90 * 86_400));
        let notifications =
            NotificationStore::new(self.aws.dynamo.clone(), self.config.hub_table.clone(), ttl);
        EventProcessor::new(
            self.webhook_events(config),
            self.webhook_endpoints(config),
            Arc::new(SmsDeliveryReports(self.sms_store_with(sms_ttl))),
            Arc::new(InAppNotifier(notifications)),
            self.log.clone(),
            config.max_attempts,
            config.claim_timeout_secs,
        )
        .with_events(self.event_publisher())
    }

    fn webhook_endpoints(&self, config: &WebhookConfig) -> EndpointStore {
        EndpointStore::new(
            self.aws.dynamo.clone(),
            self.config.hub_table.clone(),
            config.cache_ttl,
        )
    }

    fn webhook_events(&self, config: &WebhookConfig) -> EventStore {
        let bodies = config.bodies_bucket.clone().map(|bucket| {
            Arc::new(S3Bodies::new(self.aws.s3().clone(), bucket)) as Arc<dyn BodyBucket>
        });
        EventStore::new(
            self.aws.dynamo.clone(),
            self.config.hub_table.clone(),
            bodies,
            config.inline_body_bytes,
            config.retention_days,
        )
    }
}

/// Delivery reports go to the SMS capability's store.
struct SmsDeliveryReports(SmsStore);

impl DeliveryReportSink for SmsDeliveryReports {
    fn apply<'a>(
        &'a self,
        report: &'a DeliveryReport,
    ) -> BoxFuture<'a, Result<Option<AppliedReport>, WebhookError>> {
        Box::pin(async move {
            let applied = self
                .0
                .apply_delivery_report(
                    &report.provider,
                    &report.provider_message_id,
                    &report.provider_status,
                    report.error_code.as_deref(),
                )
                .await?;
            Ok(applied.map(|(sms_message_id, status)| AppliedReport {
                sms_message_id,
                status: status.as_str().into(),
            }))
        })
    }
}

/// Event notifications are in-app notifications of the notifications capability.
struct InAppNotifier(NotificationStore);

impl Notifier for InAppNotifier {
    fn notify(&self, n: EventNotification) -> BoxFuture<'_, Result<String, WebhookError>> {
        Box::pin(async move {
            let new = NewNotification {
                user_id: n.user_id,
                kind: "webhook".into(),
                title: n.title,
                message: n.message,
                data: n.data,
                event: EVENT_NOTIFICATION_NEW.into(),
                // In-app only: the other channels need the notifications queue and the user's
                // consent settings, which belong to an explicit send.
                channels: vec![Channel::InApp],
                email: None,
                phone: None,
                template: None,
            };
            // In-app delivery does not consult the profile; an empty one takes every default.
            let profile: Profile =
                serde_json::from_value(serde_json::json!({})).map_err(WebhookError::internal)?;
            let (record, _) = self.0.create(new, &profile).await.map_err(|e| {
                // The text its own routes would answer (internal causes are logged).
                let problem = crate::http::problem::ApiError::from(e);
                WebhookError::Downstream {
                    code: problem.code,
                    detail: problem.detail,
                }
            })?;
            Ok(record.id)
        })
    }
}
