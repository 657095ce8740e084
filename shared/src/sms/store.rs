//! The SMS items in HUB_TABLE (layout in the [module docs](super)).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{MessageType, SmsStatus};
use crate::context::HubContext;
use crate::error::ApiError;
use crate::integration_log::rfc3339;

/// How long chunk items (which hold numbers and, until sent, texts) are kept.
const CHUNK_TTL: Duration = Duration::from_secs(7 * 86_400);

/// A message as stored (and as `GET /sms/{id}` answers it). No body, no token.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmsRecord {
    pub id: String,
    /// E.164.
    pub receptor: String,
    pub message_type: MessageType,
    /// `kavenegar`, `twilio` or `console`.
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    pub status: SmsStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// Who asked for it (the caller, or the user a service sent it for).
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A bulk batch with its counters.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchRecord {
    pub id: String,
    pub total: u64,
    pub chunks: u64,
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    #[serde(default)]
    pub delivered: i64,
    #[serde(default)]
    pub undelivered: i64,
    pub user_id: String,
    pub created_at: String,
}

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

pub const STATE_PENDING: &str = "pending";
pub const STATE_CLAIMED: &str = "claimed";
pub const STATE_DONE: &str = "done";

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

pub fn message_pk(id: &str) -> String {
    format!("SMS#{id}")
}

pub fn batch_pk(id: &str) -> String {
    format!("SMSBATCH#{id}")
}

fn chunk_sk(n: u32) -> String {
    format!("CHUNK#{n:05}")
}

fn provider_ref(provider: &str, provider_message_id: &str) -> String {
    format!("SMSREF#{provider}#{provider_message_id}")
}

pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

fn now_epoch() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

use crate::store::{is_conditional_check_failed as is_conditional_failure, n, s};

/// The SMS items of the hub table.
#[derive(Clone)]
pub struct SmsStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    message_ttl: Duration,
}

impl SmsStore {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        message_ttl: Duration,
    ) -> Self {
        Self {
            dynamo,
            table: table.into(),
            message_ttl,
        }
    }

    pub fn from_ctx(ctx: &HubContext, message_ttl: Duration) -> Self {
        Self::new(
            ctx.aws.dynamo.clone(),
            ctx.config.hub_table.clone(),
            message_ttl,
        )
    }

    fn message_item(&self, rec: &SmsRecord) -> Result<HashMap<String, AttributeValue>, ApiError> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(rec)?;
        item.insert("pk".into(), s(message_pk(&rec.id)));
        item.insert("sk".into(), s("SMS"));
        item.insert("status_rank".into(), n(rec.status.rank()));
        item.insert(
            "expires_at".into(),
            n(now_epoch() + self.message_ttl.as_secs() as i64),
        );
        if let Some(pid) = &rec.provider_message_id {
            item.insert("gsi1pk".into(), s(provider_ref(&rec.provider, pid)));
            item.insert("gsi1sk".into(), s(message_pk(&rec.id)));
        }
        Ok(item)
    }

    pub async fn put_message(&self, rec: &SmsRecord) -> Result<(), ApiError> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.message_item(rec)?))
            .send()
            .await?;
        Ok(())
    }

    /// Writes many items with `BatchWriteItem` (25 per call, several calls at once),
    /// retrying what DynamoDB leaves unprocessed.
    async fn put_many(&self, items: Vec<HashMap<String, AttributeValue>>) -> Result<(), ApiError> {
        // Collected into boxed futures first: a lazy `map` over borrowed chunks trips the
        // Send check of the handlers that await this.
        let calls: Vec<futures::future::BoxFuture<'_, Result<(), ApiError>>> = items
            .chunks(25)
            .map(|part| {
                let requests: Vec<WriteRequest> = part
                    .iter()
                    .map(|item| {
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .set_item(Some(item.clone()))
                                    .build()
                                    .expect("item set"),
                            )
                            .build()
                    })
                    .collect();
                async move {
                    let mut pending = requests;
                    for attempt in 0..6u32 {
                        let out = self
                            .dynamo
                            .batch_write_item()
                            .request_items(&self.table, pending.clone())
                            .send()
                            .await?;
                        pending = out
                            .unprocessed_items
                            .and_then(|mut m| m.remove(&self.table))
                            .unwrap_or_default();
                        if pending.is_empty() {
                            return Ok(());
                        }
                        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    }
                    Err(ApiError::internal(format!(
                        "BatchWriteItem left {} items unprocessed",
                        pending.len()
                    )))
                }
                .boxed()
            })
            .collect();
        let results: Vec<Result<(), ApiError>> = futures::stream::iter(calls)
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect()
    }

    pub async fn put_messages(&self, recs: &[SmsRecord]) -> Result<(), ApiError> {
        let items = recs
            .iter()
            .map(|r| self.message_item(r))
            .collect::<Result<Vec<_>, _>>()?;
        self.put_many(items).await
    }

    pub async fn get_message(&self, id: &str) -> Result<Option<SmsRecord>, ApiError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(id)))
            .key("sk", s("SMS"))
            .send()
            .await?;
        Ok(match out.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    /// The message a provider's id belongs to (index `gsi1`).
    pub async fn find_by_provider_id(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let out = self
            .dynamo
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(provider_ref(provider, provider_message_id)))
            .limit(1)
            .send()
            .await?;
        Ok(out
            .items()
            .first()
            .and_then(|i| i.get("id"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    /// Moves a message to `status` unless it is already as far or further (reports arrive out
    /// of order). Answers the record as it was before, or `None` when nothing changed.
    pub async fn advance_status(
        &self,
        id: &str,
        status: SmsStatus,
        provider_status: &str,
        error_code: Option<&str>,
    ) -> Result<Option<SmsRecord>, ApiError> {
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(id)))
            .key("sk", s("SMS"))
            .condition_expression("attribute_exists(pk) AND (status_rank < :rank OR (status_rank = :rank AND #st <> :st AND :rank < :final))")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":rank", n(status.rank()))
            .expression_attribute_values(":final", n(3))
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":ps", s(provider_status))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values(ReturnValue::AllOld);
        update = match error_code {
            Some(code) => update
                .update_expression("SET #st = :st, status_rank = :rank, provider_status = :ps, updated_at = :now, error_code = :ec")
                .expression_attribute_values(":ec", s(code)),
            None => update.update_expression("SET #st = :st, status_rank = :rank, provider_status = :ps, updated_at = :now"),
        };
        match update.send().await {
            Ok(out) => Ok(match out.attributes {
                Some(old) => Some(serde_dynamo::from_item(old)?),
                None => None,
            }),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Counts a final delivery outcome on the message's batch.
    pub async fn count_delivery(&self, batch_id: &str, status: SmsStatus) -> Result<(), ApiError> {
        let counter = match status {
            SmsStatus::Delivered => "delivered",
            SmsStatus::Undelivered
            | SmsStatus::Failed
            | SmsStatus::Filtered
            | SmsStatus::Canceled => "undelivered",
            _ => return Ok(()),
        };
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s("BATCH"))
            .update_expression("ADD #c :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#c", counter)
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if is_conditional_failure(&e) {
                    Ok(())
                } else {
                    Err(e.into())
                }
            })
    }

    /// Stores a new batch and its chunks (BatchWriteItem, 25 items per call).
    pub async fn create_batch(
        &self,
        batch: &BatchRecord,
        chunks: &[ChunkItem],
    ) -> Result<(), ApiError> {
        let expires = n(now_epoch() + self.message_ttl.as_secs() as i64);
        let mut items = Vec::with_capacity(chunks.len() + 1);
        let mut b: HashMap<String, AttributeValue> = serde_dynamo::to_item(batch)?;
        b.insert("pk".into(), s(batch_pk(&batch.id)));
        b.insert("sk".into(), s("BATCH"));
        b.insert("expires_at".into(), expires);
        items.push(b);
        let chunk_expires = n(now_epoch() + CHUNK_TTL.as_secs() as i64);
        for c in chunks {
            let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(c)?;
            item.insert("pk".into(), s(batch_pk(&c.batch_id)));
            item.insert("sk".into(), s(chunk_sk(c.chunk)));
            item.insert("expires_at".into(), chunk_expires.clone());
            items.push(item);
        }
        self.put_many(items).await
    }

    pub async fn get_batch(&self, id: &str) -> Result<Option<BatchRecord>, ApiError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(id)))
            .key("sk", s("BATCH"))
            .consistent_read(true)
            .send()
            .await?;
        Ok(match out.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    async fn get_chunk(&self, batch_id: &str, chunk: u32) -> Result<Option<ChunkItem>, ApiError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s(chunk_sk(chunk)))
            .consistent_read(true)
            .send()
            .await?;
        Ok(match out.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    /// Claims a pending chunk for `claimer` (the SQS message id) with one conditional write
    /// that also returns the chunk's content.
    pub async fn claim_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        claimer: &str,
    ) -> Result<Claim, ApiError> {
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s(chunk_sk(chunk)))
            .update_expression("SET #state = :claimed, claimed_by = :me, claimed_at = :now")
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claimed", s(STATE_CLAIMED))
            .expression_attribute_values(":pending", s(STATE_PENDING))
            .expression_attribute_values(":me", s(claimer))
            .expression_attribute_values(":now", n(now_epoch()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Claim::Claimed(serde_dynamo::from_item(
                out.attributes.unwrap_or_default(),
            )?)),
            Err(e) if is_conditional_failure(&e) => {
                Ok(match self.get_chunk(batch_id, chunk).await? {
                    None => Claim::Missing,
                    Some(c) if c.state == STATE_DONE => Claim::Done(c),
                    Some(c) => Claim::Held(c),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Gives a claimed chunk back (nothing was sent), so a redelivery can try again.
    pub async fn release_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        claimer: &str,
    ) -> Result<(), ApiError> {
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s(chunk_sk(chunk)))
            .update_expression("SET #state = :pending REMOVE claimed_by, claimed_at")
            .condition_expression("#state = :claimed AND claimed_by = :me")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(STATE_PENDING))
            .expression_attribute_values(":claimed", s(STATE_CLAIMED))
            .expression_attribute_values(":me", s(claimer))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
    ) -> Result<bool, ApiError> {
        let results_av = serde_dynamo::to_attribute_value(results)?;
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(&chunk.batch_id)))
            .key("sk", s(chunk_sk(chunk.chunk)))
            .update_expression("SET #state = :done, results = :results, finished_by = :me REMOVE message, messages")
            .expression_attribute_names("#state", "state")
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
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the batch counters for a finished chunk, once: the chunk's number joins the
    /// batch's `counted_chunks` set in the same conditional `UpdateItem`, so a redelivery
    /// (or a retry after a crash between finishing and counting) cannot count it twice.
    pub async fn count_chunk(
        &self,
        batch_id: &str,
        chunk: u32,
        results: &[ChunkResult],
    ) -> Result<(), ApiError> {
        let sent = results
            .iter()
            .filter(|r| !matches!(r.status, SmsStatus::Failed | SmsStatus::Unknown))
            .count() as i64;
        let failed = results.len() as i64 - sent;
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s("BATCH"))
            .update_expression("ADD queued :q, sent :s, failed :f, counted_chunks :chunkset")
            .condition_expression("attribute_exists(pk) AND NOT contains(counted_chunks, :chunk)")
            .expression_attribute_values(":q", n(-(results.len() as i64)))
            .expression_attribute_values(":s", n(sent))
            .expression_attribute_values(":f", n(failed))
            .expression_attribute_values(":chunkset", AttributeValue::Ns(vec![chunk.to_string()]))
            .expression_attribute_values(":chunk", n(chunk))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn mark_records_written(&self, batch_id: &str, chunk: u32) -> Result<(), ApiError> {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(batch_pk(batch_id)))
            .key("sk", s(chunk_sk(chunk)))
            .update_expression("SET records_written = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await?;
        Ok(())
    }
}

/// Applies a provider's delivery report (Kavenegar callback `messageid`/`status`, Twilio
/// `MessageSid`/`MessageStatus`) to the stored message: the SMS callback routes call it, and
/// so can the webhooks worker when a report reaches a generic webhook endpoint.
///
/// `provider` is the slug (`kavenegar`, `twilio`), `provider_status` the provider's own
/// status as sent (`"10"`, `"delivered"`). Statuses never move backwards. Answers the
/// message id and its new status, or `None` if no message has that provider id (or the
/// report changed nothing).
pub async fn apply_delivery_report(
    ctx: &HubContext,
    provider: &str,
    provider_message_id: &str,
    provider_status: &str,
    error_code: Option<&str>,
) -> Result<Option<(String, SmsStatus)>, ApiError> {
    let store = SmsStore::from_ctx(ctx, Duration::from_secs(90 * 86_400));
    let Some(id) = store
        .find_by_provider_id(provider, provider_message_id)
        .await?
    else {
        tracing::warn!(
            provider,
            "delivery report for a message the hub does not know"
        );
        return Ok(None);
    };
    let status = SmsStatus::from_provider(provider, provider_status);
    if status == SmsStatus::Unknown {
        return Ok(None);
    }
    let error_code = error_code
        .filter(|c| !c.is_empty())
        .map(|c| format!("{provider}_{c}"));
    let before = store
        .advance_status(&id, status, provider_status, error_code.as_deref())
        .await?;
    match before {
        Some(old) => {
            if let Some(batch) = &old.batch_id
                && status.is_final()
                && !old.status.is_final()
            {
                store.count_delivery(batch, status).await?;
            }
            Ok(Some((id, status)))
        }
        None => Ok(None),
    }
}
