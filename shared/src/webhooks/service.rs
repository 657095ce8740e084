//! The webhooks service of the `webhooks` function: the receive path ([`super::ingest`]) and
//! the admin operations ([`super::admin`]) over the registry, the event store and the queue.

use std::sync::Arc;

use super::WebhookConfig;
use super::error::WebhookError;
use super::events::EventStore;
use super::model::EventMessage;
use super::registry::{EndpointRegistry, TwilioAuthToken};
use super::signature::{self, HeaderView};
use crate::clock::Clock;

/// Everything the receive path and the admin routes need, built once per cold start
/// (`HubContext::webhook_service`).
pub struct WebhookService {
    pub config: WebhookConfig,
    pub registry: EndpointRegistry,
    pub events: EventStore,
    /// The key of Twilio endpoints without a secret of their own.
    pub twilio: TwilioAuthToken,
    sqs: aws_sdk_sqs::Client,
    /// Signature timestamps and rotation grace periods are judged against this clock.
    clock: Arc<dyn Clock>,
}

impl WebhookService {
    pub fn new(
        config: WebhookConfig,
        registry: EndpointRegistry,
        events: EventStore,
        twilio: TwilioAuthToken,
        sqs: aws_sdk_sqs::Client,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            registry,
            events,
            twilio,
            sqs,
            clock,
        }
    }

    /// Unix seconds by the service's clock.
    pub fn now(&self) -> i64 {
        (self.clock.now_ms() / 1000) as i64
    }

    /// The URL a provider is given for an endpoint (path tokens appended when known).
    pub fn public_url(&self, headers: &HeaderView<'_>, slug: &str, token: Option<&str>) -> String {
        let path = match token {
            Some(t) => format!("/api/integrations/webhook/{slug}/{t}"),
            None => format!("/api/integrations/webhook/{slug}"),
        };
        signature::public_url(headers, &path, self.config.public_base_url.as_deref())
    }

    /// Sends an accepted event's id to the worker's queue. The cause of a failure is logged
    /// (it may name AWS internals); the receive path answers "accepted" anyway (the stored
    /// event's redrive marker has the sweeper send it), admin replays answer
    /// `QueueUnavailable`.
    pub(super) async fn enqueue(&self, event_id: &str) -> Result<(), WebhookError> {
        let message = EventMessage {
            event_id: event_id.to_string(),
        };
        crate::queue::send_json(&self.sqs, &self.config.queue_url, &message)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "enqueueing a webhook event failed");
                WebhookError::QueueUnavailable
            })
    }

    /// Re-enqueues events (admin replay): each goes back to `queued` with its redrive marker,
    /// and its id to the queue. A send that fails is logged, not answered: the sweeper sends
    /// it.
    pub async fn replay(&self, event_ids: &[String]) -> Result<usize, WebhookError> {
        let now = self.now();
        futures::future::try_join_all(
            event_ids
                .iter()
                .map(|id| self.events.requeue(id, self.redrive_marker(id, now))),
        )
        .await?;
        let messages: Vec<EventMessage> = event_ids
            .iter()
            .map(|id| EventMessage {
                event_id: id.clone(),
            })
            .collect();
        if let Err(e) =
            crate::queue::send_json_batch(&self.sqs, &self.config.queue_url, &messages).await
        {
            tracing::error!(error = %e, events = event_ids.len(), "enqueueing replayed webhook events failed; the sweeper will send them");
        }
        Ok(event_ids.len())
    }
}
