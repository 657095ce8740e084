//! The SMS API (the Helsa `KavenegarService`: `send_otp`, `send_pattern`, `send_bulk`,
//! `get_status`; BluRosiere's Twilio SMS), plus the providers' delivery-report callbacks.
//!
//! Who may do what:
//! - `service` and `admin` tokens: everything (send any type, bulk, read any message or batch).
//!   A service sending for an end user passes `user_id`, which the per-user SMS limit counts.
//! - `user` tokens: the OTP verification service only (`otp.rs`: the hub makes the code), no
//!   `send` at all (a client-chosen code or pattern token made the sender id a phishing
//!   tool); they read only their own messages. No bulk.
//! - Callbacks are public (providers have no JWT): Kavenegar's is authenticated by a secret
//!   token in the path (`callback_token` in the kavenegar credential secret), Twilio's by
//!   `X-Twilio-Signature`; both are behind the per-IP route rate limit.

use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use shared::auth::{AuthState, Caller, JwtVerifier, Role};
use shared::config::ConfigError;
use shared::http::{ApiJson, ApiPath, ApiQuery, RequestId};
use shared::otp::OtpService;
use shared::providers::{kavenegar, twilio};
use shared::rate_limit::{Channel, RateLimitDecision, RateLimitRouterExt, Subject};
use shared::sms::service::{BatchView, BulkAccepted, BulkRequest, SendRequest, SendResult};
use shared::sms::store::SmsRecord;
use shared::sms::{MessageType, SmsService, apply_delivery_report};
use shared::webhooks::signature::{self, PathToken, TwilioSignature, VerifyError};
use shared::{ApiError, ApiResult, HubContext};

pub mod otp;

/// Bulk bodies may carry 10,000 numbers with a text each; Lambda takes 6 MB.
pub const BULK_BODY_LIMIT: usize = 6 * 1024 * 1024;

/// The function's cold-start state.
pub struct SmsState {
    pub ctx: Arc<HubContext>,
    pub sms: SmsService,
    pub otp: OtpService,
}

impl SmsState {
    pub fn new(ctx: Arc<HubContext>) -> Result<Arc<Self>, ConfigError> {
        let sms = SmsService::from_ctx(ctx.clone())?;
        Ok(Arc::new(Self {
            otp: ctx.otp_service(&sms.config)?,
            sms,
            ctx,
        }))
    }

    pub fn with_service(sms: SmsService) -> Result<Arc<Self>, ConfigError> {
        Ok(Arc::new(Self {
            otp: sms.ctx.otp_service(&sms.config)?,
            ctx: sms.ctx.clone(),
            sms,
        }))
    }
}

impl AuthState for SmsState {
    fn jwt_verifier(&self) -> &JwtVerifier {
        &self.ctx.jwt
    }
}

type St = State<Arc<SmsState>>;

pub fn router(state: Arc<SmsState>) -> Router {
    let callbacks = Router::new()
        .route(
            "/api/integrations/sms/callbacks/kavenegar/{token}",
            get(kavenegar_callback_get).post(kavenegar_callback_post),
        )
        .route(
            "/api/integrations/sms/callbacks/twilio",
            post(twilio_callback),
        )
        .rate_limited(&state.ctx);
    Router::new()
        .route("/api/integrations/sms/send", post(send))
        .route(
            "/api/integrations/sms/bulk",
            post(bulk).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)),
        )
        .route("/api/integrations/sms/batches/{batch_id}", get(get_batch))
        .route("/api/integrations/sms/{message_id}", get(get_message))
        .merge(callbacks)
        .merge(otp::routes(&state))
        .with_state(state)
}

/// Adds the rate-limit headers kept aside while the idempotent work ran.
fn with_decision(mut res: Response, slot: &Mutex<Option<RateLimitDecision>>) -> Response {
    if let Some(d) = slot.lock().expect("not poisoned").take() {
        d.apply(res.headers_mut());
    }
    res
}

#[utoipa::path(post, path = "/api/integrations/sms/send", tag = "sms", security(("bearerAuth" = [])),
    request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeat with the same key returns the first answer")),
    responses(
        (status = 200, body = SendResult, description = "Sent (or logged by the console fallback when no provider is configured)"),
        (status = 400, body = shared::error::Problem, content_type = "application/problem+json", description = "Invalid field (e.g. `receptor`)"),
        (status = 403, body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = shared::error::Problem, content_type = "application/problem+json", description = "The provider rejected the request (invalid receptor, template)"),
        (status = 429, body = shared::error::Problem, content_type = "application/problem+json", description = "SMS or OTP limit reached"),
        (status = 502, body = shared::error::Problem, content_type = "application/problem+json", description = "Every configured provider failed")))]
pub async fn send(
    State(st): St,
    caller: Caller,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendRequest>,
) -> ApiResult<Response> {
    if caller.role == Role::User {
        return Err(ApiError::forbidden(
            "user tokens send codes through POST /api/integrations/sms/otp/send (the hub makes the code); otp, pattern and text sends with your own content need a service token",
        ));
    }
    caller.require(&[Role::Admin, Role::Service])?;
    let (phone, content) = body.validate(&st.sms.config)?;
    let for_user = if caller.role == Role::User {
        Some(caller.user_id.clone())
    } else {
        body.user_id.clone()
    };
    let slot = Mutex::new(None);
    let res = st
        .ctx
        .idempotency
        .run(&headers, "sms.send", &caller.user_id, &body, || async {
            let channel = if content.message_type() == MessageType::Otp {
                Channel::SmsOtp
            } else {
                Channel::Sms
            };
            let mut subject = Subject::channel(channel).receptor(phone.e164());
            if let Some(u) = &for_user {
                subject = subject.user(u.clone());
            }
            let decision = st.ctx.rate_limiter.check(&subject).await?;
            let owner = for_user.clone().unwrap_or_else(|| caller.user_id.clone());
            match st
                .sms
                .send(phone.clone(), content.clone(), &owner, &request_id)
                .await
            {
                Ok(result) => {
                    *slot.lock().expect("not poisoned") = Some(decision);
                    Ok((
                        StatusCode::OK,
                        serde_json::to_value(result).map_err(ApiError::internal)?,
                    ))
                }
                Err(e) => {
                    // Nothing reached the receptor: the attempt does not use up the quota.
                    st.ctx.rate_limiter.refund(&decision).await;
                    Err(e)
                }
            }
        })
        .await?;
    Ok(with_decision(res, &slot))
}

#[utoipa::path(post, path = "/api/integrations/sms/bulk", tag = "sms", security(("bearerAuth" = [])),
    request_body = BulkRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeat with the same key returns the first answer")),
    responses(
        (status = 202, body = BulkAccepted, description = "Queued; follow `GET /api/integrations/sms/batches/{batch_id}`"),
        (status = 400, body = shared::error::Problem, content_type = "application/problem+json", description = "Invalid entries, named `receptors[i]` / `messages[i].receptor`"),
        (status = 403, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn bulk(
    State(st): St,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BulkRequest>,
) -> ApiResult<Response> {
    caller.require(&[Role::Admin, Role::Service])?;
    let valid = body.validate()?;
    let slot = Mutex::new(None);
    let res = st
        .ctx
        .idempotency
        .run(&headers, "sms.bulk", &caller.user_id, &body, || async {
            // Service-wide SMS rules (if an admin defines one) count every receptor.
            let decision = st
                .ctx
                .rate_limiter
                .check_cost(&Subject::channel(Channel::Sms), valid.items.len() as u64)
                .await?;
            let (accepted, _calls) = st.sms.create_bulk(valid, &caller.user_id).await?;
            *slot.lock().expect("not poisoned") = Some(decision);
            Ok((
                StatusCode::ACCEPTED,
                serde_json::to_value(accepted).map_err(ApiError::internal)?,
            ))
        })
        .await?;
    Ok(with_decision(res, &slot))
}

#[utoipa::path(get, path = "/api/integrations/sms/batches/{batch_id}", tag = "sms", security(("bearerAuth" = [])),
    params(("batch_id" = String, Path)),
    responses((status = 200, body = BatchView), (status = 404, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn get_batch(
    State(st): St,
    caller: Caller,
    ApiPath(batch_id): ApiPath<String>,
) -> ApiResult<Json<BatchView>> {
    let batch = st
        .sms
        .batch(&batch_id)
        .await?
        .filter(|b| caller.can_act_for(&b.batch.user_id));
    batch
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no SMS batch {batch_id:?}")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatusQuery {
    /// Ask the provider for the current status (Kavenegar `sms/status`, Twilio message fetch).
    #[serde(default)]
    pub refresh: bool,
}

#[utoipa::path(get, path = "/api/integrations/sms/{message_id}", tag = "sms", security(("bearerAuth" = [])),
    params(("message_id" = String, Path), StatusQuery),
    responses((status = 200, body = SmsRecord), (status = 404, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn get_message(
    State(st): St,
    caller: Caller,
    RequestId(request_id): RequestId,
    ApiPath(message_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<SmsRecord>> {
    let record = st
        .sms
        .store
        .get_message(&message_id)
        .await?
        .filter(|r| caller.can_act_for(&r.user_id))
        .ok_or_else(|| ApiError::not_found(format!("no SMS message {message_id:?}")))?;
    let record = if q.refresh {
        st.sms.refresh(record, &request_id).await?
    } else {
        record
    };
    Ok(Json(record))
}

/// The answer to a delivery report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportApplied {
    /// False when the hub does not know the message or the status was not newer.
    pub applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<shared::sms::SmsStatus>,
}

#[derive(Debug, Deserialize)]
struct KavenegarReport {
    messageid: Option<String>,
    status: Option<String>,
}

async fn kavenegar_report(
    st: &SmsState,
    token: &str,
    params: KavenegarReport,
) -> ApiResult<Json<ReportApplied>> {
    let creds = st
        .ctx
        .credentials
        .get(kavenegar::SLUG)
        .await
        .map_err(ApiError::internal)?;
    let expected = creds
        .as_ref()
        .and_then(|c| c.get("callback_token").map(str::to_string));
    let Some(expected) = expected else {
        return Err(ApiError::not_found(
            "Kavenegar delivery callbacks are not enabled (no callback_token in the kavenegar secret)",
        ));
    };
    // Accept the previous token during a rotation when the secret keeps one.
    let previous = creds
        .as_ref()
        .and_then(|c| c.get("previous_callback_token").map(str::to_string));
    PathToken::new(std::iter::once(expected).chain(previous))
        .check(Some(token))
        .map_err(ApiError::from)?;
    let message_id = params
        .messageid
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_field("messageid", "is required"))?;
    let status = params
        .status
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_field("status", "is required"))?;
    let applied =
        apply_delivery_report(&st.ctx, kavenegar::SLUG, message_id.trim(), &status, None).await?;
    Ok(Json(ReportApplied {
        applied: applied.is_some(),
        message_id: applied.as_ref().map(|a| a.0.clone()),
        status: applied.map(|a| a.1),
    }))
}

#[utoipa::path(get, path = "/api/integrations/sms/callbacks/kavenegar/{token}", tag = "sms",
    params(("token" = String, Path, description = "The secret callback token"), ("messageid" = String, Query), ("status" = String, Query)),
    responses((status = 200, body = ReportApplied), (status = 401, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn kavenegar_callback_get(
    State(st): St,
    ApiPath(token): ApiPath<String>,
    ApiQuery(params): ApiQuery<KavenegarReportQuery>,
) -> ApiResult<Json<ReportApplied>> {
    kavenegar_report(
        &st,
        &token,
        KavenegarReport {
            messageid: params.messageid,
            status: params.status,
        },
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct KavenegarReportQuery {
    pub messageid: Option<String>,
    pub status: Option<String>,
}

/// POST: a form (or JSON) body; query parameters are accepted too.
#[utoipa::path(post, path = "/api/integrations/sms/callbacks/kavenegar/{token}", tag = "sms",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "messageid=...&status=..."),
    params(("token" = String, Path, description = "The secret callback token")),
    responses((status = 200, body = ReportApplied), (status = 401, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn kavenegar_callback_post(
    State(st): St,
    ApiPath(token): ApiPath<String>,
    ApiQuery(query): ApiQuery<KavenegarReportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReportApplied>> {
    let mut params = KavenegarReport {
        messageid: query.messageid,
        status: query.status,
    };
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let fields: Vec<(String, String)> = if is_json {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
            .map_err(|_| ApiError::bad_request("malformed_json", "the body is not a JSON object"))?
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect()
    } else {
        serde_urlencoded::from_bytes(&body).unwrap_or_default()
    };
    for (k, v) in fields {
        match k.as_str() {
            "messageid" => params.messageid = Some(v),
            "status" => params.status = Some(v),
            _ => {}
        }
    }
    kavenegar_report(&st, &token, params).await
}

/// Twilio's status callback: a signed form (`MessageSid`, `MessageStatus`, `ErrorCode`).
#[utoipa::path(post, path = "/api/integrations/sms/callbacks/twilio", tag = "sms",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "MessageSid, MessageStatus, ErrorCode, ... signed with X-Twilio-Signature"),
    params(("X-Twilio-Signature" = String, Header)),
    responses((status = 200, body = ReportApplied), (status = 401, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn twilio_callback(
    State(st): St,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let sig = headers
        .get(signature::HEADER_TWILIO_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::from(VerifyError::Missing("X-Twilio-Signature header".into())))?;
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    // The URL Twilio signs is the StatusCallback the hub gave it when SMS_CALLBACK_BASE_URL
    // is set; otherwise rebuilt from the forwarded headers.
    let url = signature::public_url(
        &headers,
        &path_and_query,
        st.sms.config.callback_base_url.as_deref(),
    );
    let params = signature::form_params(&headers, &body);
    let verify =
        |token: &str| TwilioSignature::new([token.to_string()]).verify_params(sig, &url, &params);
    let token_of = |c: &Option<Arc<shared::secrets::Credentials>>| {
        c.as_ref()
            .and_then(|c| c.get("auth_token").map(str::to_string))
    };
    let creds = st
        .ctx
        .credentials
        .get(twilio::SLUG)
        .await
        .map_err(ApiError::internal)?;
    let Some(token) = token_of(&creds) else {
        return Err(ApiError::not_found("Twilio is not configured"));
    };
    if let Err(e) = verify(&token) {
        // A rotated auth token: read the secret once more before refusing.
        let fresh = token_of(
            &st.ctx
                .credentials
                .refresh(twilio::SLUG)
                .await
                .map_err(ApiError::internal)?,
        );
        match fresh {
            Some(t) if t != token && verify(&t).is_ok() => {}
            _ => return Err(e.into()),
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let sid = get("MessageSid")
        .or_else(|| get("SmsSid"))
        .ok_or_else(|| ApiError::invalid_field("MessageSid", "is required"))?;
    let status = get("MessageStatus")
        .or_else(|| get("SmsStatus"))
        .ok_or_else(|| ApiError::invalid_field("MessageStatus", "is required"))?;
    let applied =
        apply_delivery_report(&st.ctx, twilio::SLUG, sid, status, get("ErrorCode")).await?;
    Ok(Json(ReportApplied {
        applied: applied.is_some(),
        message_id: applied.as_ref().map(|a| a.0.clone()),
        status: applied.map(|a| a.1),
    })
    .into_response())
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(send, bulk, get_batch, get_message, kavenegar_callback_get, kavenegar_callback_post, twilio_callback),
    components(schemas(SendRequest, SendResult, BulkRequest, shared::sms::service::BulkMessage, BulkAccepted, BatchView, SmsRecord, ReportApplied, MessageType, shared::sms::SmsStatus, shared::sms::store::BatchRecord)),
    tags((name = "sms", description = "OTP, pattern, text and bulk SMS through Kavenegar and Twilio; status and delivery reports"))
)]
struct SmsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = <SmsApi as utoipa::OpenApi>::openapi();
    api.merge(otp::openapi());
    api
}
