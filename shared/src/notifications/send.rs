//! The sending side: write the in-app notification, queue one message per further channel.

use super::api::SendAccepted;
use super::error::NotificationError;
use super::model::*;
use super::store::NotificationStore;

/// What the notifications function sends with. Built once per cold start.
#[derive(Clone)]
pub struct NotificationService {
    pub store: NotificationStore,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl NotificationService {
    pub fn new(store: NotificationStore, sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self {
            store,
            sqs,
            queue_url,
        }
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
