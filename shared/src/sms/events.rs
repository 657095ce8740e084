//! What the SMS capability announces to event subscriptions (`shared::subscriptions`):
//!
//! | event | when | key |
//! | --- | --- | --- |
//! | `sms.sent` | a provider accepted a single send (not `unknown`, not the console fallback) | message id |
//! | `sms.failed` | every provider refused a single send, or a delivery report / status lookup moved a message to a final non-delivered status (`failed`, `undelivered`, `canceled`, `filtered`) | message id |
//! | `sms.delivered` | a delivery report or status lookup moved a message to `delivered` | message id |
//! | `sms.batch.completed` | the last chunk of a bulk batch was counted | batch id |
//!
//! Bulk messages announce no `sms.sent` each (10,000 events for one request); the batch's
//! completion carries its counters, and their delivery reports announce per message.
//! Every event is keyed (`EventPublisher::publish_once`): a retried worker, a duplicate
//! callback or a second status lookup announces the same event id, delivered once.

use serde_json::{Value, json};

use super::SmsStatus;
use super::model::{BatchRecord, SmsRecord};
use crate::mask::mask_phone;

pub const SENT: &str = "sms.sent";
pub const DELIVERED: &str = "sms.delivered";
pub const FAILED: &str = "sms.failed";
pub const BATCH_COMPLETED: &str = "sms.batch.completed";

/// The event a message's final status announces: `sms.delivered` or `sms.failed`; `None`
/// for a status that is not final.
pub fn final_status_event(status: SmsStatus) -> Option<&'static str> {
    match status {
        SmsStatus::Delivered => Some(DELIVERED),
        // Final for ordering, but nothing was sent: the console only logged it.
        SmsStatus::Fallback => None,
        s if s.is_final() => Some(FAILED),
        _ => None,
    }
}

/// A message's event data: ids, the masked receptor, the status; never the text.
pub fn message_data(rec: &SmsRecord, status: SmsStatus, error_code: Option<&str>) -> Value {
    let mut data = json!({
        "message_id": rec.id,
        "receptor": mask_phone(&rec.receptor),
        "message_type": rec.message_type,
        "provider": rec.provider,
        "status": status.as_str(),
        "user_id": rec.user_id,
    });
    if let Some(pid) = &rec.provider_message_id {
        data["provider_message_id"] = json!(pid);
    }
    if let Some(batch) = &rec.batch_id {
        data["batch_id"] = json!(batch);
    }
    if let Some(code) = error_code.or(rec.error_code.as_deref()) {
        data["error_code"] = json!(code);
    }
    data
}

/// A completed batch's event data: its counters.
pub fn batch_data(batch: &BatchRecord) -> Value {
    json!({
        "batch_id": batch.id,
        "total": batch.total,
        "sent": batch.sent,
        "failed": batch.failed,
        "unknown": batch.unknown,
        "fallback": batch.fallback,
        "user_id": batch.user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_statuses_map_to_delivered_or_failed() {
        assert_eq!(final_status_event(SmsStatus::Delivered), Some(DELIVERED));
        for s in [
            SmsStatus::Undelivered,
            SmsStatus::Failed,
            SmsStatus::Canceled,
            SmsStatus::Filtered,
        ] {
            assert_eq!(final_status_event(s), Some(FAILED), "{s:?}");
        }
        for s in [
            SmsStatus::Queued,
            SmsStatus::Sent,
            SmsStatus::Unknown,
            SmsStatus::Fallback,
        ] {
            assert_eq!(final_status_event(s), None, "{s:?}");
        }
    }
}
