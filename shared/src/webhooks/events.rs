//! Durable event records: one conditional write per accepted event (which is also the
//! deduplication, and carries the redrive marker), raw bodies inline as a binary attribute
//! or, above the inline limit, in S3. Workers claim an event with a conditional write and a
//! claim token, so one delivery of its message processes it however many copies arrive.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::error::WebhookError;
use super::model::{EventStatus, WebhookEvent};
use crate::cursor::InvalidCursor;
use crate::store::{Item, StoreError};

pub const EVENT_SK: &str = "#EVENT";

pub fn event_pk(event_id: &str) -> String {
    format!("WH#EV#{event_id}")
}

pub fn events_gsi_pk(endpoint_slug: &str) -> String {
    format!("WH#EVENTS#{endpoint_slug}")
}

/// The event id: derived from the endpoint and the provider's id for the event, so the same
/// event posted twice (or twenty times at once) maps to the same item.
pub fn event_id(endpoint_id: &str, dedupe_key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(endpoint_id)
        .chain_update(b"\n")
        .chain_update(dedupe_key)
        .finalize();
    hex::encode(&digest[..16])
}

/// A page cursor for a table's `LastEvaluatedKey` (string attributes only).
pub fn page_cursor(key: Item) -> String {
    let key: HashMap<String, String> = key
        .into_iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k, s.clone())))
        .collect();
    crate::cursor::encode(&key)
}

/// A query's items and the cursor of the next page.
pub fn page<T: serde::de::DeserializeOwned>(
    out: aws_sdk_dynamodb::operation::query::QueryOutput,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let items = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(serde_dynamo::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, out.last_evaluated_key.map(page_cursor)))
}

/// The `ExclusiveStartKey` a cursor from [`page_cursor`] names.
pub fn start_key(cursor: Option<&str>) -> Result<Option<Item>, InvalidCursor> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let key: HashMap<String, String> = crate::cursor::decode(cursor)?;
    if key.is_empty() || key.len() > 4 {
        return Err(InvalidCursor);
    }
    Ok(Some(
        key.into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect(),
    ))
}

/// Every attribute of an event item except its body.
const LISTED_ATTRIBUTES: &[&str] = &[
    "id",
    "endpoint_id",
    "endpoint_url",
    "provider_slug",
    "provider_event_id",
    "dedupe_source",
    "event_type",
    "received_at",
    "method",
    "headers",
    "body_size",
    "body_sha256",
    "body_s3_key",
    "status",
    "attempts",
    "replays",
    "last_error",
    "processed_at",
    "result",
    "pk",
    "sk",
    "gsi1pk",
    "gsi1sk",
];

/// Result of storing a new event.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    Stored,
    /// Already stored (same endpoint, same provider id): not stored or enqueued again.
    Duplicate,
}

/// What a worker's claim of an event found.
#[derive(Debug)]
pub enum Claim {
    /// This worker holds the event.
    Claimed(Box<Claimed>),
    /// Already finished (`processed`, `ignored`): a redelivered or re-driven message does
    /// nothing.
    Done(EventStatus),
    /// Another worker holds a fresh claim.
    Busy,
    /// No such event (expired, or never stored).
    Missing,
}

/// A claimed event, its inline body (else read it with [`EventStore::body_of`]) and the
/// token its outcome write must carry.
#[derive(Debug)]
pub struct Claimed {
    pub event: WebhookEvent,
    pub inline_body: Option<Vec<u8>>,
    pub token: String,
    /// This attempt's number (1 on the first).
    pub attempt: u32,
}

/// Filters for the admin listing.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub status: Option<EventStatus>,
    /// Inclusive bounds, as fixed-width timestamps ([`crate::clock::rfc3339_millis`]).
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: i32,
    pub cursor: Option<String>,
}

/// Where bodies above the inline limit are kept: a bucket (`WEBHOOK_BODIES_BUCKET`), S3 in
/// the deployed functions (`s3_bodies::S3Bodies`). A small trait so the events'
/// store, and the modules that only parse or verify webhooks (the SMS function's delivery
/// reports), need no S3 client.
pub trait BodyBucket: Send + Sync {
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: bytes::Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), WebhookError>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, WebhookError>>;
}

#[derive(Clone)]
pub struct EventStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    /// `None`: no bucket configured; bodies above the inline limit are refused.
    bodies: Option<Arc<dyn BodyBucket>>,
    inline_max: usize,
    retention_secs: i64,
}

impl EventStore {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        bodies: Option<Arc<dyn BodyBucket>>,
        inline_max: usize,
        retention_days: u64,
    ) -> Self {
        Self {
            dynamo,
            table: table.into(),
            bodies,
            inline_max,
            retention_secs: retention_days as i64 * 86_400,
        }
    }

    pub fn body_key(event: &WebhookEvent) -> String {
        format!("webhooks/{}/{}", event.endpoint_slug, event.id)
    }

    fn key(event_id: &str) -> Item {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(event_pk(event_id))),
            ("sk".to_string(), AttributeValue::S(EVENT_SK.to_string())),
        ])
    }

    /// Stores a new event once. Large bodies go to S3 first (the key is the event id, so a
    /// duplicate rewrites the same bytes), then the conditional write decides. `extra` (the
    /// redrive marker) goes into the same item. The record, which is also the dedupe
    /// record, lives the retention period and at least `replay_window_secs` (the time a
    /// signed timestamp stays acceptable), so a replay inside the window is a duplicate.
    pub async fn put_new(
        &self,
        event: &mut WebhookEvent,
        body: &[u8],
        now: i64,
        replay_window_secs: Option<i64>,
        extra: Item,
    ) -> Result<PutOutcome, WebhookError> {
        let inline = body.len() <= self.inline_max;
        if !inline {
            let bodies = self.bodies.as_ref().ok_or(WebhookError::NoBodiesBucket)?;
            let key = Self::body_key(event);
            let content_type = event
                .headers
                .get("content-type")
                .map(String::as_str)
                .unwrap_or("application/octet-stream");
            bodies
                .put(&key, bytes::Bytes::copy_from_slice(body), content_type)
                .await?;
            event.body_s3_key = Some(key);
        }
        let mut item: Item = serde_dynamo::to_item(&*event).map_err(StoreError::from)?;
        item.extend(Self::key(&event.id));
        item.insert(
            "gsi1pk".into(),
            AttributeValue::S(events_gsi_pk(&event.endpoint_slug)),
        );
        item.insert(
            "gsi1sk".into(),
            AttributeValue::S(format!("{}#{}", event.received_at, event.id)),
        );
        let lifetime = self.retention_secs.max(replay_window_secs.unwrap_or(0));
        item.insert(
            "expires_at".into(),
            AttributeValue::N((now + lifetime).to_string()),
        );
        item.extend(extra);
        if inline {
            item.insert(
                "body".into(),
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(body)),
            );
        }
        let res = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e));
        match res {
            Ok(_) => Ok(PutOutcome::Stored),
            Err(StoreError::ConditionFailed) => Ok(PutOutcome::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// The event and its raw body (read from S3 when it was stored there).
    pub async fn get_with_body(
        &self,
        event_id: &str,
    ) -> Result<Option<(WebhookEvent, Vec<u8>)>, WebhookError> {
        let Some(mut item) = self.get_item(event_id).await? else {
            return Ok(None);
        };
        let inline = item
            .remove("body")
            .and_then(|b| b.as_b().ok().map(|b| b.as_ref().to_vec()));
        let event: WebhookEvent = serde_dynamo::from_item(item).map_err(StoreError::from)?;
        let body = self.body_of(&event, inline).await?;
        Ok(Some((event, body)))
    }

    async fn get_item(&self, event_id: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item)
    }

    /// The event without its body.
    pub async fn get(&self, event_id: &str) -> Result<Option<WebhookEvent>, StoreError> {
        Ok(match self.get_item(event_id).await? {
            Some(mut item) => {
                item.remove("body");
                Some(serde_dynamo::from_item(item)?)
            }
            None => None,
        })
    }

    /// An endpoint's events, newest first, optionally within a time range and of one status.
    pub async fn list(
        &self,
        endpoint_slug: &str,
        q: &EventQuery,
    ) -> Result<(Vec<WebhookEvent>, Option<String>), WebhookError> {
        // Key values cannot be empty: "0" sorts before every timestamp.
        let from = q.from.clone().unwrap_or_else(|| "0".into());
        // '~' sorts after every character of the `{timestamp}#{id}` sort key.
        let to =
            q.to.clone()
                .map(|t| format!("{t}~"))
                .unwrap_or_else(|| "~".into());
        let mut req = self
            .dynamo
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p AND gsi1sk BETWEEN :from AND :to")
            .expression_attribute_values(":p", AttributeValue::S(events_gsi_pk(endpoint_slug)))
            .expression_attribute_values(":from", AttributeValue::S(from))
            .expression_attribute_values(":to", AttributeValue::S(to))
            // The listing never needs bodies: keep them out of the read (every name aliased,
            // since several are DynamoDB reserved words).
            .projection_expression(
                LISTED_ATTRIBUTES
                    .iter()
                    .enumerate()
                    .map(|(i, _)| format!("#a{i}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .set_expression_attribute_names(Some(
                LISTED_ATTRIBUTES
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (format!("#a{i}"), a.to_string()))
                    .collect(),
            ))
            .scan_index_forward(false)
            .limit(q.limit)
            .set_exclusive_start_key(start_key(q.cursor.as_deref())?);
        if let Some(status) = q.status {
            // A filter reads the page then drops non-matching items, so a page may hold fewer
            // than `limit` items while a cursor still follows.
            let status_name = LISTED_ATTRIBUTES
                .iter()
                .position(|a| *a == "status")
                .unwrap_or_default();
            req = req
                .filter_expression(format!("#a{status_name} = :s"))
                .expression_attribute_values(":s", AttributeValue::S(status.as_str().into()));
        }
        let out = req
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        Ok(page(out)?)
    }

    /// Claims an event for processing: `queued` (or `failed`: its message is back from the
    /// dead-letter queue; or `processing` under a claim older than `takeover_after_secs`, a
    /// worker that died) -> `processing` with a fresh claim token,
    /// one attempt counted and the redrive marker removed, in one conditional `UpdateItem`
    /// that also answers the item (body included), so a claim costs no read.
    pub async fn claim(
        &self,
        event_id: &str,
        now: i64,
        takeover_after_secs: i64,
    ) -> Result<Claim, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_id)))
            .update_expression(format!(
                "SET #s = :processing, claim_token = :token, claimed_at = :now ADD attempts :one {}",
                crate::redrive::REMOVE_CLAUSE
            ))
            .condition_expression(
                "attribute_exists(pk) AND (#s IN (:queued, :failed) OR (#s = :processing AND claimed_at < :stale))",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(
                ":processing",
                AttributeValue::S(EventStatus::Processing.as_str().into()),
            )
            .expression_attribute_values(
                ":queued",
                AttributeValue::S(EventStatus::Queued.as_str().into()),
            )
            .expression_attribute_values(
                ":failed",
                AttributeValue::S(EventStatus::Failed.as_str().into()),
            )
            .expression_attribute_values(":token", AttributeValue::S(token.clone()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(
                ":stale",
                AttributeValue::N((now - takeover_after_secs).to_string()),
            )
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match res {
            Ok(out) => {
                let mut item = out.attributes.unwrap_or_default();
                let inline = item
                    .remove("body")
                    .and_then(|b| b.as_b().ok().map(|b| b.as_ref().to_vec()));
                let attempt = item
                    .get("attempts")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                let event: WebhookEvent =
                    serde_dynamo::from_item(item).map_err(StoreError::from)?;
                Ok(Claim::Claimed(Box::new(Claimed {
                    event,
                    inline_body: inline,
                    token,
                    attempt,
                })))
            }
            // Why not: gone, finished, or someone else's fresh claim (a read on this rare path
            // only).
            Err(StoreError::ConditionFailed) => Ok(match self.get(event_id).await? {
                None => Claim::Missing,
                Some(e) if e.status == EventStatus::Processing => Claim::Busy,
                Some(e) => Claim::Done(e.status),
            }),
            Err(e) => Err(e),
        }
    }

    /// An event's raw body: the inline attribute, or the S3 object.
    pub async fn body_of(
        &self,
        event: &WebhookEvent,
        inline: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, WebhookError> {
        Ok(match (&event.body_s3_key, inline) {
            (_, Some(b)) => b,
            (Some(key), None) => {
                let bodies = self.bodies.as_ref().ok_or_else(|| {
                    WebhookError::internal("webhook body in S3 but no bucket configured")
                })?;
                bodies.get(key).await?
            }
            (None, None) => Vec::new(),
        })
    }

    /// Marks a claimed event processed. `false` when the claim was taken over meanwhile (the
    /// other worker's outcome stands).
    pub async fn mark_processed(
        &self,
        event_id: &str,
        claim_token: &str,
        result: &serde_json::Value,
        processed_at: &str,
    ) -> Result<bool, StoreError> {
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_id)))
            .update_expression(
                "SET #s = :s, #r = :r, processed_at = :t, last_error = :null REMOVE claim_token",
            )
            .condition_expression("claim_token = :token")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#r", "result")
            .expression_attribute_values(
                ":s",
                AttributeValue::S(EventStatus::Processed.as_str().into()),
            )
            .expression_attribute_values(":r", serde_dynamo::to_attribute_value(result)?)
            .expression_attribute_values(":t", AttributeValue::S(processed_at.into()))
            .expression_attribute_values(":null", AttributeValue::Null(true))
            .expression_attribute_values(":token", AttributeValue::S(claim_token.into()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match res {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records a failed attempt of a claimed event and releases the claim: back to `queued`
    /// for the message's redelivery, or `failed` on the final attempt. Nothing happens when
    /// the claim was taken over meanwhile.
    pub async fn mark_failure(
        &self,
        event_id: &str,
        claim_token: &str,
        error: &str,
        final_attempt: bool,
    ) -> Result<(), StoreError> {
        let status = if final_attempt {
            EventStatus::Failed
        } else {
            EventStatus::Queued
        };
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_id)))
            .update_expression("SET #s = :s, last_error = :e REMOVE claim_token")
            .condition_expression("claim_token = :token")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", AttributeValue::S(status.as_str().into()))
            .expression_attribute_values(":e", AttributeValue::S(error.chars().take(500).collect()))
            .expression_attribute_values(":token", AttributeValue::S(claim_token.into()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match res {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Marks an event for reprocessing (replay): back to `queued`, replay count + 1, any
    /// claim dropped (a worker still on it finds its claim gone and leaves the outcome to the
    /// replay), and the redrive marker `redrive` set again, so the replay happens even if its
    /// message is never sent.
    pub async fn requeue(&self, event_id: &str, redrive: Item) -> Result<(), StoreError> {
        let mut req = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_id)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(
                ":q",
                AttributeValue::S(EventStatus::Queued.as_str().into()),
            )
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let mut set = vec!["#s = :q".to_string()];
        for (i, (name, value)) in redrive.into_iter().enumerate() {
            set.push(format!("#m{i} = :m{i}"));
            req = req
                .expression_attribute_names(format!("#m{i}"), name)
                .expression_attribute_values(format!(":m{i}"), value);
        }
        req.update_expression(format!(
            "SET {} ADD replays :one REMOVE claim_token, {}",
            set.join(", "),
            crate::redrive::COUNT_ATTR
        ))
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_deterministic_per_endpoint() {
        assert_eq!(event_id("ep1", "msg_1"), event_id("ep1", "msg_1"));
        assert_ne!(event_id("ep1", "msg_1"), event_id("ep2", "msg_1"));
        assert_eq!(event_id("ep1", "msg_1").len(), 32);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let key = HashMap::from([("pk".to_string(), AttributeValue::S("WH#EV#x".into()))]);
        assert_eq!(
            start_key(Some(&page_cursor(key.clone()))).unwrap(),
            Some(key)
        );
        assert_eq!(start_key(Some("!!")), Err(InvalidCursor));
        assert_eq!(
            start_key(Some(&crate::cursor::encode(
                &HashMap::<String, String>::new()
            ))),
            Err(InvalidCursor)
        );
        assert_eq!(start_key(None), Ok(None));
    }
}
