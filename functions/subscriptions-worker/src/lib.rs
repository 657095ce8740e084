//! The subscriptions worker: `{kind: fanout, event_id}` messages become one delivery message
//! per matching subscription; `{kind: deliver, ...}` messages become signed POSTs. A failed
//! delivery is rescheduled on the retry schedule with `ChangeMessageVisibility`
//! (`WorkError::RetryAfter`), so each retry is the same SQS message coming back.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::subscriptions::DeliveryWorker;
use shared::worker::{Visibility, process_batch_with_visibility};

/// A whole Lambda SQS event, with partial failures reported and retries rescheduled (what
/// the runtime, the local poller and tests drive).
pub async fn handle_event(worker: &DeliveryWorker, event: SqsEvent) -> SqsBatchResponse {
    let visibility = Visibility {
        sqs: worker.sqs(),
        queue_url: worker.queue_url(),
    };
    process_batch_with_visibility(
        event,
        visibility,
        |m| async move { worker.handle(&m).await },
    )
    .await
}
