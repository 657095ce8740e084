//! The AI jobs worker: fed by `AiJobsQueue` (SQS, partial batch failures). Each message is
//! `{"job_id"}`; the job's request is read from `HUB_TABLE`/S3, run through the providers
//! with the async budget (longer timeouts and `Retry-After` waits than the API may take), and
//! its result or error stored on the job. See `shared::ai::jobs` for the retry policy.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::HubContext;
use shared::ai::AiConfig;
use shared::ai::jobs::{self, JobStore};
use shared::ai::service::AiService;
use shared::queue::{QueueMessage, WorkError};

/// Built once per cold start.
pub struct Worker {
    pub service: AiService,
    pub store: JobStore,
}

impl Worker {
    pub fn new(ctx: Arc<HubContext>) -> Result<Self, shared::config::ConfigError> {
        let config = AiConfig::from_env(&ctx.env)?;
        let store = JobStore::new(&ctx, &config);
        Ok(Self {
            service: AiService::new(ctx, config),
            store,
        })
    }

    pub async fn handle(&self, msg: QueueMessage) -> Result<(), WorkError> {
        jobs::handle(&self.service, &self.store, msg).await
    }

    /// One Lambda invocation's worth of messages (what tests drive through `drain_queue`).
    pub async fn process(&self, event: SqsEvent) -> SqsBatchResponse {
        shared::queue::process_batch(event, |m| self.handle(m)).await
    }
}
