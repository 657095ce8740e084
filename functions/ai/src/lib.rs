//! The `ai` function: text generation and medical analysis (the Helsa `generate_text` /
//! `analyze_medical_text`), the chat assistant (the BluRosiere `generate_response`) with its
//! rule-based fallback, transcription (`transcribe_audio`) and async job status.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /api/integrations/ai/generate` | 200 with the answer, or 202 with a job (long work or `"async": true`) |
//! | `POST /api/integrations/ai/chat` | 200 with the reply and who served it (a provider or `rules`) |
//! | `POST /api/integrations/ai/transcriptions` | 202 with a job for an S3 key or a small audio file posted as multipart, or 200 with a presigned POST |
//! | `GET /api/integrations/ai/jobs/{id}` | the job's status and result (owner, admin or service) |
//!
//! Every route takes one unit of the caller's `ai` rate limit (the user the work is done for).
//! Generate, chat and transcriptions take an optional `provider` (and `model`): that
//! provider only, without failover (`shared::ai::roster::Roster::chosen`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::Limited;
use shared::ai::AiError;
use shared::ai::engine::{CallMeta, CallMode};
use shared::ai::intake::{self, DirectAudio, Transcription};
use shared::ai::jobs::JobStore;
use shared::ai::medical::{AnalysisType, PatientContext};
use shared::ai::model::{
    ChatBody, ChatReply, GenerateBody, JobView, TranscriptionBody, TranscriptionForm,
    UploadRequest, UploadTicket, Work,
};
use shared::ai::roster::Need;
use shared::ai::rules::Language;
use shared::ai::service::AiService;
use shared::auth::{Caller, Role};
use shared::http::{ApiJson, ApiPath, DEFAULT_BODY_LIMIT, LAMBDA_REQUEST_LIMIT, RequestId};
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
        .route(
            "/api/integrations/ai/transcriptions",
            // Audio may come with the request (multipart): up to what Lambda takes.
            post(transcriptions).layer(DefaultBodyLimit::max(LAMBDA_REQUEST_LIMIT)),
        )
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
    description = "Generates text, or analyses medical text when `analysis_type` is set (structured JSON, validated, with a not-a-diagnosis notice; identifiers redacted before the text leaves for a provider). Short work answers 200; long work (`max_tokens` above AI_SYNC_MAX_TOKENS) or `\"async\": true` answers 202 with a job to poll. `provider` (and `model`) send the call, or the job, to that provider only: its retries, no failover to another provider and no rules fallback.",
    responses(
        (status = 200, description = "The answer: `text` (generate) or `analysis` + `notice` (analysis), `provider`, `model`, `tokens`", body = Object),
        (status = 202, description = "Queued as a job; poll `Location`", body = JobView),
        (status = 400, description = "Invalid field (`errors` names it)", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body of the wrong shape, `provider` unknown or not an AI provider (`unknown_provider`, `invalid_provider`, naming `provider`), or a request the provider refused", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The caller's AI limit is used up", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured (and no rules fallback allowed) or the chosen `provider` not configured (`ai_not_configured`), providers throttling, or credentials / catalog unreadable (`dependency_unavailable`, `Retry-After`)", body = shared::http::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn generate(
    State(state): State<AiState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<GenerateBody>,
) -> ApiResult<Response> {
    let user = acting_user(&caller, &body.user_id)?;
    let work = state.service.generate_work(&body).await?;
    if state.service.runs_async(&body) {
        return submit(&state, &headers, "ai.generate", &user, &work, None).await;
    }
    let decision = limit(&state, &user).await?;
    let meta = CallMeta {
        request_id,
        reference: None,
    };
    let answer = state.service.execute(&work, CallMode::Sync, &meta).await?;
    Ok((decision, Json(answer)).into_response())
}

/// Queues a job (after storing `audio`, when it was posted with the request) and answers
/// 202 with `Location`. With an `Idempotency-Key`, a repeat of the
/// same request answers the first job (`Idempotent-Replayed: true`) without a second job or
/// a second unit of rate limit. Only job submissions are made idempotent: their stored
/// answer is a job id and status, never generated or medical text.
async fn submit(
    state: &AiState,
    headers: &HeaderMap,
    operation: &str,
    user: &str,
    work: &Work,
    audio: Option<DirectAudio>,
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
        // Audio posted with the request goes to the bucket only once the caller's limit
        // allows the job, then the job reads it back like any `s3_key`.
        if let Some(audio) = audio {
            state.service.store_direct_audio(audio).await?;
        }
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
    description = "The clinic assistant. Answered by the first configured provider; by rules (scheduling, cancelling, rescheduling, hours, contact, prices, results, emergencies) in en, pt-BR or fa, with `status: fallback`, only when no provider is configured and the deployment allows it (`AI_FALLBACK=rules`, or the local stage). Emergencies are always answered by the rules: call emergency services. `provider` (and `model`) send the message to that provider only (no failover, no rules fallback; 503 `ai_not_configured` without its credentials). Failing providers answer a problem; credentials or the provider catalog that cannot be read answer 503 `dependency_unavailable` with `Retry-After`.",
    responses((status = 200, body = ChatReply), (status = 400, description = "Invalid field (`errors` names it)", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body of the wrong shape, or `provider` unknown or not an AI provider (`unknown_provider`, `invalid_provider`)", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No provider configured (and no fallback allowed) or the chosen `provider` not configured (`ai_not_configured`), or credentials / catalog unreadable (`dependency_unavailable`, `Retry-After`)", body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn chat(
    State(state): State<AiState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Response> {
    let user = acting_user(&caller, &body.user_id)?;
    let (context, language) = intake::chat_input(&body)?;
    let choice = state
        .service
        .provider_choice(&body.provider, &body.model, Need::Text)
        .await?;
    let decision = limit(&state, &user).await?;
    let meta = CallMeta {
        request_id,
        reference: None,
    };
    let reply = state
        .service
        .chat(
            &body.message,
            context.as_deref(),
            language,
            choice.as_ref(),
            &meta,
        )
        .await?;
    Ok((decision, Json(reply)).into_response())
}

/// `POST /api/integrations/ai/transcriptions`.
#[utoipa::path(post, path = "/api/integrations/ai/transcriptions", tag = "ai", security(("bearerAuth" = [])),
    request_body(description = "JSON (`upload` for a presigned POST, or `s3_key` of uploaded audio), or `multipart/form-data` with the audio itself (`file`, at most 4 653 056 bytes: what fits Lambda's 6 MB request once API Gateway has base64-encoded it).",
        content((TranscriptionBody = "application/json"), (TranscriptionForm = "multipart/form-data"))),
    description = "Audio up to 25 MB through S3, or a small file posted directly. JSON with `upload` (one unit of the caller's AI rate limit): answers a presigned POST (form fields, exact size) and the `s3_key` to post next. JSON with `s3_key`, or multipart with `file` (its format decided from its bytes: mp3, mp4/m4a, wav, webm, ogg, flac; stored under `ai-audio/`): queues a transcription job (OpenAI `/audio/transcriptions`, or TalkBot) and answers 202; the text appears on the job. `provider` (and `model`) send the job to that provider only, without failover.",
    responses(
        (status = 200, description = "Presigned upload", body = UploadTicket),
        (status = 202, description = "Transcription job queued", body = JobView),
        (status = 400, description = "Invalid field (`errors` names it), or a malformed multipart body", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such audio object", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Audio larger than 25 MB, or a posted `file` larger than 4 653 056 bytes (`payload_too_large`, use `upload`)", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "A posted `file` that is not audio the providers read (`unsupported_audio`), or a body that is neither JSON nor multipart", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`provider` unknown, not an AI provider, or one that does not transcribe (`unknown_provider`, `invalid_provider`)", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The caller's AI limit is used up", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The chosen provider is not configured (`ai_not_configured`), or the catalog is unreadable", body = shared::http::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn transcriptions(
    State(state): State<AiState>,
    caller: Caller,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    let privileged = matches!(caller.role, Role::Admin | Role::Service);
    if is_multipart(&headers) {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|r| ApiError::bad_request("malformed_multipart", r.body_text()))?;
        let form = transcription_form(multipart).await?;
        let user = acting_user(&caller, &form.user_id)?;
        let (audio, work) = state.service.direct_transcription(&user, form).await?;
        return submit(&state, &headers, "ai.transcribe", &user, &work, Some(audio)).await;
    }
    // The route takes a multipart body up to Lambda's limit; JSON keeps the usual 1 MiB.
    let request = request.map(|b| Body::new(Limited::new(b, DEFAULT_BODY_LIMIT)));
    let ApiJson(body) = ApiJson::<TranscriptionBody>::from_request(request, &state).await?;
    let user = acting_user(&caller, &body.user_id)?;
    match state.service.transcription(&user, privileged, body).await? {
        Transcription::Upload(upload) => {
            // A ticket lets the caller put 25 MB into the bucket: it costs a unit of the limit.
            let decision = limit(&state, &user).await?;
            let ticket = state.service.upload_ticket(&user, &upload).await?;
            Ok((decision, Json(ticket)).into_response())
        }
        Transcription::Job(work) => {
            submit(&state, &headers, "ai.transcribe", &user, &work, None).await
        }
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// Longest text field of the transcription form (`language`, `provider`, `model`, `user_id`).
const FORM_TEXT_MAX: usize = 1024;

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let limit = shared::ai::MAX_DIRECT_AUDIO_BYTES;
        ApiError::payload_too_large(format!(
            "the request is larger than Lambda takes ({LAMBDA_REQUEST_LIMIT} bytes); a file posted directly may have at most {limit} bytes: send larger audio, up to 25 MB, with `upload` (a presigned POST) and then `s3_key`"
        ))
        .with_field("file", format!("at most {limit} bytes"))
    } else {
        ApiError::bad_request(
            "malformed_multipart",
            format!("the multipart body cannot be read: {}", e.body_text()),
        )
    }
}

/// Reads the transcription form: one `file` (buffered up to the direct-audio limit; past it
/// the rest is only counted, to say how large it was), the text fields, nothing else.
async fn transcription_form(mut multipart: Multipart) -> ApiResult<TranscriptionForm> {
    let max = shared::ai::MAX_DIRECT_AUDIO_BYTES;
    let mut form = TranscriptionForm::default();
    let mut seen_file = false;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if seen_file {
                return Err(ApiError::invalid_field("file", "only one file per request"));
            }
            seen_file = true;
            let mut size: u64 = 0;
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                size += chunk.len() as u64;
                if size <= max {
                    form.file.extend_from_slice(&chunk);
                }
            }
            if size > max {
                return Err(AiError::DirectAudioTooLarge { size, limit: max }.into());
            }
            continue;
        }
        let slot = match name.as_str() {
            "language" => &mut form.language,
            "provider" => &mut form.provider,
            "model" => &mut form.model,
            "user_id" => &mut form.user_id,
            other => {
                return Err(ApiError::invalid_field(
                    if other.is_empty() { "body" } else { other },
                    "unknown form field; expected file, language, provider, model, user_id",
                ));
            }
        };
        let text = field.text().await.map_err(multipart_error)?;
        if text.len() > FORM_TEXT_MAX {
            return Err(ApiError::invalid_field(
                name,
                format!("at most {FORM_TEXT_MAX} bytes"),
            ));
        }
        *slot = Some(text);
    }
    if !seen_file {
        return Err(ApiError::invalid_field(
            "file",
            "required: the audio as a multipart part named `file`",
        ));
    }
    Ok(form)
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
    components(schemas(GenerateBody, ChatBody, ChatReply, shared::ai::model::ReplyStatus, TranscriptionBody, TranscriptionForm, UploadRequest, UploadTicket, JobView, AnalysisType, PatientContext, Language)),
    tags((name = "ai", description = "Text generation, medical analysis, chat assistant, transcription and AI jobs"))
)]
struct AiApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = AiApi::openapi();
    shared::ai::schema::refine(&mut doc);
    doc
}
