//! The worker side: one queue message = one channel of one notification.
//!
//! 1. Claim the channel with a conditional `UpdateItem` that returns the notification
//!    ([`NotificationStore::claim`]): a redelivered message for a channel already `sent` stops
//!    here, so nothing is sent twice.
//! 2. Send through the channel's [`ChannelSender`].
//! 3. Record the outcome on the notification's `channels` map.
//!
//! A retryable failure (provider down, timeout) is recorded as `failed` and the message is
//! redelivered by SQS until `max_attempts` deliveries; the last failure stays recorded and the
//! message is acknowledged. A channel with no usable sender is recorded `failed` with code
//! `channel_unavailable`, never silently skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::error::NotificationError;
use super::model::*;
use super::push::BoxFuture;
use super::store::{Claim, NotificationStore};
use crate::error::{DomainError, ErrorKind};
use crate::queue::{QueueMessage, WorkError};

/// A delivered message.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    pub provider: Option<String>,
    pub reference: Option<String>,
    pub delivered: Option<u32>,
}

/// Why a channel did not deliver.
#[derive(Debug, Clone)]
pub enum SendError {
    /// The channel cannot be used here (module or provider not configured).
    Unavailable(String),
    /// Not sent on purpose (e.g. nobody connected): recorded `skipped`.
    Skipped { code: String, detail: String },
    /// Will not succeed on retry (bad address, rejected by the provider, rate limited).
    Permanent { code: String, detail: String },
    /// May succeed later (provider unreachable, timeout, throttled).
    Retryable { code: String, detail: String },
}

impl SendError {
    /// Classifies a failure of another capability (or of this one's limiter or store): the
    /// hub's own per-user limit is final (retrying within the hour does not help); provider
    /// failures, outages and throttling retry; anything else is final.
    pub fn classify(kind: ErrorKind, code: &str, detail: String) -> Self {
        let code = code.to_string();
        match kind {
            ErrorKind::RateLimited if code == "rate_limited" => {
                SendError::Permanent { code, detail }
            }
            ErrorKind::RateLimited
            | ErrorKind::ProviderFailed
            | ErrorKind::ProviderTimeout
            | ErrorKind::Unavailable
            | ErrorKind::Internal => SendError::Retryable { code, detail },
            _ => SendError::Permanent { code, detail },
        }
    }

    pub fn from_domain(e: &impl DomainError) -> Self {
        Self::classify(e.kind(), e.code(), e.to_string())
    }
}

/// One channel's way out.
pub trait ChannelSender: Send + Sync {
    fn send<'a>(
        &'a self,
        notification: &'a NotificationRecord,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>>;
}

/// Processes channel messages. Built once per cold start.
pub struct Dispatcher {
    pub store: NotificationStore,
    senders: HashMap<Channel, Arc<dyn ChannelSender>>,
    unavailable: HashMap<Channel, String>,
    max_attempts: u32,
    /// A `sending` claim older than this belongs to a worker that died; it is taken over.
    stale_claim: Duration,
}

impl Dispatcher {
    pub fn new(store: NotificationStore, max_attempts: u32) -> Self {
        Self {
            store,
            senders: HashMap::new(),
            unavailable: HashMap::new(),
            max_attempts,
            stale_claim: Duration::from_secs(120),
        }
    }

    pub fn with_sender(mut self, channel: Channel, sender: Arc<dyn ChannelSender>) -> Self {
        self.senders.insert(channel, sender);
        self
    }

    /// Records why a channel has no sender; its messages end `failed`/`channel_unavailable`.
    pub fn with_unavailable(mut self, channel: Channel, why: impl Into<String>) -> Self {
        self.unavailable.insert(channel, why.into());
        self
    }

    /// One queue message: claim the channel, send, record the outcome.
    pub async fn dispatch(&self, message: QueueMessage) -> Result<(), WorkError> {
        let job: ChannelJob = message.json()?;
        if job.channel == Channel::InApp {
            return Err(WorkError::Poison(
                "in_app is written at send time, never queued".into(),
            ));
        }
        let Some(record) = self.claim(&job).await? else {
            return Ok(());
        };
        let attempts = record.outcome(job.channel).map(|o| o.attempts).unwrap_or(1);
        let result = self.send(job.channel, &record, &message.message_id).await;
        let (outcome, give_back) = self.outcome(result, message.receive_count);
        let outcome = ChannelOutcome {
            attempts,
            ..outcome
        };
        tracing::info!(
            notification_id = %job.notification_id,
            channel = job.channel.as_str(),
            status = outcome.status.as_str(),
            code = outcome.code.as_deref().unwrap_or(""),
            "channel outcome"
        );
        self.store
            .record(&job.user_id, &job.notification_id, job.channel, &outcome)
            .await
            .map_err(retry_later)?;
        match give_back {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The notification if the channel is ours to send; `None` when a redelivery finds it
    /// already handled.
    async fn claim(&self, job: &ChannelJob) -> Result<Option<Box<NotificationRecord>>, WorkError> {
        match self
            .store
            .claim(job, self.stale_claim)
            .await
            .map_err(retry_later)?
        {
            Claim::Claimed(r) => Ok(Some(r)),
            Claim::AlreadyDone(status) => {
                tracing::info!(notification_id = %job.notification_id, channel = job.channel.as_str(), status = status.as_str(), "channel already handled; redelivery ignored");
                Ok(None)
            }
            Claim::InFlight => Err(WorkError::Retry(
                "another worker is sending this channel".into(),
            )),
            Claim::Missing => Err(WorkError::Poison(format!(
                "notification {} has no {} channel (expired or never requested)",
                job.notification_id,
                job.channel.as_str()
            ))),
        }
    }

    async fn send(
        &self,
        channel: Channel,
        record: &NotificationRecord,
        request_id: &str,
    ) -> Result<Sent, SendError> {
        match self.senders.get(&channel) {
            Some(sender) => sender.send(record, request_id).await,
            None => Err(SendError::Unavailable(
                self.unavailable.get(&channel).cloned().unwrap_or_else(|| {
                    format!("the {} channel is not available", channel.as_str())
                }),
            )),
        }
    }

    /// The outcome to record, and the error that hands the message back to SQS when a
    /// retryable failure has deliveries left.
    fn outcome(
        &self,
        result: Result<Sent, SendError>,
        receive_count: u32,
    ) -> (ChannelOutcome, Option<WorkError>) {
        let failed = |code: &str, detail: String| {
            ChannelOutcome::new(ChannelStatus::Failed).with_code(code, detail)
        };
        match result {
            Ok(sent) => {
                let mut o = ChannelOutcome::new(ChannelStatus::Sent);
                o.provider = sent.provider;
                o.reference = sent.reference;
                o.delivered = sent.delivered;
                (o, None)
            }
            Err(SendError::Unavailable(why)) => (failed("channel_unavailable", why), None),
            Err(SendError::Skipped { code, detail }) => (
                ChannelOutcome::new(ChannelStatus::Skipped).with_code(&code, detail),
                None,
            ),
            Err(SendError::Permanent { code, detail }) => (failed(&code, detail), None),
            Err(SendError::Retryable { code, detail }) if receive_count < self.max_attempts => (
                failed(&code, format!("{detail} (will retry)")),
                Some(WorkError::Retry(format!("{code}: {detail}"))),
            ),
            Err(SendError::Retryable { code, detail }) => (
                failed(
                    &code,
                    format!("{detail} (gave up after {receive_count} deliveries)"),
                ),
                None,
            ),
        }
    }
}

/// A store failure: the message goes back to the queue.
fn retry_later(e: NotificationError) -> WorkError {
    WorkError::Retry(format!("{}: {e}", e.code()))
}
