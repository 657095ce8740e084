//! The email function: `POST /api/integrations/email/send` for services and admins.
//!
//! One route, two body shapes (the shape decides):
//! - templated: `{"to", "template", "language", "data"}`, rendered in fa, pt-BR or en;
//! - plain: `{"to", "subject", "body"}`, like the BluRosiere seed's
//!   `email_service.send_email(to, subject, body)`.
//!
//! `GET /api/integrations/email/templates` lists the templates, their fields and languages.
//! The work is [`shared::email::EmailService`], the same code the notifications worker uses;
//! this crate maps HTTP to it and adds `Idempotency-Key` and the per-user hourly limit.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::auth::Caller;
use shared::email::{EmailReceipt, EmailService, SendEmailBody, TemplateList};
use shared::http::ServiceCaller;
use shared::http::{ApiJson, RequestId};
use shared::rate_limit::{Channel, RateLimitDecision, Subject};
use shared::{ApiError, ApiResult, HubContext};

/// The cold-start state: the hub context plus the email service (compiled templates, the
/// SMTP transport or the console fallback).
pub struct EmailState {
    pub ctx: Arc<HubContext>,
    pub email: EmailService,
}

impl EmailState {
    pub fn new(ctx: Arc<HubContext>) -> anyhow::Result<Arc<Self>> {
        let email = ctx.email_service()?;
        Ok(Arc::new(Self { ctx, email }))
    }
}

impl shared::context::HubState for EmailState {
    fn hub(&self) -> &HubContext {
        &self.ctx
    }
}

type AppState = State<Arc<EmailState>>;

pub fn router(state: Arc<EmailState>) -> Router {
    Router::new()
        .route("/api/integrations/email/send", post(send_email))
        .route("/api/integrations/email/templates", get(list_templates))
        .with_state(state)
}

#[utoipa::path(post, path = "/api/integrations/email/send", tag = "email", security(("bearerAuth" = [])),
    request_body = SendEmailBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats with the same key return the first answer instead of sending again (24 h)")),
    description = "Sends one email now: a template (`template`, `language`, `data`) or a plain message (`subject`, `body`). \
Roles service and admin. `status` is `sent` only when the SMTP server accepted the message. Without SMTP configured, where the deployment allows it (`EMAIL_FALLBACK=log`, or the local stage), the email is logged (address masked), `delivery` is `console` and `status` is `fallback`; otherwise 503 `email_not_configured`. \
SMTP credentials that cannot be read answer 503 `dependency_unavailable` with `Retry-After` (nothing sent). \
Temporary SMTP failures are retried; permanent ones answer 422 `email_rejected`. Limit: 100 emails/hour per user (`RateLimit-*` headers).",
    responses(
        (status = 200, body = EmailReceipt, description = "Accepted by the SMTP server (or logged by the console fallback)"),
        (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Invalid address or body shape; `errors` names the field"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Unknown template or language, missing template data, or refused by the mail server"),
        (status = 429, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 502, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "The SMTP server failed (after retries)"),
        (status = 503, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`email_not_configured`, or `dependency_unavailable` (credentials unreadable; `Retry-After`)")))]
pub async fn send_email(
    State(state): AppState,
    ServiceCaller(caller): ServiceCaller,
    headers: HeaderMap,
    RequestId(request_id): RequestId,
    ApiJson(body): ApiJson<SendEmailBody>,
) -> ApiResult<Response> {
    let request = body.to_request(&request_id)?;
    // Validate and render before any I/O: bad input costs no idempotency claim or quota.
    let prepared = state.email.prepare(&request)?;
    let for_user = body
        .user_id
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| caller.user_id.clone());
    let decision_slot: Mutex<Option<RateLimitDecision>> = Mutex::new(None);
    let mut response = state
        .ctx
        .idempotency
        .run(&headers, "send_email", &caller.user_id, &body, || async {
            // Inside the idempotent work: a replay is not charged again.
            let decision = state
                .ctx
                .rate_limiter
                .check(&Subject::channel(Channel::Email).user(&for_user))
                .await?;
            *decision_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(decision);
            let receipt = state.email.deliver(&prepared, &request_id).await?;
            let body = serde_json::to_value(&receipt).map_err(ApiError::internal)?;
            Ok((StatusCode::OK, body))
        })
        .await?;
    if let Some(decision) = decision_slot
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        decision.apply(response.headers_mut());
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/integrations/email/templates", tag = "email", security(("bearerAuth" = [])),
    description = "The email templates with their required and optional `data` fields and languages.",
    responses((status = 200, body = TemplateList), (status = 401, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn list_templates(State(state): AppState, _caller: Caller) -> Json<TemplateList> {
    Json(state.email.template_list())
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(send_email, list_templates), tags((name = "email", description = "Email over SMTP: templates in fa, pt-BR and en, plain messages, console fallback")))]
struct EmailApi;

/// This function's routes, for the merged OpenAPI document served by `docs`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <EmailApi as utoipa::OpenApi>::openapi()
}
