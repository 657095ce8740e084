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

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::ai::AiError;
use shared::ai::engine::{CallMeta, CallMode};
use shared::ai::intake::{self, Transcription};
use shared::ai::jobs::JobStore;
use shared::ai::medical::{AnalysisType, PatientContext};
use shared::ai::model::{
    ChatBody, ChatReply, GenerateBody, JobView, TranscriptionBody, UploadRequest, UploadTicket,
    Work,
};
use shared::ai::rules::Language;
use shared::ai::service::AiService;
use shared::auth::{Caller, Role};
use shared::http::{ApiJson, ApiPath, RequestId};
use shared::idempotency::{self, Claim, IdempotencyStore};
use shared::rate_limit::{Channel, RateLimitDecision, Subject};
use shared::{ApiError, ApiResult, HubContext};
use utoipa::OpenApi;

/// The function's state, built once per cold start.
#[derive(Clone)]
pub struct AiState {
    pub ctx: Arc<HubContext>,
    pub service: Arc<AiService>,
    pub jobs: Arc<JobStore>,
    /// `Idempotency-Key` on job submissions: a retried 202 answers the first job.
    pub idempotency: IdempotencyStore,
}

impl AiState {
    pub fn new(ctx: Arc<HubContext>) -> Result<Self, shared::config::ConfigError> {
        let config = ctx.ai_config()?;
        Ok(Self {
            jobs: Arc::new(ctx.ai_jobs(&config)),
            service: Arc::new(ctx.ai_service(config)),
            idempotency: IdempotencyStore::new(
                ctx.aws.dynamo.clone(),
                ctx.config.hub_table.clone(),
            ),
            ctx,
        })
    }
}

impl shared::context::HubState for AiState {
    fn hub(&self) -> &HubContext {
        &self.ctx
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
        .map_err(ApiError::from)
}

/// `POST /api/integrations/ai/generate`.
#[utoipa::path(post, path = "/api/integrations/ai/generate", tag = "ai", security(("bearerAuth" = [])),
    request_body = GenerateBody,
    description = "Generates text, or analyses medical text when `analysis_type` is set (structured JSON, validated, with a not-a-diagnosis notice; identifiers redacted before the text leaves for a provider). Short work answers 200; long work (`max_tokens` above AI_SYNC_MAX_TOKENS) or `\"async\": true` answers 202 with a job to poll.",
    responses(
        (status = 200, description = "The answer: `text` (generate) or `analysis` + `notice` (analysis), `provider`, `model`, `tokens`", body = Object),
        (status = 202, description = "Queued as a job; poll `Location`", body = JobView),
        (status = 422, description = "Invalid field", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The caller's AI limit is used up", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured (and no rules fallback allowed), providers throttling, or credentials / catalog unreadable (`dependency_unavailable`, `Retry-After`)", body = shared::http::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn generate(
    State(state): State<AiState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<GenerateBody>,
) -> ApiResult<Response> {
    let user = acting_user(&caller, &body.user_id)?;
    let work = state.service.generate_work(&body)?;
    if state.service.runs_async(&body) {
        return submit(&state, &headers, "ai.generate", &user, &work).await;
    }
    let decision = limit(&state, &user).await?;
    let meta = CallMeta {
        request_id,
        reference: None,
    };
    let answer = state.service.execute(&work, CallMode::Sync, &meta).await?;
    Ok((decision, Json(answer)).into_response())
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
    let claim = match shared::http::idempotency::key_from(headers)? {
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
                    let mut res = shared::http::idempotency::respond(status, &body, true);
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
                tracing::error!(error = %e, "could not store the idempotent answer");
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

/// `POST /api/integrations/ai/chat`.
#[utoipa::path(post, path = "/api/integrations/ai/chat", tag = "ai", security(("bearerAuth" = [])),
    request_body = ChatBody,
    description = "The clinic assistant. Answered by the first configured provider; by rules (scheduling, cancelling, rescheduling, hours, contact, prices, results, emergencies) in en, pt-BR or fa, with `status: fallback`, only when no provider is configured and the deployment allows it (`AI_FALLBACK=rules`, or the local stage). Emergencies are always answered by the rules: call emergency services. Failing providers answer a problem; credentials or the provider catalog that cannot be read answer 503 `dependency_unavailable` with `Retry-After`.",
    responses((status = 200, body = ChatReply), (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured (and no fallback allowed), or credentials / catalog unreadable (`dependency_unavailable`, `Retry-After`)", body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn chat(
    State(state): State<AiState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Response> {
    let user = acting_user(&caller, &body.user_id)?;
    let (context, language) = intake::chat_input(&body)?;
    let decision = limit(&state, &user).await?;
    let meta = CallMeta {
        request_id,
        reference: None,
    };
    let reply = state
        .service
        .chat(&body.message, context.as_deref(), language, &meta)
        .await?;
    Ok((decision, Json(reply)).into_response())
}

/// `POST /api/integrations/ai/transcriptions`.
#[utoipa::path(post, path = "/api/integrations/ai/transcriptions", tag = "ai", security(("bearerAuth" = [])),
    request_body = TranscriptionBody,
    description = "Audio up to 25 MB. With `upload` (one unit of the caller's AI rate limit): answers a presigned POST (form fields, exact size) and the `s3_key` to post next. With `s3_key`: queues a transcription job (OpenAI `/audio/transcriptions`, or TalkBot) and answers 202; the text appears on the job.",
    responses(
        (status = 200, description = "Presigned upload", body = UploadTicket),
        (status = 202, description = "Transcription job queued", body = JobView),
        (status = 404, description = "No such audio object", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Audio larger than 25 MB", body = shared::http::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn transcriptions(
    State(state): State<AiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TranscriptionBody>,
) -> ApiResult<Response> {
    let user = acting_user(&caller, &body.user_id)?;
    let privileged = matches!(caller.role, Role::Admin | Role::Service);
    match state.service.transcription(&user, privileged, body).await? {
        Transcription::Upload(upload) => {
            // A ticket lets the caller put 25 MB into the bucket: it costs a unit of the limit.
            let decision = limit(&state, &user).await?;
            let ticket = state.service.upload_ticket(&user, &upload).await?;
            Ok((decision, Json(ticket)).into_response())
        }
        Transcription::Job(work) => submit(&state, &headers, "ai.transcribe", &user, &work).await,
    }
}

/// `GET /api/integrations/ai/jobs/{id}`.
#[utoipa::path(get, path = "/api/integrations/ai/jobs/{id}", tag = "ai", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "Job id from the 202 answer")),
    description = "Status (`queued`, `running`, `retrying`, `succeeded`, `failed`), result or error. Only the job's owner, admins and services see it; anyone else gets 404.",
    responses((status = 200, body = JobView), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn job_status(
    State(state): State<AiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobView>> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::invalid_field("id", "not a job id"));
    }
    let not_found = || AiError::JobNotFound(id.clone());
    let job = state.jobs.get(&id).await?.ok_or_else(not_found)?;
    if !caller.can_act_for(&job.owner) {
        return Err(not_found().into());
    }
    Ok(Json(state.jobs.view(&job).await?))
}

#[derive(OpenApi)]
#[openapi(
    paths(generate, chat, transcriptions, job_status),
    components(schemas(GenerateBody, ChatBody, ChatReply, shared::ai::model::ReplyStatus, TranscriptionBody, UploadRequest, UploadTicket, JobView, AnalysisType, PatientContext, Language)),
    tags((name = "ai", description = "Text generation, medical analysis, chat assistant, transcription and AI jobs"))
)]
struct AiApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = AiApi::openapi();
    shared::ai::schema::refine(&mut doc);
    doc
}
