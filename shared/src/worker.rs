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
