//! The OTP verification routes (issue 15): the hub makes, delivers and checks the code.
//!
//! - `POST /api/integrations/sms/otp/send`: any role; user tokens for themselves only.
//! - `POST /api/integrations/sms/otp/verify`: the verification's owner, services, admins.
//! - `GET /api/integrations/sms/otp/statistics`: admins.
//!
//! Limits: the limiter's `sms_otp` rules (per receptor, per user, per client IP) before a
//! send; the resend cooldown rule (`default-otp-resend`, read here, enforced exactly by the
//! store); per-IP route rules on verify (`default-otp-verify-ip`, `default-route-ip`);
//! and each verification's own lock after `OTP_MAX_ATTEMPTS` wrong codes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use shared::auth::{Caller, Role};
use shared::http::{ApiJson, ApiQuery, ClientIp, RateLimitRouterExt, RequestId};
use shared::otp::model::OtpStatRow;
use shared::otp::{
    OtpApproved, OtpError, OtpSent, OtpStatistics, SendOtpRequest, VerifyOtpRequest,
};
use shared::rate_limit::rules::{OTP_SEND_ROUTE, OTP_VERIFY_ROUTE};
use shared::rate_limit::{
    Channel, HEADER_LIMIT, HEADER_POLICY, HEADER_REMAINING, HEADER_RESET, RateLimiter, Scope,
    Subject, Target,
};
use shared::{ApiError, ApiResult};

use crate::SmsState;

type St = State<Arc<SmsState>>;

pub fn routes(state: &Arc<SmsState>) -> Router<Arc<SmsState>> {
    // Only verify takes the route layer (per-IP check rules): a send is checked per IP by the
    // `sms_otp` channel rules, and the layer's headers would replace the send's own.
    Router::new()
        .route(OTP_VERIFY_ROUTE, post(verify_otp))
        .rate_limited(&state.ctx)
        .route(OTP_SEND_ROUTE, post(send_otp))
        .route("/api/integrations/sms/otp/statistics", get(otp_statistics))
}

/// The resend cooldown: the enabled receptor rules on the send route, as the longest
/// spacing `window / limit` (admins change or disable `default-otp-resend` like any rule).
async fn resend_cooldown(limiter: &RateLimiter) -> ApiResult<Duration> {
    let route = Target::Route(OTP_SEND_ROUTE.into());
    let rules = limiter.rules().effective().await?;
    Ok(rules
        .iter()
        .filter(|r| r.enabled && r.scope == Scope::Receptor && r.target.covers(&route))
        .map(|r| Duration::from_secs(r.window_seconds) / r.limit.max(1) as u32)
        .max()
        .unwrap_or_default())
}

/// A 429 of the cooldown carries the same headers as the limiter's.
fn cooldown_problem(e: OtpError, cooldown: Duration) -> ApiError {
    let retry_after = match &e {
        OtpError::ResendTooSoon { retry_after } => *retry_after,
        _ => return e.into(),
    };
    ApiError::from(e)
        .with_header(HeaderName::from_static(HEADER_LIMIT), "1")
        .with_header(HeaderName::from_static(HEADER_REMAINING), "0")
        .with_header(
            HeaderName::from_static(HEADER_RESET),
            &retry_after.to_string(),
        )
        .with_header(
            HeaderName::from_static(HEADER_POLICY),
            &format!("1;w={}", cooldown.as_secs()),
        )
}

#[utoipa::path(post, path = "/api/integrations/sms/otp/send", tag = "otp", security(("bearerAuth" = [])),
    request_body = SendOtpRequest,
    responses(
        (status = 200, body = OtpSent, description = "Code made and handed to a provider; the answer never holds it. `delivery` says what became of the SMS: the provider's status, `unknown` (its answer was lost: the code may have arrived and is not sent again; the verification stands) or `fallback` (console, where allowed)"),
        (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Invalid field (`receptor`, `template`, `language`, `channel`)"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "A user token sending for someone else"),
        (status = 429, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`rate_limited`: resend cooldown or an SMS/OTP limit; Retry-After and RateLimit-* headers"),
        (status = 502, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Every configured provider failed"),
        (status = 503, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`dependency_unavailable` (a secret, the provider catalog or the table could not be read; Retry-After; nothing sent), `otp_not_configured` (the HMAC key secret is missing) or `sms_not_configured`")))]
pub async fn send_otp(
    State(st): St,
    caller: Caller,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<SendOtpRequest>,
) -> ApiResult<Response> {
    caller.require(&[Role::Admin, Role::Service, Role::User])?;
    if caller.role == Role::User && body.user_id.as_deref().is_some_and(|u| u != caller.user_id) {
        return Err(ApiError::forbidden("a user token can only send for itself")
            .with_field("user_id", "must be your own user id or absent"));
    }
    let valid = st.otp.validate_send(&body)?;
    let owner = match caller.role {
        Role::User => caller.user_id.clone(),
        _ => body
            .user_id
            .clone()
            .unwrap_or_else(|| caller.user_id.clone()),
    };
    let cooldown = resend_cooldown(&st.ctx.rate_limiter).await?;
    let mut subject = Subject::channel(Channel::SmsOtp)
        .receptor(valid.phone.e164())
        .ip_opt(ip);
    if caller.role == Role::User || body.user_id.is_some() {
        subject = subject.user(owner.clone());
    }
    let decision = st.ctx.rate_limiter.check(&subject).await?;
    match st.otp.send(&valid, &owner, cooldown, &request_id).await {
        Ok(sent) => Ok((decision, Json(sent)).into_response()),
        Err(e) => {
            // `send` answers an error only when no code went out (a sent or `unknown`
            // delivery is an answer): the attempt does not use up the quota.
            st.ctx.rate_limiter.refund(&decision).await;
            Err(cooldown_problem(e, cooldown))
        }
    }
}

#[utoipa::path(post, path = "/api/integrations/sms/otp/verify", tag = "otp", security(("bearerAuth" = [])),
    request_body = VerifyOtpRequest,
    responses(
        (status = 200, body = OtpApproved, description = "The code is right: approved (once)"),
        (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`invalid_code` (errors[0] says how many attempts are left) or an invalid field"),
        (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "No such verification (or not the caller's)"),
        (status = 409, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`already_approved`"),
        (status = 410, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`verification_expired`, or `verification_canceled` (a newer code was sent)"),
        (status = 429, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`verification_locked` after too many wrong codes (Retry-After), or `rate_limited` per IP")))]
pub async fn verify_otp(
    State(st): St,
    caller: Caller,
    ApiJson(body): ApiJson<VerifyOtpRequest>,
) -> ApiResult<Json<OtpApproved>> {
    caller.require(&[Role::Admin, Role::Service, Role::User])?;
    Ok(Json(
        st.otp
            .verify(&body, |owner| caller.can_act_for(owner))
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// Days counted back from today (UTC), 1-366; default 30.
    pub days: Option<u32>,
}

#[utoipa::path(get, path = "/api/integrations/sms/otp/statistics", tag = "otp", security(("bearerAuth" = [])),
    params(StatisticsQuery),
    responses(
        (status = 200, body = OtpStatistics, description = "Sends, approvals and conversion per template and provider"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Admins only")))]
pub async fn otp_statistics(
    State(st): St,
    caller: Caller,
    ApiQuery(q): ApiQuery<StatisticsQuery>,
) -> ApiResult<Json<OtpStatistics>> {
    caller.require_admin()?;
    Ok(Json(st.otp.statistics(q.days.unwrap_or(30)).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(send_otp, verify_otp, otp_statistics),
    components(schemas(SendOtpRequest, OtpSent, VerifyOtpRequest, OtpApproved, OtpStatistics, OtpStatRow)),
    tags((name = "otp", description = "OTP verification as a service: the hub makes, delivers (SMS) and checks one-time codes"))
)]
struct OtpApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <OtpApi as utoipa::OpenApi>::openapi()
}
