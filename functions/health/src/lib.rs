//! `GET /health`: the status of every integration (configured, fallback in use, reachable at
//! the last check) and of the AWS services the hub stands on.
//!
//! The plain check makes its cheap AWS calls in one concurrent phase (DynamoDB, S3, Secrets
//! Manager, each queue's and dead-letter queue's backlog, the WebSocket management API) and
//! reads provider configuration from the credential cache; it never calls a provider, so load
//! balancers and uptime monitors can poll it freely. `?deep=true` (admin token) also runs every
//! configured provider's live probe.

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

/// One work queue's backlog (SQS approximate counts) and its dead-letter queue's depth.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueBacklog {
    /// `sms_bulk`, `ai_jobs`, `webhook_events`, `notifications`, `subscriptions`.
    pub name: String,
    pub ok: bool,
    /// Messages waiting for a worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<u64>,
    /// Messages a worker holds right now (or waiting out a retry delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    /// Messages that failed every attempt and wait in the dead-letter queue for an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<u64>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The WebSocket API's management endpoint (what pushes notifications to connected clients).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RealtimeStatus {
    /// `WEBSOCKET_MANAGEMENT_ENDPOINT` is set.
    pub configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket: Option<ServiceCheck>,
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
    /// Each work queue's backlog and dead letters, with `?deep=true` only (an admin's): they
    /// are operational figures (how much the hub is sending), not for an anonymous caller,
    /// and ten SQS calls a public probe should not cost. Absent otherwise, where one queue's
    /// `GetQueueAttributes` is the SQS check.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueBacklog>,
    pub realtime: RealtimeStatus,
    pub channels: Vec<ChannelStatus>,
    pub integrations: Vec<IntegrationStatus>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// Also call every configured provider and report each work queue's backlog and dead
    /// letters (needs an admin token).
    #[serde(default)]
    pub deep: bool,
}

/// State of the health function.
pub struct HealthState {
    pub ctx: Arc<HubContext>,
    /// `UPLOADS_BUCKET`; absent means uploads use the local directory.
    pub uploads_bucket: Option<String>,
    pub storage_local: bool,
    /// The work queues configured in this deployment: (name, queue URL, dead-letter queue URL).
    pub queues: Vec<(&'static str, String, Option<String>)>,
    /// The WebSocket management API client, built once.
    pub websocket: Option<aws_sdk_apigatewaymanagement::Client>,
}

/// The work queues /health reports on: name, queue URL variable, dead-letter queue URL variable.
pub const QUEUES: [(&str, &str, &str); 5] = [
    ("sms_bulk", "SMS_BULK_QUEUE_URL", "SMS_BULK_DLQ_URL"),
    ("ai_jobs", "AI_JOBS_QUEUE_URL", "AI_JOBS_DLQ_URL"),
    (
        "webhook_events",
        "WEBHOOK_EVENTS_QUEUE_URL",
        "WEBHOOK_EVENTS_DLQ_URL",
    ),
    (
        "notifications",
        "NOTIFICATIONS_QUEUE_URL",
        "NOTIFICATIONS_DLQ_URL",
    ),
    (
        "subscriptions",
        "SUBSCRIPTIONS_QUEUE_URL",
        "SUBSCRIPTIONS_DLQ_URL",
    ),
];

/// The connection id the WebSocket probe asks about: no such connection exists, so a working
/// management API answers 410 Gone (or 404), which proves it is reachable and authorised
/// without touching a real client.
const PROBE_CONNECTION: &str = "health-probe";

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
        let queues = QUEUES
            .iter()
            .filter_map(|(name, url, dlq)| {
                Some((*name, ctx.env.optional(url)?, ctx.env.optional(dlq)))
            })
            .collect();
        let websocket = ctx
            .env
            .optional("WEBSOCKET_MANAGEMENT_ENDPOINT")
            .map(|endpoint| {
                // One attempt: the probe asks about a connection that does not exist, and a
                // refused or failing endpoint should be reported within the check's timeout,
                // not retried with backoff (that held a cold /health for over a second).
                let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&ctx.aws.sdk_config)
                    .endpoint_url(endpoint)
                    .retry_config(
                        aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled(),
                    )
                    .build();
                aws_sdk_apigatewaymanagement::Client::from_conf(conf)
            });
        Self {
            ctx,
            uploads_bucket,
            storage_local,
            queues,
            websocket,
        }
    }
}

/// `ApproximateNumberOfMessages` and `...NotVisible` of one queue.
async fn queue_depth(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<
    (u64, u64),
    aws_sdk_sqs::error::SdkError<
        aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError,
    >,
> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await?;
    let count = |a: A| {
        out.attributes()
            .and_then(|m| m.get(&a))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((
        count(A::ApproximateNumberOfMessages),
        count(A::ApproximateNumberOfMessagesNotVisible)
            + count(A::ApproximateNumberOfMessagesDelayed),
    ))
}

async fn queue_backlog(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    url: &str,
    dlq: Option<&str>,
) -> QueueBacklog {
    let started = Instant::now();
    let dead = async {
        match dlq {
            Some(dlq) => Some(queue_depth(sqs, dlq).await),
            None => None,
        }
    };
    let both = tokio::time::timeout(CHECK_TIMEOUT, async {
        tokio::join!(queue_depth(sqs, url), dead)
    })
    .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let failed = |error: &str| QueueBacklog {
        name: name.to_string(),
        ok: false,
        waiting: None,
        in_flight: None,
        dead_letters: None,
        latency_ms,
        error: Some(error.to_string()),
    };
    match both {
        Err(_) => failed("timed out"),
        Ok((Err(e), _)) | Ok((_, Some(Err(e)))) => {
            tracing::warn!(queue = name, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "queue backlog check failed");
            failed("the call failed; see the function log")
        }
        Ok((Ok((waiting, in_flight)), dead)) => QueueBacklog {
            name: name.to_string(),
            ok: true,
            waiting: Some(waiting),
            in_flight: Some(in_flight),
            dead_letters: dead.and_then(|d| d.ok()).map(|(w, f)| w + f),
            latency_ms,
            error: None,
        },
    }
}

/// Asks the management API about a connection that does not exist: 410/404 means it works.
async fn websocket_check(client: &aws_sdk_apigatewaymanagement::Client) -> ServiceCheck {
    let started = Instant::now();
    let res = tokio::time::timeout(
        CHECK_TIMEOUT,
        client
            .get_connection()
            .connection_id(PROBE_CONNECTION)
            .send(),
    )
    .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (ok, error) = match res {
        Err(_) => (false, Some("timed out".to_string())),
        Ok(Ok(_)) => (true, None),
        Ok(Err(e)) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if matches!(status, Some(404 | 410)) {
                (true, None)
            } else {
                tracing::warn!(error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e), "WebSocket management API check failed");
                (
                    false,
                    Some("the call failed; see the function log".to_string()),
                )
            }
        }
    };
    ServiceCheck {
        ok,
        latency_ms,
        error,
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
        (status = 401, description = "`deep` without a bearer token", body = shared::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`deep` with a token that is not an admin's", body = shared::http::problem::Problem, content_type = "application/problem+json"),
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
            (Some(bucket), false) => timed(aws.s3().head_bucket().bucket(bucket).send()).await,
            _ => ServiceCheck {
                ok: true,
                latency_ms: 0,
                error: Some("not used: uploads go to the local directory".into()),
            },
        }
    };
    // Deep: the queues' backlog is the SQS check. Shallow: one queue's attributes say SQS
    // answers and this role may read it, without publishing the backlog.
    let queues = async {
        if q.deep {
            futures::future::join_all(
                state
                    .queues
                    .iter()
                    .map(|(name, url, dlq)| queue_backlog(aws.sqs(), name, url, dlq.as_deref())),
            )
            .await
        } else {
            Vec::new()
        }
    };
    let sqs_reachable = async {
        match (q.deep, state.queues.first()) {
            (false, Some((_, url, _))) => Some(
                timed(
                    aws.sqs()
                        .get_queue_attributes()
                        .queue_url(url)
                        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                        .send(),
                )
                .await,
            ),
            _ => None,
        }
    };
    let websocket = async {
        match &state.websocket {
            Some(client) => Some(websocket_check(client).await),
            None => None,
        }
    };
    let secrets = timed(
        aws.secrets
            .describe_secret()
            .secret_id(ctx.config.jwt_secret_id())
            .send(),
    );
    let catalog = ctx.catalog.list();
    // The built-in providers' credentials are read in the same phase as the catalog and the
    // checks (their secret ids need no catalog); only custom providers, known once the catalog
    // is read, can need a second read below. One concurrent phase on a cold call.
    let prober = ctx.prober();
    let prober = &prober;
    let builtins = shared::providers::builtin_providers();
    let credentials = prober.preload(&builtins);
    let (dynamodb, s3, (queues, sqs_reachable), websocket, secrets_manager, catalog, ()) = tokio::join!(
        dynamo,
        s3,
        futures::future::join(queues, sqs_reachable),
        websocket,
        secrets,
        catalog,
        credentials
    );
    let catalog = catalog?;
    let sqs = if let Some(check) = sqs_reachable {
        check
    } else if queues.is_empty() {
        ServiceCheck {
            ok: true,
            latency_ms: 0,
            error: Some("not used: no queue configured for this function".into()),
        }
    } else {
        ServiceCheck {
            ok: queues.iter().all(|q| q.ok),
            latency_ms: queues.iter().map(|q| q.latency_ms).max().unwrap_or(0),
            error: queues.iter().find(|q| !q.ok).map(|q| {
                format!(
                    "queue {}: {}",
                    q.name,
                    q.error.as_deref().unwrap_or("failed")
                )
            }),
        }
    };

    // Custom providers' credentials (fresh cached ones are not read again).
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

    // The WebSocket API is reported, not part of `status`: notifications still reach email
    // and SMS without it, and /health's 503 means "the hub's own storage is failing".
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
        queues,
        realtime: RealtimeStatus {
            configured: state.websocket.is_some(),
            websocket,
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
