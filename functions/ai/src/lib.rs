//! The `ai` function: text generation and medical analysis (the Helsa `generate_text` /
//! `analyze_medical_text`), the chat assistant (the BluRosiere `generate_response`) with its
//! rule-based fallback, transcription (`transcribe_audio`) and async job status.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /api/integrations/ai/generate` | 200 with the answer, or 202 with a job (long work or `"async": true`) |
//! | `POST /api/integrations/ai/chat` | 200 with the reply and who served it (a provider or `rules`) |
//! | `POST /api/integrations/ai/transcriptions` | 202 with a job for an S3 key, or 200 with a presigned PUT URL |
//! | `GET /api/integrations/ai/jobs/{id}` | the job's status and result (owner, admin or service) |
//!
//! Every route takes one unit of the caller's `ai` rate limit (the user the work is done for).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::ai::engine::{CallMeta, CallMode};
use shared::ai::jobs::{JobStore, JobView};
use shared::ai::medical::{AnalysisType, PatientContext};
use shared::ai::rules::{self, Language};
use shared::ai::service::{AiService, ChatReply, Work};
use shared::ai::{AiConfig, MAX_AUDIO_BYTES};
use shared::auth::{AuthState, Caller, JwtVerifier, Role};
use shared::http::{ApiJson, ApiPath, RequestId};
use shared::idempotency::{self, Claim, IdempotencyStore};
use shared::rate_limit::{Channel, RateLimitDecision, Subject};
use shared::storage::Storage;
use shared::storage::s3::S3Storage;
use shared::{ApiError, ApiResult, HubContext};
use utoipa::{OpenApi, ToSchema};

/// Longest prompt or text accepted (characters).
pub const MAX_PROMPT_CHARS: usize = 100_000;
/// Longest chat message or context (characters).
pub const MAX_CHAT_CHARS: usize = 4_000;
/// How long a presigned audio upload URL stays valid.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(900);

/// The function's state, built once per cold start.
#[derive(Clone)]
pub struct AiState {
    pub ctx: Arc<HubContext>,
    pub service: Arc<AiService>,
    pub jobs: Arc<JobStore>,
    /// `Idempotency-Key` on job submissions: a retried 202 answers the first job.
    pub idempotency: IdempotencyStore,
    /// Signs the audio uploads' POST policies (exact `content-length-range`); `None` without
    /// UPLOADS_BUCKET.
    pub audio_uploads: Option<Arc<S3Storage>>,
}

impl AiState {
    pub fn new(ctx: Arc<HubContext>) -> Result<Self, shared::config::ConfigError> {
        let config = AiConfig::from_env(&ctx.env)?;
        let jobs = Arc::new(JobStore::new(&ctx, &config));
        let endpoint = ctx.env.optional("AWS_ENDPOINT_URL");
        let audio_uploads = config.bucket.clone().map(|bucket| {
            Arc::new(S3Storage::new(
                ctx.aws.s3.clone(),
                ctx.aws.sdk_config.clone(),
                bucket,
                endpoint.as_deref(),
            ))
        });
        Ok(Self {
            audio_uploads,
            service: Arc::new(AiService::new(ctx.clone(), config)),
            jobs,
            idempotency: IdempotencyStore::new(
                ctx.aws.dynamo.clone(),
                ctx.config.hub_table.clone(),
            ),
            ctx,
        })
    }
}

impl AuthState for AiState {
    fn jwt_verifier(&self) -> &JwtVerifier {
        &self.ctx.jwt
    }
}

pub fn router(state: AiState) -> Router {
    Router::new()
        .route("/api/integrations/ai/generate", post(generate))
        .route("/api/integrations/ai/chat", post(chat))
        .route("/api/integrations/ai/transcriptions", post(transcriptions))
        .route("/api/integrations/ai/jobs/{id}", get(job_status))
        .with_state(state)
}

/// The user the work is done for: a user acts for itself; a service or admin may name one.
fn acting_user(caller: &Caller, user_id: &Option<String>) -> Result<String, ApiError> {
    match user_id {
        None => Ok(caller.user_id.clone()),
        Some(u) if u.is_empty() || u.len() > 128 => {
            Err(ApiError::invalid_field("user_id", "1 to 128 characters"))
        }
        Some(u) if caller.can_act_for(u) => Ok(u.clone()),
        Some(_) => Err(ApiError::forbidden(
            "only a service or admin token may act for another user",
        )),
    }
}

async fn limit(state: &AiState, user: &str) -> Result<RateLimitDecision, ApiError> {
    state
        .ctx
        .rate_limiter
        .check(&Subject::channel(Channel::Ai).user(user))
        .await
}

fn parse_language(raw: &Option<String>, field: &str) -> Result<Option<Language>, ApiError> {
    match raw {
        None => Ok(None),
        Some(l) => Language::parse(l)
            .map(Some)
            .ok_or_else(|| ApiError::invalid_field(field.to_string(), "one of en, pt-BR, fa")),
    }
}

/// Body of `POST /api/integrations/ai/generate` (Helsa's fields plus a few).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    /// The prompt, or the medical text to analyse when `analysis_type` is set.
    #[schema(example = "بیمار از سردرد و تب شکایت دارد")]
    pub prompt: String,
    /// 1..=AI_MAX_TOKENS_LIMIT, default 1000. Above AI_SYNC_MAX_TOKENS (1024) the work runs as a job.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// 0..=2, default 0.7 (0.2 for analyses).
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Medical analysis instead of free generation: `symptoms`, `summary`, `triage`, `medications`.
    #[serde(default)]
    pub analysis_type: Option<AnalysisType>,
    #[serde(default)]
    pub patient_context: Option<PatientContext>,
    /// Language of free-text values in an analysis (`en`, `pt-BR`, `fa`); detected when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// Run as a job even when short.
    #[serde(default, rename = "async")]
    pub run_async: bool,
    /// The user the work is for (service and admin tokens only).
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `POST /api/integrations/ai/generate`.
#[utoipa::path(post, path = "/api/integrations/ai/generate", tag = "ai", security(("bearerAuth" = [])),
    request_body = GenerateBody,
    description = "Generates text, or analyses medical text when `analysis_type` is set (structured JSON, validated, with a not-a-diagnosis notice; identifiers redacted before the text leaves for a provider). Short work answers 200; long work (`max_tokens` above AI_SYNC_MAX_TOKENS) or `\"async\": true` answers 202 with a job to poll.",
    responses(
        (status = 200, description = "The answer: `text` (generate) or `analysis` + `notice` (analysis), `provider`, `model`, `tokens`", body = Object),
        (status = 202, description = "Queued as a job; poll `Location`", body = JobView),
        (status = 422, description = "Invalid field", body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The caller's AI limit is used up", body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed", body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured, or providers throttling", body = shared::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn generate(
    State(state): State<AiState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<GenerateBody>,
) -> ApiResult<Response> {
    let config = state.service.config();
    let user = acting_user(&caller, &body.user_id)?;
    let chars = body.prompt.chars().count();
    if body.prompt.trim().is_empty() {
        return Err(ApiError::invalid_field("prompt", "must not be empty"));
    }
    if chars > MAX_PROMPT_CHARS {
        return Err(ApiError::invalid_field(
            "prompt",
            format!("at most {MAX_PROMPT_CHARS} characters (got {chars})"),
        ));
    }
    let max_tokens = body.max_tokens.unwrap_or(1000);
    if max_tokens == 0 || max_tokens > config.max_tokens_limit {
        return Err(ApiError::invalid_field(
            "max_tokens",
            format!("must be between 1 and {}", config.max_tokens_limit),
        ));
    }
    let temperature = body.temperature.unwrap_or(if body.analysis_type.is_some() {
        0.2
    } else {
        0.7
    });
    if !(0.0..=2.0).contains(&temperature) || !temperature.is_finite() {
        return Err(ApiError::invalid_field(
            "temperature",
            "must be between 0 and 2",
        ));
    }
    if body.patient_context.is_some() && body.analysis_type.is_none() {
        return Err(ApiError::invalid_field(
            "patient_context",
            "only with analysis_type",
        ));
    }
    let patient = body.patient_context.unwrap_or_default();
    if let Err((field, msg)) = patient.validate() {
        return Err(ApiError::invalid_field(field, msg));
    }
    let language = parse_language(&body.language, "language")?
        .unwrap_or_else(|| rules::detect_language(&body.prompt));

    // Redacted here, once: what is stored on a job is what may leave for a provider.
    let (text, redactions) = state.service.outbound(&body.prompt);
    let work = match body.analysis_type {
        Some(analysis_type) => Work::Analyze {
            text,
            analysis_type,
            patient_context: patient,
            max_tokens,
            temperature,
            language,
            redactions,
        },
        None => Work::Generate {
            prompt: text,
            max_tokens,
            temperature,
            language,
            redactions,
        },
    };
    if body.run_async || max_tokens > config.sync_max_tokens {
        return submit(&state, &headers, "ai.generate", &user, &work).await;
    }
    let decision = limit(&state, &user).await?;
    let meta = CallMeta {
        request_id,
        reference: None,
    };
    match state.service.execute(&work, CallMode::Sync, &meta).await {
        Ok(answer) => Ok((decision, Json(answer)).into_response()),
        Err(f) => Err(match f.ai {
            Some(ai) => ai.to_api_error(),
            None => ApiError::bad_gateway("ai_failed", f.message),
        }),
    }
}

/// Queues a job and answers 202 with `Location`. With an `Idempotency-Key`, a repeat of the
/// same request answers the first job (`Idempotent-Replayed: true`) without a second job or
/// a second unit of rate limit. Only job submissions are made idempotent: their stored
/// answer is a job id and status, never generated or medical text.
async fn submit(
    state: &AiState,
    headers: &HeaderMap,
    operation: &str,
    user: &str,
    work: &Work,
) -> ApiResult<Response> {
    let claim = match idempotency::key_from(headers)? {
        None => None,
        Some(key) => {
            // The work holds the (redacted) text and every parameter: same work, same request.
            let fingerprint = idempotency::fingerprint(work);
            match state
                .idempotency
                .begin(operation, user, &key, &fingerprint)
                .await?
            {
                Claim::Replay { status, body } => {
                    let mut res = (status, Json(&body)).into_response();
                    res.headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    if let Some(id) = body["id"].as_str() {
                        res.headers_mut()
                            .insert(header::LOCATION, job_location(id)?);
                    }
                    return Ok(res);
                }
                Claim::New(claim) => Some(claim),
            }
        }
    };
    let queued = async {
        let decision = limit(state, user).await?;
        let job = state.jobs.submit(user, work).await?;
        Ok::<_, ApiError>((decision, job))
    }
    .await;
    match queued {
        Ok((decision, job)) => {
            let body = serde_json::to_value(&job).map_err(ApiError::internal)?;
            let stored = match claim {
                Some(claim) => {
                    state
                        .idempotency
                        .complete(claim, StatusCode::ACCEPTED, &body)
                        .await
                }
                None => Ok(()),
            };
            if let Err(e) = stored {
                // The job is queued; failing the answer now would invite a duplicate.
                tracing::error!(error = %e.detail, "could not store the idempotent answer");
            }
            Ok((
                StatusCode::ACCEPTED,
                decision,
                [(header::LOCATION, job_location(&job.id)?)],
                Json(body),
            )
                .into_response())
        }
        Err(e) => {
            if let Some(claim) = claim {
                state.idempotency.release(claim).await;
            }
            Err(e)
        }
    }
}

fn job_location(id: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!("/api/integrations/ai/jobs/{id}")).map_err(ApiError::internal)
}

/// Body of `POST /api/integrations/ai/chat` (BluRosiere's `generate_response(message, context)`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    #[schema(example = "Como agendar uma consulta?")]
    pub message: String,
    /// Free text (`"Paciente novo"`) or an object describing the user.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = "Paciente novo")]
    pub context: Option<Value>,
    /// `en`, `pt-BR` or `fa`; detected from the message when absent.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `POST /api/integrations/ai/chat`.
#[utoipa::path(post, path = "/api/integrations/ai/chat", tag = "ai", security(("bearerAuth" = [])),
    request_body = ChatBody,
    description = "The clinic assistant. Answered by the first configured provider; by rules (scheduling, cancelling, rescheduling, hours, contact, prices, results, emergencies) in en, pt-BR or fa when no provider is configured or all fail. Emergencies are always answered by the rules: call emergency services.",
    responses((status = 200, body = ChatReply), (status = 422, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn chat(
    State(state): State<AiState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Response> {
    let user = acting_user(&caller, &body.user_id)?;
    if body.message.trim().is_empty() {
        return Err(ApiError::invalid_field("message", "must not be empty"));
    }
    if body.message.chars().count() > MAX_CHAT_CHARS {
        return Err(ApiError::invalid_field(
            "message",
            format!("at most {MAX_CHAT_CHARS} characters"),
        ));
    }
    let context = match &body.context {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(ApiError::invalid_field("context", "a string or an object")),
    };
    if context
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CHAT_CHARS)
    {
        return Err(ApiError::invalid_field(
            "context",
            format!("at most {MAX_CHAT_CHARS} characters"),
        ));
    }
    let language = parse_language(&body.language, "language")?;
    let decision = limit(&state, &user).await?;
    let meta = CallMeta {
        request_id,
        reference: None,
    };
    let reply = state
        .service
        .chat(&body.message, context.as_deref(), language, &meta)
        .await;
    Ok((decision, Json(reply)).into_response())
}

/// Body of `POST /api/integrations/ai/transcriptions`: `s3_key` of audio already in the
/// uploads bucket, or `upload` to get a presigned POST first.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptionBody {
    /// Key in UPLOADS_BUCKET under `ai-audio/` (what `upload` hands out). Users may only name
    /// keys under `ai-audio/{their id}/`; services and admins any key under `ai-audio/`.
    #[serde(default)]
    pub s3_key: Option<String>,
    #[serde(default)]
    pub upload: Option<UploadRequest>,
    /// ISO 639-1 language of the audio (`fa`, `pt`, `en`), passed to the provider.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    #[schema(example = "visit.m4a")]
    pub filename: String,
    /// `audio/*` (or `video/mp4`, `video/webm`).
    #[schema(example = "audio/mp4")]
    pub content_type: String,
    /// The file's exact size in bytes (at most 25 MB): S3 refuses any other.
    #[schema(example = 1048576)]
    pub size: u64,
}

/// A presigned upload: POST a form to `upload_url` with every field of `fields`, then the
/// audio as the last field, `file`; then post `s3_key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadTicket {
    pub upload_url: String,
    pub method: &'static str,
    pub fields: std::collections::BTreeMap<String, String>,
    pub s3_key: String,
    pub expires_in: u64,
    /// The only size S3 accepts for this upload (the policy's `content-length-range`).
    pub size: u64,
}

fn valid_filename(name: &str) -> bool {
    (1..=120).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `POST /api/integrations/ai/transcriptions`.
#[utoipa::path(post, path = "/api/integrations/ai/transcriptions", tag = "ai", security(("bearerAuth" = [])),
    request_body = TranscriptionBody,
    description = "Audio up to 25 MB. With `upload` (one unit of the caller's AI rate limit): answers a presigned POST (form fields, exact size) and the `s3_key` to post next. With `s3_key`: queues a transcription job (OpenAI `/audio/transcriptions`, or TalkBot) and answers 202; the text appears on the job.",
    responses(
        (status = 200, description = "Presigned upload", body = UploadTicket),
        (status = 202, description = "Transcription job queued", body = JobView),
        (status = 404, description = "No such audio object", body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Audio larger than 25 MB", body = shared::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn transcriptions(
    State(state): State<AiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TranscriptionBody>,
) -> ApiResult<Response> {
    let user = acting_user(&caller, &body.user_id)?;
    let Some(bucket) = state.service.config().bucket.clone() else {
        return Err(ApiError::unavailable(
            "uploads_unavailable",
            "UPLOADS_BUCKET is not configured",
        ));
    };
    if body
        .language
        .as_ref()
        .is_some_and(|l| l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase()))
    {
        return Err(ApiError::invalid_field(
            "language",
            "an ISO 639-1 code such as fa, pt or en",
        ));
    }
    let own_prefix = format!("ai-audio/{user}/");
    match (body.s3_key, body.upload) {
        (Some(_), Some(_)) | (None, None) => Err(ApiError::invalid_field(
            "s3_key",
            "give exactly one of s3_key and upload",
        )),
        (None, Some(upload)) => {
            if !valid_filename(&upload.filename) {
                return Err(ApiError::invalid_field(
                    "upload.filename",
                    "1-120 characters: letters, digits, '.', '-', '_'",
                ));
            }
            let ct = upload.content_type.to_ascii_lowercase();
            if !(ct.starts_with("audio/") || ct == "video/mp4" || ct == "video/webm")
                || ct.len() > 100
            {
                return Err(ApiError::invalid_field(
                    "upload.content_type",
                    "an audio/* type (or video/mp4, video/webm)",
                ));
            }
            if upload.size == 0 {
                return Err(ApiError::invalid_field(
                    "upload.size",
                    "the file's size in bytes, at least 1",
                ));
            }
            if upload.size > MAX_AUDIO_BYTES {
                return Err(ApiError::payload_too_large(format!(
                    "the audio is {} bytes; the limit is {MAX_AUDIO_BYTES} (25 MB)",
                    upload.size
                )));
            }
            // A ticket lets the caller put 25 MB into the bucket: it costs a unit of the limit.
            let decision = limit(&state, &user).await?;
            let key = format!(
                "{own_prefix}{}/{}",
                uuid::Uuid::new_v4().simple(),
                upload.filename
            );
            let storage = state.audio_uploads.as_ref().ok_or_else(|| {
                ApiError::unavailable("uploads_unavailable", "UPLOADS_BUCKET is not configured")
            })?;
            let post = storage
                .presign_upload(&key, &ct, upload.size, UPLOAD_URL_TTL)
                .await
                .map_err(|e| ApiError::internal(format!("presigning: {e:?}")))?
                .ok_or_else(|| ApiError::internal("the S3 backend did not presign"))?;
            let ticket = UploadTicket {
                upload_url: post.url,
                method: "POST",
                fields: post.fields,
                s3_key: key,
                expires_in: UPLOAD_URL_TTL.as_secs(),
                size: upload.size,
            };
            Ok((decision, Json(ticket)).into_response())
        }
        (Some(key), None) => {
            if key.is_empty() || key.len() > 1024 || key.contains("..") {
                return Err(ApiError::invalid_field(
                    "s3_key",
                    "1-1024 characters, no '..'",
                ));
            }
            // The AI role reads audio under ai-audio/ only (template.yaml).
            if !key.starts_with("ai-audio/") {
                return Err(ApiError::invalid_field(
                    "s3_key",
                    "an audio object under ai-audio/ (get one with `upload`)",
                ));
            }
            if !matches!(caller.role, Role::Admin | Role::Service) && !key.starts_with(&own_prefix)
            {
                return Err(ApiError::forbidden(format!(
                    "users may only transcribe their own uploads (keys under {own_prefix})"
                )));
            }
            let head = state
                .ctx
                .aws
                .s3
                .head_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await;
            let head = match head {
                Ok(h) => h,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                    return Err(ApiError::not_found(format!(
                        "no audio object {key:?} in the uploads bucket"
                    ))
                    .with_code("audio_not_found"));
                }
                Err(e) => return Err(ApiError::internal(format!("HeadObject: {e:?}"))),
            };
            let size = head.content_length().unwrap_or(0).max(0) as u64;
            if size == 0 {
                return Err(ApiError::invalid_field("s3_key", "the object is empty"));
            }
            if size > MAX_AUDIO_BYTES {
                return Err(ApiError::payload_too_large(format!(
                    "the audio is {size} bytes; the limit is {MAX_AUDIO_BYTES} (25 MB)"
                )));
            }
            let work = Work::Transcribe {
                s3_key: key,
                content_type: head
                    .content_type()
                    .filter(|t| t.starts_with("audio/") || t.starts_with("video/"))
                    .map(str::to_string),
                language: body.language,
            };
            submit(&state, &headers, "ai.transcribe", &user, &work).await
        }
    }
}

/// `GET /api/integrations/ai/jobs/{id}`.
#[utoipa::path(get, path = "/api/integrations/ai/jobs/{id}", tag = "ai", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "Job id from the 202 answer")),
    description = "Status (`queued`, `running`, `retrying`, `succeeded`, `failed`), result or error. Only the job's owner, admins and services see it; anyone else gets 404.",
    responses((status = 200, body = JobView), (status = 404, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn job_status(
    State(state): State<AiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobView>> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::invalid_field("id", "not a job id"));
    }
    let not_found = || ApiError::not_found(format!("no AI job {id}")).with_code("job_not_found");
    let job = state.jobs.get(&id).await?.ok_or_else(not_found)?;
    if !caller.can_act_for(&job.owner) {
        return Err(not_found());
    }
    Ok(Json(state.jobs.view(&job).await?))
}

#[derive(OpenApi)]
#[openapi(
    paths(generate, chat, transcriptions, job_status),
    components(schemas(GenerateBody, ChatBody, ChatReply, TranscriptionBody, UploadRequest, UploadTicket, JobView, AnalysisType, PatientContext, Language)),
    tags((name = "ai", description = "Text generation, medical analysis, chat assistant, transcription and AI jobs"))
)]
struct AiApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AiApi::openapi()
}
