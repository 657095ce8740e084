//! The notifications worker: one SQS message = one channel (email, SMS, WebSocket) of one
//! notification. The logic lives in `shared::notifications::dispatch`; the channel senders
//! are wired from the configuration at cold start (`HubContext::notification_dispatcher`).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::HubContext;
use shared::notifications::Dispatcher;
use shared::queue::{QueueMessage, WorkError};

/// Builds the dispatcher from the environment.
pub fn dispatcher(ctx: &Arc<HubContext>) -> anyhow::Result<Arc<Dispatcher>> {
    let config = ctx.notifications_config()?;
    Ok(Arc::new(ctx.notification_dispatcher(&config)))
}

/// One queue message.
pub async fn handle(dispatcher: &Dispatcher, message: QueueMessage) -> Result<(), WorkError> {
    dispatcher.dispatch(message).await
}

/// One Lambda invocation: the batch, with partial failures reported.
pub async fn handle_event(dispatcher: &Dispatcher, event: SqsEvent) -> SqsBatchResponse {
    shared::queue::process_batch(event, |m| handle(dispatcher, m)).await
}
