//! Store-then-enqueue without losing work: the redrive marker and the sweep.
//!
//! A unit of work (webhook event, bulk chunk, AI job, notification) is first written to the hub
//! table, then announced on its SQS queue. The process can die, or `SendMessage` can fail,
//! between the two; the write alone must be enough for the work to happen. So the write that
//! stores the unit also puts it in the table's sparse `redrive` index ([`Redrive::item_attributes`]):
//! the queue it belongs to, the message body, and a due time a little in the future. The worker
//! takes the item out of the index in the conditional update it makes anyway when it claims the
//! unit ([`REMOVE_CLAUSE`]), so the happy path costs no extra round trip. The scheduled sweeper
//! ([`sweep_due`]) sends the body of every item still in the index past its due time to its
//! queue again and pushes the due time forward.
//!
//! A re-driven message can race a slow but alive first delivery: workers are idempotent
//! (claim tokens), so a duplicate message is harmless. Why a sweeper rather than a DynamoDB
//! Streams outbox is in docs/reliability.md.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::config::Env;
use crate::store::{StoreError, n, s};

/// The GSI holding the units of work still waiting for their worker.
pub const INDEX: &str = "redrive";
/// The index's partition key; every pending item shares one value ([`SHARD`]): the index only
/// holds items between their write and their worker's claim, a handful at any time.
pub const SHARD_ATTR: &str = "redrive_shard";
/// The index's sort key: epoch seconds when the sweeper may send the item's message again.
pub const DUE_ATTR: &str = "redrive_due";
/// The environment variable naming the item's queue URL (`WEBHOOK_EVENTS_QUEUE_URL`, ...).
pub const QUEUE_ATTR: &str = "redrive_queue";
/// The SQS message body to send again.
pub const BODY_ATTR: &str = "redrive_body";
/// How many times the sweeper has re-sent the message.
pub const COUNT_ATTR: &str = "redrive_count";
pub const SHARD: &str = "pending";

/// The attribute list a worker's claim update REMOVEs to take its item out of the index:
/// `format!("SET ... REMOVE {}", REMOVE_ATTRIBUTES)`.
pub const REMOVE_ATTRIBUTES: &str =
    "redrive_shard, redrive_due, redrive_queue, redrive_body, redrive_count";
/// A whole `REMOVE` clause for an update expression that has none of its own.
pub const REMOVE_CLAUSE: &str =
    "REMOVE redrive_shard, redrive_due, redrive_queue, redrive_body, redrive_count";

/// Seconds after the write before the sweeper considers the message lost (`REDRIVE_AFTER_SECONDS`).
pub const DEFAULT_AFTER: Duration = Duration::from_secs(60);

/// The queues a unit of work may belong to, by the environment variable holding their URL.
/// The sweeper only sends to these (its policy in template.yaml names the same queues).
pub const QUEUES: [&str; 5] = [
    "WEBHOOK_EVENTS_QUEUE_URL",
    "SMS_BULK_QUEUE_URL",
    "AI_JOBS_QUEUE_URL",
    "NOTIFICATIONS_QUEUE_URL",
    "SUBSCRIPTIONS_QUEUE_URL",
];

/// A queue message that must reach its queue even if the process stops right after the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub queue_env: &'static str,
    pub body: String,
    pub after: Duration,
}

impl Redrive {
    pub fn new(queue_env: &'static str, body: impl Into<String>) -> Self {
        debug_assert!(QUEUES.contains(&queue_env), "unknown queue {queue_env}");
        Self {
            queue_env,
            body: body.into(),
            after: DEFAULT_AFTER,
        }
    }

    /// With the delay read from `REDRIVE_AFTER_SECONDS` (default 60 s).
    pub fn after(mut self, after: Duration) -> Self {
        self.after = after;
        self
    }

    /// The attributes to add to the unit-of-work item in the same write that stores it.
    pub fn item_attributes(&self, now_secs: i64) -> [(String, AttributeValue); 4] {
        [
            (SHARD_ATTR.to_string(), s(SHARD)),
            (
                DUE_ATTR.to_string(),
                n(now_secs + self.after.as_secs() as i64),
            ),
            (QUEUE_ATTR.to_string(), s(self.queue_env)),
            (BODY_ATTR.to_string(), s(&self.body)),
        ]
    }

    /// Adds [`Self::item_attributes`] to an item.
    pub fn mark(&self, item: &mut HashMap<String, AttributeValue>, now_secs: i64) {
        item.extend(self.item_attributes(now_secs));
    }
}

/// `REDRIVE_AFTER_SECONDS`, the delay before an unclaimed unit is re-sent.
pub fn after_from_env(env: &Env) -> Duration {
    env.get("REDRIVE_AFTER_SECONDS")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_AFTER)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Items past their due time found in the index.
    pub due: usize,
    /// Messages sent again.
    pub redriven: usize,
    /// Items whose queue this sweeper has no URL for (misconfiguration; logged).
    pub unroutable: usize,
    /// Items re-sent [`GIVE_UP_AFTER`] times or more: still re-sent, and reported so an alarm
    /// can fire (a unit no worker can claim).
    pub stuck: usize,
}

/// After this many re-sends an item counts as stuck in the report (it keeps being re-sent
/// with the longest backoff: dropping it would lose the work).
pub const GIVE_UP_AFTER: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("SQS send to {queue_env} failed: {message}")]
    Queue { queue_env: String, message: String },
}

/// Backoff before the n-th re-send after this one: 1, 2, 4 ... up to 15 minutes.
fn backoff(count: u32, after: Duration) -> i64 {
    let base = after.as_secs().max(1) as i64;
    (base << count.min(10)).min(900)
}

/// One due item the sweep can route: its key, queue and message body.
struct DueUnit {
    pk: String,
    sk: String,
    queue_env: String,
    body: String,
    count: u32,
}

/// Sends the message of every item due at `now_secs` to its queue again and pushes its due time
/// forward (only if the item is still in the index: a worker that claimed it meanwhile wins).
/// `queue_urls` maps a queue's environment variable to its URL. Reads at most `limit` items.
///
/// The messages go ten to a `SendMessageBatch` per queue, and the due times of a batch's sent
/// messages are pushed concurrently: a sweep after an SQS outage may find hundreds of stranded
/// units, and its time budget is better spent on them than on one round trip per message.
/// The first batch SQS refuses, as a whole or in part, ends the sweep with an error after the
/// sent messages of that batch are pushed back; what was not sent keeps its due time.
pub async fn sweep_due(
    dynamo: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
    queue_urls: &HashMap<String, String>,
    now_secs: i64,
    after: Duration,
    limit: i32,
) -> Result<SweepReport, SweepError> {
    let page = dynamo
        .query()
        .table_name(table)
        .index_name(INDEX)
        .key_condition_expression("#shard = :shard AND #due <= :now")
        .expression_attribute_names("#shard", SHARD_ATTR)
        .expression_attribute_names("#due", DUE_ATTR)
        .expression_attribute_values(":shard", s(SHARD))
        .expression_attribute_values(":now", n(now_secs))
        .limit(limit)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("Query", e))?;
    let mut report = SweepReport::default();
    // Routable items by queue, in the index's order (oldest due first).
    let mut by_queue: Vec<(String, Vec<DueUnit>)> = Vec::new();
    for item in page.items() {
        report.due += 1;
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let (Some(pk), Some(sk), Some(queue_env), Some(body)) =
            (text("pk"), text("sk"), text(QUEUE_ATTR), text(BODY_ATTR))
        else {
            tracing::error!("redrive item without key, queue or body; skipped");
            report.unroutable += 1;
            continue;
        };
        let Some(url) = queue_urls.get(&queue_env) else {
            tracing::error!(queue = %queue_env, "redrive item for a queue this sweeper has no URL for");
            report.unroutable += 1;
            continue;
        };
        let count: u32 = item
            .get(COUNT_ATTR)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let unit = DueUnit {
            pk,
            sk,
            queue_env,
            body,
            count,
        };
        match by_queue.iter_mut().find(|(u, _)| u == url) {
            Some((_, units)) => units.push(unit),
            None => by_queue.push((url.clone(), vec![unit])),
        }
    }
    for (url, units) in &by_queue {
        for batch in units.chunks(crate::queue::SQS_BATCH_MAX) {
            let sent = send_batch(sqs, url, batch).await;
            let pushed = futures::future::join_all(
                batch
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| sent.sent.contains(i))
                    .map(|(_, unit)| push_back(dynamo, table, unit, now_secs, after)),
            )
            .await;
            for (i, unit) in batch.iter().enumerate() {
                if !sent.sent.contains(&i) {
                    continue;
                }
                report.redriven += 1;
                if unit.count + 1 >= GIVE_UP_AFTER {
                    report.stuck += 1;
                    tracing::error!(pk = %unit.pk, sk = %unit.sk, redrives = unit.count + 1, "unit of work re-driven repeatedly and never claimed");
                }
            }
            for result in pushed {
                match result {
                    Ok(()) | Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(message) = sent.error {
                return Err(SweepError::Queue {
                    queue_env: batch[0].queue_env.clone(),
                    message,
                });
            }
        }
    }
    Ok(report)
}

/// What one `SendMessageBatch` did: the indexes (in its batch) of the messages SQS accepted,
/// and why the others were not sent.
struct BatchOutcome {
    sent: Vec<usize>,
    error: Option<String>,
}

async fn send_batch(sqs: &aws_sdk_sqs::Client, url: &str, batch: &[DueUnit]) -> BatchOutcome {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    let mut entries = Vec::with_capacity(batch.len());
    for (i, unit) in batch.iter().enumerate() {
        match SendMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .message_body(&unit.body)
            .build()
        {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                return BatchOutcome {
                    sent: Vec::new(),
                    error: Some(e.to_string()),
                };
            }
        }
    }
    match sqs
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Err(e) => BatchOutcome {
            sent: Vec::new(),
            error: Some(format!(
                "SendMessageBatch: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )),
        },
        Ok(out) => {
            let sent: Vec<usize> = out
                .successful()
                .iter()
                .filter_map(|entry| entry.id().parse().ok())
                .collect();
            let error = out.failed().first().map(|f| {
                format!(
                    "SendMessageBatch: {} of {} entries refused ({}: {})",
                    out.failed().len(),
                    batch.len(),
                    f.code(),
                    f.message().unwrap_or("no message"),
                )
            });
            BatchOutcome { sent, error }
        }
    }
}

/// Pushes a re-sent unit's due time forward and counts the re-send, if it is still in the index.
async fn push_back(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    unit: &DueUnit,
    now_secs: i64,
    after: Duration,
) -> Result<(), StoreError> {
    dynamo
        .update_item()
        .table_name(table)
        .key("pk", s(&unit.pk))
        .key("sk", s(&unit.sk))
        .update_expression("SET #due = :next ADD #count :one")
        .condition_expression("attribute_exists(#shard)")
        .expression_attribute_names("#due", DUE_ATTR)
        .expression_attribute_names("#count", COUNT_ATTR)
        .expression_attribute_names("#shard", SHARD_ATTR)
        .expression_attribute_values(":next", n(now_secs + backoff(unit.count, after)))
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| StoreError::from_sdk("UpdateItem", e))
}

/// The queue URLs of [`QUEUES`] present in the environment.
pub fn queue_urls_from_env(env: &Env) -> HashMap<String, String> {
    QUEUES
        .iter()
        .filter_map(|k| env.get(k).map(|v| (k.to_string(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_due_after_the_delay_and_names_its_queue() {
        let r = Redrive::new("WEBHOOK_EVENTS_QUEUE_URL", "{\"id\":\"e1\"}")
            .after(Duration::from_secs(30));
        let attrs: HashMap<_, _> = r.item_attributes(1_000).into_iter().collect();
        assert_eq!(attrs[DUE_ATTR].as_n().unwrap(), "1030");
        assert_eq!(attrs[SHARD_ATTR].as_s().unwrap(), SHARD);
        assert_eq!(
            attrs[QUEUE_ATTR].as_s().unwrap(),
            "WEBHOOK_EVENTS_QUEUE_URL"
        );
        assert_eq!(attrs[BODY_ATTR].as_s().unwrap(), "{\"id\":\"e1\"}");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let a = Duration::from_secs(60);
        assert_eq!(backoff(0, a), 60);
        assert_eq!(backoff(1, a), 120);
        assert_eq!(backoff(3, a), 480);
        assert_eq!(backoff(9, a), 900);
    }

    #[test]
    fn remove_clause_names_every_marker_attribute() {
        for a in [SHARD_ATTR, DUE_ATTR, QUEUE_ATTR, BODY_ATTR, COUNT_ATTR] {
            assert!(REMOVE_ATTRIBUTES.contains(a), "{a}");
        }
        assert_eq!(REMOVE_CLAUSE, format!("REMOVE {REMOVE_ATTRIBUTES}"));
    }
}
