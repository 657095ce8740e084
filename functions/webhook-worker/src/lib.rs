//! The webhook worker: SQS messages carry an event id; the event (stored by the receive
//! route) is loaded and processed (`shared::webhooks::process`). Retries come from SQS
//! (`WorkError::Retry` reports the message as a batch item failure); after
//! `maxReceiveCount` deliveries the message moves to the dead-letter queue and the event is
//! marked `failed`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::queue::{QueueMessage, WorkError};
use shared::webhooks::EventMessage;
use shared::webhooks::process::{Delivery, EventProcessor, ProcessError};

/// Handles one queue message: `{"event_id": "..."}`.
pub async fn handle(processor: &EventProcessor, message: QueueMessage) -> Result<(), WorkError> {
    let EventMessage { event_id } = message.json()?;
    let delivery = Delivery {
        event_id: &event_id,
        message_id: &message.message_id,
        receive_count: message.receive_count,
    };
    processor.process(delivery).await.map_err(|e| match e {
        ProcessError::UnknownEvent(_) => WorkError::Poison(e.to_string()),
        ProcessError::Retry { .. } => WorkError::Retry(e.to_string()),
    })
}

/// A whole Lambda SQS event, with partial failures reported (what tests and the local
/// poller drive).
pub async fn handle_event(processor: &EventProcessor, event: SqsEvent) -> SqsBatchResponse {
    shared::queue::process_batch(event, |m| handle(processor, m)).await
}
