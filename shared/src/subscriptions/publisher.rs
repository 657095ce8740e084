//! The one call capabilities make to announce what happened.

use std::sync::Arc;

use super::error::SubscriptionError;
use super::model::{Event, new_event_id};
use super::store::SubscriptionStore;
use super::worker::QueueBody;
use crate::redrive::Redrive;

/// The environment variable naming the subscriptions queue (also its `shared::redrive` name).
pub const QUEUE_ENV: &str = "SUBSCRIPTIONS_QUEUE_URL";

/// Built once per cold start (`HubContext::event_publisher`); cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    store: SubscriptionStore,
    sqs: aws_sdk_sqs::Client,
    /// `None`: this function is not wired to the queue; publishing does nothing.
    queue_url: Option<String>,
    redrive_after: std::time::Duration,
}

impl EventPublisher {
    pub fn new(
        store: SubscriptionStore,
        sqs: aws_sdk_sqs::Client,
        queue_url: Option<String>,
        redrive_after: std::time::Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                sqs,
                queue_url,
                redrive_after,
            }),
        }
    }

    /// Announces an event. `data` carries ids and masked recipients only (`shared::mask`).
    ///
    /// When no enabled subscription wants `event_type` (this instance's cached list) nothing
    /// happens and `Ok(None)` comes back: no round trip. Otherwise the event is stored with its
    /// redrive marker (one `PutItem`) and the fan-out is queued (one `SendMessage`); a failed
    /// send after the durable write is logged, not returned: the sweeper re-drives it.
    pub async fn publish(
        &self,
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<Option<String>, SubscriptionError> {
        let Some(queue_url) = &self.inner.queue_url else {
            return Ok(None);
        };
        let wanted = self
            .inner
            .store
            .cached()
            .await?
            .iter()
            .any(|s| s.wants(event_type));
        if !wanted {
            return Ok(None);
        }
        let event = Event {
            id: new_event_id(),
            event_type: event_type.to_string(),
            timestamp: crate::clock::now_rfc3339_millis(),
            data,
        };
        let body = serde_json::to_string(&QueueBody::Fanout {
            event_id: event.id.clone(),
        })
        .map_err(|e| crate::queue::QueueError::Message(e.to_string()))?;
        let redrive = Redrive::new(QUEUE_ENV, body.clone()).after(self.inner.redrive_after);
        self.inner
            .store
            .put_event(&event, Some(&redrive), crate::clock::now_secs())
            .await?;
        if let Err(e) = self
            .inner
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
        {
            tracing::warn!(event_id = %event.id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
                "event stored but its fan-out not queued; the sweeper will re-drive it");
        }
        Ok(Some(event.id))
    }

    /// [`Self::publish`] for callers that must not fail over an announcement: errors are
    /// logged (the capability's own work already succeeded).
    pub async fn publish_or_log(&self, event_type: &str, data: serde_json::Value) {
        if let Err(e) = self.publish(event_type, data).await {
            tracing::error!(event_type, error = %e, "event not published");
        }
    }
}
