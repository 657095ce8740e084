//! The sending side: write the in-app notification, queue one message for all its further
//! channels; mark read and announce it.

use super::api::SendAccepted;
use super::error::NotificationError;
use super::model::*;
use super::store::NotificationStore;
use crate::subscriptions::EventPublisher;

/// What the notifications function sends with. Built once per cold start.
#[derive(Clone)]
pub struct NotificationService {
    pub store: NotificationStore,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// Where `notification.read` is announced; `None`: nowhere.
    events: Option<EventPublisher>,
}

/// Announced once per notification, when it is first marked read (alone or by read-all).
pub const EVENT_NOTIFICATION_READ: &str = "notification.read";

impl NotificationService {
    pub fn new(store: NotificationStore, sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self {
            store,
            sqs,
            queue_url,
            events: None,
        }
    }

    pub fn with_events(mut self, events: EventPublisher) -> Self {
        self.events = Some(events);
        self
    }

    /// Marks one notification read and announces it.
    pub async fn mark_read(
        &self,
        user: &str,
        id: &str,
    ) -> Result<NotificationRecord, NotificationError> {
        let record = self.store.mark_read(user, id).await?;
        self.announce_read(&record).await;
        Ok(record)
    }

    /// Marks every unread notification of `user` read and announces each, their fan-outs
    /// queued ten to a `SendMessageBatch`; answers how many.
    pub async fn mark_all_read(&self, user: &str) -> Result<u32, NotificationError> {
        let marked = self.store.mark_all_read(user).await?;
        if let Some(events) = &self.events {
            let facts = marked
                .iter()
                .map(|r| (r.id.clone(), read_event(r)))
                .collect();
            events
                .announce_many_once(EVENT_NOTIFICATION_READ, facts)
                .await;
        }
        Ok(marked.len() as u32)
    }

    /// Keyed by the notification id: marking it read again announces nothing new. The
    /// notification is read either way: a failure is logged, not answered.
    async fn announce_read(&self, record: &NotificationRecord) {
        let Some(events) = &self.events else {
            return;
        };
        events
            .announce_once(EVENT_NOTIFICATION_READ, &record.id, read_event(record))
            .await;
    }

    /// Writes the notification (with its queue message as a redrive marker) and queues its
    /// channels in one message. Once written, the notification is accepted: a queue failure is
    /// logged and left to the sweeper, which sends the stored message again; the channels stay
    /// `queued` (never recorded failed for it, never deleted).
    pub async fn deliver(&self, new: NewNotification) -> Result<SendAccepted, NotificationError> {
        let profile = self.store.profile(&new.user_id).await?;
        let (record, job) = self.store.create(new, &profile).await?;
        let channels_queued = job.as_ref().map(|j| j.channels.clone()).unwrap_or_default();
        if let Some(job) = &job
            && let Err(e) = crate::queue::send_json(&self.sqs, &self.queue_url, job).await
        {
            tracing::error!(error = %e, notification_id = %record.id, "could not queue the notification; the sweeper will re-drive it");
        }
        tracing::info!(notification_id = %record.id, queued = channels_queued.len(), "notification accepted");
        Ok(SendAccepted {
            id: record.id,
            user_id: record.user_id,
            channels_queued,
            channels: record.channels,
            created_at: record.created_at,
        })
    }
}

/// The `notification.read` event's data: ids and the time, never the title or message.
fn read_event(record: &NotificationRecord) -> serde_json::Value {
    serde_json::json!({
        "notification_id": record.id,
        "user_id": record.user_id,
        "type": record.kind,
        "read_at": record.read_at,
    })
}
