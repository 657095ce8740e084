//! The worker's job for one queue message: claim the chunk, send it, record the results, and
//! never send a chunk twice (see "Exactly-once" in the [module docs](crate::sms)).
//!
//! Outcomes of a send, per receptor: accepted (`sent`...), refused (`failed`), or ambiguous
//! (the request was written and the answer lost: `unknown`, never sent again). A chunk goes
//! back to the queue only when nothing can have gone out: the provider configuration could
//! not be read (always retried, nothing recorded), or every receptor was definitely refused
//! for a passing reason (outage, throttling) and deliveries remain.

use std::sync::Arc;

use super::{Delivery, SmsService};
use crate::clock::{now_rfc3339, now_secs};
use crate::providers::ProviderErrorKind;
use crate::queue::WorkError;
use crate::sms::events;
use crate::sms::model::{BatchRecord, ChunkMessage, MessageType, SmsRecord};
use crate::sms::provider::Outgoing;
use crate::sms::store::{ChunkItem, ChunkResult, Claim};
use crate::sms::{Phone, SmsContent, SmsStatus};

/// What the worker did with a chunk message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    Sent {
        sent: usize,
        failed: usize,
        /// Answers lost after the request was written: maybe sent, never sent again.
        unknown: usize,
        /// Only logged by the console fallback.
        fallback: usize,
    },
    /// A redelivery of a chunk already sent: nothing sent again.
    AlreadyDone,
    /// A dead worker's claim taken over: its messages recorded as `unknown`.
    Interrupted { receptors: usize },
    /// A re-driven chunk of a batch that was never committed (its request answered 503):
    /// nothing sent.
    Abandoned,
}

/// A store failure inside the worker: SQS delivers the message again.
fn retry(e: impl std::fmt::Display) -> WorkError {
    WorkError::Retry(e.to_string())
}

impl SmsService {
    /// Claims, sends and records one chunk. `sqs_message_id` identifies the queue message;
    /// `receive_count` is its delivery count.
    pub async fn process_chunk(
        &self,
        msg: &ChunkMessage,
        sqs_message_id: &str,
        receive_count: u32,
    ) -> Result<ChunkOutcome, WorkError> {
        // Only the sweeper's copy can name a chunk whose batch was never committed: the
        // request's own enqueue happens after the commit.
        if msg.redriven
            && !self
                .store
                .batch_exists(&msg.batch_id)
                .await
                .map_err(retry)?
        {
            self.store
                .abandon_chunk(&msg.batch_id, msg.chunk)
                .await
                .map_err(retry)?;
            return Ok(ChunkOutcome::Abandoned);
        }
        // One token per delivery attempt: SQS can hand the same message (same id) to two
        // workers at once, and only the attempt that claimed the chunk may finish it.
        let claimer = format!("{sqs_message_id}#{}", uuid::Uuid::new_v4().simple());
        let claim = self
            .store
            .claim_chunk(&msg.batch_id, msg.chunk, &claimer)
            .await
            .map_err(retry)?;
        match claim {
            Claim::Missing => Err(WorkError::Poison(format!(
                "no chunk {} in batch {}",
                msg.chunk, msg.batch_id
            ))),
            Claim::Done(chunk) => self.complete_done(&chunk).await,
            Claim::Held(chunk) => self.take_over(&chunk, &claimer).await,
            Claim::Claimed(chunk) => self.send_chunk(&chunk, &claimer, receive_count).await,
        }
    }

    /// A crash after finishing may have left the counters or the records behind; both steps
    /// are idempotent, so complete them (nothing is sent).
    async fn complete_done(&self, chunk: &ChunkItem) -> Result<ChunkOutcome, WorkError> {
        if let Some(results) = &chunk.results {
            let counted = self
                .store
                .count_chunk(&chunk.batch_id, chunk.chunk, results)
                .await
                .map_err(retry)?;
            if !chunk.records_written {
                self.write_records(chunk, results).await?;
            }
            // Counted before (the usual redelivery), maybe by a delivery that stopped before
            // announcing the batch's completion: look once.
            let batch = match counted {
                Some(batch) => Some(batch),
                None if self.store.wants(events::BATCH_COMPLETED).await => {
                    self.store.get_batch(&chunk.batch_id).await.map_err(retry)?
                }
                None => None,
            };
            self.announce_if_complete(batch.as_ref()).await?;
        }
        Ok(ChunkOutcome::AlreadyDone)
    }

    /// Another delivery holds the chunk. While its claim is fresh, try later; once it is
    /// stale the worker that claimed it died mid-send: whether its SMS went out is unknown,
    /// and sending again could duplicate them, so they are recorded as unknown.
    async fn take_over(&self, chunk: &ChunkItem, claimer: &str) -> Result<ChunkOutcome, WorkError> {
        let claimed_at = chunk.claimed_at.unwrap_or(0);
        if now_secs() - claimed_at < self.config.claim_stale_after.as_secs() as i64 {
            return Err(WorkError::Retry(
                "the chunk is being sent by another delivery of this message".into(),
            ));
        }
        let results: Vec<ChunkResult> = chunk.receptors.iter().map(|_| interrupted()).collect();
        if self
            .store
            .finish_chunk(chunk, claimer, &results, Some(claimed_at))
            .await
            .map_err(retry)?
        {
            self.record_chunk(chunk, &results).await?;
            tracing::error!(batch_id = %chunk.batch_id, chunk = chunk.chunk, receptors = chunk.receptors.len(), "a worker died while sending this chunk; its messages are recorded as unknown");
        }
        Ok(ChunkOutcome::Interrupted {
            receptors: chunk.receptors.len(),
        })
    }

    /// Ours: send it. When nothing can have gone out and a later attempt may succeed, the
    /// chunk is given back (released, back in the redrive index) for SQS to deliver again:
    /// a configuration read that failed (always; nothing recorded), or a passing refusal of
    /// every receptor (until the last allowed delivery, which records the failures). Anything
    /// ambiguous is recorded `unknown` and never sent again.
    async fn send_chunk(
        &self,
        chunk: &ChunkItem,
        claimer: &str,
        receive_count: u32,
    ) -> Result<ChunkOutcome, WorkError> {
        let items = outgoing(chunk)?;
        let request_id = format!("smsbatch-{}-{}", chunk.batch_id, chunk.chunk);
        let deliveries = self.deliver(&request_id, &items).await;
        let give_back = if let Some(code) = config_unreadable(&deliveries) {
            Some(format!(
                "the SMS provider configuration could not be read ({code}); nothing was sent"
            ))
        } else if nothing_went_out(&deliveries) && receive_count < self.config.chunk_max_receives {
            let code = deliveries
                .first()
                .and_then(|d| d.result.as_ref().err())
                .map(|e| e.code.clone())
                .unwrap_or_default();
            Some(format!("no provider accepted the chunk ({code})"))
        } else {
            None
        };
        if let Some(reason) = give_back {
            let marker = self
                .redrive_marker(&chunk.batch_id, chunk.chunk)
                .map_err(retry)?;
            self.store
                .release_chunk(&chunk.batch_id, chunk.chunk, claimer, &marker)
                .await
                .map_err(retry)?;
            return Err(WorkError::Retry(reason));
        }
        let results: Vec<ChunkResult> = deliveries.into_iter().map(chunk_result).collect();
        if !self
            .store
            .finish_chunk(chunk, claimer, &results, None)
            .await
            .map_err(retry)?
        {
            tracing::error!(batch_id = %chunk.batch_id, chunk = chunk.chunk, "the chunk's claim was taken over while sending; results not recorded");
            return Ok(ChunkOutcome::AlreadyDone);
        }
        self.record_chunk(chunk, &results).await?;
        let count = |status: SmsStatus| results.iter().filter(|r| r.status == status).count();
        let (failed, unknown, fallback) = (
            count(SmsStatus::Failed),
            count(SmsStatus::Unknown),
            count(SmsStatus::Fallback),
        );
        if unknown > 0 {
            tracing::warn!(batch_id = %chunk.batch_id, chunk = chunk.chunk, unknown, "provider answers lost after the request was written; recorded unknown, not sent again");
        }
        Ok(ChunkOutcome::Sent {
            sent: results.len() - failed - unknown - fallback,
            failed,
            unknown,
            fallback,
        })
    }

    /// Counts a finished chunk on its batch and writes its message records.
    async fn record_chunk(
        &self,
        chunk: &ChunkItem,
        results: &[ChunkResult],
    ) -> Result<(), WorkError> {
        let counted = self
            .store
            .count_chunk(&chunk.batch_id, chunk.chunk, results)
            .await
            .map_err(retry)?;
        self.write_records(chunk, results).await?;
        self.announce_if_complete(counted.as_ref()).await
    }

    /// `sms.batch.completed` once every chunk of the batch is counted. A failure sends the
    /// chunk's message back: its redelivery finds the chunk done and announces again, under
    /// the same event id.
    async fn announce_if_complete(&self, batch: Option<&BatchRecord>) -> Result<(), WorkError> {
        let Some(batch) = batch.filter(|b| b.queued <= 0) else {
            return Ok(());
        };
        self.store
            .announce(
                events::BATCH_COMPLETED,
                &batch.id,
                events::batch_data(batch),
            )
            .await
            .map_err(retry)
    }

    async fn write_records(
        &self,
        chunk: &ChunkItem,
        results: &[ChunkResult],
    ) -> Result<(), WorkError> {
        self.store
            .put_messages(&chunk_records(chunk, results))
            .await
            .map_err(retry)?;
        self.store
            .mark_records_written(&chunk.batch_id, chunk.chunk)
            .await
            .map_err(retry)
    }
}

/// The chunk's messages, ready to send.
fn outgoing(chunk: &ChunkItem) -> Result<Vec<Outgoing>, WorkError> {
    let shared_text = chunk
        .message
        .clone()
        .map(|m| Arc::new(SmsContent::Text { message: m }));
    let mut items = Vec::with_capacity(chunk.receptors.len());
    for (k, receptor) in chunk.receptors.iter().enumerate() {
        let phone = Phone::from_stored(receptor)
            .map_err(|e| WorkError::Poison(format!("stored receptor unreadable: {e}")))?;
        let content = match (&shared_text, &chunk.messages) {
            (Some(t), _) => t.clone(),
            (None, Some(list)) => Arc::new(SmsContent::Text {
                message: list.get(k).cloned().unwrap_or_default(),
            }),
            (None, None) => return Err(WorkError::Poison("chunk has no text".into())),
        };
        let position = chunk.positions.get(k).copied().unwrap_or(k as _);
        items.push(Outgoing {
            message_id: format!("{}-{position}", chunk.batch_id),
            phone,
            content,
        });
    }
    Ok(items)
}

/// The provider's configuration or credentials could not be read (Secrets Manager, the
/// catalog) for every message: nothing was sent, and it says nothing about the provider.
/// Answers the error code.
fn config_unreadable(deliveries: &[Delivery]) -> Option<String> {
    let unreadable = |d: &Delivery| match &d.result {
        Err(e) if e.kind == ProviderErrorKind::ConfigUnavailable => Some(e.code.clone()),
        _ => None,
    };
    let first = unreadable(deliveries.first()?)?;
    deliveries
        .iter()
        .all(|d| unreadable(d).is_some())
        .then_some(first)
}

/// Every message was refused, for a reason that may pass (not an invalid request) and
/// never ambiguously: nothing went out and a later attempt may succeed.
fn nothing_went_out(deliveries: &[Delivery]) -> bool {
    deliveries.iter().all(|d| {
        matches!(&d.result, Err(e) if e.kind != ProviderErrorKind::InvalidRequest && !e.is_ambiguous())
    })
}

fn chunk_result(d: Delivery) -> ChunkResult {
    match d.result {
        Ok(a) => ChunkResult {
            provider: d.provider.into(),
            provider_message_id: a.provider_message_id,
            status: a.status,
            provider_status: a.provider_status,
            error_code: None,
        },
        // Maybe sent: the provider is kept so a status lookup can settle it.
        Err(e) if e.is_ambiguous() => ChunkResult {
            provider: d.provider.into(),
            provider_message_id: None,
            status: SmsStatus::Unknown,
            provider_status: None,
            error_code: Some(e.code),
        },
        Err(e) => ChunkResult {
            provider: d.provider.into(),
            provider_message_id: None,
            status: SmsStatus::Failed,
            provider_status: None,
            error_code: Some(e.code),
        },
    }
}

/// The result of a message whose worker died between claiming and recording.
fn interrupted() -> ChunkResult {
    ChunkResult {
        provider: "unknown".into(),
        provider_message_id: None,
        status: SmsStatus::Unknown,
        provider_status: None,
        error_code: Some("sms_interrupted".into()),
    }
}

/// The message records of a finished chunk.
fn chunk_records(chunk: &ChunkItem, results: &[ChunkResult]) -> Vec<SmsRecord> {
    let now = now_rfc3339();
    chunk
        .receptors
        .iter()
        .zip(&chunk.positions)
        .zip(results)
        .map(|((receptor, pos), r)| SmsRecord {
            id: format!("{}-{pos}", chunk.batch_id),
            receptor: receptor.clone(),
            message_type: MessageType::Text,
            provider: r.provider.clone(),
            provider_message_id: r.provider_message_id.clone(),
            status: r.status,
            provider_status: r.provider_status.clone(),
            error_code: r.error_code.clone(),
            batch_id: Some(chunk.batch_id.clone()),
            user_id: chunk.user_id.clone(),
            created_at: now.clone(),
            updated_at: now.clone(),
        })
        .collect()
}
