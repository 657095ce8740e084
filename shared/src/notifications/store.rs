//! Notifications, profiles and channel outcomes in the hub table (layout: module docs).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures::StreamExt;

use super::api::InboxPage;
use super::error::NotificationError;
use super::model::*;
use crate::clock::{now_rfc3339, now_secs};
use crate::error::InvalidInput;
use crate::redrive::{self, Redrive};
use crate::store::{StoreError, n, s};

const PROFILE_SK: &str = "PROFILE";
pub const MAX_PAGE: i32 = 100;
pub const DEFAULT_PAGE: i32 = 20;

type Result<T, E = NotificationError> = std::result::Result<T, E>;

pub fn inbox_pk(user: &str) -> String {
    format!("NOTIF#{user}")
}

pub fn unread_pk(user: &str) -> String {
    format!("UNREAD#{user}")
}

fn profile_pk(user: &str) -> String {
    format!("PREFS#{user}")
}

/// The code of a channel whose worker stopped between its send and its outcome write.
pub const OUTCOME_NOT_RECORDED: &str = "outcome_not_recorded";

/// What a worker's claim on a channel found.
#[derive(Debug)]
pub enum Claim {
    /// The channel is ours to send under `token`; the notification as it is now.
    Claimed {
        record: Box<NotificationRecord>,
        token: String,
    },
    /// Already sent, skipped or unknown (a redelivered message): nothing to do.
    AlreadyDone(ChannelStatus),
    /// A worker claimed it longer ago than the stale limit and never recorded an outcome: the
    /// channel is now `unknown` (it may have been sent) and is not sent again.
    TakenOverUnknown,
    /// Another worker is sending it right now.
    InFlight,
    /// No such notification, or the channel was never requested.
    Missing,
}

#[derive(Clone)]
pub struct NotificationStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
    /// When the sweeper sends a stored message that may not have been queued.
    redrive_after: Duration,
}

impl NotificationStore {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        Self {
            dynamo,
            table: table.into(),
            ttl,
            redrive_after: redrive::DEFAULT_AFTER,
        }
    }

    /// `REDRIVE_AFTER_SECONDS` instead of the default 60 s.
    pub fn with_redrive_after(mut self, after: Duration) -> Self {
        self.redrive_after = after;
        self
    }

    // ---------------------------------------------------------------- profile

    pub async fn profile(&self, user: &str) -> Result<Profile> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(profile_pk(user)))
            .key("sk", s(PROFILE_SK))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        match out.item {
            Some(item) => Ok(serde_dynamo::from_item(item)?),
            None => Ok(Profile::default()),
        }
    }

    pub async fn put_profile(&self, user: &str, profile: &Profile) -> Result<()> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(profile)?;
        item.insert("pk".into(), s(profile_pk(user)));
        item.insert("sk".into(), s(PROFILE_SK));
        self.put(item).await
    }

    async fn put(&self, item: HashMap<String, AttributeValue>) -> Result<()> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        Ok(())
    }

    // ------------------------------------------------------------------ create

    /// Decides every requested channel's initial outcome from the profile, and writes the
    /// notification (in-app: `sent`). Returns the record and its queue message, if any
    /// channel is to be queued. That message is written on the item as its redrive marker in
    /// the same `PutItem`: if it never reaches the queue, the sweeper sends it.
    pub async fn create(
        &self,
        new: NewNotification,
        profile: &Profile,
    ) -> Result<(NotificationRecord, Option<NotificationJob>)> {
        let (record, queued) = self.plan(new, profile);
        let mut item = serde_dynamo::to_item(&record)?;
        let job = (!queued.is_empty()).then(|| NotificationJob {
            notification_id: record.id.clone(),
            user_id: record.user_id.clone(),
            channels: queued,
        });
        if let Some(job) = &job {
            let body = serde_json::to_string(job)
                .map_err(|e| NotificationError::Internal(e.to_string()))?;
            Redrive::new("NOTIFICATIONS_QUEUE_URL", body)
                .after(self.redrive_after)
                .mark(&mut item, now_secs());
        }
        self.put(item).await?;
        Ok((record, job))
    }

    fn plan(&self, new: NewNotification, profile: &Profile) -> (NotificationRecord, Vec<Channel>) {
        let id = uuid::Uuid::now_v7().to_string();
        let email = new.email.clone().or_else(|| profile.email.clone());
        let phone = new.phone.clone().or_else(|| profile.phone.clone());
        let mut channels = BTreeMap::new();
        let mut queued = Vec::new();
        for channel in &new.channels {
            let outcome = match channel {
                Channel::InApp => ChannelOutcome::new(ChannelStatus::Sent),
                c if !profile.allows(*c) => ChannelOutcome::new(ChannelStatus::Skipped).with_code(
                    "disabled_by_user",
                    format!("the user turned the {} channel off", c.as_str()),
                ),
                Channel::Email if email.is_none() => ChannelOutcome::new(ChannelStatus::Skipped)
                    .with_code(
                        "no_contact",
                        "no email address in the request or the user's profile",
                    ),
                Channel::Sms if phone.is_none() => ChannelOutcome::new(ChannelStatus::Skipped)
                    .with_code(
                        "no_contact",
                        "no phone number in the request or the user's profile",
                    ),
                c => {
                    queued.push(*c);
                    ChannelOutcome::new(ChannelStatus::Queued)
                }
            };
            channels.insert(channel.as_str().to_string(), outcome);
        }
        let record = NotificationRecord {
            pk: inbox_pk(&new.user_id),
            sk: id.clone(),
            gsi1pk: Some(unread_pk(&new.user_id)),
            gsi1sk: Some(id.clone()),
            expires_at: now_secs() + self.ttl.as_secs() as i64,
            id,
            user_id: new.user_id,
            kind: new.kind,
            title: new.title,
            message: new.message,
            data: new.data,
            event: new.event,
            channels,
            read: false,
            read_at: None,
            created_at: now_rfc3339(),
            // Only what a queued channel needs is kept.
            email: email.filter(|_| queued.contains(&Channel::Email)),
            phone: phone.filter(|_| queued.contains(&Channel::Sms)),
            template: new.template,
        };
        (record, queued)
    }

    // ------------------------------------------------------------------- inbox

    pub async fn get(&self, user: &str, id: &str) -> Result<Option<NotificationRecord>> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(inbox_pk(user)))
            .key("sk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// Newest first; `unread_only` reads the sparse unread index instead of the inbox.
    pub async fn list(
        &self,
        user: &str,
        unread_only: bool,
        limit: Option<i32>,
        cursor: Option<&str>,
    ) -> Result<InboxPage> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(
                InvalidInput::field("limit", format!("must be between 1 and {MAX_PAGE}")).into(),
            );
        }
        let start = cursor.map(decode_cursor).transpose()?;
        let mut q = self
            .dynamo
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .limit(limit);
        if unread_only {
            q = q
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(unread_pk(user)));
            if let Some(id) = &start {
                q = q
                    .exclusive_start_key("gsi1pk", s(unread_pk(user)))
                    .exclusive_start_key("gsi1sk", s(id))
                    .exclusive_start_key("pk", s(inbox_pk(user)))
                    .exclusive_start_key("sk", s(id));
            }
        } else {
            q = q
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(inbox_pk(user)));
            if let Some(id) = &start {
                q = q
                    .exclusive_start_key("pk", s(inbox_pk(user)))
                    .exclusive_start_key("sk", s(id));
            }
        }
        let out = q
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        let now = now_secs();
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            let record: NotificationRecord = serde_dynamo::from_item(item)?;
            // TTL deletion lags (and the local emulator never expires items).
            if record.expires_at > now {
                items.push(record.view());
            }
        }
        let next_cursor = out
            .last_evaluated_key
            .and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned())
            .map(|id| crate::cursor::encode(&id));
        Ok(InboxPage { items, next_cursor })
    }

    /// Marks one notification read (idempotent); 404 if it does not exist.
    pub async fn mark_read(&self, user: &str, id: &str) -> Result<NotificationRecord> {
        let out = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(inbox_pk(user)))
            .key("sk", s(id))
            .update_expression(
                "SET #read = :t, read_at = if_not_exists(read_at, :now) REMOVE gsi1pk, gsi1sk",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match out {
            Ok(o) => Ok(serde_dynamo::from_item(o.attributes.unwrap_or_default())?),
            Err(StoreError::ConditionFailed) => Err(NotificationError::NotFound(id.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks every unread notification read; returns them. Pages through the unread
    /// index and updates up to 16 items concurrently (DynamoDB has no batch update, and a
    /// batch put would race with workers recording outcomes).
    pub async fn mark_all_read(&self, user: &str) -> Result<Vec<NotificationRecord>> {
        let mut marked = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .dynamo
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(unread_pk(user)))
                .projection_expression("sk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            let ids: Vec<String> = out
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned())
                .collect();
            let results: Vec<Result<NotificationRecord>> = futures::stream::iter(ids)
                .map(|id| async move { self.mark_read(user, &id).await })
                .buffer_unordered(16)
                .collect()
                .await;
            for r in results {
                match r {
                    Ok(record) => marked.push(record),
                    // Expired or deleted meanwhile: nothing to mark.
                    Err(NotificationError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(marked)
    }

    // -------------------------------------------------------- channel outcomes

    /// Claims a queued channel for sending, in one conditional `UpdateItem` that also returns
    /// the notification and takes it out of the redrive index: the channel must be `queued`
    /// or `failed` (a retry after a definite failure). The claim (`sending`, a claim token,
    /// `claimed_at`) is the record a redelivered message reads: a channel found `sending` is
    /// never sent again. When it is older than `stale_after` its worker stopped between the
    /// send and the outcome write, so it becomes `unknown`.
    pub async fn claim(&self, job: &ChannelJob, stale_after: Duration) -> Result<Claim> {
        let now = now_secs();
        let token = uuid::Uuid::new_v4().to_string();
        let out = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(inbox_pk(&job.user_id)))
            .key("sk", s(&job.notification_id))
            .update_expression(format!(
                "SET channels.#c.#st = :sending, channels.#c.claimed_at = :now, channels.#c.claim_token = :token, \
                 channels.#c.updated_at = :at, channels.#c.attempts = channels.#c.attempts + :one \
                 REMOVE {}",
                redrive::REMOVE_ATTRIBUTES
            ))
            .condition_expression(
                "attribute_exists(channels.#c) AND (channels.#c.#st = :queued OR channels.#c.#st = :failed)",
            )
            .expression_attribute_names("#c", job.channel.as_str())
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":at", s(now_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match out {
            Ok(o) => Ok(Claim::Claimed {
                record: Box::new(serde_dynamo::from_item(o.attributes.unwrap_or_default())?),
                token,
            }),
            Err(StoreError::ConditionFailed) => {
                // Why it failed decides what the worker does; one read tells.
                let Some(record) = self.get(&job.user_id, &job.notification_id).await? else {
                    return Ok(Claim::Missing);
                };
                let Some(outcome) = record.outcome(job.channel) else {
                    return Ok(Claim::Missing);
                };
                if outcome.status != ChannelStatus::Sending {
                    return Ok(Claim::AlreadyDone(outcome.status));
                }
                let claimed_at = outcome.claimed_at.unwrap_or(0);
                if claimed_at + (stale_after.as_secs() as i64) >= now {
                    return Ok(Claim::InFlight);
                }
                self.mark_unknown(job, claimed_at).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The stale claim becomes `unknown` (conditional on it being the same claim).
    async fn mark_unknown(&self, job: &ChannelJob, claimed_at: i64) -> Result<Claim> {
        let out = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(inbox_pk(&job.user_id)))
            .key("sk", s(&job.notification_id))
            .update_expression(
                "SET channels.#c.#st = :unknown, channels.#c.code = :code, channels.#c.detail = :detail, \
                 channels.#c.updated_at = :at",
            )
            .condition_expression("channels.#c.#st = :sending AND channels.#c.claimed_at = :claimed")
            .expression_attribute_names("#c", job.channel.as_str())
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":unknown", s(ChannelStatus::Unknown.as_str()))
            .expression_attribute_values(":sending", s(ChannelStatus::Sending.as_str()))
            .expression_attribute_values(":claimed", n(claimed_at))
            .expression_attribute_values(":code", s(OUTCOME_NOT_RECORDED))
            .expression_attribute_values(
                ":detail",
                s("a worker claimed this channel and stopped before recording whether it sent; not sent again"),
            )
            .expression_attribute_values(":at", s(now_rfc3339()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match out {
            Ok(_) => Ok(Claim::TakenOverUnknown),
            // Recorded (or taken over) meanwhile.
            Err(StoreError::ConditionFailed) => Ok(Claim::InFlight),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a channel's outcome (one `UpdateItem` on that map entry only).
    pub async fn record(
        &self,
        user: &str,
        id: &str,
        channel: Channel,
        outcome: &ChannelOutcome,
    ) -> Result<()> {
        let value: AttributeValue = serde_dynamo::to_attribute_value(outcome)?;
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(inbox_pk(user)))
            .key("sk", s(id))
            .update_expression("SET channels.#c = :o")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#c", channel.as_str())
            .expression_attribute_values(":o", value)
            .send()
            .await
            .map_err(|e| match StoreError::from_sdk("UpdateItem", e) {
                StoreError::ConditionFailed => NotificationError::NotFound(id.to_string()),
                other => other.into(),
            })?;
        Ok(())
    }
}

/// The inbox cursor: the last notification id of the page (a UUID), through the one cursor
/// codec.
fn decode_cursor(cursor: &str) -> Result<String, crate::cursor::InvalidCursor> {
    crate::cursor::decode::<String>(cursor)
        .ok()
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
        .ok_or(crate::cursor::InvalidCursor)
}
