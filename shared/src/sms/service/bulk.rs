//! Bulk batches: a checked request is split into chunks (one provider call each), stored
//! durably, and the chunks' ids queued for the worker.
//!
//! The request is accepted (202) exactly when the batch is durable: every chunk item is
//! written with the redrive marker of its queue message (`shared::redrive`), then the batch
//! item commits it. From then on the batch is the client's: an enqueue that fails or never
//! happens (the process stops) is re-driven by the sweeper from the markers, never answered
//! as an error (which would release the Idempotency-Key and invite a second batch). If the
//! durable write fails, nothing was accepted: the error (503 when transient) releases the
//! key, and any chunk already written is abandoned by the worker, never sent.

use std::sync::Arc;

use super::SmsService;
use crate::clock::now_rfc3339;
use crate::redrive::Redrive;
use crate::sms::model::{BatchRecord, BulkAccepted, ChunkMessage};
use crate::sms::store::{ChunkItem, STATE_PENDING};
use crate::sms::validate::{BulkItem, ValidBulk};
use crate::sms::{SmsContent, SmsError};

/// Receptors per chunk: one Kavenegar `sms/send` (or `sendarray`) call.
pub const CHUNK_RECEPTORS: usize = crate::providers::kavenegar::MAX_RECEPTORS_PER_CALL;
/// Text bytes per chunk item, well under DynamoDB's 400 KB item limit.
const CHUNK_MAX_TEXT_BYTES: usize = 300_000;
/// The environment variable naming the bulk queue, as the sweeper knows it.
pub const BULK_QUEUE_ENV: &str = "SMS_BULK_QUEUE_URL";

impl SmsService {
    /// Stores a bulk batch durably and queues its chunks (ids only). Answers the batch and
    /// the number of `SendMessageBatch` calls made (0 when the enqueue failed: the sweeper
    /// re-drives the chunks).
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
            unknown: 0,
            fallback: 0,
            delivered: 0,
            undelivered: 0,
            user_id: user_id.to_string(),
            created_at: now_rfc3339(),
        };
        let messages: Vec<ChunkMessage> = chunks
            .iter()
            .map(|c| chunk_message(&batch_id, c.chunk, false))
            .collect();
        let markers = chunks
            .iter()
            .map(|c| self.redrive_marker(&batch_id, c.chunk))
            .collect::<Result<Vec<_>, _>>()?;
        self.store.create_batch(&batch, &chunks, &markers).await?;
        // Durable: from here on the answer is 202 whatever SQS does.
        let calls = match crate::queue::send_json_batch(&self.queue.sqs, queue, &messages).await {
            Ok(calls) => calls,
            Err(e) => {
                tracing::error!(batch_id = %batch_id, chunks = chunks.len(), error = %e, "bulk chunks stored but not all queued; the re-drive sweeper will send them");
                0
            }
        };
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

    /// The redrive marker of a chunk: the body the sweeper sends if the chunk's own queue
    /// message never arrives (flagged, so the worker checks that its batch was committed).
    pub(super) fn redrive_marker(&self, batch_id: &str, chunk: u32) -> Result<Redrive, SmsError> {
        let body = serde_json::to_string(&chunk_message(batch_id, chunk, true))
            .map_err(|e| SmsError::Queue(e.to_string()))?;
        Ok(Redrive::new(BULK_QUEUE_ENV, body).after(self.config.redrive_after))
    }
}

fn chunk_message(batch_id: &str, chunk: u32, redriven: bool) -> ChunkMessage {
    ChunkMessage {
        batch_id: batch_id.to_string(),
        chunk,
        redriven,
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
