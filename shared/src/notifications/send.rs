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

    /// Writes the notification and queues its channels. A queue failure does not lose the
    /// notification: the inbox has it, and the channels it could not queue are recorded
    /// `failed` / `queue_unavailable`.
    pub async fn deliver(&self, new: NewNotification) -> Result<SendAccepted, NotificationError> {
        let profile = self.store.profile(&new.user_id).await?;
        let (mut record, queued) = self.store.create(new, &profile).await?;
        let jobs: Vec<ChannelJob> = queued
            .iter()
            .map(|c| ChannelJob {
                notification_id: record.id.clone(),
                user_id: record.user_id.clone(),
                channel: *c,
            })
            .collect();
        let mut channels_queued = queued.clone();
        if !jobs.is_empty()
            && let Err(e) = crate::queue::send_json_batch(&self.sqs, &self.queue_url, &jobs).await
        {
            tracing::error!(error = %e, notification_id = %record.id, "could not queue notification channels");
            channels_queued.clear();
            for c in &queued {
                let outcome = self.record_queue_failure(&record, *c).await;
                record.channels.insert(c.as_str().to_string(), outcome);
            }
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

    async fn record_queue_failure(
        &self,
        record: &NotificationRecord,
        channel: Channel,
    ) -> ChannelOutcome {
        let outcome = ChannelOutcome::new(ChannelStatus::Failed).with_code(
            "queue_unavailable",
            "the channel could not be queued; the in-app notification was kept",
        );
        if let Err(e) = self
            .store
            .record(&record.user_id, &record.id, channel, &outcome)
            .await
        {
            tracing::error!(error = %e, "could not record a queue failure");
        }
        outcome
    }
}
