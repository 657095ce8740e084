//! SQS on both sides: typed messages out (`SendMessageBatch`, ten at a time), and the
//! worker side that turns a Lambda SQS event into per-message work with partial batch
//! failures (`ReportBatchItemFailures`), so one bad message does not redeliver nine good ones.
//!
//! Queue bodies carry ids, never prompts, medical text or message content in clear: the
//! payload is stored (DynamoDB/S3) and the message names it.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;

use crate::error::ApiError;

/// `SendMessageBatch` takes at most ten entries.
pub const SQS_BATCH_MAX: usize = 10;

/// Sends JSON messages to a queue in batches of ten; returns the number of `SendMessageBatch`
/// calls made. Entries SQS reports as failed are retried once, then the call fails.
pub async fn send_json_batch<T: Serialize>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[T],
) -> Result<usize, ApiError> {
    let mut calls = 0;
    for chunk in messages.chunks(SQS_BATCH_MAX) {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, m) in chunk.iter().enumerate() {
            let body = serde_json::to_string(m).map_err(ApiError::internal)?;
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(ApiError::internal)?,
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
                .map_err(|e| ApiError::internal(format!("SendMessageBatch: {e:?}")))?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                break;
            }
            if attempt == 1 {
                return Err(ApiError::internal(format!(
                    "SendMessageBatch failed for {} entries",
                    failed.len()
                )));
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
) -> Result<(), ApiError> {
    let body = serde_json::to_string(message).map_err(ApiError::internal)?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| ApiError::internal(format!("SendMessage: {e:?}")))?;
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
    /// The message can never succeed (unreadable, refers to nothing): logged and dropped,
    /// since redelivering it would only delay its trip to the DLQ.
    #[error("poison: {0}")]
    Poison(String),
}

/// Processes every record concurrently and reports the retryable failures.
pub async fn process_batch<F, Fut>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(QueueMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkError>>,
{
    let work = event.records.into_iter().map(|r| {
        let message = QueueMessage {
            message_id: r.message_id.clone().unwrap_or_default(),
            body: r.body.clone().unwrap_or_default(),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
        };
        let id = message.message_id.clone();
        let fut = handler(message);
        async move { (id, fut.await) }
    });
    let results = futures::future::join_all(work).await;
    let mut response = SqsBatchResponse::default();
    for (id, result) in results {
        match result {
            Ok(()) => {}
            Err(WorkError::Poison(reason)) => {
                tracing::error!(message_id = %id, %reason, "dropping a message that can never succeed");
            }
            Err(WorkError::Retry(reason)) => {
                tracing::warn!(message_id = %id, %reason, "message failed; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

/// Runs an SQS worker on the Lambda runtime. `handler` gets each message.
pub async fn run_worker<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(QueueMessage) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), WorkError>> + Send,
{
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, lambda_runtime::Error>(process_batch(event.payload, handler).await) }
    }))
    .await
}
