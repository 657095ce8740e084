//! `GET /health`: the status of every integration (configured, fallback in use, reachable at
//! the last check) and of the AWS services the hub stands on.
//!
//! The plain check makes four cheap AWS calls concurrently and reads provider configuration
//! from the credential cache; it never calls a provider, so load balancers and uptime
//! monitors can poll it freely. `?deep=true` (admin token) also runs every configured
//! provider's live probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::context::HubState;
use shared::http::{ApiQuery, RateLimitRouterExt, RequestId};
use shared::providers::{LastCheck, Protocol, ProviderKind};
use shared::{ApiError, HubContext};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceCheck {
    pub ok: bool,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AwsChecks {
    pub dynamodb: ServiceCheck,
    pub s3: ServiceCheck,
    pub sqs: ServiceCheck,
    pub secrets_manager: ServiceCheck,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationStatus {
    pub slug: String,
    /// How the hub talks to it (`none`: the provider only calls the hub's webhooks).
    pub protocol: Protocol,
    pub name: String,
    pub kind: ProviderKind,
    pub enabled: bool,
    /// Credentials (or settings) are present.
    pub configured: bool,
    /// `true` from the last live check, `false` if it failed, `null` if never checked.
    pub reachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check: Option<LastCheck>,
}

/// What serves each channel right now: the first configured provider, or the fallback.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelStatus {
    pub channel: String,
    /// Provider slug, or `console` / `rules` / `local` for the fallbacks.
    pub served_by: String,
    pub fallback: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// `ok`, or `degraded` when an AWS dependency fails (answered with 503).
    pub status: String,
    pub version: String,
    pub stage: String,
    pub aws: AwsChecks,
    pub channels: Vec<ChannelStatus>,
    pub integrations: Vec<IntegrationStatus>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HealthQuery {
    /// Also call every configured provider (needs an admin token).
    #[serde(default)]
    pub deep: bool,
}

/// State of the health function.
pub struct HealthState {
    pub ctx: Arc<HubContext>,
    /// `UPLOADS_BUCKET`; absent means uploads use the local directory.
    pub uploads_bucket: Option<String>,
    pub storage_local: bool,
}

impl HubState for HealthState {
    fn hub(&self) -> &HubContext {
        &self.ctx
    }
}

impl HealthState {
    pub fn new(ctx: Arc<HubContext>) -> Self {
        let uploads_bucket = ctx.env.optional("UPLOADS_BUCKET");
        let storage_local = ctx.env.optional("STORAGE_TYPE").as_deref() == Some("local")
            || uploads_bucket.is_none();
        Self {
            ctx,
            uploads_bucket,
            storage_local,
        }
    }
}

/// `/health` is public and each call makes four AWS calls, so it opts into the per-client-IP
/// flood limit of the route layer (rule `default-route-ip`).
pub fn router(state: Arc<HealthState>) -> Router {
    let ctx = state.ctx.clone();
    Router::new()
        .route("/health", get(health))
        .with_state(state)
        .rate_limited(&ctx)
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

async fn timed<F, T, E>(f: F) -> ServiceCheck
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let started = Instant::now();
    let res = tokio::time::timeout(CHECK_TIMEOUT, f).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    match res {
        Ok(Ok(_)) => ServiceCheck {
            ok: true,
            latency_ms,
            error: None,
        },
        Ok(Err(e)) => {
            tracing::warn!(error = ?e, "health dependency check failed");
            ServiceCheck {
                ok: false,
                latency_ms,
                error: Some("the call failed; see the function log".into()),
            }
        }
        Err(_) => ServiceCheck {
            ok: false,
            latency_ms,
            error: Some("timed out".into()),
        },
    }
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    params(HealthQuery),
    responses(
        (status = 200, description = "Everything the hub needs answers", body = HealthReport),
        (status = 503, description = "An AWS dependency failed", body = HealthReport),
        (status = 403, description = "`deep` without an admin token", body = shared::http::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn health(
    State(state): State<Arc<HealthState>>,
    ApiQuery(q): ApiQuery<HealthQuery>,
    caller: Option<Caller>,
    RequestId(request_id): RequestId,
) -> Result<Response, ApiError> {
    if q.deep {
        match &caller {
            Some(c) => c.require_admin()?,
            None => {
                return Err(ApiError::unauthorized(
                    "missing_token",
                    "deep health checks need an admin token",
                ));
            }
        }
    }
    let ctx = &state.ctx;
    let aws = &ctx.aws;
    let dynamo = timed(
        aws.dynamo
            .describe_table()
            .table_name(&ctx.config.hub_table)
            .send(),
    );
    let s3 = async {
        match (&state.uploads_bucket, state.storage_local) {
            (Some(bucket), false) => timed(aws.s3.head_bucket().bucket(bucket).send()).await,
            _ => ServiceCheck {
                ok: true,
                latency_ms: 0,
                error: Some("not used: uploads go to the local directory".into()),
            },
        }
    };
    let sqs = timed(aws.sqs.list_queues().max_results(1).send());
    let secrets = timed(
        aws.secrets
            .describe_secret()
            .secret_id(ctx.config.jwt_secret_id())
            .send(),
    );
    let catalog = ctx.catalog.list();
    let (dynamodb, s3, sqs, secrets_manager, catalog) =
        tokio::join!(dynamo, s3, sqs, secrets, catalog);
    let catalog = catalog?;

    let prober = ctx.prober();
    let prober = &prober;
    prober.preload(&catalog).await;
    let integrations: Vec<IntegrationStatus> =
        futures::future::join_all(catalog.iter().map(|info| {
            let request_id = request_id.clone();
            async move {
                let configured = prober.is_configured(info).await;
                let mut last_check = info.last_check.clone();
                if q.deep && configured && info.enabled {
                    let r = prober.probe(info, &request_id).await;
                    let check = LastCheck {
                        reachable: r.reachable,
                        checked_at: shared::clock::now_rfc3339(),
                        latency_ms: r.latency_ms,
                        error_code: r.error_code,
                    };
                    let _ = ctx.catalog.record_check(&info.slug, check.clone()).await;
                    last_check = Some(check);
                }
                IntegrationStatus {
                    slug: info.slug.clone(),
                    protocol: info.protocol,
                    name: info.name.clone(),
                    kind: info.kind,
                    enabled: info.enabled,
                    configured,
                    reachable: if configured {
                        last_check.as_ref().map(|c| c.reachable)
                    } else {
                        None
                    },
                    last_check,
                }
            }
        }))
        .await;

    let served = |kind: ProviderKind, fallback: &str| {
        integrations
            .iter()
            .find(|i| i.kind == kind && i.enabled && i.configured && i.protocol != Protocol::None)
            .map(|i| (i.slug.clone(), false))
            .unwrap_or_else(|| (fallback.to_string(), true))
    };
    let mut channels = Vec::new();
    for (name, kind, fallback) in [
        ("sms", ProviderKind::Sms, "console"),
        ("email", ProviderKind::Email, "console"),
        ("ai", ProviderKind::Ai, "rules"),
    ] {
        let (served_by, fallback) = served(kind, fallback);
        channels.push(ChannelStatus {
            channel: name.into(),
            served_by,
            fallback,
        });
    }
    channels.push(ChannelStatus {
        channel: "storage".into(),
        served_by: if state.storage_local {
            "local".into()
        } else {
            "s3".into()
        },
        fallback: state.storage_local,
    });

    let ok = dynamodb.ok && s3.ok && sqs.ok && secrets_manager.ok;
    let report = HealthReport {
        status: if ok { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        stage: ctx.config.stage.clone(),
        aws: AwsChecks {
            dynamodb,
            s3,
            sqs,
            secrets_manager,
        },
        channels,
        integrations,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(report)).into_response())
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(health))]
struct HealthApi;

/// This function's routes, for the merged OpenAPI document served by `docs`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <HealthApi as utoipa::OpenApi>::openapi()
}
