//! SQS on both sides: typed messages out (`SendMessageBatch`, ten at a time), and the
//! worker side's message and outcome types ([`QueueMessage`], [`WorkError`]). Turning a
//! Lambda SQS event into per-message work (partial batch failures) is the worker edge,
//! `crate::worker`.
//!
//! Queue bodies carry ids, never prompts, medical text or message content in clear: the
//! payload is stored (DynamoDB/S3) and the message names it.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;

use crate::error::{DomainError, ErrorKind};

// Transition: workers' `main.rs` and `handle_event` call these through `queue`; they live at
// the worker edge now.
pub use crate::worker::{process_batch, run_worker};

/// Sending to a queue failed. The queue is the hub's own infrastructure: a 500, logged.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("a queue message could not be built: {0}")]
    Message(String),
    #[error("SQS {operation} failed: {message}")]
    Sqs {
        operation: &'static str,
        message: String,
    },
    #[error("SendMessageBatch failed for {0} entries")]
    EntriesFailed(usize),
}

impl DomainError for QueueError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    fn code(&self) -> &'static str {
        "internal_error"
    }
}

/// `SendMessageBatch` takes at most ten entries.
pub const SQS_BATCH_MAX: usize = 10;

/// Sends JSON messages to a queue in batches of ten; returns the number of `SendMessageBatch`
/// calls made. Entries SQS reports as failed are retried once, then the call fails.
pub async fn send_json_batch<T: Serialize>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[T],
) -> Result<usize, QueueError> {
    let mut calls = 0;
    for chunk in messages.chunks(SQS_BATCH_MAX) {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, m) in chunk.iter().enumerate() {
            let body = serde_json::to_string(m).map_err(|e| QueueError::Message(e.to_string()))?;
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| QueueError::Message(e.to_string()))?,
            );
        }
        for attempt in 0..2 {
            calls += 1;
            let out = sqs
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| QueueError::Sqs {
                    operation: "SendMessageBatch",
                    message: format!("{e:?}"),
                })?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                break;
            }
            if attempt == 1 {
                return Err(QueueError::EntriesFailed(failed.len()));
            }
            entries.retain(|e| failed.contains(&e.id()));
        }
    }
    Ok(calls)
}

/// Sends one JSON message.
pub async fn send_json<T: Serialize>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    message: &T,
) -> Result<(), QueueError> {
    let body = serde_json::to_string(message).map_err(|e| QueueError::Message(e.to_string()))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| QueueError::Sqs {
            operation: "SendMessage",
            message: format!("{e:?}"),
        })?;
    Ok(())
}

/// One queue message as a worker sees it: no Lambda types.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub message_id: String,
    pub body: String,
    /// `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
}

impl QueueMessage {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, WorkError> {
        serde_json::from_str(&self.body)
            .map_err(|e| WorkError::Poison(format!("unreadable message body: {e}")))
    }
}

/// How one message's processing failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// Try again later: the message is reported as failed and SQS redelivers it (after
    /// `maxReceiveCount` deliveries it goes to the dead-letter queue).
    #[error("retryable: {0}")]
    Retry(String),
    /// Try again after this delay: the worker edge hides the message for the delay with
    /// `ChangeMessageVisibility` (at most 12 h), then reports it failed so SQS redelivers it
    /// then. Edges without a queue to talk to treat it as [`WorkError::Retry`].
    #[error("retry after {0:?}: {1}")]
    RetryAfter(std::time::Duration, String),
    /// The message can never succeed (unreadable, refers to nothing): logged and dropped,
    /// since redelivering it would only delay its trip to the DLQ.
    #[error("poison: {0}")]
    Poison(String),
}
