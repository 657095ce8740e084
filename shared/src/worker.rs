//! The SQS worker edge: a Lambda SQS event becomes per-message work ([`QueueMessage`]) with
//! partial batch failures (`ReportBatchItemFailures`), so one bad message does not redeliver
//! nine good ones. The only module besides `http` that touches Lambda types.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::queue::{QueueMessage, WorkError};

/// Processes every record concurrently and reports the retryable failures.
pub async fn process_batch<F, Fut>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(QueueMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkError>>,
{
    process_batch_with(event, None, handler).await
}

/// The queue a worker's messages come from, so [`WorkError::RetryAfter`] can reschedule a
/// message (`ChangeMessageVisibility` with its receipt handle).
#[derive(Debug, Clone, Copy)]
pub struct Visibility<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub queue_url: &'a str,
}

/// SQS's longest visibility timeout.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

/// [`process_batch`] for workers that schedule their own retries: a message failing with
/// [`WorkError::RetryAfter`] is hidden for the delay, then reported failed (if the visibility
/// change itself fails, it is only reported failed: the queue's visibility timeout applies).
pub async fn process_batch_with_visibility<F, Fut>(
    event: SqsEvent,
    visibility: Visibility<'_>,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(QueueMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkError>>,
{
    process_batch_with(event, Some(visibility), handler).await
}

async fn process_batch_with<F, Fut>(
    event: SqsEvent,
    visibility: Option<Visibility<'_>>,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(QueueMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkError>>,
{
    let receipts: std::collections::HashMap<String, String> = event
        .records
        .iter()
        .filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?)))
        .collect();
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
            Err(WorkError::RetryAfter(delay, reason)) => {
                let secs = delay.as_secs().min(MAX_VISIBILITY_SECS) as i32;
                let changed = match (visibility, receipts.get(&id)) {
                    (Some(v), Some(receipt)) => v
                        .sqs
                        .change_message_visibility()
                        .queue_url(v.queue_url)
                        .receipt_handle(receipt)
                        .visibility_timeout(secs)
                        .send()
                        .await
                        .map_err(|e| {
                            tracing::warn!(message_id = %id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
                                "ChangeMessageVisibility failed; the queue's visibility timeout applies")
                        })
                        .is_ok(),
                    _ => false,
                };
                tracing::info!(message_id = %id, %reason, retry_in_secs = secs, rescheduled = changed, "message rescheduled");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
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
