//! The SMS API (the Helsa `KavenegarService`: `send_otp`, `send_pattern`, `send_bulk`,
//! `get_status`; BluRosiere's Twilio SMS), plus the providers' delivery-report callbacks.
//!
//! `send` takes the Helsa body (`message_type` otp, pattern or text) or, without
//! `message_type`, one of the hub's named templates in fa, pt-BR or en (BluRosiere's Twilio
//! SMS: appointment reminders, risk alerts, quick confirmations): see
//! [`shared::locale::short`].
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

use axum::extract::{DefaultBodyLimit, FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use shared::auth::{Caller, Role};
use shared::error::InvalidInput;
use shared::http::ServiceCaller;
use shared::http::webhook::{header_view, provider_call_problem};
use shared::http::{ApiJson, ApiPath, ApiQuery, RateLimitRouterExt, RequestId};
use shared::otp::OtpService;
use shared::providers::{kavenegar, twilio};
use shared::rate_limit::rules::SMS_STATUS_ROUTE;
use shared::rate_limit::{Channel, RateLimitDecision, Subject};
use shared::sms::model::{
    BatchRecord, BatchView, BulkAccepted, BulkMessage, BulkRequest, KavenegarReportQuery,
    ReportApplied, SendRequest, SendResult, SmsRecord, StatusQuery,
};
use shared::sms::{MessageType, SmsService, SmsStatus};
use shared::webhooks::delivery_report::DeliveryReport;
use shared::webhooks::signature::{
    self, HeaderView, InboundRequest, PathToken, TwilioSignature, VerifyError, WebhookVerifier,
};
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
    /// `sms` is `ctx.sms_service()` and `otp` is `ctx.otp_service(&sms.config)`, or ones
    /// built with other settings (tests).
    pub fn new(ctx: Arc<HubContext>, sms: SmsService, otp: OtpService) -> Arc<Self> {
        Arc::new(Self { ctx, sms, otp })
    }
}

impl shared::context::HubState for SmsState {
    fn hub(&self) -> &HubContext {
        &self.ctx
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

/// The caller of `send`: a service or admin token, like [`ServiceCaller`], checked with the
/// other request-part extractors before the body is read (a user token posting a malformed
/// body gets 403, never a 422 describing the schema), and telling a user token where codes
/// are sent from instead.
pub struct Sender(pub Caller);

impl<S> FromRequestParts<S> for Sender
where
    S: shared::context::HubState + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = <Caller as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if caller.role == Role::User {
            return Err(ApiError::forbidden(
                "user tokens send codes through POST /api/integrations/sms/otp/send (the hub makes the code); otp, pattern and text sends with your own content need a service token",
            ));
        }
        caller.require(&[Role::Admin, Role::Service])?;
        Ok(Self(caller))
    }
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
    description = "Sends one SMS. Either a Helsa message (`message_type` `otp`, `pattern` or `text`), or a named template of the hub rendered in a language, like the email route's templates: no `message_type`, `template` one of `appointment_reminder` (data `date`, `time`; optional `patient_name`, `doctor_name`, `location`), `quick_confirmation` (`date`, `time`; optional `patient_name`, `doctor_name`, `appointment_id`), `risk_alert` (`patient_name`, `risk_level` low|moderate|high|critical; optional `detail`, `contact_phone`) or `appointment_updated` (`date`, `status`; optional `time`, `patient_name`), `language` `fa`, `pt-BR` or `en` (default), `data` its fields. `date` is a Gregorian `YYYY-MM-DD` and `time` `HH:MM`; the text writes them as the reader does (fa: Solar Hijri with Persian digits, `۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰`; pt-BR: `20/01/2025 às 14:00`; en: `20 January 2025 at 14:00`). A named template is sent as a `text` message. Service and admin tokens.",
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeat with the same key returns the first answer")),
    responses(
        (status = 200, body = SendResult, description = "The provider took it (`status` is its word), or the console fallback logged it (`status: fallback`, only where SMS_FALLBACK allows it)"),
        (status = 202, body = SendResult, description = "`status: unknown`: the provider's answer was lost after the request was written; it may have gone out, it is not sent again (`reason` says why)"),
        (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Invalid field (e.g. `receptor`)"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "A named template that is unknown (`unknown_template`, field `template`), in an unknown language (`unknown_language`), missing a field (`missing_template_data`, field e.g. `data.time`) or with a wrong one (`invalid_template_data`); or the provider rejected the request (invalid receptor, template)"),
        (status = 429, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "SMS or OTP limit reached"),
        (status = 502, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Every configured provider refused it (nothing was sent)"),
        (status = 503, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`dependency_unavailable` (the provider configuration or credentials could not be read; Retry-After) or `sms_not_configured`; nothing was sent")))]
pub async fn send(
    State(st): St,
    Sender(caller): Sender,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendRequest>,
) -> ApiResult<Response> {
    let (phone, content) = body.validate(&st.sms.config)?;
    // Only services and admins get here: `user_id` names the end user they send for.
    let for_user = body.user_id.clone();
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
                    // `unknown`: the provider may have it; the outcome is not final yet.
                    let status = if result.status == SmsStatus::Unknown {
                        StatusCode::ACCEPTED
                    } else {
                        StatusCode::OK
                    };
                    Ok((
                        status,
                        serde_json::to_value(result).map_err(ApiError::internal)?,
                    ))
                }
                Err(e) => {
                    // `send` answers an error only when nothing went out (refused, not
                    // configured, configuration unreadable): the attempt does not use up
                    // the quota. Anything that may have gone out (sent, `unknown`, a record
                    // the table would not take) is an answer, never refunded.
                    st.ctx.rate_limiter.refund(&decision).await;
                    Err(e.into())
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
        (status = 202, body = BulkAccepted, description = "Stored durably and queued; follow `GET /api/integrations/sms/batches/{batch_id}`. Every receptor is sent at most once"),
        (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Invalid entries, named `receptors[i]` / `messages[i].receptor`"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`dependency_unavailable` (with Retry-After): the batch could not be stored, nothing was accepted and the Idempotency-Key is free; or `bulk_not_configured`")))]
pub async fn bulk(
    State(st): St,
    ServiceCaller(caller): ServiceCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BulkRequest>,
) -> ApiResult<Response> {
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
            // Ok exactly when the batch is durable (an enqueue failure after that is the
            // re-drive sweeper's): the answer, and the key, then stand for this batch.
            let (accepted, _calls) = match st.sms.create_bulk(valid, &caller.user_id).await {
                Ok(created) => created,
                Err(e) => {
                    // Nothing was accepted, so nothing will be sent: the quota is given back.
                    st.ctx.rate_limiter.refund(&decision).await;
                    return Err(e.into());
                }
            };
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
    responses((status = 200, body = BatchView), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn get_batch(
    State(st): St,
    caller: Caller,
    ApiPath(batch_id): ApiPath<String>,
) -> ApiResult<Json<BatchView>> {
    let batch = st
        .sms
        .batch(&batch_id, |b| caller.can_act_for(&b.batch.user_id))
        .await?;
    Ok(Json(batch))
}

#[utoipa::path(get, path = "/api/integrations/sms/{message_id}", tag = "sms", security(("bearerAuth" = [])),
    params(("message_id" = String, Path), StatusQuery),
    responses((status = 200, body = SmsRecord), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 429, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`?refresh=true` asks the provider and is metered (`default-sms-refresh-user`)")))]
pub async fn get_message(
    State(st): St,
    caller: Caller,
    RequestId(request_id): RequestId,
    ApiPath(message_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Response> {
    let record = st
        .sms
        .message(&message_id, |r| caller.can_act_for(&r.user_id))
        .await?;
    if !q.refresh {
        return Ok(Json(record).into_response());
    }
    // A refresh is a provider call: metered per caller like any other use.
    let decision = st
        .ctx
        .rate_limiter
        .check(&Subject::route(SMS_STATUS_ROUTE).user(caller.user_id.clone()))
        .await?;
    let record = st.sms.refresh(record, &request_id).await?;
    Ok((decision, Json(record)).into_response())
}

// ------------------------------------------------------------------------- delivery reports
//
// One path for delivery reports: the webhook verifiers (`PathToken`, `TwilioSignature`), the
// webhooks module's report parser, and the SMS store's `apply_delivery_report`, which the
// webhooks worker calls too.

/// The report in `params`, read by the webhooks module's report parser (which copies only
/// the report fields, never `To`/`From`); a missing field is named.
fn delivery_report(provider: &str, params: &[(String, String)]) -> ApiResult<DeliveryReport> {
    let report = if provider == twilio::SLUG {
        DeliveryReport::twilio(params)
    } else {
        DeliveryReport::kavenegar(params)
    };
    report.map_err(|field| InvalidInput::field(field, "is required").into())
}

/// Records the report on the message it belongs to.
async fn apply(st: &SmsState, report: &DeliveryReport) -> ApiResult<Json<ReportApplied>> {
    let applied = st
        .sms
        .store()
        .apply_delivery_report(
            &report.provider,
            &report.provider_message_id,
            &report.provider_status,
            report.error_code.as_deref(),
        )
        .await?;
    Ok(Json(ReportApplied::from_applied(applied)))
}

/// What a webhook verifier looks at, for one callback.
fn inbound<'a>(
    headers: &'a HeaderView<'a>,
    body: &'a [u8],
    public_url: &'a str,
    path_token: Option<&'a str>,
) -> InboundRequest<'a> {
    InboundRequest {
        headers,
        body,
        public_url,
        path_token,
        now: shared::clock::now_secs(),
    }
}

/// Kavenegar's callback carries a secret token in its path (`callback_token` in the
/// kavenegar secret; `previous_callback_token` keeps verifying during a rotation).
async fn verify_kavenegar(st: &SmsState, request: &InboundRequest<'_>) -> ApiResult<()> {
    // An unreadable secret is a 503 the provider retries, never "callbacks disabled".
    let creds = st.ctx.credentials.get(kavenegar::SLUG).await?;
    let tokens: Vec<&str> = ["callback_token", "previous_callback_token"]
        .iter()
        .filter_map(|k| creds.as_deref().and_then(|c| c.get(k)))
        .collect();
    if creds
        .as_deref()
        .and_then(|c| c.get("callback_token"))
        .is_none()
    {
        return Err(ApiError::not_found(
            "Kavenegar delivery callbacks are not enabled (no callback_token in the kavenegar secret)",
        ));
    }
    PathToken::new(tokens)
        .verify(request)
        .map_err(provider_call_problem)
}

async fn twilio_auth_token(st: &SmsState, fresh: bool) -> ApiResult<Option<String>> {
    let creds = if fresh {
        st.ctx.credentials.refresh(twilio::SLUG).await
    } else {
        st.ctx.credentials.get(twilio::SLUG).await
    }?;
    Ok(creds.and_then(|c| c.get("auth_token").map(str::to_string)))
}

/// Twilio signs its callbacks with the account's auth token (`X-Twilio-Signature`); after a
/// rotation the secret is read once more before a signature is refused.
async fn verify_twilio(st: &SmsState, request: &InboundRequest<'_>) -> ApiResult<()> {
    if request
        .headers
        .raw(signature::HEADER_TWILIO_SIGNATURE)
        .is_none()
    {
        return Err(provider_call_problem(VerifyError::Missing(
            "X-Twilio-Signature header".into(),
        )));
    }
    let token = twilio_auth_token(st, false)
        .await?
        .ok_or_else(|| ApiError::not_found("Twilio is not configured"))?;
    match TwilioSignature::new([token.as_str()]).verify(request) {
        Err(VerifyError::Invalid) => match twilio_auth_token(st, true).await? {
            Some(fresh) if fresh != token => TwilioSignature::new([fresh])
                .verify(request)
                .map_err(provider_call_problem),
            _ => Err(provider_call_problem(VerifyError::Invalid)),
        },
        other => other.map_err(provider_call_problem),
    }
}

/// The query's report fields.
fn query_params(query: KavenegarReportQuery) -> Vec<(String, String)> {
    [("messageid", query.messageid), ("status", query.status)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

/// The fields of a POST body: a JSON object, else a form.
fn body_params(headers: &HeaderMap, body: &[u8]) -> ApiResult<Vec<(String, String)>> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !is_json {
        return Ok(serde_urlencoded::from_bytes(body).unwrap_or_default());
    }
    let object = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .map_err(|_| InvalidInput::new("malformed_json", "the body is not a JSON object"))?;
    Ok(object
        .into_iter()
        .map(|(k, v)| {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            (k, text)
        })
        .collect())
}

async fn kavenegar_report(
    st: &SmsState,
    token: &str,
    headers: &HeaderMap,
    body: &[u8],
    params: Vec<(String, String)>,
) -> ApiResult<Json<ReportApplied>> {
    let headers = header_view(headers);
    verify_kavenegar(st, &inbound(&headers, body, "", Some(token))).await?;
    let report = delivery_report(kavenegar::SLUG, &params)?;
    apply(st, &report).await
}

#[utoipa::path(get, path = "/api/integrations/sms/callbacks/kavenegar/{token}", tag = "sms",
    params(("token" = String, Path, description = "The secret callback token"), ("messageid" = String, Query), ("status" = String, Query)),
    responses((status = 200, body = ReportApplied), (status = 401, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn kavenegar_callback_get(
    State(st): St,
    ApiPath(token): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<KavenegarReportQuery>,
) -> ApiResult<Json<ReportApplied>> {
    kavenegar_report(&st, &token, &headers, &[], query_params(query)).await
}

/// POST: a form (or JSON) body; query parameters are accepted too (the body's win).
#[utoipa::path(post, path = "/api/integrations/sms/callbacks/kavenegar/{token}", tag = "sms",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "messageid=...&status=..."),
    params(("token" = String, Path, description = "The secret callback token")),
    responses((status = 200, body = ReportApplied), (status = 401, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn kavenegar_callback_post(
    State(st): St,
    ApiPath(token): ApiPath<String>,
    ApiQuery(query): ApiQuery<KavenegarReportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReportApplied>> {
    let mut params = body_params(&headers, &body)?;
    params.extend(query_params(query));
    kavenegar_report(&st, &token, &headers, &body, params).await
}

/// The URL Twilio signed: the StatusCallback the hub gave it when SMS_CALLBACK_BASE_URL is
/// set; otherwise rebuilt from the forwarded headers.
fn twilio_signed_url(st: &SmsState, headers: &HeaderMap, uri: &Uri) -> String {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    signature::public_url(
        &header_view(headers),
        &path_and_query,
        st.sms.config.callback_base_url.as_deref(),
    )
}

/// Twilio's status callback: a signed form (`MessageSid`, `MessageStatus`, `ErrorCode`).
#[utoipa::path(post, path = "/api/integrations/sms/callbacks/twilio", tag = "sms",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "MessageSid, MessageStatus, ErrorCode, ... signed with X-Twilio-Signature"),
    params(("X-Twilio-Signature" = String, Header)),
    responses((status = 200, body = ReportApplied), (status = 401, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "Twilio is not configured (no credentials to verify the signature with)")))]
pub async fn twilio_callback(
    State(st): St,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReportApplied>> {
    let url = twilio_signed_url(&st, &headers, &uri);
    let headers = header_view(&headers);
    verify_twilio(&st, &inbound(&headers, &body, &url, None)).await?;
    let params = signature::form_params(&headers, &body);
    let report = delivery_report(twilio::SLUG, &params)?;
    apply(&st, &report).await
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(send, bulk, get_batch, get_message, kavenegar_callback_get, kavenegar_callback_post, twilio_callback),
    components(schemas(SendRequest, SendResult, BulkRequest, BulkMessage, BulkAccepted, BatchView, SmsRecord, ReportApplied, MessageType, SmsStatus, BatchRecord)),
    tags((name = "sms", description = "OTP, pattern, text and bulk SMS through Kavenegar and Twilio; status and delivery reports"))
)]
struct SmsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = <SmsApi as utoipa::OpenApi>::openapi();
    api.merge(otp::openapi());
    api
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reports_are_read_by_the_webhooks_parser_with_twilio_legacy_names() {
        let r = delivery_report(
            twilio::SLUG,
            &params(&[
                ("SmsSid", "SM1"),
                ("SmsStatus", "delivered"),
                ("To", "+14155552671"),
            ]),
        )
        .unwrap();
        assert_eq!(r.provider_message_id, "SM1");
        assert_eq!(r.status, "delivered");
        assert_eq!(r.error_code, None);
        let r = delivery_report(
            kavenegar::SLUG,
            &params(&[("messageid", " 77 "), ("status", "10")]),
        )
        .unwrap();
        assert_eq!(
            (r.provider_message_id.as_str(), r.status.as_str()),
            ("77", "delivered")
        );
    }

    #[test]
    fn a_missing_report_field_is_named() {
        let e = delivery_report(
            kavenegar::SLUG,
            &params(&[
                ("status", "10"),
                ("MessageSid", "SM1"),
                ("MessageStatus", "sent"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.errors[0].field, "messageid");
        let e = delivery_report(twilio::SLUG, &params(&[("MessageSid", "SM1")])).unwrap_err();
        assert_eq!(e.errors[0].field, "MessageStatus");
    }
}
