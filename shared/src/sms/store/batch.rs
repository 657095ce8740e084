//! Bulk batches and their chunks: the batch item with its counters, and the chunks the worker
//! claims, sends and finishes (see "Exactly-once" in the [module docs](crate::sms)).

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use super::SmsStore;
use crate::clock::now_secs;
use crate::redrive::{self, Redrive};
use crate::sms::SmsStatus;
use crate::sms::model::BatchRecord;
use crate::store::{Item, StoreError, n, s};

/// How long chunk items (which hold numbers and, until sent, texts) are kept.
const CHUNK_TTL: Duration = Duration::from_secs(7 * 86_400);

pub const STATE_PENDING: &str = "pending";
pub const STATE_CLAIMED: &str = "claimed";
pub const STATE_DONE: &str = "done";
/// A chunk whose batch was never committed (the request failed after writing some chunks
/// and answered 503): nothing is sent.
pub const STATE_ABANDONED: &str = "abandoned";

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
    /// Already sent (a redelivery), or abandoned.
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

    /// Stores a new batch durably: first its chunks, each carrying the redrive marker of its
    /// queue message (`markers[i]` for `chunks[i]`, `shared::redrive`) so the sweeper sends
    /// it if the enqueue never happens (BatchWriteItem, 25 items per call, several at once);
    /// then the batch item, which commits the batch. A chunk whose batch item does not exist
    /// was never accepted (the request answered 503), and the worker abandons it
    /// ([`SmsStore::abandon_chunk`]).
    ///
    /// The batch item is written with `attribute_not_exists(pk)`: the id is fresh, so a
    /// failed condition means an earlier attempt of this very write landed and only its
    /// answer was lost (the SDK retried it), which is a success.
    pub async fn create_batch(
        &self,
        batch: &BatchRecord,
        chunks: &[ChunkItem],
        markers: &[Redrive],
    ) -> Result<(), StoreError> {
        debug_assert_eq!(chunks.len(), markers.len());
        let now = now_secs();
        let chunk_expires = n(now + CHUNK_TTL.as_secs() as i64);
        let mut items = Vec::with_capacity(chunks.len());
        for (c, marker) in chunks.iter().zip(markers) {
            let mut item: Item = serde_dynamo::to_item(c)?;
            item.insert("pk".into(), s(batch_pk(&c.batch_id)));
            item.insert("sk".into(), s(chunk_sk(c.chunk)));
            item.insert("expires_at".into(), chunk_expires.clone());
            marker.mark(&mut item, now);
            items.push(item);
        }
        self.put_many(items).await?;
        let mut b: Item = serde_dynamo::to_item(batch)?;
        b.insert("pk".into(), s(batch_pk(&batch.id)));
        b.insert("sk".into(), s("BATCH"));
        b.insert("expires_at".into(), n(self.message_expiry()));
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(b))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e));
        applied(put).map(|_| ())
    }

    /// Whether the batch was committed (its item exists).
    pub async fn batch_exists(&self, id: &str) -> Result<bool, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(id)))
            .key("sk", s("BATCH"))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item.is_some())
    }

    /// Marks a still-pending chunk of a batch that was never committed `abandoned`: its texts
    /// removed, out of the redrive index, never sent. Answers false when the chunk was not
    /// pending (nothing changed).
    pub async fn abandon_chunk(&self, batch_id: &str, chunk: u32) -> Result<bool, StoreError> {
        let res = self
            .chunk_update(batch_id, chunk)
            .update_expression(format!(
                "SET #state = :abandoned REMOVE message, messages, {}",
                redrive::REMOVE_ATTRIBUTES
            ))
            .condition_expression("#state = :pending")
            .expression_attribute_values(":abandoned", s(STATE_ABANDONED))
            .expression_attribute_values(":pending", s(STATE_PENDING))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        applied(res)
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

    /// Claims a pending chunk for `claimer` (a token per delivery attempt) with one
    /// conditional write that also takes it out of the redrive index and returns the chunk's
    /// content.
    pub async fn claim_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        claimer: &str,
    ) -> Result<Claim, StoreError> {
        let res = self
            .chunk_update(batch_id, chunk)
            .update_expression(format!(
                "SET #state = :claimed, claimed_by = :me, claimed_at = :now {}",
                redrive::REMOVE_CLAUSE
            ))
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
                Some(c) if c.state == STATE_DONE || c.state == STATE_ABANDONED => Claim::Done(c),
                Some(c) => Claim::Held(c),
            }),
            Err(e) => Err(e),
        }
    }

    /// Gives a claimed chunk back (nothing was sent), so a redelivery can try again. The
    /// chunk goes back into the redrive index with `marker`: should SQS give up on the
    /// message (dead-letter queue) while the cause lasts, the sweeper still brings it back.
    pub async fn release_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        claimer: &str,
        marker: &Redrive,
    ) -> Result<(), StoreError> {
        let mut set = String::from("SET #state = :pending");
        let mut update = self.chunk_update(batch_id, chunk);
        for (k, (name, value)) in marker.item_attributes(now_secs()).into_iter().enumerate() {
            set.push_str(&format!(", #rd{k} = :rd{k}"));
            update = update
                .expression_attribute_names(format!("#rd{k}"), name)
                .expression_attribute_values(format!(":rd{k}"), value);
        }
        let res = update
            .update_expression(format!("{set} REMOVE claimed_by, claimed_at"))
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
    /// Counts a finished chunk's results on its batch, once per chunk. Answers the batch
    /// after counting, or `None` when this chunk was already counted.
    pub async fn count_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        results: &[ChunkResult],
    ) -> Result<Option<BatchRecord>, StoreError> {
        let count =
            |status: SmsStatus| results.iter().filter(|r| r.status == status).count() as i64;
        let (failed, unknown, fallback) = (
            count(SmsStatus::Failed),
            count(SmsStatus::Unknown),
            count(SmsStatus::Fallback),
        );
        let sent = results.len() as i64 - failed - unknown - fallback;
        let res = self
            .batch_update(batch_id)
            .update_expression(
                "ADD queued :q, sent :s, failed :f, #unknown :u, fallback :fb, counted_chunks :chunkset",
            )
            .expression_attribute_names("#unknown", "unknown")
            .expression_attribute_values(":fb", n(fallback))
            .condition_expression("attribute_exists(pk) AND NOT contains(counted_chunks, :chunk)")
            .expression_attribute_values(":q", n(-(results.len() as i64)))
            .expression_attribute_values(":s", n(sent))
            .expression_attribute_values(":f", n(failed))
            .expression_attribute_values(":u", n(unknown))
            .expression_attribute_values(":chunkset", AttributeValue::Ns(vec![chunk.to_string()]))
            .expression_attribute_values(":chunk", n(chunk))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match res {
            Ok(out) => Ok(out.attributes.map(serde_dynamo::from_item).transpose()?),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
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
