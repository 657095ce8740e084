//! The worker side: one queue message = the queued channels of one notification (or, as
//! before, one channel), each handled concurrently:
//!
//! 1. Claim the channel with a conditional `UpdateItem` that returns the notification
//!    ([`NotificationStore::claim`]): a redelivered or concurrent message for a channel
//!    already `sending`, `sent` or `unknown` stops here, so nothing is sent twice. The claim
//!    also takes the notification out of the redrive index.
//! 2. Send through the channel's [`ChannelSender`].
//! 3. Record the outcome on the notification's `channels` map. A failed write is tried
//!    again a few times with backoff; if it still fails the message goes back to the queue,
//!    whose redeliveries find the claim and never send again (the channel ends `unknown` once
//!    the claim is stale, or `sent` if a later write succeeds).
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

    /// How old a `sending` claim must be to count as its worker's death
    /// (`NOTIFICATION_CLAIM_STALE_SECONDS`).
    pub fn with_stale_claim(mut self, stale: Duration) -> Self {
        self.stale_claim = stale;
        self
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

    /// One queue message: each of its channels claimed, sent and recorded, concurrently. Any
    /// channel that must be tried again hands the whole message back (the others, done, are
    /// skipped by their claims next time).
    pub async fn dispatch(&self, message: QueueMessage) -> Result<(), WorkError> {
        let jobs: Vec<ChannelJob> = match message.json::<QueueBody>()? {
            QueueBody::Notification(job) => job.channel_jobs().collect(),
            QueueBody::Channel(job) => vec![job],
        };
        let results =
            futures::future::join_all(jobs.iter().map(|job| self.dispatch_channel(job, &message)))
                .await;
        let mut poison = None;
        for result in results {
            match result {
                Ok(()) => {}
                Err(retry @ (WorkError::Retry(_) | WorkError::RetryAfter(..))) => {
                    return Err(retry);
                }
                Err(p @ WorkError::Poison(_)) => poison = Some(p),
            }
        }
        poison.map_or(Ok(()), Err)
    }

    /// One channel: claim, send, record the outcome.
    async fn dispatch_channel(
        &self,
        job: &ChannelJob,
        message: &QueueMessage,
    ) -> Result<(), WorkError> {
        if job.channel == Channel::InApp {
            return Err(WorkError::Poison(
                "in_app is written at send time, never queued".into(),
            ));
        }
        let Some((record, token)) = self.claim(job).await? else {
            return Ok(());
        };
        let attempts = record.outcome(job.channel).map(|o| o.attempts).unwrap_or(1);
        let claimed_at = record.outcome(job.channel).and_then(|o| o.claimed_at);
        let result = self.send(job.channel, &record, &message.message_id).await;
        let (outcome, give_back) = self.outcome(result, message.receive_count);
        let outcome = ChannelOutcome {
            attempts,
            claimed_at,
            claim_token: Some(token),
            ..outcome
        };
        tracing::info!(
            notification_id = %job.notification_id,
            channel = job.channel.as_str(),
            status = outcome.status.as_str(),
            code = outcome.code.as_deref().unwrap_or(""),
            "channel outcome"
        );
        self.record_with_retries(job, &outcome).await?;
        match give_back {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The outcome write after a send, tried again on a passing store failure (throttling):
    /// the send already happened, and giving the message back costs a delivery that will only
    /// find the claim. Still failing, the message goes back (it never sends again).
    async fn record_with_retries(
        &self,
        job: &ChannelJob,
        outcome: &ChannelOutcome,
    ) -> Result<(), WorkError> {
        let mut pause = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .store
                .record(&job.user_id, &job.notification_id, job.channel, outcome)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if tries < OUTCOME_WRITE_TRIES && e.kind() != ErrorKind::NotFound => {
                    tracing::warn!(notification_id = %job.notification_id, channel = job.channel.as_str(), error = %e, "outcome write failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    tracing::error!(notification_id = %job.notification_id, channel = job.channel.as_str(), status = outcome.status.as_str(), error = %e, "outcome not recorded; the claim keeps the channel from being sent again");
                    return Err(retry_later(e));
                }
            }
        }
    }

    /// The notification and the claim token if the channel is ours to send; `None` when a
    /// redelivery finds it already handled.
    async fn claim(
        &self,
        job: &ChannelJob,
    ) -> Result<Option<(Box<NotificationRecord>, String)>, WorkError> {
        match self
            .store
            .claim(job, self.stale_claim)
            .await
            .map_err(retry_later)?
        {
            Claim::Claimed { record, token } => Ok(Some((record, token))),
            Claim::TakenOverUnknown => {
                tracing::warn!(notification_id = %job.notification_id, channel = job.channel.as_str(), "stale claim: channel recorded unknown, not sent again");
                Ok(None)
            }
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

/// Outcome writes tried before the message is handed back (each with the SDK's own retries).
const OUTCOME_WRITE_TRIES: u32 = 4;

/// A store failure: the message goes back to the queue.
fn retry_later(e: NotificationError) -> WorkError {
    WorkError::Retry(format!("{}: {e}", e.code()))
}
