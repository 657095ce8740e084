//! The hub-table items of subscriptions (single-table layout):
//!
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | subscription | `SUBSCRIPTION` | `{sub_id}` | one partition, read whole and cached ([`CachedPartition`]) |
//! | event | `SUBEVT#{event_id}` | `EVENT` | `gsi1pk = SUBEVT`, `gsi1sk = {timestamp}#{event_id}` (replay by time); redrive marker until fanned out; `expires_at` |
//! | message | `SUBMSG#{sub_id}` | `{event_id}` | one event's delivery to one subscription, its attempts inline; `expires_at` |
//!
//! A message's attempts live in the message item (a list appended by the same update that
//! records the outcome), so an attempt costs one write and listing them one read.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::model::{Attempt, Event, MessageView, Subscription};
use crate::redrive::Redrive;
use crate::store::{CachedPartition, Item, StoreError, n, s};

pub const SUBSCRIPTIONS_PK: &str = "SUBSCRIPTION";
const EVENTS_GSI_PK: &str = "SUBEVT";

/// The partition keys of one namespace (`SUBSCRIPTIONS_NAMESPACE`, empty in deployments):
/// tests running in parallel on one table each get their own subscriptions and events.
fn namespaced(base: &str, namespace: &str) -> String {
    format!("{base}{namespace}")
}
/// The round every message starts in (the fan-out's); manual retries and replays start a
/// new round with a fresh token, which makes the older round's queued messages no-ops.
pub const FIRST_ROUND: &str = "auto";

fn event_pk(id: &str) -> String {
    format!("SUBEVT#{id}")
}

fn message_pk(sub_id: &str) -> String {
    format!("SUBMSG#{sub_id}")
}

fn text(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn number<T: std::str::FromStr>(item: &Item, k: &str) -> Option<T> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn assemble(items: Vec<Item>) -> Result<Vec<Subscription>, StoreError> {
    let mut out: Vec<Subscription> = items
        .into_iter()
        .filter_map(|item| match serde_dynamo::from_item(item) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "unreadable subscription item skipped");
                None
            }
        })
        .collect();
    out.sort_by(|a: &Subscription, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Subscriptions, events and messages in the hub table.
#[derive(Clone)]
pub struct SubscriptionStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    subscriptions: CachedPartition<Subscription>,
    subscriptions_pk: &'static str,
    events_gsi_pk: String,
    retention: Duration,
}

impl SubscriptionStore {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        namespace: &str,
        cache_ttl: Duration,
        retention: Duration,
    ) -> Self {
        let table = table.into();
        // Built once per cold start (tests: once per namespace), so the leak is bounded.
        let subscriptions_pk: &'static str = if namespace.is_empty() {
            SUBSCRIPTIONS_PK
        } else {
            Box::leak(namespaced(SUBSCRIPTIONS_PK, namespace).into_boxed_str())
        };
        Self {
            subscriptions: CachedPartition::new(
                dynamo.clone(),
                table.clone(),
                subscriptions_pk,
                cache_ttl,
                assemble,
            ),
            subscriptions_pk,
            events_gsi_pk: namespaced(EVENTS_GSI_PK, namespace),
            dynamo,
            table,
            retention,
        }
    }

    fn expires_at(&self, now_secs: i64) -> AttributeValue {
        n(now_secs + self.retention.as_secs() as i64)
    }

    // ------------------------------------------------------------------ subscriptions

    /// Every subscription, from this instance's cache while fresh.
    pub async fn cached(&self) -> Result<std::sync::Arc<Vec<Subscription>>, StoreError> {
        self.subscriptions.get().await
    }

    /// Every subscription, read now.
    pub async fn fresh(&self) -> Result<std::sync::Arc<Vec<Subscription>>, StoreError> {
        self.subscriptions.reload().await
    }

    /// One subscription, read now.
    pub async fn get(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(self.subscriptions_pk))
            .key("sk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        out.item
            .map(serde_dynamo::from_item)
            .transpose()
            .map_err(StoreError::from)
    }

    pub async fn put(&self, sub: &Subscription, must_be_new: bool) -> Result<(), StoreError> {
        let item: Item = serde_dynamo::to_item(sub)?;
        self.subscriptions.put(&sub.id, item, must_be_new).await
    }

    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.subscriptions.delete(id).await
    }

    /// Records the start of a failing streak (only the first failure writes).
    pub async fn mark_failing(&self, id: &str, since: i64) -> Result<(), StoreError> {
        self.update_subscription(
            id,
            "SET failing_since = :since",
            Some("attribute_exists(pk) AND attribute_not_exists(failing_since)"),
            vec![(":since", n(since))],
        )
        .await
    }

    /// Ends a failing streak after a success.
    pub async fn clear_failing(&self, id: &str) -> Result<(), StoreError> {
        self.update_subscription(
            id,
            "REMOVE failing_since",
            Some("attribute_exists(failing_since)"),
            vec![],
        )
        .await
    }

    /// Disables a subscription the hub gave up on (`gone`, `failing`).
    pub async fn disable(&self, id: &str, reason: &str, now: &str) -> Result<(), StoreError> {
        self.update_subscription(
            id,
            "SET disabled = :t, disabled_reason = :r, updated_at = :now",
            Some("attribute_exists(pk)"),
            vec![
                (":t", AttributeValue::Bool(true)),
                (":r", s(reason)),
                (":now", s(now)),
            ],
        )
        .await
    }

    async fn update_subscription(
        &self,
        id: &str,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(self.subscriptions_pk))
            .key("sk", s(id))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string));
        for (k, v) in values {
            update = update.expression_attribute_values(k, v);
        }
        let result = update.send().await;
        self.subscriptions.invalidate().await;
        match result.map_err(|e| StoreError::from_sdk("UpdateItem", e)) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ------------------------------------------------------------------------- events

    /// Stores an event; with `redrive`, in the same write that marks it for the sweeper.
    pub async fn put_event(
        &self,
        event: &Event,
        redrive: Option<&Redrive>,
        now_secs: i64,
    ) -> Result<(), StoreError> {
        self.put_event_item(event, redrive, now_secs, false)
            .await
            .map(|_| ())
    }

    /// Stores an event only if no event has its id yet (a keyed event announced again by a
    /// retried capability). Answers whether it was stored.
    pub async fn put_new_event(
        &self,
        event: &Event,
        redrive: Option<&Redrive>,
        now_secs: i64,
    ) -> Result<bool, StoreError> {
        self.put_event_item(event, redrive, now_secs, true).await
    }

    async fn put_event_item(
        &self,
        event: &Event,
        redrive: Option<&Redrive>,
        now_secs: i64,
        only_new: bool,
    ) -> Result<bool, StoreError> {
        let mut item: Item = HashMap::from([
            ("pk".to_string(), s(event_pk(&event.id))),
            ("sk".to_string(), s("EVENT")),
            ("id".to_string(), s(&event.id)),
            ("type".to_string(), s(&event.event_type)),
            ("timestamp".to_string(), s(&event.timestamp)),
            ("data".to_string(), s(event.data.to_string())),
            ("gsi1pk".to_string(), s(&self.events_gsi_pk)),
            (
                "gsi1sk".to_string(),
                s(format!("{}#{}", event.timestamp, event.id)),
            ),
            ("expires_at".to_string(), self.expires_at(now_secs)),
        ]);
        if let Some(r) = redrive {
            r.mark(&mut item, now_secs);
        }
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = if only_new {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put
        };
        match put
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))
        {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) if only_new => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The namespace this store's partitions carry (empty in deployments).
    pub fn namespace(&self) -> &str {
        self.events_gsi_pk
            .strip_prefix(EVENTS_GSI_PK)
            .unwrap_or_default()
    }

    pub async fn get_event(&self, id: &str) -> Result<Option<(Event, bool)>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(id)))
            .key("sk", s("EVENT"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        out.item.map(|item| event_of(&item)).transpose()
    }

    /// The fan-out is done: the event leaves the redrive index.
    pub async fn mark_fanned_out(&self, id: &str, now: &str) -> Result<(), StoreError> {
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(id)))
            .key("sk", s("EVENT"))
            .update_expression(format!(
                "SET fanned_out_at = :now {}",
                crate::redrive::REMOVE_CLAUSE
            ))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match result {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Events published in `[since, until)` (RFC 3339 millis bounds), oldest first, at most
    /// `limit`.
    pub async fn events_between(
        &self,
        since: &str,
        until: &str,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk AND gsi1sk BETWEEN :a AND :b")
                .expression_attribute_values(":pk", s(&self.events_gsi_pk))
                .expression_attribute_values(":a", s(since))
                // `#` sorts before every id character: `{until}#` excludes `until` itself.
                .expression_attribute_values(":b", s(format!("{until}#")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            for item in page.items() {
                let event = event_of(item)?.0;
                if event.timestamp.as_str() < until {
                    out.push(event);
                }
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    // ----------------------------------------------------------------------- messages

    /// Claims one delivery of `event` to `sub_id` in `round`: creates the message on the
    /// first round's first delivery, and otherwise only takes a message of the same round
    /// that is waiting (`pending`) or whose claim expired (a worker died mid-send). Answers
    /// the attempts already made in the round, or `None` when there is nothing to do (already
    /// delivered or given up, a stale round, another worker on it).
    pub async fn claim(
        &self,
        sub_id: &str,
        event: &Event,
        round: &str,
        now_secs: i64,
        claim_for: Duration,
    ) -> Result<Option<u32>, StoreError> {
        let now = crate::clock::now_rfc3339_millis();
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(sub_id)))
            .key("sk", s(&event.id))
            .update_expression(
                "SET #st = :delivering, claim_until = :cu, event_type = :et, #round = if_not_exists(#round, :round), \
                 created_at = if_not_exists(created_at, :now), updated_at = :now, \
                 attempt_count = if_not_exists(attempt_count, :zero), round_attempts = if_not_exists(round_attempts, :zero), \
                 expires_at = :exp",
            )
            .condition_expression(
                "(attribute_not_exists(#st) AND :round = :first) OR \
                 (#round = :round AND (#st = :pending OR (#st = :delivering AND claim_until < :nows)))",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#round", "round")
            .expression_attribute_values(":delivering", s("delivering"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":cu", n(now_secs + claim_for.as_secs() as i64))
            .expression_attribute_values(":nows", n(now_secs))
            .expression_attribute_values(":et", s(&event.event_type))
            .expression_attribute_values(":round", s(round))
            .expression_attribute_values(":first", s(FIRST_ROUND))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":exp", self.expires_at(now_secs))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match result {
            Ok(out) => Ok(Some(
                out.attributes
                    .as_ref()
                    .and_then(|a| number(a, "round_attempts"))
                    .unwrap_or(0),
            )),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records an attempt and the message's new status (`succeeded`, `pending` until
    /// `next_attempt_at`, or `failed`), only if the message is still in `round`.
    pub async fn record(
        &self,
        sub_id: &str,
        event_id: &str,
        round: &str,
        attempt: &Attempt,
        status: &str,
        next_attempt_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let attempt_item: Item = serde_dynamo::to_item(attempt)?;
        let mut set = String::from(
            "SET #st = :st, attempt_count = attempt_count + :one, round_attempts = round_attempts + :one, \
             attempts = list_append(if_not_exists(attempts, :empty), :att), updated_at = :now",
        );
        let mut remove = vec!["claim_until"];
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(sub_id)))
            .key("sk", s(event_id))
            .condition_expression("#round = :round")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#round", "round")
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(
                ":att",
                AttributeValue::L(vec![AttributeValue::M(attempt_item)]),
            )
            .expression_attribute_values(":now", s(&attempt.at))
            .expression_attribute_values(":round", s(round));
        match attempt.status_code {
            Some(code) => {
                set.push_str(", last_status_code = :code");
                update = update.expression_attribute_values(":code", n(code));
            }
            None => remove.push("last_status_code"),
        }
        match next_attempt_at {
            Some(at) => {
                set.push_str(", next_attempt_at = :next");
                update = update.expression_attribute_values(":next", s(at));
            }
            None => remove.push("next_attempt_at"),
        }
        let result = update
            .update_expression(format!("{set} REMOVE {}", remove.join(", ")))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match result {
            // A newer round (manual retry) took the message over meanwhile: its own outcome
            // will be recorded.
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a new round for a message (manual retry, replay): `pending`, no attempt yet in
    /// the round, `round` the new token. Creates the message if it never existed.
    pub async fn new_round(
        &self,
        sub_id: &str,
        event: &Event,
        round: &str,
        now_secs: i64,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_rfc3339_millis();
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(sub_id)))
            .key("sk", s(&event.id))
            .update_expression(
                "SET #st = :pending, #round = :round, round_attempts = :zero, event_type = :et, \
                 attempt_count = if_not_exists(attempt_count, :zero), created_at = if_not_exists(created_at, :now), \
                 updated_at = :now, expires_at = :exp REMOVE claim_until, next_attempt_at",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#round", "round")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":round", s(round))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":et", s(&event.event_type))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":exp", self.expires_at(now_secs))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    /// One message with its attempts.
    pub async fn message(
        &self,
        sub_id: &str,
        event_id: &str,
    ) -> Result<Option<(MessageView, Vec<Attempt>)>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(sub_id)))
            .key("sk", s(event_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let attempts = match item.get("attempts") {
            Some(AttributeValue::L(list)) => list
                .iter()
                .filter_map(|v| v.as_m().ok())
                .map(|m| serde_dynamo::from_item(m.clone()))
                .collect::<Result<Vec<Attempt>, _>>()?,
            _ => Vec::new(),
        };
        Ok(Some((message_of(&item), attempts)))
    }

    /// A subscription's messages, newest first.
    pub async fn messages(
        &self,
        sub_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<MessageView>, Option<Item>), StoreError> {
        let page = self
            .dynamo
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(message_pk(sub_id)))
            .projection_expression(
                "pk, sk, #st, event_type, attempt_count, last_status_code, next_attempt_at, created_at, updated_at",
            )
            .expression_attribute_names("#st", "status")
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        let items = page.items().iter().map(message_of).collect();
        Ok((items, page.last_evaluated_key))
    }
}

fn event_of(item: &Item) -> Result<(Event, bool), StoreError> {
    let field =
        |k: &str| text(item, k).ok_or_else(|| StoreError::Malformed(format!("event without {k}")));
    let data = serde_json::from_str(&field("data")?)
        .map_err(|e| StoreError::Malformed(format!("event data: {e}")))?;
    Ok((
        Event {
            id: field("id")?,
            event_type: field("type")?,
            timestamp: field("timestamp")?,
            data,
        },
        item.contains_key("fanned_out_at"),
    ))
}

fn message_of(item: &Item) -> MessageView {
    MessageView {
        event_id: text(item, "sk").unwrap_or_default(),
        event_type: text(item, "event_type").unwrap_or_default(),
        status: text(item, "status").unwrap_or_default(),
        attempt_count: number(item, "attempt_count").unwrap_or(0),
        last_status_code: number(item, "last_status_code"),
        next_attempt_at: text(item, "next_attempt_at"),
        created_at: text(item, "created_at").unwrap_or_default(),
        updated_at: text(item, "updated_at").unwrap_or_default(),
    }
}
