//! Async AI jobs: stored in `HUB_TABLE` (`AIJOB#{id}` / `JOB`, TTL), their request and result
//! JSON inline or, past `AI_JOB_INLINE_MAX_BYTES`, in S3; the queue message carries only
//! `{"job_id"}`, so no prompt or medical text ever sits in SQS or its dead-letter queue.
//!
//! Delivery guarantees (docs/ai.md):
//! - Stored, then enqueued: the `PutItem` that stores a job also puts it in the hub table's
//!   `redrive` index (`shared::redrive`). If the process stops or `SendMessage` fails after
//!   the write, the sweeper sends the message again; the client still gets its 202 (the job
//!   is durable) and the job is never deleted.
//! - At most one paid run: a worker claims the job with a conditional `UpdateItem`
//!   (`queued`/`retrying` -> `running`, a fresh claim token, the redrive marker removed in the
//!   same update). A second delivery of the same message (SQS at-least-once, or the sweeper)
//!   finds the job running or finished and does nothing. A claim older than
//!   `AI_JOB_CLAIM_STALE_SECONDS` belongs to a worker that stopped mid-call: its job is marked
//!   `failed` / `provider_outcome_unknown`, never run again.
//! - A provider timeout in the worker is ambiguous (the request was written; the provider may
//!   have run and billed it): the job ends `failed` / `provider_timeout`, without a retry or a
//!   failover.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::engine::{CallMeta, CallMode};
use super::model::{JobError, JobMessage, JobStatus, JobView, Work};
use super::service::AiService;
use super::{AiConfig, AiError};
use crate::clock::{now_rfc3339, now_secs};
use crate::queue::{QueueMessage, WorkError};
use crate::redrive::{self, Redrive};
use crate::store::{StoreError, n, s};
use crate::subscriptions::EventPublisher;

/// What a worker's claim on a job found.
#[derive(Debug)]
pub enum JobClaim {
    /// The job is this worker's to run, under `token`.
    Claimed { job: Box<JobRecord>, token: String },
    /// Already `succeeded` or `failed` (a redelivered message): nothing to run (its outcome
    /// is announced again, under the same event id, in case the first delivery stopped
    /// before announcing).
    Finished(Box<JobRecord>),
    /// Another worker is running it now.
    InFlight,
    /// The worker that claimed it stopped without an outcome (claim older than the stale
    /// limit); the job is now `failed` / `provider_outcome_unknown`.
    TakenOverUnknown(Box<JobRecord>),
    /// No such job (expired or never stored).
    Missing,
}

/// Deliveries after which a job that keeps failing for a retryable reason is marked failed
/// (the queue's maxReceiveCount is 5, so the message never reaches the DLQ unfinished).
pub const MAX_DELIVERIES: u32 = 4;

/// A job item as stored.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: String,
    pub owner: String,
    pub kind: String,
    pub status: JobStatus,
    pub created_at: String,
    pub updated_at: String,
    pub attempts: u32,
    request: Payload,
    result: Option<Payload>,
    error: Option<JobError>,
}

#[derive(Debug, Clone)]
enum Payload {
    Inline(String),
    S3(String),
}

pub struct JobStore {
    dynamo: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    bucket: Option<String>,
    queue_url: Option<String>,
    ttl_secs: u64,
    inline_max: usize,
    redrive_after: std::time::Duration,
    claim_stale_after: std::time::Duration,
}

fn pk(id: &str) -> AttributeValue {
    AttributeValue::S(format!("AIJOB#{id}"))
}

/// The error code of a job whose worker stopped mid-run (see [`JobClaim::TakenOverUnknown`]).
pub const OUTCOME_UNKNOWN: &str = "provider_outcome_unknown";

/// A stored job item as a record.
fn record(id: &str, item: &HashMap<String, AttributeValue>) -> JobRecord {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let payload = |inline: &str, s3: &str| {
        text(inline)
            .map(Payload::Inline)
            .or_else(|| text(s3).map(Payload::S3))
    };
    JobRecord {
        id: id.to_string(),
        owner: text("owner").unwrap_or_default(),
        kind: text("kind").unwrap_or_default(),
        status: JobStatus::parse(&text("status").unwrap_or_default()),
        created_at: text("created_at").unwrap_or_default(),
        updated_at: text("updated_at").unwrap_or_default(),
        attempts: item
            .get("attempts")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        request: payload("request", "request_s3").unwrap_or(Payload::Inline("null".into())),
        result: payload("result", "result_s3"),
        error: text("error_code").map(|code| JobError {
            code,
            message: text("error").unwrap_or_default(),
        }),
    }
}

fn object_store(operation: &'static str) -> impl Fn(String) -> AiError {
    move |message| AiError::ObjectStore { operation, message }
}

impl JobStore {
    /// Jobs in `table` (the hub table), big payloads in the config's bucket, ids queued on
    /// its `AI_JOBS_QUEUE_URL`.
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        s3: aws_sdk_s3::Client,
        sqs: aws_sdk_sqs::Client,
        table: String,
        config: &AiConfig,
    ) -> Self {
        Self {
            dynamo,
            s3,
            sqs,
            table,
            bucket: config.bucket.clone(),
            queue_url: config.jobs_queue_url.clone(),
            ttl_secs: config.job_ttl.as_secs(),
            inline_max: config.inline_max_bytes,
            redrive_after: config.redrive_after,
            claim_stale_after: config.claim_stale_after,
        }
    }

    /// Stores the job (the payload in S3 first when it is big) with its redrive marker, and
    /// queues its id. Once the job is stored the answer is the job: a queue failure is logged
    /// and left to the sweeper, which re-sends the message.
    pub async fn submit(&self, owner: &str, work: &Work) -> Result<JobView, AiError> {
        let Some(queue_url) = &self.queue_url else {
            return Err(AiError::JobsUnavailable);
        };
        let id = uuid::Uuid::now_v7().to_string();
        let json = serde_json::to_string(work).map_err(AiError::internal)?;
        let created = now_rfc3339();
        let expires = now_secs() as u64 + self.ttl_secs;
        let mut item: HashMap<String, AttributeValue> = HashMap::from([
            ("pk".into(), pk(&id)),
            ("sk".into(), s("JOB")),
            ("id".into(), s(&id)),
            ("owner".into(), s(owner)),
            ("kind".into(), s(work.kind())),
            ("status".into(), s(JobStatus::Queued.as_str())),
            ("attempts".into(), n(0)),
            ("created_at".into(), s(&created)),
            ("updated_at".into(), s(&created)),
            ("expires_at".into(), n(expires)),
        ]);
        let (name, value) = self.store_payload(&id, "request", json).await?;
        item.insert(name.into(), value);
        let message =
            serde_json::to_string(&JobMessage { job_id: id.clone() }).map_err(AiError::internal)?;
        Redrive::new("AI_JOBS_QUEUE_URL", message)
            .after(self.redrive_after)
            .mark(&mut item, now_secs());
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        if let Err(e) =
            crate::queue::send_json(&self.sqs, queue_url, &JobMessage { job_id: id.clone() }).await
        {
            // The job is durable and in the redrive index: the sweeper queues it.
            tracing::error!(job_id = %id, error = %e, "could not queue the AI job; the sweeper will re-drive it");
        }
        Ok(JobView {
            id,
            kind: work.kind().into(),
            status: JobStatus::Queued,
            created_at: created.clone(),
            updated_at: created,
            attempts: 0,
            result: None,
            error: None,
        })
    }

    /// `(attribute, value)`: the JSON inline, or its S3 key after writing it there.
    async fn store_payload(
        &self,
        id: &str,
        what: &str,
        json: String,
    ) -> Result<(&'static str, AttributeValue), AiError> {
        if json.len() <= self.inline_max {
            return Ok((
                if what == "request" {
                    "request"
                } else {
                    "result"
                },
                s(json),
            ));
        }
        let Some(bucket) = &self.bucket else {
            return Err(AiError::PayloadTooLarge);
        };
        let key = format!("ai-jobs/{id}/{what}.json");
        self.s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(aws_sdk_s3::primitives::ByteStream::from(json.into_bytes()))
            .send()
            .await
            .map_err(|e| object_store("PutObject")(format!("{e:?}")))?;
        Ok((
            if what == "request" {
                "request_s3"
            } else {
                "result_s3"
            },
            s(key),
        ))
    }

    async fn load_payload(&self, p: &Payload) -> Result<String, AiError> {
        match p {
            Payload::Inline(j) => Ok(j.clone()),
            Payload::S3(key) => {
                let bucket = self
                    .bucket
                    .as_ref()
                    .ok_or_else(|| AiError::internal("UPLOADS_BUCKET is not configured"))?;
                let out = self
                    .s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| object_store("GetObject")(format!("{e:?}")))?;
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| object_store("GetObject")(e.to_string()))?
                    .into_bytes();
                String::from_utf8(bytes.to_vec()).map_err(AiError::internal)
            }
        }
    }

    async fn item(&self, id: &str) -> Result<Option<HashMap<String, AttributeValue>>, AiError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(id))
            .key("sk", s("JOB"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item)
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, AiError> {
        Ok(self.item(id).await?.map(|item| record(id, &item)))
    }

    /// The API view, with the result read back (from S3 if it went there).
    pub async fn view(&self, job: &JobRecord) -> Result<JobView, AiError> {
        let result = match &job.result {
            Some(p) => Some(
                serde_json::from_str(&self.load_payload(p).await?).map_err(AiError::internal)?,
            ),
            None => None,
        };
        Ok(JobView {
            id: job.id.clone(),
            kind: job.kind.clone(),
            status: job.status,
            created_at: job.created_at.clone(),
            updated_at: job.updated_at.clone(),
            attempts: job.attempts,
            result,
            error: job.error.clone(),
        })
    }

    pub async fn request(&self, job: &JobRecord) -> Result<Work, AiError> {
        serde_json::from_str(&self.load_payload(&job.request).await?).map_err(AiError::internal)
    }

    /// Claims the job for one run: a conditional `UpdateItem` (`queued`/`retrying` ->
    /// `running`, a new claim token, the redrive marker removed) that returns the job. When the
    /// condition fails, one read says why (finished, in flight, stale, missing).
    pub async fn claim(&self, id: &str) -> Result<JobClaim, AiError> {
        let token = uuid::Uuid::new_v4().to_string();
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(id))
            .key("sk", s("JOB"))
            .update_expression(format!(
                "SET #st = :running, claim_token = :token, claimed_at = :now_secs, updated_at = :now \
                 ADD attempts :one REMOVE {}",
                redrive::REMOVE_ATTRIBUTES
            ))
            .condition_expression("attribute_exists(pk) AND #st IN (:queued, :retrying)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":retrying", s(JobStatus::Retrying.as_str()))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":now_secs", n(now_secs()))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match res {
            Ok(out) => Ok(JobClaim::Claimed {
                job: Box::new(record(id, &out.attributes.unwrap_or_default())),
                token,
            }),
            Err(StoreError::ConditionFailed) => {
                let Some(job) = self.item(id).await? else {
                    return Ok(JobClaim::Missing);
                };
                let record = record(id, &job);
                if record.status.is_final() {
                    return Ok(JobClaim::Finished(Box::new(record)));
                }
                let claimed_at = job
                    .get("claimed_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0);
                let stale = claimed_at + (self.claim_stale_after.as_secs() as i64) < now_secs();
                if record.status != JobStatus::Running || !stale {
                    return Ok(JobClaim::InFlight);
                }
                let old = job
                    .get("claim_token")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                self.take_over(record, &old).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A worker claimed the job and stopped without recording what happened: the provider may
    /// have run it. The job ends `failed` with an unknown outcome instead of a second run. The
    /// claim token is kept, so that worker's late result (if it is alive after all) still lands.
    async fn take_over(&self, record: JobRecord, old_token: &str) -> Result<JobClaim, AiError> {
        let id = record.id.as_str();
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(id))
            .key("sk", s("JOB"))
            .update_expression("SET #st = :failed, error_code = :code, #err = :msg, updated_at = :now")
            .condition_expression("#st = :running AND claim_token = :old")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":old", s(old_token))
            .expression_attribute_values(":code", s(OUTCOME_UNKNOWN))
            .expression_attribute_values(
                ":msg",
                s("the worker running this job stopped before recording its outcome; the provider may have run it, so it is not run again"),
            )
            .expression_attribute_values(":now", s(now_rfc3339()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match res {
            Ok(_) => Ok(JobClaim::TakenOverUnknown(Box::new(JobRecord {
                status: JobStatus::Failed,
                error: Some(JobError {
                    code: OUTCOME_UNKNOWN.into(),
                    message: String::new(),
                }),
                ..record
            }))),
            // Finished (or taken over) meanwhile.
            Err(StoreError::ConditionFailed) => Ok(JobClaim::InFlight),
            Err(e) => Err(e.into()),
        }
    }

    /// Records the run's outcome, if the claim is still this worker's (`claim_token`).
    async fn finish(
        &self,
        id: &str,
        token: &str,
        status: JobStatus,
        result: Option<&Value>,
        error: Option<(&str, &str)>,
    ) -> Result<(), AiError> {
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(id))
            .key("sk", s("JOB"))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":now", s(now_rfc3339()));
        let mut set = vec!["#st = :st", "updated_at = :now"];
        let mut remove = Vec::new();
        if let Some(r) = result {
            let (name, value) = self.store_payload(id, "result", r.to_string()).await?;
            set.push(if name == "result" {
                "#res = :res"
            } else {
                "#res_s3 = :res"
            });
            update = update
                .expression_attribute_names(if name == "result" { "#res" } else { "#res_s3" }, name)
                .expression_attribute_values(":res", value);
            remove.extend(["error_code", "#err"]);
            update = update.expression_attribute_names("#err", "error");
        }
        if let Some((code, message)) = error {
            set.extend(["error_code = :code", "#err = :msg"]);
            update = update
                .expression_attribute_names("#err", "error")
                .expression_attribute_values(":code", s(code))
                .expression_attribute_values(":msg", s(message));
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        update
            .update_expression(expr)
            .condition_expression("claim_token = :token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }
}

/// Announced when a job succeeded; a transcription job also announces
/// [`EVENT_TRANSCRIPTION_COMPLETED`].
pub const EVENT_JOB_SUCCEEDED: &str = "ai.job.succeeded";
/// Announced when a job failed for good (not while it waits for a retry).
pub const EVENT_JOB_FAILED: &str = "ai.job.failed";
pub const EVENT_TRANSCRIPTION_COMPLETED: &str = "transcription.completed";

/// The worker's state: the service that runs the work and the store that holds the jobs.
pub struct JobRunner {
    pub service: AiService,
    pub store: JobStore,
    /// Where finished jobs are announced; `None`: nowhere.
    events: Option<EventPublisher>,
}

impl JobRunner {
    pub fn new(service: AiService, store: JobStore) -> Self {
        Self {
            service,
            store,
            events: None,
        }
    }

    pub fn with_events(mut self, events: EventPublisher) -> Self {
        self.events = Some(events);
        self
    }

    /// Announces a finished job (ids, kind, status, error code: never the prompt or the
    /// answer, which the owner reads from `GET /ai/jobs/{id}`). Keyed by the job id: a
    /// redelivery announces the same events. A failure sends the message back, and the
    /// redelivery (finding the job finished) announces again.
    async fn announce(
        &self,
        job_id: &str,
        kind: &str,
        owner: &str,
        status: JobStatus,
        error_code: Option<&str>,
    ) -> Result<(), WorkError> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        let mut data = serde_json::json!({
            "job_id": job_id,
            "kind": kind,
            "status": status.as_str(),
            "user_id": owner,
        });
        if let Some(code) = error_code {
            data["error_code"] = serde_json::json!(code);
        }
        let mut types = match status {
            JobStatus::Succeeded => vec![EVENT_JOB_SUCCEEDED],
            JobStatus::Failed => vec![EVENT_JOB_FAILED],
            _ => return Ok(()),
        };
        if status == JobStatus::Succeeded && kind == "transcribe" {
            types.push(EVENT_TRANSCRIPTION_COMPLETED);
        }
        for event in types {
            events
                .publish_once(event, job_id, data.clone())
                .await
                .map_err(|e| WorkError::Retry(format!("announcing job {job_id}: {e}")))?;
        }
        Ok(())
    }

    async fn announce_record(&self, job: &JobRecord) -> Result<(), WorkError> {
        let code = job.error.as_ref().map(|e| e.code.as_str());
        self.announce(&job.id, &job.kind, &job.owner, job.status, code)
            .await
    }

    /// Runs one queue message's job: claims it (a finished, running or missing job is left
    /// alone), runs it with the async budget, and stores its result, its retryable failure
    /// (the message comes back) or its final failure.
    pub async fn run(&self, msg: QueueMessage) -> Result<(), WorkError> {
        let store = &self.store;
        let JobMessage { job_id } = msg.json()?;
        let claim = store
            .claim(&job_id)
            .await
            .map_err(|e| WorkError::Retry(format!("claiming job {job_id}: {e}")))?;
        let (job, token) = match claim {
            JobClaim::Claimed { job, token } => (job, token),
            JobClaim::Missing => {
                return Err(WorkError::Poison(format!(
                    "job {job_id} does not exist (expired or never stored)"
                )));
            }
            // Another worker runs it: come back later (it finishes, or its claim goes stale
            // and the job is recorded as an unknown outcome); never run it alongside.
            JobClaim::InFlight => {
                return Err(WorkError::Retry(format!(
                    "job {job_id} is being run by another worker"
                )));
            }
            JobClaim::Finished(job) | JobClaim::TakenOverUnknown(job) => {
                tracing::info!(
                    job_id,
                    status = job.status.as_str(),
                    "job already handled; delivery ignored"
                );
                return self.announce_record(&job).await;
            }
        };
        let work = match store.request(&job).await {
            Ok(work) => work,
            Err(e) => {
                // Nothing was sent: hand the job back for the next delivery.
                let _ = store
                    .finish(&job_id, &token, JobStatus::Retrying, None, None)
                    .await;
                return Err(WorkError::Retry(format!(
                    "reading job {job_id}'s request: {e}"
                )));
            }
        };
        let meta = CallMeta {
            request_id: msg.message_id.clone(),
            reference: Some(job_id.clone()),
        };
        let (status, result, error) = match self
            .service
            .execute(&work, CallMode::Async, &meta)
            .await
        {
            Ok(result) => (JobStatus::Succeeded, Some(result), None),
            Err(f) => {
                let status = if f.is_retryable() && msg.receive_count < MAX_DELIVERIES {
                    JobStatus::Retrying
                } else {
                    JobStatus::Failed
                };
                let message = if f.is_ambiguous() {
                    format!(
                        "{f}; the request was sent and may have run (and been billed), so it is not retried"
                    )
                } else {
                    f.to_string()
                };
                (status, None, Some((f.job_code(), message)))
            }
        };
        store
            .finish(
                &job_id,
                &token,
                status,
                result.as_ref(),
                error.as_ref().map(|(c, m)| (c.as_str(), m.as_str())),
            )
            .await
            .map_err(|e| WorkError::Retry(e.to_string()))?;
        self.announce(
            &job_id,
            &job.kind,
            &job.owner,
            status,
            error.as_ref().map(|(c, _)| c.as_str()),
        )
        .await?;
        match (status, error) {
            (JobStatus::Retrying, Some((code, _))) => {
                Err(WorkError::Retry(format!("job {job_id}: {code}")))
            }
            (JobStatus::Failed, Some((code, _))) => {
                tracing::warn!(job_id, code = %code, "AI job failed");
                Ok(())
            }
            _ => {
                tracing::info!(job_id, kind = work.kind(), "AI job succeeded");
                Ok(())
            }
        }
    }
}
