//! Event subscriptions (signed outgoing webhooks), admin only:
//!
//! | route | what |
//! | --- | --- |
//! | `POST`/`GET /api/integrations/subscriptions` | create (answers the `whsec_` secret once), list |
//! | `GET`/`PATCH`/`DELETE /api/integrations/subscriptions/{id}` | get, update, delete |
//! | `POST /api/integrations/subscriptions/{id}/rotate` | new secret; the old one keeps signing for the grace |
//! | `POST /api/integrations/subscriptions/{id}/test` | a `ping` event to this subscription |
//! | `GET /api/integrations/subscriptions/{id}/messages` | deliveries, newest first |
//! | `GET /api/integrations/subscriptions/{id}/messages/{event_id}/attempts` | every attempt |
//! | `POST /api/integrations/subscriptions/{id}/messages/{event_id}/retry` | one more attempt now |
//! | `POST /api/integrations/subscriptions/{id}/replay` | re-deliver a time range |
//!
//! Deliveries are made by `functions/subscriptions-worker`; see docs/subscriptions.md.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use shared::http::problem::Problem;
use shared::http::{AdminCaller, ApiJson, ApiPath, ApiQuery};
use shared::subscriptions::*;
use shared::{ApiError, ApiResult, HubContext};

pub struct SubscriptionsState {
    pub ctx: Arc<HubContext>,
    pub service: SubscriptionService,
}

impl SubscriptionsState {
    pub fn new(ctx: Arc<HubContext>) -> anyhow::Result<Arc<Self>> {
        let config = ctx.subscriptions_config()?;
        Ok(Self::with_config(ctx, &config))
    }

    /// With given settings (tests: their own queue and namespace).
    pub fn with_config(ctx: Arc<HubContext>, config: &SubscriptionsConfig) -> Arc<Self> {
        Arc::new(Self {
            service: ctx.subscription_service(config),
            ctx,
        })
    }
}

impl shared::context::HubState for SubscriptionsState {
    fn hub(&self) -> &HubContext {
        &self.ctx
    }
}

type St = State<Arc<SubscriptionsState>>;

const BASE: &str = "/api/integrations/subscriptions";

pub fn router(state: Arc<SubscriptionsState>) -> Router {
    Router::new()
        .route(BASE, post(create).get(list))
        .route(
            &format!("{BASE}/{{id}}"),
            get(get_one).patch(update).delete(delete),
        )
        .route(&format!("{BASE}/{{id}}/rotate"), post(rotate))
        .route(&format!("{BASE}/{{id}}/test"), post(test))
        .route(&format!("{BASE}/{{id}}/messages"), get(messages))
        .route(
            &format!("{BASE}/{{id}}/messages/{{event_id}}/attempts"),
            get(attempts),
        )
        .route(
            &format!("{BASE}/{{id}}/messages/{{event_id}}/retry"),
            post(retry),
        )
        .route(&format!("{BASE}/{{id}}/replay"), post(replay))
        .with_state(state)
}

#[utoipa::path(post, path = "/api/integrations/subscriptions", tag = "subscriptions", security(("bearerAuth" = [])),
    request_body = NewSubscription,
    description = "Admin. Subscribes a URL to event types (exact names or `*`). `https` only (`http` to loopback on the local stack); private, loopback, link-local and metadata addresses are refused. The answer carries the `whsec_` signing secret, shown this once.",
    responses((status = 201, body = SubscriptionCreated),
        (status = 422, description = "invalid_field naming `url`, `event_types` or `description`", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    ApiJson(new): ApiJson<NewSubscription>,
) -> ApiResult<(StatusCode, Json<SubscriptionCreated>)> {
    let mut fields = vec!["url", "event_types"];
    if !new.description.is_empty() {
        fields.push("description");
    }
    if new.disabled {
        fields.push("disabled");
    }
    let created = s.service.create(new).await?;
    audit(
        &s,
        &caller,
        "subscription.created",
        &created.subscription.id,
        fields,
    )
    .await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Records an admin change to a subscription (field names only, never the URL or the
/// secret; a failed write is logged by the trail and the change stands).
async fn audit(
    s: &SubscriptionsState,
    caller: &shared::auth::Caller,
    action: &str,
    id: &str,
    fields: Vec<&str>,
) {
    let entry =
        shared::audit::AuditEntry::new(caller, action, format!("subscription:{id}")).fields(fields);
    let _ = s.ctx.audit.record(entry).await;
}

#[utoipa::path(get, path = "/api/integrations/subscriptions", tag = "subscriptions", security(("bearerAuth" = [])),
    responses((status = 200, body = SubscriptionList)))]
pub async fn list(State(s): St, _admin: AdminCaller) -> ApiResult<Json<SubscriptionList>> {
    Ok(Json(s.service.list().await?))
}

#[utoipa::path(get, path = "/api/integrations/subscriptions/{id}", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SubscriptionView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_one(
    State(s): St,
    _admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SubscriptionView>> {
    Ok(Json(s.service.get(&id).await?))
}

#[utoipa::path(patch, path = "/api/integrations/subscriptions/{id}", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = SubscriptionPatch,
    description = "`disabled: false` re-enables a subscription the hub disabled (410 or a 5-day failing streak).",
    responses((status = 200, body = SubscriptionView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<SubscriptionPatch>,
) -> ApiResult<Json<SubscriptionView>> {
    let fields: Vec<&str> = [
        ("url", patch.url.is_some()),
        ("event_types", patch.event_types.is_some()),
        ("description", patch.description.is_some()),
        ("disabled", patch.disabled.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    let updated = s.service.update(&id, patch).await?;
    audit(&s, &caller, "subscription.updated", &id, fields).await;
    Ok(Json(updated))
}

#[utoipa::path(delete, path = "/api/integrations/subscriptions/{id}", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.service.delete(&id).await?;
    audit(&s, &caller, "subscription.deleted", &id, Vec::new()).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/integrations/subscriptions/{id}/rotate", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = RotateSecret,
    description = "A new secret at once; deliveries carry a signature under each secret (space-separated `v1,...`) until the grace ends (default 24 h, at most 7 days). The new secret is shown this once. The body is optional.",
    responses((status = 200, body = SecretRotated)))]
pub async fn rotate(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<SecretRotated>> {
    let request: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::unprocessable(
                "invalid_body",
                format!("the JSON body does not match the expected shape: {e}"),
            )
        })?
    };
    let fields = if request.grace_seconds.is_some() {
        vec!["grace_seconds"]
    } else {
        Vec::new()
    };
    let rotated = s.service.rotate(&id, request).await?;
    audit(&s, &caller, "subscription.rotated", &id, fields).await;
    Ok(Json(rotated))
}

#[utoipa::path(post, path = "/api/integrations/subscriptions/{id}/test", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    description = "Queues a `ping` event to this subscription only; its delivery shows in `messages`.",
    responses((status = 202, body = DeliveryQueued), (status = 409, description = "subscription_disabled", body = Problem, content_type = "application/problem+json")))]
pub async fn test(
    State(s): St,
    _admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<DeliveryQueued>)> {
    Ok((StatusCode::ACCEPTED, Json(s.service.test(&id).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..=100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/integrations/subscriptions/{id}/messages", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path), PageQuery),
    description = "One item per event delivered (or being delivered) to the subscription, newest first.",
    responses((status = 200, body = MessagePage)))]
pub async fn messages(
    State(s): St,
    _admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    Ok(Json(
        s.service
            .messages(&id, page.limit, page.cursor.as_deref())
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/integrations/subscriptions/{id}/messages/{event_id}/attempts", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path), ("event_id" = String, Path)),
    description = "Every attempt: status code, latency, the first 1 KB of the answer, or the error.",
    responses((status = 200, body = AttemptList), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn attempts(
    State(s): St,
    _admin: AdminCaller,
    ApiPath((id, event_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<AttemptList>> {
    Ok(Json(s.service.attempts(&id, &event_id).await?))
}

#[utoipa::path(post, path = "/api/integrations/subscriptions/{id}/messages/{event_id}/retry", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path), ("event_id" = String, Path)),
    description = "One more attempt now, with the same `webhook-id` (no automatic retries after it).",
    responses((status = 202, body = DeliveryQueued), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn retry(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    ApiPath((id, event_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryQueued>)> {
    let queued = s.service.retry(&id, &event_id).await?;
    audit(&s, &caller, "subscription.message_retried", &id, Vec::new()).await;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

#[utoipa::path(post, path = "/api/integrations/subscriptions/{id}/replay", tag = "subscriptions", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = ReplayRange,
    description = "Delivers again, on the full retry schedule, every event of the subscription's types published in `[since, until)` (at most 10,000).",
    responses((status = 202, body = ReplayAccepted), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn replay(
    State(s): St,
    AdminCaller(caller): AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(range): ApiJson<ReplayRange>,
) -> ApiResult<(StatusCode, Json<ReplayAccepted>)> {
    let fields = if range.until.is_some() {
        vec!["since", "until"]
    } else {
        vec!["since"]
    };
    let accepted = s.service.replay(&id, range).await?;
    audit(&s, &caller, "subscription.replayed", &id, fields).await;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create, list, get_one, update, delete, rotate, test, messages, attempts, retry, replay),
    tags((name = "subscriptions", description = "Signed outgoing webhooks (Standard Webhooks) to client apps, with retries, rotation and replay. docs/subscriptions.md"))
)]
struct SubscriptionsApi;

/// This function's routes, for the merged OpenAPI document served by `docs`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <SubscriptionsApi as utoipa::OpenApi>::openapi()
}
