//! The bulk SMS worker: each SQS message names one chunk of a batch (`{"batch_id","chunk"}`);
//! the chunk is claimed, sent (one Kavenegar call for up to 200 receptors, or Twilio per
//! receptor), and its results recorded. Redeliveries and the re-drive sweeper's copies send
//! nothing twice (see `shared::sms` module docs); a chunk whose sends timed out is recorded
//! `unknown`, never redelivered; retryable whole-chunk failures where nothing went out (the
//! provider configuration unreadable, an outage) are reported as partial batch failures so
//! SQS redelivers only them.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::queue::{QueueMessage, WorkError};
use shared::sms::ChunkMessage;
use shared::sms::SmsService;
use shared::sms::service::ChunkOutcome;

/// Handles one queue message.
pub async fn handle(sms: &SmsService, message: QueueMessage) -> Result<(), WorkError> {
    let chunk: ChunkMessage = message.json()?;
    let outcome = sms
        .process_chunk(&chunk, &message.message_id, message.receive_count)
        .await?;
    match outcome {
        ChunkOutcome::Sent {
            sent,
            failed,
            unknown,
            fallback,
        } => {
            tracing::info!(batch_id = %chunk.batch_id, chunk = chunk.chunk, sent, failed, unknown, fallback, "chunk sent")
        }
        ChunkOutcome::AlreadyDone => {
            tracing::info!(batch_id = %chunk.batch_id, chunk = chunk.chunk, "redelivered chunk already sent; nothing sent again")
        }
        ChunkOutcome::Interrupted { receptors } => {
            tracing::warn!(batch_id = %chunk.batch_id, chunk = chunk.chunk, receptors, "chunk interrupted earlier; recorded as unknown")
        }
        ChunkOutcome::Abandoned => {
            tracing::warn!(batch_id = %chunk.batch_id, chunk = chunk.chunk, "re-driven chunk of a batch that was never committed; abandoned, nothing sent")
        }
    }
    Ok(())
}

/// A whole Lambda SQS event (what tests and the local poller drive).
pub async fn handle_event(sms: &SmsService, event: SqsEvent) -> SqsBatchResponse {
    shared::queue::process_batch(event, |m| handle(sms, m)).await
}
