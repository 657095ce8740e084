//! The AI jobs worker: fed by `AiJobsQueue` (SQS, partial batch failures). Each message is
//! `{"job_id"}`; the job's request is read from `HUB_TABLE`/S3, run through the providers
//! with the async budget (longer timeouts and `Retry-After` waits than the API may take), and
//! its result or error stored on the job. See `shared::ai::jobs` for the retry policy.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::ai::jobs::JobRunner;
use shared::queue::{QueueMessage, WorkError};

/// One queue message.
pub async fn handle(runner: &JobRunner, msg: QueueMessage) -> Result<(), WorkError> {
    runner.run(msg).await
}

/// One Lambda invocation's worth of messages (what tests drive through `drain_queue`).
pub async fn handle_event(runner: &JobRunner, event: SqsEvent) -> SqsBatchResponse {
    shared::queue::process_batch(event, |m| handle(runner, m)).await
}
