//! The SMS service: validation, routing with failover, single sends, bulk batches, the
//! worker's chunk processing and status refresh. Built once per cold start.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::provider::{ConsoleSms, ItemResult, KavenegarSms, TwilioSms};
use super::store::{BatchRecord, ChunkItem, ChunkResult, Claim, SmsRecord, SmsStore, now_rfc3339};
use super::{
    MAX_BULK_RECEPTORS, MAX_TEXT_CHARS, MAX_TOKEN_CHARS, MessageType, Outgoing, Phone, SmsConfig,
    SmsContent, SmsProvider, SmsStatus,
};
use crate::config::ConfigError;
use crate::context::HubContext;
use crate::error::ApiError;
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::queue::WorkError;

/// Receptors per chunk: one Kavenegar `sms/send` (or `sendarray`) call.
pub const CHUNK_RECEPTORS: usize = crate::providers::kavenegar::MAX_RECEPTORS_PER_CALL;
/// Text bytes per chunk item, well under DynamoDB's 400 KB item limit.
const CHUNK_MAX_TEXT_BYTES: usize = 300_000;

/// `POST /api/integrations/sms/send` (the Helsa body).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// `09123456789`, `+989123456789`, `0098…`, Persian/Arabic digits, or E.164 for other countries.
    #[schema(example = "09123456789")]
    pub receptor: String,
    pub message_type: MessageType,
    /// Template name (OTP: default `SMS_OTP_TEMPLATE`, `verify`; pattern: required).
    #[schema(example = "verify")]
    pub template: Option<String>,
    /// OTP code / first pattern token (no whitespace, at most 100 characters).
    #[schema(example = "12345")]
    pub token: Option<String>,
    pub token2: Option<String>,
    pub token3: Option<String>,
    /// The text of a `text` message (at most 1000 characters).
    pub message: Option<String>,
    /// The user a service sends for (counts against that user's SMS limit).
    pub user_id: Option<String>,
}

/// The answer to a send.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SendResult {
    pub message_id: String,
    pub message_ids: Vec<String>,
    /// E.164.
    pub receptor: String,
    pub message_type: MessageType,
    /// `kavenegar`, `twilio` or `console`.
    pub provider: String,
    pub status: SmsStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
}

/// `POST /api/integrations/sms/bulk`: one `message` for all `receptors`, or `messages`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub receptors: Option<Vec<String>>,
    pub message: Option<String>,
    pub messages: Option<Vec<BulkMessage>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkMessage {
    pub receptor: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkAccepted {
    pub batch_id: String,
    pub status: String,
    /// Messages queued (after removing repeated receptors of a one-text batch).
    pub total: usize,
    pub duplicates_removed: usize,
    pub chunks: usize,
    /// Message ids are `{batch_id}-{position}`, position in the request's list.
    pub message_id_prefix: String,
}

/// A batch as `GET /api/integrations/sms/batches/{id}` answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    #[serde(flatten)]
    pub batch: BatchRecord,
    /// `queued` (nothing sent yet), `processing`, `completed`.
    pub status: String,
}

impl From<BatchRecord> for BatchView {
    fn from(batch: BatchRecord) -> Self {
        let status = if batch.queued <= 0 {
            "completed"
        } else if batch.sent + batch.failed == 0 {
            "queued"
        } else {
            "processing"
        };
        BatchView {
            status: status.into(),
            batch,
        }
    }
}

/// The SQS body of a bulk chunk: ids only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkMessage {
    pub batch_id: String,
    pub chunk: u32,
}

/// One message's outcome: who handled it and what they said.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub provider: &'static str,
    pub result: ItemResult,
}

/// What the worker did with a chunk message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    Sent {
        sent: usize,
        failed: usize,
    },
    /// A redelivery of a chunk already sent: nothing sent again.
    AlreadyDone,
    /// A dead worker's claim taken over: its messages recorded as `unknown`.
    Interrupted {
        receptors: usize,
    },
}

fn validate_token(
    field: &str,
    v: &Option<String>,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") if required => Err(ApiError::invalid_field(
            field,
            "is required for this message_type",
        )),
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > MAX_TOKEN_CHARS => {
            Err(ApiError::invalid_field(field, "at most 100 characters"))
        }
        Some(t) if t.chars().any(char::is_whitespace) => Err(ApiError::invalid_field(
            field,
            "must not contain spaces (Kavenegar rejects them)",
        )),
        Some(t) => Ok(Some(t.to_string())),
    }
}

fn validate_template(v: Option<&str>) -> Result<String, ApiError> {
    let t = v.unwrap_or_default().trim();
    if t.is_empty() {
        return Err(ApiError::invalid_field(
            "template",
            "is required for this message_type",
        ));
    }
    if t.len() > 100
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(ApiError::invalid_field(
            "template",
            "letters, digits, '_', '-' and '.', at most 100",
        ));
    }
    Ok(t.to_string())
}

pub fn validate_text(field: &str, v: &str) -> Result<String, ApiError> {
    if v.trim().is_empty() {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    if v.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(v.to_string())
}

impl SendRequest {
    /// Checks the request; field errors name the field.
    pub fn validate(&self, config: &SmsConfig) -> Result<(Phone, SmsContent), ApiError> {
        let phone = Phone::parse(&self.receptor).map_err(|e| e.for_field("receptor"))?;
        let reject = |field: &str, present: bool| -> Result<(), ApiError> {
            if present {
                Err(ApiError::invalid_field(
                    field,
                    format!("is not used by message_type {}", self.message_type.as_str()),
                ))
            } else {
                Ok(())
            }
        };
        let content = match self.message_type {
            MessageType::Otp => {
                reject("message", self.message.is_some())?;
                reject("token2", self.token2.is_some())?;
                reject("token3", self.token3.is_some())?;
                let template = validate_template(Some(
                    self.template.as_deref().unwrap_or(&config.otp_template),
                ))?;
                let token = validate_token("token", &self.token, true)?.unwrap_or_default();
                SmsContent::Otp { template, token }
            }
            MessageType::Pattern => {
                reject("message", self.message.is_some())?;
                let template = validate_template(self.template.as_deref())?;
                let tokens = [
                    validate_token("token", &self.token, true)?,
                    validate_token("token2", &self.token2, false)?,
                    validate_token("token3", &self.token3, false)?,
                ];
                SmsContent::Pattern { template, tokens }
            }
            MessageType::Text => {
                for (f, present) in [
                    ("template", self.template.is_some()),
                    ("token", self.token.is_some()),
                    ("token2", self.token2.is_some()),
                    ("token3", self.token3.is_some()),
                ] {
                    reject(f, present)?;
                }
                let message = self.message.as_deref().ok_or_else(|| {
                    ApiError::invalid_field("message", "is required for message_type text")
                })?;
                SmsContent::Text {
                    message: validate_text("message", message)?,
                }
            }
        };
        Ok((phone, content))
    }
}

/// A bulk request, checked: receptors in order with their text.
pub struct ValidBulk {
    pub items: Vec<(u32, Phone, Arc<SmsContent>)>,
    pub duplicates_removed: usize,
}

impl BulkRequest {
    pub fn validate(&self) -> Result<ValidBulk, ApiError> {
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut items = Vec::new();
        let mut duplicates_removed = 0;
        match (&self.receptors, &self.message, &self.messages) {
            (Some(receptors), Some(message), None) => {
                let text = Arc::new(SmsContent::Text {
                    message: validate_text("message", message)?,
                });
                check_count("receptors", receptors.len())?;
                let mut seen = HashSet::new();
                for (i, r) in receptors.iter().enumerate() {
                    match Phone::parse(r) {
                        Ok(p) if !seen.insert(p.clone()) => duplicates_removed += 1,
                        Ok(p) => items.push((i as u32, p, text.clone())),
                        Err(e) => errors.push((format!("receptors[{i}]"), e.0.to_string())),
                    }
                }
            }
            (None, None, Some(messages)) => {
                check_count("messages", messages.len())?;
                for (i, m) in messages.iter().enumerate() {
                    let phone = Phone::parse(&m.receptor)
                        .map_err(|e| (format!("messages[{i}].receptor"), e.0.to_string()));
                    let text = validate_text(&format!("messages[{i}].message"), &m.message)
                        .map_err(|e| (e.errors[0].field.clone(), e.errors[0].message.clone()));
                    match (phone, text) {
                        (Ok(p), Ok(t)) => {
                            items.push((i as u32, p, Arc::new(SmsContent::Text { message: t })))
                        }
                        (p, t) => errors.extend(p.err().into_iter().chain(t.err())),
                    }
                }
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_bulk",
                    "send either `receptors` with one `message`, or `messages` (a list of {receptor, message})",
                )
                .with_field("receptors", "give receptors + message, or messages"));
            }
        }
        if !errors.is_empty() {
            let total = errors.len();
            let mut e = ApiError::invalid_field(errors[0].0.clone(), errors[0].1.clone());
            e.detail = format!(
                "{total} invalid entr{} (the first 20 are listed)",
                if total == 1 { "y" } else { "ies" }
            );
            for (f, m) in errors.into_iter().skip(1).take(19) {
                e = e.with_field(f, m);
            }
            return Err(e);
        }
        Ok(ValidBulk {
            items,
            duplicates_removed,
        })
    }
}

fn check_count(field: &str, n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    if n > MAX_BULK_RECEPTORS {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {MAX_BULK_RECEPTORS} receptors per batch"),
        ));
    }
    Ok(())
}

/// Splits a batch into chunks: receptors of one route (Iranian or not), at most 200, and
/// at most ~300 KB of text each.
pub fn plan_chunks(
    batch_id: &str,
    user_id: &str,
    items: &[(u32, Phone, Arc<SmsContent>)],
) -> Vec<ChunkItem> {
    let one_text = items.windows(2).all(|w| Arc::ptr_eq(&w[0].2, &w[1].2));
    let mut chunks = Vec::new();
    for iranian in [true, false] {
        let mut current: Vec<&(u32, Phone, Arc<SmsContent>)> = Vec::new();
        let mut bytes = 0;
        let text_of = |c: &SmsContent| match c {
            SmsContent::Text { message } => message.clone(),
            _ => String::new(),
        };
        let mut flush = |current: &mut Vec<&(u32, Phone, Arc<SmsContent>)>| {
            if current.is_empty() {
                return;
            }
            let first_text = text_of(&current[0].2);
            chunks.push(ChunkItem {
                batch_id: batch_id.to_string(),
                chunk: chunks.len() as u32,
                state: super::store::STATE_PENDING.to_string(),
                receptors: current.iter().map(|i| i.1.e164().to_string()).collect(),
                positions: current.iter().map(|i| i.0).collect(),
                message: one_text.then_some(first_text),
                messages: (!one_text).then(|| current.iter().map(|i| text_of(&i.2)).collect()),
                user_id: user_id.to_string(),
                claimed_by: None,
                claimed_at: None,
                results: None,
                records_written: false,
            });
            current.clear();
        };
        for item in items.iter().filter(|i| i.1.is_iranian() == iranian) {
            let len = if one_text { 0 } else { text_of(&item.2).len() };
            if current.len() == CHUNK_RECEPTORS
                || (bytes + len > CHUNK_MAX_TEXT_BYTES && !current.is_empty())
            {
                flush(&mut current);
                bytes = 0;
            }
            bytes += len;
            current.push(item);
        }
        flush(&mut current);
    }
    chunks
}

/// The SMS capability. Built once per cold start from the hub context.
pub struct SmsService {
    pub ctx: Arc<HubContext>,
    pub config: Arc<SmsConfig>,
    pub store: SmsStore,
    kavenegar: Arc<dyn SmsProvider>,
    twilio: Arc<dyn SmsProvider>,
    console: Arc<dyn SmsProvider>,
}

impl SmsService {
    pub fn new(ctx: Arc<HubContext>, config: SmsConfig) -> Self {
        let config = Arc::new(config);
        Self {
            store: SmsStore::from_ctx(&ctx, config.message_ttl),
            kavenegar: Arc::new(KavenegarSms::new(ctx.clone(), config.clone())),
            twilio: Arc::new(TwilioSms::new(ctx.clone(), config.clone())),
            console: Arc::new(ConsoleSms::new(ctx.clone())),
            config,
            ctx,
        }
    }

    /// Reads [`SmsConfig`] from the context's environment.
    pub fn from_ctx(ctx: Arc<HubContext>) -> Result<Self, ConfigError> {
        let config = SmsConfig::from_env(&ctx.env)?;
        Ok(Self::new(ctx, config))
    }

    pub fn provider(&self, slug: &str) -> Option<&Arc<dyn SmsProvider>> {
        [&self.kavenegar, &self.twilio, &self.console]
            .into_iter()
            .find(|p| p.slug() == slug)
    }

    /// The providers to try, in order: `+98` numbers Kavenegar then Twilio, others Twilio
    /// then Kavenegar; only configured ones; the console when none is.
    pub async fn route(&self, iranian: bool) -> Vec<Arc<dyn SmsProvider>> {
        let order = if iranian {
            [&self.kavenegar, &self.twilio]
        } else {
            [&self.twilio, &self.kavenegar]
        };
        let (a, b) = tokio::join!(order[0].is_configured(), order[1].is_configured());
        let route: Vec<Arc<dyn SmsProvider>> = [(a, order[0]), (b, order[1])]
            .into_iter()
            .filter(|(ok, _)| *ok)
            .map(|(_, p)| p.clone())
            .collect();
        if route.is_empty() {
            vec![self.console.clone()]
        } else {
            route
        }
    }

    /// Sends every item through its route, failing over per item where the error allows.
    /// One result per item, in order.
    pub async fn deliver(&self, request_id: &str, items: &[Outgoing]) -> Vec<Delivery> {
        let mut out: Vec<Option<Delivery>> = vec![None; items.len()];
        for iranian in [true, false] {
            let mut pending: Vec<usize> = (0..items.len())
                .filter(|&k| items[k].phone.is_iranian() == iranian)
                .collect();
            if pending.is_empty() {
                continue;
            }
            let route = self.route(iranian).await;
            for (pos, provider) in route.iter().enumerate() {
                let last = pos + 1 == route.len();
                let part: Vec<Outgoing> = pending.iter().map(|&k| items[k].clone()).collect();
                match provider.send(request_id, &part).await {
                    Err(e) if !last && e.should_fail_over() => {
                        tracing::warn!(provider = provider.slug(), code = %e.code, receptors = part.len(), "failing over to the next SMS provider");
                    }
                    Err(e) => {
                        for &k in &pending {
                            out[k] = Some(Delivery {
                                provider: provider.slug(),
                                result: Err(e.clone()),
                            });
                        }
                        pending.clear();
                    }
                    Ok(results) => {
                        let mut next = Vec::new();
                        let mut results = results.into_iter();
                        for &k in &pending {
                            let r = results.next().unwrap_or_else(|| {
                                Err(ProviderError::new(
                                    provider.slug(),
                                    ProviderErrorKind::Malformed,
                                    format!("{}_missing_result", provider.slug()),
                                    "no result for this receptor",
                                ))
                            });
                            match r {
                                Err(e) if !last && e.should_fail_over() => next.push(k),
                                r => {
                                    out[k] = Some(Delivery {
                                        provider: provider.slug(),
                                        result: r,
                                    })
                                }
                            }
                        }
                        if !next.is_empty() {
                            tracing::warn!(
                                provider = provider.slug(),
                                receptors = next.len(),
                                "failing over to the next SMS provider"
                            );
                        }
                        pending = next;
                    }
                }
                if pending.is_empty() {
                    break;
                }
            }
        }
        out.into_iter()
            .map(|d| d.expect("every item gets a delivery"))
            .collect()
    }

    /// One message (OTP, pattern or text): sent, stored, answered.
    pub async fn send(
        &self,
        phone: Phone,
        content: SmsContent,
        user_id: &str,
        request_id: &str,
    ) -> Result<SendResult, ApiError> {
        let id = uuid::Uuid::now_v7().to_string();
        let message_type = content.message_type();
        let items = [Outgoing {
            phone: phone.clone(),
            content: Arc::new(content),
        }];
        let delivery = self.deliver(request_id, &items).await.remove(0);
        let now = now_rfc3339();
        let mut record = SmsRecord {
            id: id.clone(),
            receptor: phone.e164().to_string(),
            message_type,
            provider: delivery.provider.to_string(),
            provider_message_id: None,
            status: SmsStatus::Failed,
            provider_status: None,
            error_code: None,
            batch_id: None,
            user_id: user_id.to_string(),
            created_at: now.clone(),
            updated_at: now,
        };
        match delivery.result {
            Ok(acc) => {
                record.provider_message_id = acc.provider_message_id;
                record.status = acc.status;
                record.provider_status = acc.provider_status;
                self.store.put_message(&record).await?;
                Ok(SendResult {
                    message_ids: vec![id.clone()],
                    message_id: id,
                    receptor: record.receptor,
                    message_type,
                    provider: record.provider,
                    status: record.status,
                    provider_message_id: record.provider_message_id,
                })
            }
            Err(e) => {
                // Kept so the failure can be looked up by id; the problem names it.
                record.error_code = Some(e.code.clone());
                self.store.put_message(&record).await?;
                let mut problem = e.to_api_error();
                problem.detail = format!("{} (message id {id})", problem.detail);
                Err(problem)
            }
        }
    }

    /// Stores a bulk batch and queues its chunks (ids only). Answers the batch and the number
    /// of `SendMessageBatch` calls made.
    pub async fn create_bulk(
        &self,
        bulk: ValidBulk,
        user_id: &str,
    ) -> Result<(BulkAccepted, usize), ApiError> {
        let queue = self.config.bulk_queue_url.as_deref().ok_or_else(|| {
            ApiError::unavailable("bulk_not_configured", "bulk SMS needs SMS_BULK_QUEUE_URL")
        })?;
        let batch_id = uuid::Uuid::now_v7().simple().to_string();
        let chunks = plan_chunks(&batch_id, user_id, &bulk.items);
        let batch = BatchRecord {
            id: batch_id.clone(),
            total: bulk.items.len() as u64,
            chunks: chunks.len() as u64,
            queued: bulk.items.len() as i64,
            sent: 0,
            failed: 0,
            delivered: 0,
            undelivered: 0,
            user_id: user_id.to_string(),
            created_at: now_rfc3339(),
        };
        self.store.create_batch(&batch, &chunks).await?;
        let messages: Vec<ChunkMessage> = chunks
            .iter()
            .map(|c| ChunkMessage {
                batch_id: batch_id.clone(),
                chunk: c.chunk,
            })
            .collect();
        let calls = crate::queue::send_json_batch(&self.ctx.aws.sqs, queue, &messages).await?;
        Ok((
            BulkAccepted {
                message_id_prefix: format!("{batch_id}-"),
                batch_id,
                status: "queued".into(),
                total: bulk.items.len(),
                duplicates_removed: bulk.duplicates_removed,
                chunks: chunks.len(),
            },
            calls,
        ))
    }

    pub async fn batch(&self, id: &str) -> Result<Option<BatchView>, ApiError> {
        Ok(self.store.get_batch(id).await?.map(BatchView::from))
    }

    fn chunk_records(&self, chunk: &ChunkItem, results: &[ChunkResult]) -> Vec<SmsRecord> {
        let now = now_rfc3339();
        chunk
            .receptors
            .iter()
            .zip(&chunk.positions)
            .zip(results)
            .map(|((receptor, pos), r)| SmsRecord {
                id: format!("{}-{pos}", chunk.batch_id),
                receptor: receptor.clone(),
                message_type: MessageType::Text,
                provider: r.provider.clone(),
                provider_message_id: r.provider_message_id.clone(),
                status: r.status,
                provider_status: r.provider_status.clone(),
                error_code: r.error_code.clone(),
                batch_id: Some(chunk.batch_id.clone()),
                user_id: chunk.user_id.clone(),
                created_at: now.clone(),
                updated_at: now.clone(),
            })
            .collect()
    }

    async fn write_records(
        &self,
        chunk: &ChunkItem,
        results: &[ChunkResult],
    ) -> Result<(), WorkError> {
        self.store
            .put_messages(&self.chunk_records(chunk, results))
            .await
            .map_err(|e| WorkError::Retry(e.to_string()))?;
        self.store
            .mark_records_written(&chunk.batch_id, chunk.chunk)
            .await
            .map_err(|e| WorkError::Retry(e.to_string()))
    }

    /// The worker's job for one queue message: claim the chunk, send it, record the results.
    /// `sqs_message_id` identifies the queue message; `receive_count` is its delivery count.
    pub async fn process_chunk(
        &self,
        msg: &ChunkMessage,
        sqs_message_id: &str,
        receive_count: u32,
    ) -> Result<ChunkOutcome, WorkError> {
        // One token per delivery attempt: SQS can hand the same message (same id) to two
        // workers at once, and only the attempt that claimed the chunk may finish it.
        let claimer = format!("{sqs_message_id}#{}", uuid::Uuid::new_v4().simple());
        let claimer = claimer.as_str();
        let retry = |e: ApiError| WorkError::Retry(e.to_string());
        let chunk = match self
            .store
            .claim_chunk(&msg.batch_id, msg.chunk, claimer)
            .await
            .map_err(retry)?
        {
            Claim::Missing => {
                return Err(WorkError::Poison(format!(
                    "no chunk {} in batch {}",
                    msg.chunk, msg.batch_id
                )));
            }
            Claim::Done(c) => {
                // A crash after finishing may have left the counters or the records behind;
                // both steps are idempotent, so complete them (nothing is sent).
                if let Some(results) = &c.results {
                    self.store
                        .count_chunk(&c.batch_id, c.chunk, results)
                        .await
                        .map_err(retry)?;
                    if !c.records_written {
                        self.write_records(&c, results).await?;
                    }
                }
                return Ok(ChunkOutcome::AlreadyDone);
            }
            Claim::Held(c) => {
                let claimed_at = c.claimed_at.unwrap_or(0);
                let age = time::OffsetDateTime::now_utc().unix_timestamp() - claimed_at;
                if age < self.config.claim_stale_after.as_secs() as i64 {
                    return Err(WorkError::Retry(
                        "the chunk is being sent by another delivery of this message".into(),
                    ));
                }
                // The worker that claimed it died mid-send: whether its SMS went out is
                // unknown, and sending again could duplicate them. Record them as unknown.
                let results: Vec<ChunkResult> = c
                    .receptors
                    .iter()
                    .map(|_| ChunkResult {
                        provider: "unknown".into(),
                        provider_message_id: None,
                        status: SmsStatus::Unknown,
                        provider_status: None,
                        error_code: Some("sms_interrupted".into()),
                    })
                    .collect();
                if self
                    .store
                    .finish_chunk(&c, claimer, &results, Some(claimed_at))
                    .await
                    .map_err(retry)?
                {
                    self.store
                        .count_chunk(&c.batch_id, c.chunk, &results)
                        .await
                        .map_err(retry)?;
                    self.write_records(&c, &results).await?;
                    tracing::error!(batch_id = %c.batch_id, chunk = c.chunk, receptors = c.receptors.len(), "a worker died while sending this chunk; its messages are recorded as unknown");
                }
                return Ok(ChunkOutcome::Interrupted {
                    receptors: c.receptors.len(),
                });
            }
            Claim::Claimed(c) => c,
        };

        let mut items = Vec::with_capacity(chunk.receptors.len());
        let shared_text = chunk
            .message
            .clone()
            .map(|m| Arc::new(SmsContent::Text { message: m }));
        for (k, receptor) in chunk.receptors.iter().enumerate() {
            let phone = Phone::from_stored(receptor)
                .map_err(|e| WorkError::Poison(format!("stored receptor unreadable: {e}")))?;
            let content = match (&shared_text, &chunk.messages) {
                (Some(t), _) => t.clone(),
                (None, Some(list)) => Arc::new(SmsContent::Text {
                    message: list.get(k).cloned().unwrap_or_default(),
                }),
                (None, None) => return Err(WorkError::Poison("chunk has no text".into())),
            };
            items.push(Outgoing { phone, content });
        }
        let request_id = format!("smsbatch-{}-{}", chunk.batch_id, chunk.chunk);
        let deliveries = self.deliver(&request_id, &items).await;

        // Nothing went out and the failure is transient: give the chunk back for SQS to retry.
        let all_transient = deliveries
            .iter()
            .all(|d| matches!(&d.result, Err(e) if e.kind != ProviderErrorKind::InvalidRequest));
        if all_transient && receive_count < self.config.chunk_max_receives {
            self.store
                .release_chunk(&chunk.batch_id, chunk.chunk, claimer)
                .await
                .map_err(retry)?;
            let code = deliveries
                .first()
                .and_then(|d| d.result.as_ref().err())
                .map(|e| e.code.clone())
                .unwrap_or_default();
            return Err(WorkError::Retry(format!(
                "no provider accepted the chunk ({code})"
            )));
        }

        let results: Vec<ChunkResult> = deliveries
            .into_iter()
            .map(|d| match d.result {
                Ok(a) => ChunkResult {
                    provider: d.provider.into(),
                    provider_message_id: a.provider_message_id,
                    status: a.status,
                    provider_status: a.provider_status,
                    error_code: None,
                },
                Err(e) => ChunkResult {
                    provider: d.provider.into(),
                    provider_message_id: None,
                    status: SmsStatus::Failed,
                    provider_status: None,
                    error_code: Some(e.code),
                },
            })
            .collect();
        let sent = results
            .iter()
            .filter(|r| r.status != SmsStatus::Failed)
            .count();
        let failed = results.len() - sent;
        if !self
            .store
            .finish_chunk(&chunk, claimer, &results, None)
            .await
            .map_err(retry)?
        {
            tracing::error!(batch_id = %chunk.batch_id, chunk = chunk.chunk, "the chunk's claim was taken over while sending; results not recorded");
            return Ok(ChunkOutcome::AlreadyDone);
        }
        self.store
            .count_chunk(&chunk.batch_id, chunk.chunk, &results)
            .await
            .map_err(retry)?;
        self.write_records(&chunk, &results).await?;
        Ok(ChunkOutcome::Sent { sent, failed })
    }

    /// The stored message, refreshed from its provider (Kavenegar `sms/status`, Twilio
    /// message fetch) when asked.
    pub async fn refresh(
        &self,
        mut record: SmsRecord,
        request_id: &str,
    ) -> Result<SmsRecord, ApiError> {
        let (Some(pid), Some(provider)) = (
            record.provider_message_id.clone(),
            self.provider(&record.provider).cloned(),
        ) else {
            return Ok(record);
        };
        if provider.slug() == super::provider::CONSOLE_SLUG {
            return Ok(record);
        }
        let acc = provider
            .fetch_status(request_id, &pid)
            .await
            .map_err(|e| e.to_api_error())?;
        let provider_status = acc.provider_status.clone().unwrap_or_default();
        if let Some(old) = self
            .store
            .advance_status(&record.id, acc.status, &provider_status, None)
            .await?
        {
            if let Some(batch) = &old.batch_id
                && acc.status.is_final()
                && !old.status.is_final()
            {
                self.store.count_delivery(batch, acc.status).await?;
            }
            record.status = acc.status;
            record.provider_status = acc.provider_status;
            record.updated_at = now_rfc3339();
        }
        Ok(record)
    }
}
