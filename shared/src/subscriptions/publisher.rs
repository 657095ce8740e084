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
///
/// Capabilities announce with [`Self::announce_once`] (or [`Self::publish_once`] where a
/// failure must make the caller retry): the event id is derived from the fact (`sms.delivered`
/// of message `m`), so a capability that runs again after a crash, a redelivered queue
/// message or a duplicate provider callback announces the same event, stored once and
/// delivered once, with the id receivers deduplicate on.
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
        self.store_and_queue(event_type, None, data).await
    }

    /// [`Self::publish`] for callers that must not fail over an announcement: errors are
    /// logged (the capability's own work already succeeded).
    pub async fn publish_or_log(&self, event_type: &str, data: serde_json::Value) {
        if let Err(e) = self.publish(event_type, data).await {
            tracing::error!(event_type, error = %e, "event not published");
        }
    }

    /// Announces the fact `(event_type, key)` once, however often it is announced: the
    /// event id is [`keyed_event_id`], and the event is stored only if no event has that id
    /// (a conditional `PutItem`). A repeat does nothing more (the first announcement's
    /// fan-out, or the sweeper re-driving its marker, delivers it) and answers the same id.
    /// Same costs as [`Self::publish`]: nothing when nobody wants the type.
    pub async fn publish_once(
        &self,
        event_type: &str,
        key: &str,
        data: serde_json::Value,
    ) -> Result<Option<String>, SubscriptionError> {
        self.store_and_queue(event_type, Some(key), data).await
    }

    /// Stores the event (keyed: only if new) with its redrive marker and queues its fan-out.
    async fn store_and_queue(
        &self,
        event_type: &str,
        key: Option<&str>,
        data: serde_json::Value,
    ) -> Result<Option<String>, SubscriptionError> {
        let Some(queue_url) = &self.inner.queue_url else {
            return Ok(None);
        };
        if !self.wanted(event_type).await? {
            return Ok(None);
        }
        let (id, fanout) = self
            .store(event_type, key, data, crate::clock::now_secs())
            .await?;
        if let Some(body) = fanout {
            self.queue_fanout(queue_url, &id, body).await;
        }
        Ok(Some(id))
    }

    /// Stores the event (keyed: only if new) with its redrive marker; answers its id and,
    /// when this call stored it, its fan-out message.
    async fn store(
        &self,
        event_type: &str,
        key: Option<&str>,
        data: serde_json::Value,
        now: i64,
    ) -> Result<(String, Option<String>), SubscriptionError> {
        let event = Event {
            id: match key {
                Some(key) => keyed_event_id(self.inner.store.namespace(), event_type, key),
                None => new_event_id(),
            },
            event_type: event_type.to_string(),
            timestamp: crate::clock::now_rfc3339_millis(),
            data,
        };
        let (body, redrive) = self.fanout(&event.id)?;
        let store = &self.inner.store;
        let stored = match key {
            Some(_) => store.put_new_event(&event, Some(&redrive), now).await?,
            None => {
                store.put_event(&event, Some(&redrive), now).await?;
                true
            }
        };
        if !stored {
            tracing::debug!(event_id = %event.id, event_type, "event already announced");
            return Ok((event.id, None));
        }
        Ok((event.id, Some(body)))
    }

    /// [`Self::announce_once`] for many facts of one type at once (a user's read-all): every
    /// new event is stored with its redrive marker first (one conditional `PutItem` each, 16
    /// at a time), then the fan-outs of those this call stored are queued together, one
    /// `SendMessageBatch` per ten instead of one `SendMessage` each. A fan-out that does not
    /// reach the queue is logged and re-driven by the sweeper from its marker; a repeated fact
    /// is stored and queued once, as with [`Self::announce_once`].
    pub async fn announce_many_once(
        &self,
        event_type: &str,
        facts: Vec<(String, serde_json::Value)>,
    ) {
        use futures::StreamExt;
        let Some(queue_url) = &self.inner.queue_url else {
            return;
        };
        match self.wanted(event_type).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(event_type, error = %e, "events not published");
                return;
            }
        }
        let now = crate::clock::now_secs();
        let stored: Vec<_> = futures::stream::iter(facts)
            .map(|(key, data)| async move {
                let stored = self.store(event_type, Some(&key), data, now).await;
                (key, stored)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut fanouts = Vec::new();
        for (key, stored) in stored {
            match stored {
                Ok((event_id, Some(_))) => fanouts.push(QueueBody::Fanout { event_id }),
                Ok((_, None)) => {}
                Err(e) => tracing::error!(event_type, key, error = %e, "event not published"),
            }
        }
        if fanouts.is_empty() {
            return;
        }
        if let Err(e) = crate::queue::send_json_batch(&self.inner.sqs, queue_url, &fanouts).await {
            tracing::warn!(event_type, events = fanouts.len(), error = %e,
                "events stored but their fan-outs not all queued; the sweeper will re-drive them");
        }
    }

    /// [`Self::publish_once`] for a capability whose own work is done and must stand: a
    /// synchronous route that already sent the email or stored the file (failing the request
    /// would invite the client to do it again). A failure is logged with the event type and
    /// key (ids only), not returned.
    pub async fn announce_once(&self, event_type: &str, key: &str, data: serde_json::Value) {
        if let Err(e) = self.publish_once(event_type, key, data).await {
            tracing::error!(event_type, key, error = %e, "event not published");
        }
    }

    /// Whether some enabled subscription wants `event_type` (this instance's cached list; no
    /// round trip while it is fresh). `false` where publishing is not wired. A capability
    /// asks before work it would do only to announce (a read to tell a repeat from a change).
    pub async fn wants(&self, event_type: &str) -> bool {
        if self.inner.queue_url.is_none() {
            return false;
        }
        // Unknown: assume wanted, so nothing is skipped over an unreadable list (the
        // announcement itself will fail and be handled by the caller).
        self.wanted(event_type).await.unwrap_or(true)
    }

    async fn wanted(&self, event_type: &str) -> Result<bool, SubscriptionError> {
        Ok(self
            .inner
            .store
            .cached()
            .await?
            .iter()
            .any(|s| s.wants(event_type)))
    }

    fn fanout(&self, event_id: &str) -> Result<(String, Redrive), SubscriptionError> {
        let body = serde_json::to_string(&QueueBody::Fanout {
            event_id: event_id.to_string(),
        })
        .map_err(|e| crate::queue::QueueError::Message(e.to_string()))?;
        let redrive = Redrive::new(QUEUE_ENV, body.clone()).after(self.inner.redrive_after);
        Ok((body, redrive))
    }

    async fn queue_fanout(&self, queue_url: &str, event_id: &str, body: String) {
        if let Err(e) = self
            .inner
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
        {
            tracing::warn!(event_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
                "event stored but its fan-out not queued; the sweeper will re-drive it");
        }
    }
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("queue_url", &self.inner.queue_url)
            .finish_non_exhaustive()
    }
}

/// The id of the event announcing `(event_type, key)` in a namespace: `evt_` and 32 hex
/// digits of SHA-256, the same on every announcement of the same fact.
pub fn keyed_event_id(namespace: &str, event_type: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(namespace.as_bytes())
        .chain_update([0u8])
        .chain_update(event_type.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    format!("evt_{}", &hex::encode(digest)[..32])
}

#[cfg(test)]
mod tests {
    use super::keyed_event_id;

    #[test]
    fn keyed_ids_are_stable_and_separate_facts() {
        let a = keyed_event_id("", "sms.delivered", "m1");
        assert_eq!(a, keyed_event_id("", "sms.delivered", "m1"));
        assert!(a.starts_with("evt_") && a.len() == 36, "{a}");
        assert_ne!(a, keyed_event_id("", "sms.failed", "m1"));
        assert_ne!(a, keyed_event_id("", "sms.delivered", "m2"));
        assert_ne!(a, keyed_event_id("#t1", "sms.delivered", "m1"));
        // The separator keeps ("a.b", "c") and ("a", "b.c") apart.
        assert_ne!(keyed_event_id("", "ab", "c"), keyed_event_id("", "a", "bc"));
    }
}
