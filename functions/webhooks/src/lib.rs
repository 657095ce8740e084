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
use base64::Engine;
use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::http::{ApiJson, ApiPath, ApiQuery};
use shared::webhooks::events::EventQuery;
use shared::webhooks::ingest::{Inbound, WebhookService};
use shared::webhooks::registry::timestamp;
use shared::webhooks::*;
use shared::{ApiError, ApiResult, HubContext};

/// The function's state: the hub context plus the webhook service, built once.
pub struct WebhooksState {
    pub ctx: Arc<HubContext>,
    pub service: Arc<WebhookService>,
}

impl WebhooksState {
    pub fn from_context(ctx: Arc<HubContext>) -> Result<Arc<Self>, shared::config::ConfigError> {
        Self::with_clock(ctx, system_clock())
    }

    /// Tests move time through `clock` (signature tolerances, rotation grace periods).
    pub fn with_clock(
        ctx: Arc<HubContext>,
        clock: Clock,
    ) -> Result<Arc<Self>, shared::config::ConfigError> {
        let config = WebhookConfig::from_env(&ctx.env)?;
        Ok(Self::with_config(ctx, config, clock))
    }

    /// Tests give their own queue and limits.
    pub fn with_config(ctx: Arc<HubContext>, config: WebhookConfig, clock: Clock) -> Arc<Self> {
        let service = Arc::new(WebhookService::new(&ctx, config, clock));
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
    description = "Public, no JWT: authenticated by the endpoint's signature scheme (Standard Webhooks, Twilio, HMAC-SHA256 hex, path token). Verifies the raw bytes, stores the event once (deduplicated on the provider's id) and enqueues it; duplicates and unsubscribed event types answer 200 without processing.",
    responses((status = 200, body = ReceiveAnswer),
        (status = 401, description = "missing_signature, invalid_signature, stale_timestamp, future_timestamp", body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "unknown_endpoint", body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 413, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn receive(
    State(s): St,
    ApiPath(endpoint_url): ApiPath<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<ReceiveAnswer>)> {
    receive_inner(&s, &endpoint_url, None, request).await
}

#[utoipa::path(post, path = "/api/integrations/webhook/{endpoint_url}/{token}", tag = "webhooks",
    params(("endpoint_url" = String, Path), ("token" = String, Path, description = "The endpoint's secret path token")),
    description = "Path-token endpoints (providers that do not sign, e.g. Kavenegar delivery callbacks, which may also use GET with the fields in the query).",
    responses((status = 200, body = ReceiveAnswer), (status = 401, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn receive_with_token(
    State(s): St,
    ApiPath((endpoint_url, token)): ApiPath<(String, String)>,
    request: Request,
) -> ApiResult<(StatusCode, Json<ReceiveAnswer>)> {
    receive_inner(&s, &endpoint_url, Some(token), request).await
}

/// The GET form of [`receive_with_token`] (Kavenegar may call back with the fields in the query).
#[utoipa::path(get, path = "/api/integrations/webhook/{endpoint_url}/{token}", tag = "webhooks",
    params(("endpoint_url" = String, Path), ("token" = String, Path, description = "The endpoint's secret path token")),
    description = "Path-token endpoints called with GET: the delivery fields arrive in the query string.",
    responses((status = 200, body = ReceiveAnswer), (status = 401, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn receive_with_token_get(
    state: St,
    path: ApiPath<(String, String)>,
    request: Request,
) -> ApiResult<(StatusCode, Json<ReceiveAnswer>)> {
    receive_with_token(state, path, request).await
}

async fn receive_inner(
    s: &WebhooksState,
    endpoint_url: &str,
    token: Option<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<ReceiveAnswer>)> {
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
            return Err(ApiError::payload_too_large(format!(
                "webhook bodies are limited to {max} bytes"
            )));
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
    let inbound = Inbound {
        method: parts.method.as_str(),
        headers: &parts.headers,
        path_and_query: &path_and_query,
        query,
        body: &body,
        path_token: token.as_deref(),
    };
    let (status, answer) = s.service.receive(endpoint_url, inbound).await?;
    Ok((status, Json(answer)))
}

// ----------------------------------------------------------------------------- registry

#[utoipa::path(post, path = "/api/integrations/webhooks", tag = "webhooks", security(("bearerAuth" = [])),
    request_body = NewEndpoint,
    description = "Admin. Registers an endpoint (the Helsa `register_webhook`). The answer carries the public URL to configure at the provider and, when the hub generated it, the secret: shown this once, kept in Secrets Manager.",
    responses((status = 201, body = EndpointCreated), (status = 409, body = shared::error::Problem, content_type = "application/problem+json"),
        (status = 403, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn register(
    State(s): St,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewEndpoint>,
) -> ApiResult<(StatusCode, Json<EndpointCreated>)> {
    caller.require_admin()?;
    let (endpoint, secret) = s.service.registry.create(new).await?;
    let token = secret
        .as_deref()
        .filter(|_| matches!(endpoint.verification, VerificationConfig::PathToken {}));
    let public_url = s
        .service
        .public_url(&headers, &endpoint.endpoint_url, token);
    tracing::info!(endpoint = %endpoint.endpoint_url, scheme = endpoint.verification.scheme(), "webhook endpoint registered");
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated {
            endpoint,
            public_url,
            secret,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1..=100, default 50.
    pub limit: Option<i32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    pub items: Vec<EndpointView>,
    pub next_cursor: Option<String>,
}

fn page_limit(limit: Option<i32>) -> ApiResult<i32> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "must be between 1 and 100",
        ));
    }
    Ok(limit)
}

fn view(s: &WebhooksState, headers: &HeaderMap, endpoint: WebhookEndpoint) -> EndpointView {
    let public_url = s.service.public_url(headers, &endpoint.endpoint_url, None);
    EndpointView {
        endpoint,
        public_url,
    }
}

#[utoipa::path(get, path = "/api/integrations/webhooks", tag = "webhooks", security(("bearerAuth" = [])), params(PageQuery),
    responses((status = 200, body = EndpointList)))]
pub async fn list_endpoints(
    State(s): St,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<EndpointList>> {
    caller.require_admin()?;
    let (items, next_cursor) = s
        .service
        .registry
        .list(page_limit(q.limit)?, q.cursor.as_deref())
        .await?;
    Ok(Json(EndpointList {
        items: items.into_iter().map(|e| view(&s, &headers, e)).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/integrations/webhooks/{endpoint_url}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)),
    responses((status = 200, body = EndpointView), (status = 404, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn get_endpoint(
    State(s): St,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(endpoint_url): ApiPath<String>,
) -> ApiResult<Json<EndpointView>> {
    caller.require_admin()?;
    Ok(Json(view(
        &s,
        &headers,
        s.service.registry.require(&endpoint_url).await?,
    )))
}

#[utoipa::path(patch, path = "/api/integrations/webhooks/{endpoint_url}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)), request_body = EndpointPatch,
    responses((status = 200, body = EndpointView), (status = 422, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn update_endpoint(
    State(s): St,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(endpoint_url): ApiPath<String>,
    ApiJson(patch): ApiJson<EndpointPatch>,
) -> ApiResult<Json<EndpointView>> {
    caller.require_admin()?;
    Ok(Json(view(
        &s,
        &headers,
        s.service.registry.update(&endpoint_url, patch).await?,
    )))
}

#[utoipa::path(delete, path = "/api/integrations/webhooks/{endpoint_url}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)),
    description = "Disables the endpoint (deliveries then answer 404); its events and secret are kept. PATCH `enabled: true` re-enables it.",
    responses((status = 200, body = EndpointView)))]
pub async fn disable_endpoint(
    State(s): St,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(endpoint_url): ApiPath<String>,
) -> ApiResult<Json<EndpointView>> {
    caller.require_admin()?;
    let patch = EndpointPatch {
        enabled: Some(false),
        ..Default::default()
    };
    Ok(Json(view(
        &s,
        &headers,
        s.service.registry.update(&endpoint_url, patch).await?,
    )))
}

#[utoipa::path(post, path = "/api/integrations/webhooks/{endpoint_url}/rotate-secret", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)), request_body = RotateSecret,
    description = "New secret at once; the previous one keeps verifying for the grace period (default 24 h). A generated secret (or path token) is returned this once.",
    responses((status = 200, body = EndpointCreated)))]
pub async fn rotate_secret(
    State(s): St,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(endpoint_url): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<EndpointCreated>> {
    caller.require_admin()?;
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
    let now = (s.service.clock)();
    let (endpoint, secret) = s
        .service
        .registry
        .rotate(
            &endpoint_url,
            req,
            now,
            s.service.config.rotation_grace_secs,
        )
        .await?;
    let token = secret
        .as_deref()
        .filter(|_| matches!(endpoint.verification, VerificationConfig::PathToken {}));
    let public_url = s
        .service
        .public_url(&headers, &endpoint.endpoint_url, token);
    tracing::info!(endpoint = %endpoint.endpoint_url, "webhook secret rotated");
    Ok(Json(EndpointCreated {
        endpoint,
        public_url,
        secret,
    }))
}

// ------------------------------------------------------------------------------- events

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    pub status: Option<EventStatus>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, inclusive.
    pub to: Option<String>,
    pub limit: Option<i32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub items: Vec<WebhookEvent>,
    pub next_cursor: Option<String>,
}

fn parse_time(field: &str, raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|r| {
        time::OffsetDateTime::parse(r, &time::format_description::well_known::Rfc3339)
            .map(timestamp)
            .map_err(|_| {
                ApiError::invalid_field(
                    field,
                    "must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z",
                )
            })
    })
    .transpose()
}

#[utoipa::path(get, path = "/api/integrations/webhooks/{endpoint_url}/events", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path), EventsQuery),
    description = "Newest first. With `status`, a page may hold fewer than `limit` items while `next_cursor` is set.",
    responses((status = 200, body = EventList)))]
pub async fn list_events(
    State(s): St,
    caller: Caller,
    ApiPath(endpoint_url): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<EventList>> {
    caller.require_admin()?;
    let query = EventQuery {
        status: q.status,
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
        limit: page_limit(q.limit)?,
        cursor: q.cursor,
    };
    s.service.registry.require(&endpoint_url).await?;
    let (items, next_cursor) = s.service.events.list(&endpoint_url, &query).await?;
    Ok(Json(EventList { items, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventQueryParams {
    /// Include the raw body (`body_base64`, and `body_text` when it is UTF-8).
    pub include_body: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: WebhookEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

async fn event_of(
    s: &WebhooksState,
    endpoint_url: &str,
    event_id: &str,
) -> ApiResult<WebhookEvent> {
    s.service
        .events
        .get(event_id)
        .await?
        .filter(|e| e.endpoint_url == endpoint_url)
        .ok_or_else(|| {
            ApiError::not_found(format!("no event {event_id} on endpoint {endpoint_url}"))
        })
}

#[utoipa::path(get, path = "/api/integrations/webhooks/{endpoint_url}/events/{event_id}", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path), ("event_id" = String, Path), EventQueryParams),
    responses((status = 200, body = EventDetail), (status = 404, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn get_event(
    State(s): St,
    caller: Caller,
    ApiPath((endpoint_url, event_id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<EventQueryParams>,
) -> ApiResult<Json<EventDetail>> {
    caller.require_admin()?;
    if !q.include_body.unwrap_or(false) {
        let event = event_of(&s, &endpoint_url, &event_id).await?;
        return Ok(Json(EventDetail {
            event,
            body_text: None,
            body_base64: None,
        }));
    }
    let (event, body) = s
        .service
        .events
        .get_with_body(&event_id)
        .await?
        .filter(|(e, _)| e.endpoint_url == endpoint_url)
        .ok_or_else(|| {
            ApiError::not_found(format!("no event {event_id} on endpoint {endpoint_url}"))
        })?;
    let body_base64 = Some(base64::engine::general_purpose::STANDARD.encode(&body));
    let body_text = String::from_utf8(body).ok();
    Ok(Json(EventDetail {
        event,
        body_text,
        body_base64,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayAnswer {
    pub replayed: usize,
    pub event_ids: Vec<String>,
    /// More events matched than one replay takes (`MAX_REPLAY`); replay again from the last one.
    pub truncated: bool,
}

/// Events one range replay re-enqueues at most (the call must finish inside API Gateway's 30 s).
pub const MAX_REPLAY: usize = 500;

#[utoipa::path(post, path = "/api/integrations/webhooks/{endpoint_url}/events/{event_id}/replay", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path), ("event_id" = String, Path)),
    description = "Re-enqueues the event: its status goes back to `queued` and the worker processes it again.",
    responses((status = 202, body = ReplayAnswer)))]
pub async fn replay_event(
    State(s): St,
    caller: Caller,
    ApiPath((endpoint_url, event_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<ReplayAnswer>)> {
    caller.require_admin()?;
    let event = event_of(&s, &endpoint_url, &event_id).await?;
    let replayed = s.service.replay(std::slice::from_ref(&event.id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayAnswer {
            replayed,
            event_ids: vec![event.id],
            truncated: false,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRange {
    /// RFC 3339, inclusive.
    pub from: String,
    /// RFC 3339, inclusive.
    pub to: String,
    /// Only events in this status (e.g. `failed`); default all.
    pub status: Option<EventStatus>,
}

#[utoipa::path(post, path = "/api/integrations/webhooks/{endpoint_url}/events/replay", tag = "webhooks", security(("bearerAuth" = [])),
    params(("endpoint_url" = String, Path)), request_body = ReplayRange,
    responses((status = 202, body = ReplayAnswer)))]
pub async fn replay_range(
    State(s): St,
    caller: Caller,
    ApiPath(endpoint_url): ApiPath<String>,
    ApiJson(r): ApiJson<ReplayRange>,
) -> ApiResult<(StatusCode, Json<ReplayAnswer>)> {
    caller.require_admin()?;
    let from = parse_time("from", Some(&r.from))?;
    let to = parse_time("to", Some(&r.to))?;
    if from > to {
        return Err(ApiError::invalid_field("to", "must not be before `from`"));
    }
    s.service.registry.require(&endpoint_url).await?;
    let mut ids = Vec::new();
    let mut cursor = None;
    let mut truncated = false;
    loop {
        let q = EventQuery {
            status: r.status,
            from: from.clone(),
            to: to.clone(),
            limit: 100,
            cursor,
        };
        let (page, next) = s.service.events.list(&endpoint_url, &q).await?;
        ids.extend(page.into_iter().map(|e| e.id));
        if ids.len() >= MAX_REPLAY {
            truncated = ids.len() > MAX_REPLAY || next.is_some();
            ids.truncate(MAX_REPLAY);
            break;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let replayed = if ids.is_empty() {
        0
    } else {
        s.service.replay(&ids).await?
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayAnswer {
            replayed,
            event_ids: ids,
            truncated,
        }),
    ))
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
    <WebhooksApi as utoipa::OpenApi>::openapi()
}
