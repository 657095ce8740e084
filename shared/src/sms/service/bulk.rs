//! Bulk batches: a checked request is split into chunks (one provider call each), stored,
//! and the chunks' ids queued for the worker.

use std::sync::Arc;

use super::SmsService;
use crate::clock::now_rfc3339;
use crate::sms::model::{BatchRecord, BulkAccepted, ChunkMessage};
use crate::sms::store::{ChunkItem, STATE_PENDING};
use crate::sms::validate::{BulkItem, ValidBulk};
use crate::sms::{SmsContent, SmsError};

/// Receptors per chunk: one Kavenegar `sms/send` (or `sendarray`) call.
pub const CHUNK_RECEPTORS: usize = crate::providers::kavenegar::MAX_RECEPTORS_PER_CALL;
/// Text bytes per chunk item, well under DynamoDB's 400 KB item limit.
const CHUNK_MAX_TEXT_BYTES: usize = 300_000;

impl SmsService {
    /// Stores a bulk batch and queues its chunks (ids only). Answers the batch and the number
    /// of `SendMessageBatch` calls made.
    pub async fn create_bulk(
        &self,
        bulk: ValidBulk,
        user_id: &str,
    ) -> Result<(BulkAccepted, usize), SmsError> {
        let queue = self
            .queue
            .url
            .as_deref()
            .ok_or(SmsError::BulkNotConfigured)?;
        let batch_id = uuid::Uuid::now_v7().simple().to_string();
        let chunks = plan_chunks(&batch_id, user_id, &bulk.items);
        let total = bulk.items.len();
        let batch = BatchRecord {
            id: batch_id.clone(),
            total: total as u64,
            chunks: chunks.len() as u64,
            queued: total as i64,
            sent: 0,
            failed: 0,
            delivered: 0,
            undelivered: 0,
            user_id: user_id.to_string(),
            created_at: now_rfc3339(),
        };
        self.store.create_batch(&batch, &chunks).await?;
        let messages: Vec<ChunkMessage> = chunks
            .iter()
            .map(|c| ChunkMessage {
                batch_id: batch_id.clone(),
                chunk: c.chunk,
            })
            .collect();
        let calls = crate::queue::send_json_batch(&self.queue.sqs, queue, &messages)
            .await
            .map_err(|e| SmsError::Queue(e.to_string()))?;
        let accepted = BulkAccepted {
            message_id_prefix: format!("{batch_id}-"),
            batch_id,
            status: "queued".into(),
            total,
            duplicates_removed: bulk.duplicates_removed,
            chunks: chunks.len(),
        };
        Ok((accepted, calls))
    }
}

fn text_of(c: &SmsContent) -> String {
    match c {
        SmsContent::Text { message } => message.clone(),
        _ => String::new(),
    }
}

/// Splits a batch into chunks: receptors of one route (Iranian or not), at most 200, and
/// at most ~300 KB of text each.
pub fn plan_chunks(batch_id: &str, user_id: &str, items: &[BulkItem]) -> Vec<ChunkItem> {
    let one_text = items.windows(2).all(|w| Arc::ptr_eq(&w[0].2, &w[1].2));
    let mut groups: Vec<Vec<&BulkItem>> = Vec::new();
    for iranian in [true, false] {
        let route = items.iter().filter(|i| i.1.is_iranian() == iranian);
        groups.extend(group_by_size(route, one_text));
    }
    groups
        .iter()
        .enumerate()
        .map(|(n, group)| ChunkItem {
            batch_id: batch_id.to_string(),
            chunk: n as u32,
            state: STATE_PENDING.to_string(),
            receptors: group.iter().map(|i| i.1.e164().to_string()).collect(),
            positions: group.iter().map(|i| i.0).collect(),
            message: one_text.then(|| text_of(&group[0].2)),
            messages: (!one_text).then(|| group.iter().map(|i| text_of(&i.2)).collect()),
            user_id: user_id.to_string(),
            claimed_by: None,
            claimed_at: None,
            results: None,
            records_written: false,
        })
        .collect()
}

/// Cuts one route's items into groups of at most [`CHUNK_RECEPTORS`] and (for per-receptor
/// texts) [`CHUNK_MAX_TEXT_BYTES`].
fn group_by_size<'a>(
    route: impl Iterator<Item = &'a BulkItem>,
    one_text: bool,
) -> Vec<Vec<&'a BulkItem>> {
    let mut groups = Vec::new();
    let mut current: Vec<&BulkItem> = Vec::new();
    let mut bytes = 0;
    for item in route {
        let len = if one_text { 0 } else { text_of(&item.2).len() };
        if current.len() == CHUNK_RECEPTORS
            || (bytes + len > CHUNK_MAX_TEXT_BYTES && !current.is_empty())
        {
            groups.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += len;
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}
