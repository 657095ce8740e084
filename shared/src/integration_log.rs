//! The integration log: one item per provider call, plus hourly per-provider counters so
//! statistics read a handful of items and never scan the log.
//!
//! Layout in the logs table (`LOGS_TABLE`, key `pk`/`sk`, TTL attribute `expires_at`):
//! - log entry:  `pk = LOG#{provider}`, `sk = {RFC 3339 time}#{id}`, `gsi1pk = LOGDAY#{date}`
//!   (index `gsi1`, same sort key) so the admin listing can page through all providers by time;
//! - counter:    `pk = STAT#{provider}`, `sk = H#{YYYY-MM-DDTHH}`, attributes added atomically:
//!   `calls`, `successes`, `failures`, `latency_sum_ms`, `tokens`, and one count per latency
//!   bucket (`b00`..`b11`) from which p95 is read.
//!
//! Recording a call is two writes issued concurrently (a `PutItem` and an `UpdateItem ADD`),
//! so it costs one round-trip of latency. Nothing in an entry is secret or personal in clear:
//! targets are masked by the caller through [`crate::mask`] and `detail` holds metadata only.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::{now_utc, parse_rfc3339};
use crate::cursor::InvalidCursor;
use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::store::{StoreError, n, s};

// Transition: capability modules format timestamps through here; the helper is
// `crate::clock::rfc3339`.
pub use crate::clock::rfc3339;

/// A listing query that cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A filter is wrong (400 `invalid_field` naming it).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Cursor(#[from] InvalidCursor),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for LogError {
    fn kind(&self) -> ErrorKind {
        match self {
            LogError::Invalid(e) => e.kind(),
            LogError::Cursor(e) => e.kind(),
            LogError::Store(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            LogError::Invalid(e) => e.code(),
            LogError::Cursor(e) => e.code(),
            LogError::Store(e) => e.code(),
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            LogError::Invalid(e) => e.fields(),
            LogError::Cursor(e) => e.fields(),
            LogError::Store(e) => e.fields(),
        }
    }
}

/// Upper bounds (ms) of the latency buckets; the last bucket is open-ended.
pub const LATENCY_BUCKETS_MS: [u64; 11] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];
const STATS_TTL: Duration = Duration::from_secs(400 * 86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    /// No provider was configured and a local fallback (console, rules) answered.
    Fallback,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Fallback => "fallback",
        }
    }
}

/// One provider call, as the caller reports it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub provider: String,
    pub operation: String,
    pub outcome: Outcome,
    pub latency: Duration,
    pub request_id: String,
    pub error_code: Option<String>,
    /// Already masked (phone, email); never a raw recipient.
    pub target: Option<String>,
    /// Tokens used (AI calls).
    pub tokens: Option<u64>,
    /// Provider-side id (message id, job id) for cross-reference.
    pub reference: Option<String>,
}

impl CallRecord {
    pub fn new(provider: &str, operation: &str, request_id: &str) -> Self {
        Self {
            provider: provider.into(),
            operation: operation.into(),
            outcome: Outcome::Success,
            latency: Duration::ZERO,
            request_id: request_id.into(),
            error_code: None,
            target: None,
            tokens: None,
            reference: None,
        }
    }
}

/// A log entry as listed by the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEntry {
    pub id: String,
    pub provider: String,
    pub operation: String,
    pub outcome: Outcome,
    pub latency_ms: u64,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct StatsBucket {
    /// Start of the hour (`2026-11-22T13:00:00Z`) or day (`2026-11-22`).
    pub period: String,
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    /// successes / (successes + failures); fallbacks count as neither. `null` with no calls.
    pub success_rate: Option<f64>,
    pub avg_latency_ms: Option<f64>,
    /// Upper bound of the latency bucket holding the 95th percentile.
    pub p95_latency_ms: Option<u64>,
    pub tokens: u64,
    #[serde(skip)]
    latency_sum_ms: u64,
    #[serde(skip)]
    histogram: [u64; 12],
}

impl StatsBucket {
    fn finish(mut self) -> Self {
        let decided = self.successes + self.failures;
        self.success_rate = (decided > 0).then(|| self.successes as f64 / decided as f64);
        self.avg_latency_ms =
            (self.calls > 0).then(|| self.latency_sum_ms as f64 / self.calls as f64);
        self.p95_latency_ms = percentile(&self.histogram, 0.95);
        self
    }

    fn absorb(&mut self, other: &StatsBucket) {
        self.calls += other.calls;
        self.successes += other.successes;
        self.failures += other.failures;
        self.tokens += other.tokens;
        self.latency_sum_ms += other.latency_sum_ms;
        for (a, b) in self.histogram.iter_mut().zip(other.histogram.iter()) {
            *a += b;
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderStatistics {
    pub provider: String,
    pub window_hours: u32,
    pub total: StatsBucket,
    pub hourly: Vec<StatsBucket>,
    pub daily: Vec<StatsBucket>,
}

fn bucket_index(ms: u64) -> usize {
    LATENCY_BUCKETS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(LATENCY_BUCKETS_MS.len())
}

/// The bucket upper bound at or above the `q` quantile; the open bucket reports its lower bound.
fn percentile(hist: &[u64; 12], q: f64) -> Option<u64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(*LATENCY_BUCKETS_MS.get(i).unwrap_or(&LATENCY_BUCKETS_MS[10]));
        }
    }
    None
}

fn hour_key(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    )
}

fn day_key(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Writes and reads the integration log. Built once per cold start.
#[derive(Clone)]
pub struct IntegrationLog {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
}

/// Filters for the admin listing.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Provider slug.
    pub provider: Option<String>,
    /// `success`, `failure` or `fallback`.
    pub outcome: Option<Outcome>,
    /// RFC 3339 lower bound (default: 24 hours ago).
    pub from: Option<String>,
    /// RFC 3339 upper bound (default: now).
    pub to: Option<String>,
    /// Page size, 1..=100 (default 50).
    pub limit: Option<i32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogPage {
    pub items: Vec<LogEntry>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Day partition being read (all-provider listing) or empty.
    day: String,
    /// Last sort key seen.
    sk: String,
}

impl IntegrationLog {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        Self {
            dynamo,
            table: table.into(),
            ttl,
        }
    }

    /// Records one provider call: the log entry and the hourly counters, concurrently.
    /// A failure to log is itself logged and swallowed: it must not fail the user's request.
    ///
    /// On Lambda the two writes run after the answer is sent (`crate::deferred`), stamped with
    /// the time of the call; elsewhere they are awaited here.
    pub async fn record(&self, rec: &CallRecord) {
        let now = now_utc();
        let (log, entry) = (self.clone(), rec.clone());
        let write = async move {
            if let Err(e) = log.try_record_at(&entry, now).await {
                tracing::error!(error = %e, provider = %entry.provider, "could not write the integration log");
            }
        };
        if let Err(write) = crate::deferred::defer(write) {
            write.await;
        }
    }

    pub async fn try_record(&self, rec: &CallRecord) -> Result<(), StoreError> {
        self.try_record_at(rec, now_utc()).await
    }

    async fn try_record_at(&self, rec: &CallRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let created_at = rfc3339(now);
        let sk = format!("{created_at}#{id}");
        let ms = rec.latency.as_millis() as u64;
        let expires = (now.unix_timestamp() as u64 + self.ttl.as_secs()).to_string();

        let mut item: HashMap<String, AttributeValue> = HashMap::from([
            ("pk".into(), s(format!("LOG#{}", rec.provider))),
            ("sk".into(), s(&sk)),
            ("gsi1pk".into(), s(format!("LOGDAY#{}", day_key(now)))),
            ("gsi1sk".into(), s(&sk)),
            ("id".into(), s(&id)),
            ("provider".into(), s(&rec.provider)),
            ("operation".into(), s(&rec.operation)),
            ("outcome".into(), s(rec.outcome.as_str())),
            ("latency_ms".into(), n(ms)),
            ("request_id".into(), s(&rec.request_id)),
            ("created_at".into(), s(&created_at)),
            ("expires_at".into(), AttributeValue::N(expires)),
        ]);
        if let Some(v) = &rec.error_code {
            item.insert("error_code".into(), s(v));
        }
        if let Some(v) = &rec.target {
            item.insert("target".into(), s(v));
        }
        if let Some(v) = rec.tokens {
            item.insert("tokens".into(), n(v));
        }
        if let Some(v) = &rec.reference {
            item.insert("reference".into(), s(v));
        }
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send();

        let (succ, fail) = match rec.outcome {
            Outcome::Success => (1, 0),
            Outcome::Failure => (0, 1),
            Outcome::Fallback => (0, 0),
        };
        let stats_expires = (now.unix_timestamp() as u64 + STATS_TTL.as_secs()).to_string();
        let bucket = format!("b{:02}", bucket_index(ms));
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("STAT#{}", rec.provider)))
            .key("sk", s(format!("H#{}", hour_key(now))))
            .update_expression(
                "ADD calls :one, successes :s, failures :f, latency_sum_ms :ms, tokens :t, #b :one SET expires_at = :exp",
            )
            .expression_attribute_names("#b", bucket)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":s", n(succ))
            .expression_attribute_values(":f", n(fail))
            .expression_attribute_values(":ms", n(ms))
            .expression_attribute_values(":t", n(rec.tokens.unwrap_or(0)))
            .expression_attribute_values(":exp", AttributeValue::N(stats_expires))
            .send();
        let (a, b) = tokio::join!(put, update);
        a.map_err(|e| StoreError::from_sdk("PutItem", e))?;
        b.map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    /// Statistics for the last `window_hours` hours: one `Query` over the hourly counters.
    pub async fn statistics(
        &self,
        provider: &str,
        window_hours: u32,
    ) -> Result<ProviderStatistics, StoreError> {
        let now = now_utc();
        let from = now - time::Duration::hours(window_hours.saturating_sub(1) as i64);
        let mut hourly = Vec::new();
        let mut start_key = None;
        loop {
            let out = self
                .dynamo
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
                .expression_attribute_values(":pk", AttributeValue::S(format!("STAT#{provider}")))
                .expression_attribute_values(
                    ":a",
                    AttributeValue::S(format!("H#{}", hour_key(from))),
                )
                .expression_attribute_values(
                    ":b",
                    AttributeValue::S(format!("H#{}", hour_key(now))),
                )
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            for item in out.items() {
                hourly.push(bucket_from_item(item));
            }
            start_key = out.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        let mut total = StatsBucket {
            period: format!("last {window_hours}h"),
            ..Default::default()
        };
        let mut daily: Vec<StatsBucket> = Vec::new();
        for h in &hourly {
            total.absorb(h);
            let day = h.period[..10].to_string();
            match daily.last_mut() {
                Some(d) if d.period == day => d.absorb(h),
                _ => {
                    let mut d = StatsBucket {
                        period: day,
                        ..Default::default()
                    };
                    d.absorb(h);
                    daily.push(d);
                }
            }
        }
        Ok(ProviderStatistics {
            provider: provider.to_string(),
            window_hours,
            total: total.finish(),
            hourly: hourly.into_iter().map(StatsBucket::finish).collect(),
            daily: daily.into_iter().map(StatsBucket::finish).collect(),
        })
    }

    /// The admin listing, newest first, filtered by provider, outcome and time, paged.
    pub async fn list(&self, q: &LogQuery) -> Result<LogPage, LogError> {
        let now = now_utc();
        let parse = |name: &str,
                     v: &Option<String>,
                     default: OffsetDateTime|
         -> Result<OffsetDateTime, InvalidInput> {
            match v {
                None => Ok(default),
                Some(s) => parse_rfc3339(s).ok_or_else(|| {
                    InvalidInput::field(
                        name,
                        "expected an RFC 3339 time such as 2026-11-22T10:00:00Z",
                    )
                }),
            }
        };
        let to = parse("to", &q.to, now)?;
        let from = parse("from", &q.from, now - time::Duration::hours(24))?;
        if from > to {
            return Err(InvalidInput::field("from", "must not be after `to`").into());
        }
        let limit = q.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(InvalidInput::field("limit", "must be between 1 and 100").into());
        }
        let cursor: Option<Cursor> = q.cursor.as_deref().map(crate::cursor::decode).transpose()?;
        let lo = rfc3339(from);
        // `~` sorts after every character of an id, so the upper bound includes `to` itself.
        let hi = format!("{}~", rfc3339(to));

        // Partitions to read, newest first: one per provider, or one per day for all.
        let partitions: Vec<(Option<&str>, String)> = match &q.provider {
            Some(p) => vec![(None, format!("LOG#{p}"))],
            None => {
                let mut days = Vec::new();
                let mut d = to.date();
                while d >= from.date() {
                    days.push((Some("gsi1"), format!("LOGDAY#{d}")));
                    match d.previous_day() {
                        Some(p) => d = p,
                        None => break,
                    }
                }
                days
            }
        };
        let mut items = Vec::new();
        let mut skipping = cursor.is_some();
        for (index, pk) in partitions {
            let (pk_name, sk_name) = if index.is_some() {
                ("gsi1pk", "gsi1sk")
            } else {
                ("pk", "sk")
            };
            let mut upper = hi.clone();
            if skipping {
                let c = cursor.as_ref().expect("skipping implies a cursor");
                if !c.day.is_empty() && c.day != pk {
                    continue;
                }
                skipping = false;
                upper = c.sk.clone();
            }
            let mut start_key = None;
            loop {
                let want = limit as usize - items.len();
                let mut query = self
                    .dynamo
                    .query()
                    .table_name(&self.table)
                    .set_index_name(index.map(str::to_string))
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                    .expression_attribute_names("#pk", pk_name)
                    .expression_attribute_names("#sk", sk_name)
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .expression_attribute_values(":lo", AttributeValue::S(lo.clone()))
                    .expression_attribute_values(":hi", AttributeValue::S(upper.clone()))
                    .scan_index_forward(false)
                    .limit(want as i32)
                    .set_exclusive_start_key(start_key);
                if let Some(o) = q.outcome {
                    query = query
                        .filter_expression("outcome = :o")
                        .expression_attribute_values(":o", AttributeValue::S(o.as_str().into()));
                }
                let out = query
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk("Query", e))?;
                for item in out.items() {
                    if item.get("sk").and_then(|v| v.as_s().ok()) == Some(&upper) {
                        continue; // the cursor item itself (BETWEEN is inclusive)
                    }
                    items.push(
                        serde_dynamo::from_item::<_, LogEntry>(item.clone())
                            .map_err(StoreError::from)?,
                    );
                }
                start_key = out.last_evaluated_key;
                if items.len() >= limit as usize || start_key.is_none() {
                    break;
                }
            }
            if items.len() >= limit as usize {
                items.truncate(limit as usize);
                let last = items.last().expect("limit >= 1");
                let day = if q.provider.is_some() {
                    String::new()
                } else {
                    pk.clone()
                };
                let next = Cursor {
                    day,
                    sk: format!("{}#{}", last.created_at, last.id),
                };
                return Ok(LogPage {
                    items,
                    next_cursor: Some(crate::cursor::encode(&next)),
                });
            }
        }
        Ok(LogPage {
            items,
            next_cursor: None,
        })
    }
}

fn bucket_from_item(item: &HashMap<String, AttributeValue>) -> StatsBucket {
    let num = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let sk = item
        .get("sk")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let hour = sk.trim_start_matches("H#");
    let mut histogram = [0u64; 12];
    for (i, slot) in histogram.iter_mut().enumerate() {
        *slot = num(&format!("b{i:02}"));
    }
    StatsBucket {
        period: format!("{hour}:00:00Z"),
        calls: num("calls"),
        successes: num("successes"),
        failures: num("failures"),
        tokens: num("tokens"),
        latency_sum_ms: num("latency_sum_ms"),
        histogram,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_reads_the_bucket_holding_the_95th_call() {
        let mut h = [0u64; 12];
        h[bucket_index(8)] = 90; // <= 10 ms
        h[bucket_index(400)] = 10; // <= 500 ms
        assert_eq!(percentile(&h, 0.95), Some(500));
        assert_eq!(percentile(&h, 0.5), Some(10));
        assert_eq!(percentile(&[0; 12], 0.95), None);
        assert_eq!(bucket_index(99_999), 11);
    }
}
