//! The provider catalog API (the Helsa `IntegrationProvider`/`IntegrationCredential`/
//! `IntegrationLog` endpoints): list and inspect providers, run a live health check, read
//! statistics; admins create and update providers, put credentials and list the logs.

pub mod rate_limits;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::audit::{AuditEntry, AuditPage, AuditQuery};
use shared::auth::Caller;
use shared::http::{AdminCaller, ServiceCaller};
use shared::http::{ApiJson, ApiPath, ApiQuery, RequestId};
use shared::integration_log::{LogPage, LogQuery, ProviderStatistics};
use shared::providers::probe::ProbeResult;
use shared::providers::{LastCheck, NewProvider, ProviderInfo, ProviderPatch};
use shared::{ApiError, ApiResult, HubContext};

type Ctx = State<Arc<HubContext>>;

/// A catalog entry with its live configuration state. Credentials are never included:
/// only whether they are present.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    #[serde(flatten)]
    pub info: ProviderInfo,
    pub configured: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    pub items: Vec<ProviderView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// Hours to look back, 1..=720 (default 24).
    pub window_hours: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialsStored {
    pub provider: String,
    pub configured: bool,
    /// Names of the fields stored; values are never returned.
    pub fields: Vec<String>,
}

pub fn router(ctx: Arc<HubContext>) -> Router {
    Router::new()
        .route(
            "/api/integrations/providers",
            get(list_providers).post(create_provider),
        )
        .route(
            "/api/integrations/providers/{slug}",
            get(get_provider)
                .patch(update_provider)
                .delete(delete_provider),
        )
        .route(
            "/api/integrations/providers/{slug}/health-check",
            get(health_check),
        )
        .route(
            "/api/integrations/providers/{slug}/statistics",
            get(statistics),
        )
        .route(
            "/api/integrations/providers/{slug}/credentials",
            put(put_credentials),
        )
        .route("/api/integrations/logs", get(list_logs))
        .route("/api/integrations/audit", get(list_audit))
        .with_state(ctx.clone())
        .merge(rate_limits::router(ctx))
}

async fn view(ctx: &HubContext, info: ProviderInfo) -> ProviderView {
    let configured = ctx.prober().is_configured(&info).await;
    ProviderView { info, configured }
}

#[utoipa::path(get, path = "/api/integrations/providers", tag = "providers", security(("bearerAuth" = [])),
    responses((status = 200, body = ProviderList), (status = 401, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn list_providers(State(ctx): Ctx, _caller: Caller) -> ApiResult<Json<ProviderList>> {
    let list = ctx.catalog.list().await?;
    ctx.prober().preload(&list).await;
    let items = futures::future::join_all(list.iter().cloned().map(|info| view(&ctx, info))).await;
    Ok(Json(ProviderList { items }))
}

#[utoipa::path(get, path = "/api/integrations/providers/{slug}", tag = "providers", security(("bearerAuth" = [])),
    params(("slug" = String, Path, description = "Provider slug, e.g. kavenegar")),
    responses((status = 200, body = ProviderView), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn get_provider(
    State(ctx): Ctx,
    _caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<ProviderView>> {
    let info = ctx.catalog.require(&slug).await?;
    Ok(Json(view(&ctx, info).await))
}

#[utoipa::path(get, path = "/api/integrations/providers/{slug}/health-check", tag = "providers", security(("bearerAuth" = [])),
    params(("slug" = String, Path)),
    description = "Makes a real, cheap, authenticated call to the provider (Kavenegar account/info, Twilio account fetch, model list, SMTP NOOP). Admin or service.",
    responses((status = 200, body = ProbeResult), (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn health_check(
    State(ctx): Ctx,
    _service: ServiceCaller,
    ApiPath(slug): ApiPath<String>,
    RequestId(request_id): RequestId,
) -> ApiResult<Json<ProbeResult>> {
    let info = ctx.catalog.require(&slug).await?;
    let result = ctx.prober().probe(&info, &request_id).await;
    if result.configured {
        let check = LastCheck {
            reachable: result.reachable,
            checked_at: shared::clock::now_rfc3339(),
            latency_ms: result.latency_ms,
            error_code: result.error_code.clone(),
        };
        ctx.catalog.record_check(&slug, check).await?;
    }
    Ok(Json(result))
}

#[utoipa::path(get, path = "/api/integrations/providers/{slug}/statistics", tag = "providers", security(("bearerAuth" = [])),
    params(("slug" = String, Path), StatisticsQuery),
    description = "Calls, success rate, average and p95 latency per hour and per day, read from hourly counters.",
    responses((status = 200, body = ProviderStatistics)))]
pub async fn statistics(
    State(ctx): Ctx,
    _caller: Caller,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatisticsQuery>,
) -> ApiResult<Json<ProviderStatistics>> {
    let window = q.window_hours.unwrap_or(24);
    if !(1..=720).contains(&window) {
        return Err(ApiError::invalid_field(
            "window_hours",
            "must be between 1 and 720",
        ));
    }
    ctx.catalog.require(&slug).await?;
    Ok(Json(ctx.log.statistics(&slug, window).await?))
}

#[utoipa::path(post, path = "/api/integrations/providers", tag = "providers", security(("bearerAuth" = [])),
    request_body = NewProvider,
    responses((status = 201, body = ProviderInfo), (status = 409, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn create_provider(
    State(ctx): Ctx,
    AdminCaller(caller): AdminCaller,
    RequestId(request_id): RequestId,
    ApiJson(new): ApiJson<NewProvider>,
) -> ApiResult<(StatusCode, Json<ProviderInfo>)> {
    let fields = set_fields(&new);
    let info = ctx.catalog.create(new).await?;
    audit(
        &ctx,
        AuditEntry::new(
            &caller,
            "provider.created",
            format!("provider:{}", info.slug),
        )
        .fields(fields)
        .request_id(request_id),
    )
    .await;
    Ok((StatusCode::CREATED, Json(info)))
}

/// The names of the fields a request body sets (values never reach the audit trail).
pub(crate) fn set_fields<T: Serialize>(body: &T) -> Vec<String> {
    match serde_json::to_value(body) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    }
}

/// Records an admin change; a failed write is logged by the trail and the change stands.
async fn audit(ctx: &HubContext, entry: AuditEntry) {
    let _ = ctx.audit.record(entry).await;
}

#[utoipa::path(patch, path = "/api/integrations/providers/{slug}", tag = "providers", security(("bearerAuth" = [])),
    params(("slug" = String, Path)), request_body = ProviderPatch,
    responses((status = 200, body = ProviderInfo), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn update_provider(
    State(ctx): Ctx,
    AdminCaller(caller): AdminCaller,
    RequestId(request_id): RequestId,
    ApiPath(slug): ApiPath<String>,
    ApiJson(patch): ApiJson<ProviderPatch>,
) -> ApiResult<Json<ProviderInfo>> {
    let fields = set_fields(&patch);
    let info = ctx.catalog.update(&slug, patch).await?;
    audit(
        &ctx,
        AuditEntry::new(&caller, "provider.updated", format!("provider:{slug}"))
            .fields(fields)
            .request_id(request_id),
    )
    .await;
    Ok(Json(info))
}

#[utoipa::path(delete, path = "/api/integrations/providers/{slug}", tag = "providers", security(("bearerAuth" = [])),
    params(("slug" = String, Path)),
    description = "Deletes a provider an admin created. Built-in providers answer 409 `provider_builtin`: disable them with PATCH `{\"enabled\": false}` instead. Stored credentials are left in Secrets Manager. Admin only.",
    responses((status = 204, description = "Deleted"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn delete_provider(
    State(ctx): Ctx,
    AdminCaller(caller): AdminCaller,
    RequestId(request_id): RequestId,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<StatusCode> {
    ctx.catalog.delete(&slug).await?;
    tracing::info!(provider = %slug, admin = %caller.user_id, "provider deleted");
    audit(
        &ctx,
        AuditEntry::new(&caller, "provider.deleted", format!("provider:{slug}"))
            .request_id(request_id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/integrations/providers/{slug}/credentials", tag = "providers", security(("bearerAuth" = [])),
    params(("slug" = String, Path)),
    request_body(content = CredentialFields, description = "The provider's credential fields as non-empty strings, e.g. {\"api_key\": \"...\", \"sender\": \"10004346\"}; every field the provider lists in `credential_fields` is required"),
    responses((status = 200, body = CredentialsStored), (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn put_credentials(
    State(ctx): Ctx,
    AdminCaller(caller): AdminCaller,
    RequestId(request_id): RequestId,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<CredentialsStored>> {
    let info = ctx.catalog.require(&slug).await?;
    let mut err: Option<ApiError> = None;
    for (k, v) in &body {
        if !v.is_string() || v.as_str().is_some_and(str::is_empty) {
            let e = err.take().unwrap_or_else(|| {
                ApiError::bad_request(
                    "invalid_credentials",
                    "credential values must be non-empty strings",
                )
            });
            err = Some(e.with_field(k.clone(), "must be a non-empty string"));
        }
    }
    for f in &info.credential_fields {
        if !body.contains_key(f) {
            let e = err.take().unwrap_or_else(|| {
                ApiError::bad_request(
                    "invalid_credentials",
                    format!(
                        "{slug} needs the fields {}",
                        info.credential_fields.join(", ")
                    ),
                )
            });
            err = Some(e.with_field(f.clone(), "required"));
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    ctx.credentials.put(&slug, &body).await?;
    tracing::info!(provider = %slug, fields = body.len(), "provider credentials replaced");
    audit(
        &ctx,
        AuditEntry::new(&caller, "credentials.put", format!("provider:{slug}"))
            .fields(body.keys().cloned())
            .request_id(request_id),
    )
    .await;
    Ok(Json(CredentialsStored {
        provider: slug,
        configured: true,
        fields: body.keys().cloned().collect(),
    }))
}

#[utoipa::path(get, path = "/api/integrations/logs", tag = "providers", security(("bearerAuth" = [])),
    params(LogQuery),
    description = "Integration logs, newest first. Admin only.",
    responses((status = 200, body = LogPage), (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn list_logs(
    State(ctx): Ctx,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<LogPage>> {
    Ok(Json(ctx.log.list(&q).await?))
}

#[utoipa::path(get, path = "/api/integrations/audit", tag = "providers", security(("bearerAuth" = [])),
    params(AuditQuery),
    description = "The admin audit trail, newest first: who changed a provider, credentials, a rate-limit rule or a webhook endpoint, and when. Entries name the fields set, never their values. Admin only.",
    responses((status = 200, body = AuditPage),
        (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn list_audit(
    State(ctx): Ctx,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    Ok(Json(ctx.audit.list(&q).await?))
}

/// The OpenAPI form of the credentials body `put_credentials` reads: field name to a
/// non-empty string.
pub struct CredentialFields;

impl utoipa::PartialSchema for CredentialFields {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(
                shared::openapi::string().min_length(Some(1)).into(),
            )))
            .description(Some("Credential field name to value (a non-empty string)"))
            .into()
    }
}

impl utoipa::ToSchema for CredentialFields {}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_audit,
    list_providers,
    get_provider,
    health_check,
    statistics,
    create_provider,
    update_provider,
    delete_provider,
    put_credentials,
    list_logs
))]
struct ProvidersApi;

/// This function's routes, for the merged OpenAPI document served by `docs`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ProvidersApi as utoipa::OpenApi>::openapi();
    doc.merge(rate_limits::openapi());
    doc
}
