//! Incoming webhooks (the Helsa `WebhookService`):
//!
//! | route | who |
//! | --- | --- |
//! | `POST /api/integrations/webhook/{endpoint_url}` | providers; signed, no JWT |
//! | `GET`/`POST /api/integrations/webhook/{endpoint_url}/{token}` | providers on path-token endpoints (Kavenegar) |
//! | `POST`/`GET /api/integrations/webhooks` | admin: register (`register_webhook`), list |
//! | `GET`/`PATCH`/`DELETE /api/integrations/webhooks/{endpoint_url}` | admin: get, update, disable |
//! | `POST /api/integrations/webhooks/{endpoint_url}/rotate-secret` | admin |
//! | `GET /api/integrations/webhooks/{endpoint_url}/events` | admin: list by status and time |
//! | `GET /api/integrations/webhooks/{endpoint_url}/events/{event_id}` | admin |
//! | `POST /api/integrations/webhooks/{endpoint_url}/events/{event_id}/replay` | admin |
//! | `POST /api/integrations/webhooks/{endpoint_url}/events/replay` | admin: a time range |

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::http::AdminCaller;
use shared::http::webhook::{header_view, provider_call_problem};
use shared::http::{ApiJson, ApiPath, ApiQuery};
use shared::webhooks::ingest::Inbound;
use shared::webhooks::*;
use shared::{ApiError, ApiResult, HubContext};

/// The function's state: the webhook service (built once) and the JWT verifier of the
/// admin routes.
pub struct WebhooksState {
    pub ctx: Arc<HubContext>,
    pub service: WebhookService,
}

impl WebhooksState {
    /// `service` from `ctx.webhook_service()` (tests: `webhook_service_with`).
    pub fn new(ctx: Arc<HubContext>, service: WebhookService) -> Arc<Self> {
        Arc::new(Self { ctx, service })
    }
}

impl shared::context::HubState for WebhooksState {
    fn hub(&self) -> &HubContext {
        &self.ctx
    }
}

type St = State<Arc<WebhooksState>>;

pub fn router(state: Arc<WebhooksState>) -> Router {
    Router::new()
        .route("/api/integrations/webhook/{endpoint_url}", post(receive))
        .route(
            "/api/integrations/webhook/{endpoint_url}/{token}",
            post(receive_with_token).get(receive_with_token_get),
        )
        .route(
            "/api/integrations/webhooks",
            post(register).get(list_endpoints),
        )
        .route(
            "/api/integrations/webhooks/{endpoint_url}",
            get(get_endpoint)
                .patch(update_endpoint)
                .delete(disable_endpoint),
        )
        .route(
            "/api/integrations/webhooks/{endpoint_url}/rotate-secret",
            post(rotate_secret),
        )
        .route(
            "/api/integrations/webhooks/{endpoint_url}/events",
            get(list_events),
        )
        .route(
            "/api/integrations/webhooks/{endpoint_url}/events/replay",
            post(replay_range),
        )
        .route(
            "/api/integrations/webhooks/{endpoint_url}/events/{event_id}",
            get(get_event),
        )
        .route(
            "/api/integrations/webhooks/{endpoint_url}/events/{event_id}/replay",
            post(replay_event),
        )
        .with_state(state)
}

// ------------------------------------------------------------------------------ receive

#[utoipa::path(post, path = "/api/integrations/webhook/{endpoint_url}", tag = "webhooks",
    params(("endpoint_url" = String, Path, description = "The endpoint's slug")),
    request_body(content = String, description = "The provider's raw body (any content type); verified byte for byte"),
    description = "Public, no JWT: authenticated by the endpoint's signature scheme (Standard Webhooks, Twilio, HMAC-SHA256 hex, path token). Verifies the raw bytes, stores the event once (deduplicated on signed material: the `webhook-id` under Standard Webhooks, else a hash of the signed bytes) and enqueues it; duplicates and unsubscribed event types answer 200 without processing. A stored event whose enqueue fails is still `accepted` (the sweeper re-drives it). SMS delivery reports are accepted only on an endpoint of their own provider (`kavenegar`, `twilio`).",
    responses((status = 200, body = ReceiveAnswer),
        (status = 401, description = "missing_signature, invalid_signature, stale_timestamp, future_timestamp", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "unknown_endpoint", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "report_provider_mismatch: another provider's SMS delivery report", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 413, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn receive(
    State(s): St,
    ApiPath(slug): ApiPath<String>,
    request: Request,
) -> ApiResult<Json<ReceiveAnswer>> {
    receive_inner(&s, &slug, None, request).await
}

#[utoipa::path(post, path = "/api/integrations/webhook/{endpoint_url}/{token}", tag = "webhooks",
    params(("endpoint_url" = String, Path), ("token" = String, Path, description = "The endpoint's secret path token")),
    description = "Path-token endpoints (providers that do not sign, e.g. Kavenegar delivery callbacks, which may also use GET with the fields in the query).",
    responses((status = 200, body = ReceiveAnswer), (status = 401, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "report_provider_mismatch: another provider's SMS delivery report", body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn receive_with_token(
    State(s): St,
    ApiPath((slug, token)): ApiPath<(String, String)>,
    request: Request,
) -> ApiResult<Json<ReceiveAnswer>> {
    receive_inner(&s, &slug, Some(token), request).await
}

/// The GET form of [`receive_with_token`] (Kavenegar may call back with the fields in the query).
#[utoipa::path(get, path = "/api/integrations/webhook/{endpoint_url}/{token}", tag = "webhooks",
    params(("endpoint_url" = String, Path), ("token" = String, Path, description = "The endpoint's secret path token")),
    description = "Path-token endpoints called with GET: the delivery fields arrive in the query string.",
    responses((status = 200, body = ReceiveAnswer), (status = 401, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn receive_with_token_get(
    state: St,
    path: ApiPath<(String, String)>,
    request: Request,
) -> ApiResult<Json<ReceiveAnswer>> {
    receive_with_token(state, path, request).await
}

async fn receive_inner(
    s: &WebhooksState,
    slug: &str,
    token: Option<String>,
    request: Request,
) -> ApiResult<Json<ReceiveAnswer>> {
    use http_body_util::BodyExt;
    use lambda_http::RequestExt;
    let (parts, body) = request.into_parts();
    let max = s.service.config.max_body_bytes;
    // The raw bytes, exactly as sent (lambda_http has already decoded a base64 body).
    let body = match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(WebhookError::BodyTooLarge(max).into());
        }
        Err(_) => {
            return Err(ApiError::bad_request(
                "unreadable_body",
                "the request body could not be read",
            ));
        }
    };
    // The path as the provider called it: API Gateway's raw path keeps a trailing slash that
    // routing trims, and Twilio signs the URL exactly as configured.
    let raw_path = parts.extensions.raw_http_path();
    let path = if raw_path.is_empty() {
        parts.uri.path()
    } else {
        raw_path
    };
    let query = parts.uri.query();
    let path_and_query = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let headers = header_view(&parts.headers);
    let inbound = Inbound {
        method: parts.method.as_str(),
        headers: &headers,
        path_and_query: &path_and_query,
        query,
        body: &body,
        path_token: token.as_deref(),
    };
    let answer = s
        .service
        .receive(slug, inbound)
        .await
        .map_err(provider_call_problem)?;
    Ok(Json(answer))
}

// ----------------------------------------------------------------------------- registry

#[utoipa::path(post, path = "/api/integrations/webhooks", tag = "webhooks", security(("bearerAuth" = [])),
    request_body = NewEndpoint,
    description = "Admin. Registers an endpoint (the Helsa `register_webhook`). The answer carries the public URL to configure at the provider and, when the hub generated it, the secret: shown this once, kept in Secrets Manager.",
    responses((status = 201, body = EndpointCreated), (status = 409, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn register(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewEndpoint>,
) -> ApiResult<(StatusCode, Json<EndpointCreated>)> {
    let slug = new.slug.clone();
    let mut fields = vec!["provider_slug", "name", "endpoint_url", "verification"];
    for (set, name) in [
        (!new.events.is_empty(), "events"),
        (new.secret.is_some(), "secret"),
        (new.event_type_field.is_some(), "event_type_field"),
        (new.notify_user_id.is_some(), "notify_user_id"),
        (new.notification_title.is_some(), "notification_title"),
    ] {
        if set {
            fields.push(name);
        }
    }
    let created = s.service.register(new, &header_view(&headers)).await?;
    audit(&s, &caller, "webhook_endpoint.registered", &slug, fields).await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Records an admin change to an endpoint (field names only; a failed write is logged by the
/// trail and the change stands).
async fn audit(
    s: &WebhooksState,
    caller: &shared::auth::Caller,
    action: &str,
    slug: &str,
    fields: Vec<&str>,
) {
    use shared::context::HubState;
    let entry = shared::audit::AuditEntry::new(caller, action, format!("webhook_endpoint:{slug}"))
        .fields(fields);
    let _ = s.hub().audit.record(entry).await;
}

#[utoipa::path(get, path = "/api/integrations/webhooks", tag = "webhooks", security(("bearerAuth" = [])), params(PageQuery),
    responses((status = 200, body = EndpointList)))]
pub async fn list_endpoints(
    State(s): St,
    _admin: AdminCaller,
    headers: HeaderMap,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<EndpointList>> {
    let list = s
        .service
        .list_endpoints(page, &header_view(&headers))
        .await?;
    Ok(Json(list))
}

#[utoipa::path(get, path = "/api/integrations/webhooks/{endpoint_url}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)),
    responses((status = 200, body = EndpointView), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn get_endpoint(
    State(s): St,
    _admin: AdminCaller,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<EndpointView>> {
    let endpoint = s.service.registry.endpoints.require(&slug).await?;
    Ok(Json(s.service.view(endpoint, &header_view(&headers))))
}

#[utoipa::path(patch, path = "/api/integrations/webhooks/{endpoint_url}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)), request_body = EndpointPatch,
    responses((status = 200, body = EndpointView), (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn update_endpoint(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
    ApiJson(patch): ApiJson<EndpointPatch>,
) -> ApiResult<Json<EndpointView>> {
    let mut fields = Vec::new();
    for (set, name) in [
        (patch.name.is_some(), "name"),
        (patch.events.is_some(), "events"),
        (patch.verification.is_some(), "verification"),
        (patch.event_type_field.is_some(), "event_type_field"),
        (patch.notify_user_id.is_some(), "notify_user_id"),
        (patch.notification_title.is_some(), "notification_title"),
        (patch.enabled.is_some(), "enabled"),
    ] {
        if set {
            fields.push(name);
        }
    }
    let endpoint = s.service.registry.update(&slug, patch).await?;
    audit(&s, &caller, "webhook_endpoint.updated", &slug, fields).await;
    Ok(Json(s.service.view(endpoint, &header_view(&headers))))
}

#[utoipa::path(delete, path = "/api/integrations/webhooks/{endpoint_url}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)),
    description = "Disables the endpoint (deliveries then answer 404); its events and secret are kept. PATCH `enabled: true` re-enables it.",
    responses((status = 200, body = EndpointView)))]
pub async fn disable_endpoint(
    state: St,
    caller: AdminCaller,
    headers: HeaderMap,
    path: ApiPath<String>,
) -> ApiResult<Json<EndpointView>> {
    let patch = EndpointPatch {
        enabled: Some(false),
        ..Default::default()
    };
    update_endpoint(state, caller, headers, path, ApiJson(patch)).await
}

#[utoipa::path(post, path = "/api/integrations/webhooks/{endpoint_url}/rotate-secret", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)), request_body = RotateSecret,
    description = "New secret at once; the previous one keeps verifying for the grace period (default 24 h). A generated secret (or path token) is returned this once.",
    responses((status = 200, body = EndpointCreated)))]
pub async fn rotate_secret(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<EndpointCreated>> {
    // The body is optional: an empty POST rotates with the defaults.
    let req: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::unprocessable(
                "invalid_body",
                format!("the JSON body does not match the expected shape: {e}"),
            )
        })?
    };
    let created = s
        .service
        .rotate_secret(&slug, req, &header_view(&headers))
        .await?;
    audit(
        &s,
        &caller,
        "webhook_endpoint.rotated",
        &slug,
        vec!["secret"],
    )
    .await;
    Ok(Json(created))
}

// ------------------------------------------------------------------------------- events

#[utoipa::path(get, path = "/api/integrations/webhooks/{endpoint_url}/events", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path), EventsQuery),
    description = "Newest first. With `status`, a page may hold fewer than `limit` items while `next_cursor` is set.",
    responses((status = 200, body = EventList)))]
pub async fn list_events(
    State(s): St,
    _admin: AdminCaller,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<EventList>> {
    Ok(Json(s.service.list_events(&slug, q).await?))
}

#[utoipa::path(get, path = "/api/integrations/webhooks/{endpoint_url}/events/{event_id}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path), ("event_id" = String, Path), EventQueryParams),
    responses((status = 200, body = EventDetail), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn get_event(
    State(s): St,
    _admin: AdminCaller,
    ApiPath((slug, event_id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<EventQueryParams>,
) -> ApiResult<Json<EventDetail>> {
    let include_body = q.include_body.unwrap_or(false);
    Ok(Json(s.service.event(&slug, &event_id, include_body).await?))
}

#[utoipa::path(post, path = "/api/integrations/webhooks/{endpoint_url}/events/{event_id}/replay", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path), ("event_id" = String, Path)),
    description = "Re-enqueues the event: its status goes back to `queued` and the worker processes it again.",
    responses((status = 202, body = ReplayAnswer)))]
pub async fn replay_event(
    State(s): St,
    _admin: AdminCaller,
    ApiPath((slug, event_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<ReplayAnswer>)> {
    let answer = s.service.replay_event(&slug, &event_id).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

#[utoipa::path(post, path = "/api/integrations/webhooks/{endpoint_url}/events/replay", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)), request_body = ReplayRange,
    responses((status = 202, body = ReplayAnswer)))]
pub async fn replay_range(
    State(s): St,
    _admin: AdminCaller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(range): ApiJson<ReplayRange>,
) -> ApiResult<(StatusCode, Json<ReplayAnswer>)> {
    let answer = s.service.replay_range(&slug, range).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    receive,
    receive_with_token,
    receive_with_token_get,
    register,
    list_endpoints,
    get_endpoint,
    update_endpoint,
    disable_endpoint,
    rotate_secret,
    list_events,
    get_event,
    replay_event,
    replay_range
))]
struct WebhooksApi;

/// This function's routes, for the merged OpenAPI document served by `docs`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <WebhooksApi as utoipa::OpenApi>::openapi();
    // `VerificationConfig` is `deny_unknown_fields`: each scheme takes only its own settings.
    shared::openapi::close_variants(&mut doc, "VerificationConfig");
    doc
}
