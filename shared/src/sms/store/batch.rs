//! Bulk batches and their chunks: the batch item with its counters, and the chunks the worker
//! claims, sends and finishes (see "Exactly-once" in the [module docs](crate::sms)).

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use super::SmsStore;
use crate::clock::now_secs;
use crate::sms::SmsStatus;
use crate::sms::model::BatchRecord;
use crate::store::{Item, StoreError, n, s};

/// How long chunk items (which hold numbers and, until sent, texts) are kept.
const CHUNK_TTL: Duration = Duration::from_secs(7 * 86_400);

pub const STATE_PENDING: &str = "pending";
pub const STATE_CLAIMED: &str = "claimed";
pub const STATE_DONE: &str = "done";

/// One chunk's outcome per receptor, kept on the chunk once sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkResult {
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    pub status: SmsStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// A chunk of a batch: receptors of one route, at most 200.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkItem {
    pub batch_id: String,
    pub chunk: u32,
    pub state: String,
    /// E.164 numbers.
    pub receptors: Vec<String>,
    /// Each receptor's position in the request (the message id is `{batch_id}-{position}`).
    pub positions: Vec<u32>,
    /// One text for all receptors...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// ...or one per receptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ChunkResult>>,
    #[serde(default)]
    pub records_written: bool,
}

/// What claiming a chunk found.
#[derive(Debug)]
pub enum Claim {
    /// Ours now: send it.
    Claimed(ChunkItem),
    /// Already sent (a redelivery).
    Done(ChunkItem),
    /// Another delivery holds it (maybe a dead worker: see `claimed_at`).
    Held(ChunkItem),
    /// No such chunk.
    Missing,
}

pub fn batch_pk(id: &str) -> String {
    format!("SMSBATCH#{id}")
}

fn chunk_sk(n: u32) -> String {
    format!("CHUNK#{n:05}")
}

/// A conditional write whose condition did not hold changed nothing: that is an answer
/// (`false`), not an error.
fn applied<T>(result: Result<T, StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

impl SmsStore {
    fn chunk_update(
        &self,
        batch_id: &str,
        chunk: u32,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s(chunk_sk(chunk)))
            .expression_attribute_names("#state", "state")
    }

    fn batch_update(
        &self,
        batch_id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s("BATCH"))
    }

    /// Counts a final delivery outcome on the message's batch.
    pub async fn count_delivery(
        &self,
        batch_id: &str,
        status: SmsStatus,
    ) -> Result<(), StoreError> {
        let counter = match status {
            SmsStatus::Delivered => "delivered",
            SmsStatus::Undelivered
            | SmsStatus::Failed
            | SmsStatus::Filtered
            | SmsStatus::Canceled => "undelivered",
            _ => return Ok(()),
        };
        let res = self
            .batch_update(batch_id)
            .update_expression("ADD #c :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#c", counter)
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        applied(res).map(|_| ())
    }

    /// Stores a new batch and its chunks (BatchWriteItem, 25 items per call).
    pub async fn create_batch(
        &self,
        batch: &BatchRecord,
        chunks: &[ChunkItem],
    ) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(chunks.len() + 1);
        let mut b: Item = serde_dynamo::to_item(batch)?;
        b.insert("pk".into(), s(batch_pk(&batch.id)));
        b.insert("sk".into(), s("BATCH"));
        b.insert("expires_at".into(), n(self.message_expiry()));
        items.push(b);
        let chunk_expires = n(now_secs() + CHUNK_TTL.as_secs() as i64);
        for c in chunks {
            let mut item: Item = serde_dynamo::to_item(c)?;
            item.insert("pk".into(), s(batch_pk(&c.batch_id)));
            item.insert("sk".into(), s(chunk_sk(c.chunk)));
            item.insert("expires_at".into(), chunk_expires.clone());
            items.push(item);
        }
        self.put_many(items).await
    }

    pub async fn get_batch(&self, id: &str) -> Result<Option<BatchRecord>, StoreError> {
        self.get_consistent(batch_pk(id), "BATCH".into()).await
    }

    async fn get_chunk(&self, batch_id: &str, chunk: u32) -> Result<Option<ChunkItem>, StoreError> {
        self.get_consistent(batch_pk(batch_id), chunk_sk(chunk))
            .await
    }

    async fn get_consistent<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// Claims a pending chunk for `claimer` (the SQS message id) with one conditional write
    /// that also returns the chunk's content.
    pub async fn claim_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        claimer: &str,
    ) -> Result<Claim, StoreError> {
        let res = self
            .chunk_update(batch_id, chunk)
            .update_expression("SET #state = :claimed, claimed_by = :me, claimed_at = :now")
            .condition_expression("#state = :pending")
            .expression_attribute_values(":claimed", s(STATE_CLAIMED))
            .expression_attribute_values(":pending", s(STATE_PENDING))
            .expression_attribute_values(":me", s(claimer))
            .expression_attribute_values(":now", n(now_secs()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match res {
            Ok(out) => Ok(Claim::Claimed(serde_dynamo::from_item(
                out.attributes.unwrap_or_default(),
            )?)),
            Err(StoreError::ConditionFailed) => Ok(match self.get_chunk(batch_id, chunk).await? {
                None => Claim::Missing,
                Some(c) if c.state == STATE_DONE => Claim::Done(c),
                Some(c) => Claim::Held(c),
            }),
            Err(e) => Err(e),
        }
    }

    /// Gives a claimed chunk back (nothing was sent), so a redelivery can try again.
    pub async fn release_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        claimer: &str,
    ) -> Result<(), StoreError> {
        let res = self
            .chunk_update(batch_id, chunk)
            .update_expression("SET #state = :pending REMOVE claimed_by, claimed_at")
            .condition_expression("#state = :claimed AND claimed_by = :me")
            .expression_attribute_values(":pending", s(STATE_PENDING))
            .expression_attribute_values(":claimed", s(STATE_CLAIMED))
            .expression_attribute_values(":me", s(claimer))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        applied(res).map(|_| ())
    }

    /// Marks a claimed chunk done with its results (texts removed). `expect_claimed_at`
    /// guards the take-over of a dead worker's claim; otherwise the claim must be
    /// `claimer`'s. Answers false when the claim was no longer ours (nothing changed).
    ///
    /// The batch counters are moved separately by [`SmsStore::count_chunk`]: a transaction
    /// spanning the chunk and the batch item would conflict (`TransactionConflict`) whenever
    /// two workers finish chunks of one batch at the same moment.
    pub async fn finish_chunk(
        &self,
        chunk: &ChunkItem,
        claimer: &str,
        results: &[ChunkResult],
        expect_claimed_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let results_av = serde_dynamo::to_attribute_value(results)?;
        let mut update = self
            .chunk_update(&chunk.batch_id, chunk.chunk)
            .update_expression("SET #state = :done, results = :results, finished_by = :me REMOVE message, messages")
            .expression_attribute_values(":done", s(STATE_DONE))
            .expression_attribute_values(":claimed", s(STATE_CLAIMED))
            .expression_attribute_values(":results", results_av)
            .expression_attribute_values(":me", s(claimer));
        update = match expect_claimed_at {
            Some(at) => update
                .condition_expression("#state = :claimed AND claimed_at = :at")
                .expression_attribute_values(":at", n(at)),
            None => update.condition_expression("#state = :claimed AND claimed_by = :me"),
        };
        applied(
            update
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("UpdateItem", e)),
        )
    }

    /// Moves the batch counters for a finished chunk, once: the chunk's number joins the
    /// batch's `counted_chunks` set in the same conditional `UpdateItem`, so a redelivery
    /// (or a retry after a crash between finishing and counting) cannot count it twice.
    pub async fn count_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        results: &[ChunkResult],
    ) -> Result<(), StoreError> {
        let sent = results
            .iter()
            .filter(|r| !matches!(r.status, SmsStatus::Failed | SmsStatus::Unknown))
            .count() as i64;
        let failed = results.len() as i64 - sent;
        let res = self
            .batch_update(batch_id)
            .update_expression("ADD queued :q, sent :s, failed :f, counted_chunks :chunkset")
            .condition_expression("attribute_exists(pk) AND NOT contains(counted_chunks, :chunk)")
            .expression_attribute_values(":q", n(-(results.len() as i64)))
            .expression_attribute_values(":s", n(sent))
            .expression_attribute_values(":f", n(failed))
            .expression_attribute_values(":chunkset", AttributeValue::Ns(vec![chunk.to_string()]))
            .expression_attribute_values(":chunk", n(chunk))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        applied(res).map(|_| ())
    }

    pub async fn mark_records_written(&self, batch_id: &str, chunk: u32) -> Result<(), StoreError> {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s(chunk_sk(chunk)))
            .update_expression("SET records_written = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }
}
