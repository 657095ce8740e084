//! Async AI jobs: stored in `HUB_TABLE` (`AIJOB#{id}` / `JOB`, TTL), their request and result
//! JSON inline or, past `AI_JOB_INLINE_MAX_BYTES`, in S3; the queue message carries only
//! `{"job_id"}`, so no prompt or medical text ever sits in SQS or its dead-letter queue.
//!
//! The worker is idempotent: a job already `succeeded` or `failed` is skipped when its
//! message comes again, so a redelivery never calls a provider twice for finished work.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::AiConfig;
use super::engine::{CallMeta, CallMode};
use super::service::{AiService, Work};
use crate::error::ApiError;
use crate::integration_log::rfc3339;
use crate::queue::{QueueMessage, WorkError};

/// Deliveries after which a job that keeps failing for a retryable reason is marked failed
/// (the queue's maxReceiveCount is 5, so the message never reaches the DLQ unfinished).
pub const MAX_DELIVERIES: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    /// Failed for a passing reason; SQS will deliver it again.
    Retrying,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "running" => JobStatus::Running,
            "retrying" => JobStatus::Retrying,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            _ => JobStatus::Queued,
        }
    }
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// The queue message: the job id and nothing else.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: String,
    /// `generate`, `analyze` or `transcribe`.
    pub kind: String,
    pub status: JobStatus,
    pub created_at: String,
    pub updated_at: String,
    /// Deliveries so far.
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
}

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
}

fn pk(id: &str) -> AttributeValue {
    AttributeValue::S(format!("AIJOB#{id}"))
}

use crate::store::s;

fn now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

impl JobStore {
    pub fn new(ctx: &crate::HubContext, config: &AiConfig) -> Self {
        Self {
            dynamo: ctx.aws.dynamo.clone(),
            s3: ctx.aws.s3.clone(),
            sqs: ctx.aws.sqs.clone(),
            table: ctx.config.hub_table.clone(),
            bucket: config.bucket.clone(),
            queue_url: config.jobs_queue_url.clone(),
            ttl_secs: config.job_ttl.as_secs(),
            inline_max: config.inline_max_bytes,
        }
    }

    pub fn can_enqueue(&self) -> bool {
        self.queue_url.is_some()
    }

    /// Stores the job (the payload in S3 first when it is big) and queues its id.
    pub async fn submit(&self, owner: &str, work: &Work) -> Result<JobView, ApiError> {
        let Some(queue_url) = &self.queue_url else {
            return Err(ApiError::unavailable(
                "ai_jobs_unavailable",
                "async AI jobs are not configured (AI_JOBS_QUEUE_URL)",
            ));
        };
        let id = uuid::Uuid::now_v7().to_string();
        let json = serde_json::to_string(work).map_err(ApiError::internal)?;
        let created = now();
        let expires =
            (OffsetDateTime::now_utc().unix_timestamp() as u64 + self.ttl_secs).to_string();
        let mut item: HashMap<String, AttributeValue> = HashMap::from([
            ("pk".into(), pk(&id)),
            ("sk".into(), s("JOB")),
            ("id".into(), s(&id)),
            ("owner".into(), s(owner)),
            ("kind".into(), s(work.kind())),
            ("status".into(), s(JobStatus::Queued.as_str())),
            ("attempts".into(), AttributeValue::N("0".into())),
            ("created_at".into(), s(&created)),
            ("updated_at".into(), s(&created)),
            ("expires_at".into(), AttributeValue::N(expires)),
        ]);
        let (name, value) = self.store_payload(&id, "request", json).await?;
        item.insert(name.into(), value);
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        crate::queue::send_json(&self.sqs, queue_url, &JobMessage { job_id: id.clone() }).await?;
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
    ) -> Result<(&'static str, AttributeValue), ApiError> {
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
            return Err(ApiError::payload_too_large(
                "the AI payload is too large to store without UPLOADS_BUCKET",
            ));
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
            .map_err(|e| ApiError::internal(format!("S3 PutObject: {e:?}")))?;
        Ok((
            if what == "request" {
                "request_s3"
            } else {
                "result_s3"
            },
            s(key),
        ))
    }

    async fn load_payload(&self, p: &Payload) -> Result<String, ApiError> {
        match p {
            Payload::Inline(j) => Ok(j.clone()),
            Payload::S3(key) => {
                let bucket = self
                    .bucket
                    .as_ref()
                    .ok_or_else(|| ApiError::internal("UPLOADS_BUCKET is not configured"))?;
                let out = self
                    .s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| ApiError::internal(format!("S3 GetObject: {e:?}")))?;
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(ApiError::internal)?
                    .into_bytes();
                String::from_utf8(bytes.to_vec()).map_err(ApiError::internal)
            }
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, ApiError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(id))
            .key("sk", s("JOB"))
            .consistent_read(true)
            .send()
            .await?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let payload = |inline: &str, s3: &str| {
            text(inline)
                .map(Payload::Inline)
                .or_else(|| text(s3).map(Payload::S3))
        };
        Ok(Some(JobRecord {
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
        }))
    }

    /// The API view, with the result read back (from S3 if it went there).
    pub async fn view(&self, job: &JobRecord) -> Result<JobView, ApiError> {
        let result = match &job.result {
            Some(p) => Some(
                serde_json::from_str(&self.load_payload(p).await?).map_err(ApiError::internal)?,
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

    pub async fn request(&self, job: &JobRecord) -> Result<Work, ApiError> {
        serde_json::from_str(&self.load_payload(&job.request).await?).map_err(ApiError::internal)
    }

    /// Marks the job running unless it is already finished; false when it is.
    async fn start(&self, id: &str) -> Result<bool, ApiError> {
        let res = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(id))
            .key("sk", s("JOB"))
            .update_expression("SET #st = :running, updated_at = :now ADD attempts :one")
            .condition_expression("attribute_exists(pk) AND NOT #st IN (:ok, :failed)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":ok", s("succeeded"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":now", s(now()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn finish(
        &self,
        id: &str,
        status: JobStatus,
        result: Option<&Value>,
        error: Option<(&str, &str)>,
    ) -> Result<(), ApiError> {
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(id))
            .key("sk", s("JOB"))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":now", s(now()));
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
        update.update_expression(expr).send().await?;
        Ok(())
    }
}

/// The worker's handler for one queue message.
pub async fn handle(
    service: &AiService,
    store: &JobStore,
    msg: QueueMessage,
) -> Result<(), WorkError> {
    let JobMessage { job_id } = msg.json()?;
    let job = store
        .get(&job_id)
        .await
        .map_err(|e| WorkError::Retry(format!("reading job {job_id}: {}", e.detail)))?
        .ok_or_else(|| {
            WorkError::Poison(format!(
                "job {job_id} does not exist (expired or never stored)"
            ))
        })?;
    if job.status.is_final() {
        tracing::info!(
            job_id,
            status = job.status.as_str(),
            "job already finished; skipping the redelivery"
        );
        return Ok(());
    }
    if !store
        .start(&job_id)
        .await
        .map_err(|e| WorkError::Retry(e.detail))?
    {
        return Ok(());
    }
    let work = store
        .request(&job)
        .await
        .map_err(|e| WorkError::Retry(format!("reading job {job_id}'s request: {}", e.detail)))?;
    let meta = CallMeta {
        request_id: msg.message_id.clone(),
        reference: Some(job_id.clone()),
    };
    match service.execute(&work, CallMode::Async, &meta).await {
        Ok(result) => {
            store
                .finish(&job_id, JobStatus::Succeeded, Some(&result), None)
                .await
                .map_err(|e| WorkError::Retry(e.detail))?;
            tracing::info!(job_id, kind = work.kind(), "AI job succeeded");
            Ok(())
        }
        Err(f) if f.retryable && msg.receive_count < MAX_DELIVERIES => {
            store
                .finish(
                    &job_id,
                    JobStatus::Retrying,
                    None,
                    Some((&f.code, &f.message)),
                )
                .await
                .map_err(|e| WorkError::Retry(e.detail))?;
            Err(WorkError::Retry(format!("job {job_id}: {}", f.code)))
        }
        Err(f) => {
            store
                .finish(
                    &job_id,
                    JobStatus::Failed,
                    None,
                    Some((&f.code, &f.message)),
                )
                .await
                .map_err(|e| WorkError::Retry(e.detail))?;
            tracing::warn!(job_id, code = %f.code, "AI job failed");
            Ok(())
        }
    }
}
