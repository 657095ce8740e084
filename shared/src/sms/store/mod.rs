//! The SMS items in HUB_TABLE (layout in the [module docs](super)): messages and delivery
//! reports here, batches and their chunks in [`batch`].

mod batch;

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, ReturnValue, WriteRequest};
use futures::{FutureExt, StreamExt};

use super::SmsStatus;
use super::model::SmsRecord;
use crate::clock::{now_rfc3339, now_secs};
use crate::retry::RetryPolicy;
use crate::store::{Item, StoreError, n, s};
use crate::subscriptions::EventPublisher;

pub use batch::{ChunkItem, ChunkResult, Claim, STATE_PENDING};

/// `BatchWriteItem` calls of one write in flight at once.
const PARALLEL_BATCH_WRITES: usize = 8;
/// What DynamoDB leaves unprocessed (throttling) is written again, backing off.
const UNPROCESSED_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base_delay: Duration::from_millis(50),
    max_delay: Duration::from_secs(2),
};

fn message_pk(id: &str) -> String {
    format!("SMS#{id}")
}

fn provider_ref(provider: &str, provider_message_id: &str) -> String {
    format!("SMSREF#{provider}#{provider_message_id}")
}

/// The SMS items of the hub table.
#[derive(Clone)]
pub struct SmsStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    /// `SMS_MESSAGE_TTL_DAYS`: how long message and batch records are kept.
    message_ttl: Duration,
    /// Where status changes are announced (`super::events`); `None`: nowhere.
    events: Option<EventPublisher>,
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
            events: None,
        }
    }

    /// Announces status changes (and sends, batches) through `events`.
    pub fn with_events(mut self, events: EventPublisher) -> Self {
        self.events = Some(events);
        self
    }

    /// Whether some subscription wants `event_type` (no round trip while the list is
    /// cached): a read done only to announce is skipped otherwise.
    pub async fn wants(&self, event_type: &str) -> bool {
        match &self.events {
            Some(events) => events.wants(event_type).await,
            None => false,
        }
    }

    /// Announces one SMS fact, keyed so a repeat is the same event (`super::events`).
    /// Errors are the caller's to handle: workers retry, synchronous routes log.
    pub async fn announce(
        &self,
        event_type: &str,
        key: &str,
        data: serde_json::Value,
    ) -> Result<(), StoreError> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        events
            .publish_once(event_type, key, data)
            .await
            .map(|_| ())
            .map_err(|e| e.into_store_error())
    }

    /// Announces a message's final status (`sms.delivered`, `sms.failed`).
    async fn announce_final(
        &self,
        rec: &SmsRecord,
        status: SmsStatus,
        error_code: Option<&str>,
    ) -> Result<(), StoreError> {
        match super::events::final_status_event(status) {
            Some(event) => {
                self.announce(
                    event,
                    &rec.id,
                    super::events::message_data(rec, status, error_code),
                )
                .await
            }
            None => Ok(()),
        }
    }

    /// When a record written now expires (Unix seconds, the table's TTL attribute).
    fn message_expiry(&self) -> i64 {
        now_secs() + self.message_ttl.as_secs() as i64
    }

    fn message_item(&self, rec: &SmsRecord) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(rec)?;
        item.insert("pk".into(), s(message_pk(&rec.id)));
        item.insert("sk".into(), s("SMS"));
        item.insert("status_rank".into(), n(rec.status.rank()));
        item.insert("expires_at".into(), n(self.message_expiry()));
        if let Some(pid) = &rec.provider_message_id {
            item.insert("gsi1pk".into(), s(provider_ref(&rec.provider, pid)));
            item.insert("gsi1sk".into(), s(message_pk(&rec.id)));
        }
        Ok(item)
    }

    pub async fn put_message(&self, rec: &SmsRecord) -> Result<(), StoreError> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.message_item(rec)?))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        Ok(())
    }

    pub async fn put_messages(&self, recs: &[SmsRecord]) -> Result<(), StoreError> {
        let items = recs
            .iter()
            .map(|r| self.message_item(r))
            .collect::<Result<Vec<_>, _>>()?;
        self.put_many(items).await
    }

    /// Writes many items with `BatchWriteItem` (25 per call, several calls at once),
    /// retrying what DynamoDB leaves unprocessed.
    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        // Collected into boxed futures first: a lazy `map` over borrowed chunks trips the
        // Send check of the handlers that await this.
        let calls: Vec<futures::future::BoxFuture<'_, Result<(), StoreError>>> = items
            .chunks(25)
            .map(|part| {
                self.write_batch(part.iter().map(put_request).collect())
                    .boxed()
            })
            .collect();
        let results: Vec<Result<(), StoreError>> = futures::stream::iter(calls)
            .buffer_unordered(PARALLEL_BATCH_WRITES)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// One `BatchWriteItem` of at most 25 requests, until nothing is left unprocessed.
    async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        match crate::store::batch_write(&self.dynamo, &self.table, requests, &UNPROCESSED_RETRY)
            .await?
        {
            0 => Ok(()),
            count => Err(StoreError::Dynamo {
                operation: "BatchWriteItem",
                message: format!("{count} items left unprocessed"),
                transient: true,
            }),
        }
    }

    pub async fn get_message(&self, id: &str) -> Result<Option<SmsRecord>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(id)))
            .key("sk", s("SMS"))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// The message a provider's id belongs to (index `gsi1`).
    pub async fn find_by_provider_id(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .dynamo
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(provider_ref(provider, provider_message_id)))
            .limit(1)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
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
    ) -> Result<Option<SmsRecord>, StoreError> {
        let mut set =
            "SET #st = :st, status_rank = :rank, provider_status = :ps, updated_at = :now"
                .to_string();
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
        if let Some(code) = error_code {
            set.push_str(", error_code = :ec");
            update = update.expression_attribute_values(":ec", s(code));
        }
        match update.update_expression(set).send().await {
            Ok(out) => Ok(out.attributes.map(serde_dynamo::from_item).transpose()?),
            Err(e) => match StoreError::from_sdk("UpdateItem", e) {
                StoreError::ConditionFailed => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Settles an `unknown` message the provider turned out to know (found by our
    /// reference after its send answer was lost): its provider id (indexed for delivery
    /// reports), status and provider status. Answers whether it was still `unknown`.
    pub async fn settle_unknown(
        &self,
        id: &str,
        provider: &str,
        found: &crate::sms::Accepted,
    ) -> Result<bool, StoreError> {
        let Some(pid) = found.provider_message_id.as_deref() else {
            return Ok(false);
        };
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(id)))
            .key("sk", s("SMS"))
            .condition_expression("attribute_exists(pk) AND #st = :unknown")
            .update_expression(
                "SET #st = :st, status_rank = :rank, provider_status = :ps, provider_message_id = :pid, \
                 gsi1pk = :ref, gsi1sk = :pk, updated_at = :now REMOVE error_code",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":unknown", s(SmsStatus::Unknown.as_str()))
            .expression_attribute_values(":st", s(found.status.as_str()))
            .expression_attribute_values(":rank", n(found.status.rank()))
            .expression_attribute_values(
                ":ps",
                s(found.provider_status.clone().unwrap_or_default()),
            )
            .expression_attribute_values(":pid", s(pid))
            .expression_attribute_values(":ref", s(provider_ref(provider, pid)))
            .expression_attribute_values(":pk", s(message_pk(id)))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match StoreError::from_sdk("UpdateItem", e) {
                StoreError::ConditionFailed => Ok(false),
                e => Err(e),
            },
        }
    }

    /// Moves a message to a provider's newer status and counts a final outcome on its batch.
    /// Answers whether anything changed.
    pub async fn record_status(
        &self,
        id: &str,
        status: SmsStatus,
        provider_status: &str,
        error_code: Option<&str>,
    ) -> Result<bool, StoreError> {
        let Some(before) = self
            .advance_status(id, status, provider_status, error_code)
            .await?
        else {
            // Nothing changed. A repeat of the report that did change it (a duplicate
            // callback, or this report's first processing stopped before announcing) still
            // announces, under the same event id: one read, only for repeats.
            if let Some(event) = super::events::final_status_event(status)
                && let Some(events) = &self.events
                && events.wants(event).await
                && let Some(current) = self.get_message(id).await?
                && current.status == status
            {
                self.announce_final(&current, status, error_code).await?;
            }
            return Ok(false);
        };
        if let Some(batch) = &before.batch_id
            && status.is_final()
            && !before.status.is_final()
        {
            self.count_delivery(batch, status).await?;
        }
        self.announce_final(&before, status, error_code).await?;
        Ok(true)
    }

    /// Applies a provider's delivery report (Kavenegar callback `messageid`/`status`, Twilio
    /// `MessageSid`/`MessageStatus`) to the stored message: the SMS callback routes and the
    /// webhooks worker both call it, after `webhooks::process::parse_delivery_report`.
    ///
    /// `provider` is the slug (`kavenegar`, `twilio`), `provider_status` the provider's own
    /// status as sent (`"10"`, `"delivered"`). Statuses never move backwards. Answers the
    /// message id and its new status, or `None` if no message has that provider id (or the
    /// report changed nothing).
    pub async fn apply_delivery_report(
        &self,
        provider: &str,
        provider_message_id: &str,
        provider_status: &str,
        error_code: Option<&str>,
    ) -> Result<Option<(String, SmsStatus)>, StoreError> {
        let Some(id) = self
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
        let changed = self
            .record_status(&id, status, provider_status, error_code.as_deref())
            .await?;
        Ok(changed.then_some((id, status)))
    }
}

fn put_request(item: &Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item.clone()))
                .build()
                .expect("item set"),
        )
        .build()
}
