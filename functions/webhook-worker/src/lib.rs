//! The webhook worker: SQS messages carry an event id; the event (stored by the receive
//! route) is loaded and processed (`shared::webhooks::process`). Retries come from SQS
//! (`WorkError::Retry` reports the message as a batch item failure); after
//! `maxReceiveCount` deliveries the message moves to the dead-letter queue and the event is
//! marked `failed`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::HubContext;
use shared::webhooks::process::WebhookWorker;
use shared::webhooks::{WebhookConfig, ingest::WebhookService, system_clock};

/// Builds the worker once per cold start.
pub fn worker(ctx: &Arc<HubContext>) -> Result<Arc<WebhookWorker>, shared::config::ConfigError> {
    let config = WebhookConfig::from_env(&ctx.env)?;
    let service = Arc::new(WebhookService::new(ctx, config, system_clock()));
    Ok(Arc::new(WebhookWorker::new(ctx, service)))
}

/// One Lambda invocation: the SQS batch, with partial failures reported.
pub async fn handle_batch(worker: &Arc<WebhookWorker>, event: SqsEvent) -> SqsBatchResponse {
    shared::queue::process_batch(event, |message| {
        let worker = worker.clone();
        async move { worker.handle(message).await }
    })
    .await
}
