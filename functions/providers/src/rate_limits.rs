//! Admin API for rate-limit rules (the Helsa `RateLimitRule`): list, read, create, update,
//! delete. Built-in defaults are listed with `builtin: true`; updating one stores an
//! override, deleting the override restores the default. Changes reach every function
//! within the rules cache time (`RATE_LIMIT_RULES_TTL_SECONDS`, default 30 s).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::audit::AuditEntry;
use shared::http::AdminCaller;
use shared::http::{ApiJson, ApiPath};
use shared::rate_limit::{NewRateLimitRule, RateLimitRule, RateLimitRulePatch};
use shared::{ApiResult, HubContext};

type Ctx = State<Arc<HubContext>>;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RateLimitRuleList {
    pub items: Vec<RateLimitRule>,
}

pub fn router(ctx: Arc<HubContext>) -> Router {
    Router::new()
        .route(
            "/api/integrations/rate-limits",
            get(list_rules).post(create_rule),
        )
        .route(
            "/api/integrations/rate-limits/{id}",
            get(get_rule).patch(update_rule).delete(delete_rule),
        )
        .with_state(ctx)
}

#[utoipa::path(get, path = "/api/integrations/rate-limits", tag = "rate-limits", security(("bearerAuth" = [])),
    description = "Every rule in effect: built-in defaults (builtin: true) and admin rules. Admin only.",
    responses((status = 200, body = RateLimitRuleList), (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn list_rules(
    State(ctx): Ctx,
    _admin: AdminCaller,
) -> ApiResult<Json<RateLimitRuleList>> {
    let rules = ctx.rate_limiter.rules().reload().await?;
    Ok(Json(RateLimitRuleList {
        items: rules.as_ref().clone(),
    }))
}

#[utoipa::path(get, path = "/api/integrations/rate-limits/{id}", tag = "rate-limits", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "Rule id, e.g. default-sms-user")),
    responses((status = 200, body = RateLimitRule), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn get_rule(
    State(ctx): Ctx,
    _admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RateLimitRule>> {
    Ok(Json(ctx.rate_limiter.rules().require(&id).await?))
}

#[utoipa::path(post, path = "/api/integrations/rate-limits", tag = "rate-limits", security(("bearerAuth" = [])),
    request_body = NewRateLimitRule,
    responses((status = 201, body = RateLimitRule),
        (status = 409, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn create_rule(
    State(ctx): Ctx,
    AdminCaller(caller): AdminCaller,
    ApiJson(new): ApiJson<NewRateLimitRule>,
) -> ApiResult<(StatusCode, Json<RateLimitRule>)> {
    let fields = crate::set_fields(&new);
    let rule = ctx.rate_limiter.rules().create(new).await?;
    tracing::info!(rule = %rule.id, admin = %caller.user_id, "rate-limit rule created");
    let _ = ctx
        .audit
        .record(
            AuditEntry::new(
                &caller,
                "rate_limit.created",
                format!("rate_limit:{}", rule.id),
            )
            .fields(fields),
        )
        .await;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(patch, path = "/api/integrations/rate-limits/{id}", tag = "rate-limits", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = RateLimitRulePatch,
    responses((status = 200, body = RateLimitRule),
        (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn update_rule(
    State(ctx): Ctx,
    AdminCaller(caller): AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<RateLimitRulePatch>,
) -> ApiResult<Json<RateLimitRule>> {
    let fields = crate::set_fields(&patch);
    let rule = ctx.rate_limiter.rules().update(&id, patch).await?;
    tracing::info!(rule = %rule.id, admin = %caller.user_id, "rate-limit rule updated");
    let _ = ctx
        .audit
        .record(
            AuditEntry::new(
                &caller,
                "rate_limit.updated",
                format!("rate_limit:{}", rule.id),
            )
            .fields(fields),
        )
        .await;
    Ok(Json(rule))
}

#[utoipa::path(delete, path = "/api/integrations/rate-limits/{id}", tag = "rate-limits", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    description = "Deletes an admin rule; on a built-in id, removes the override and restores the default.",
    responses((status = 204), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn delete_rule(
    State(ctx): Ctx,
    AdminCaller(caller): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    ctx.rate_limiter.rules().delete(&id).await?;
    tracing::info!(rule = %id, admin = %caller.user_id, "rate-limit rule deleted");
    let _ = ctx
        .audit
        .record(AuditEntry::new(
            &caller,
            "rate_limit.deleted",
            format!("rate_limit:{id}"),
        ))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list_rules, get_rule, create_rule, update_rule, delete_rule))]
struct RateLimitsApi;

/// The rate-limit admin routes' OpenAPI, merged into the providers function's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <RateLimitsApi as utoipa::OpenApi>::openapi()
}
