//! The edge: HTTP plumbing every function shares. The JSON extractor whose rejections are
//! problems, the not-found and method fallbacks, trailing-slash tolerance, panic safety, the
//! Lambda entry point, and the HTTP side of the domain modules: problems from domain errors
//! ([`problem`]), the `Caller` extractor ([`auth`]), `Idempotency-Key` ([`idempotency`]),
//! the client IP, the rate-limit route layer ([`rate_limit`]) and the headers and problems
//! of provider calls ([`webhook`]). Only this module (and the
//! function crates) may use axum, `http` or Lambda types.

use axum::Router;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tower::Layer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};

pub mod auth;
pub mod client_ip;
pub mod idempotency;
pub mod problem;
pub mod rate_limit;
pub mod webhook;

pub use auth::{AdminCaller, ServiceCaller};
pub use client_ip::ClientIp;
pub use problem::{ApiError, ApiResult};
pub use rate_limit::{RateLimitRouterExt, RouteRateLimit, enforce_route};

/// Largest JSON body a route accepts unless it sets its own limit. API Gateway allows 10 MB
/// and Lambda 6 MB; ordinary JSON requests have no business being anywhere near that.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Lambda's limit on a synchronous request, the whole event included (6 MB): no route can
/// take more on AWS, whatever its own limit (API Gateway's 10 MB never reaches a function).
/// Binary bodies arrive base64-encoded, so the bytes a client may send are about 3/4 of it.
pub const LAMBDA_REQUEST_LIMIT: usize = 6 * 1024 * 1024;

/// `axum::Json`, but a bad body becomes a problem that says what is wrong:
/// 415 for a missing or wrong content type, 400 for malformed JSON, 422 for JSON of the wrong
/// shape (with serde's message naming the field), 413 for an oversize body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(
            "expected a JSON body with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", source_text(&e)),
        ),
        JsonRejection::JsonDataError(e) => {
            let detail = source_text(&e);
            let (field, message) = data_error_field(&e);
            ApiError::unprocessable(
                "invalid_body",
                format!("the JSON body does not match the expected shape: {detail}"),
            )
            .with_field(field, message)
        }
        JsonRejection::BytesRejection(b) => bytes_rejection(b),
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

pub fn bytes_rejection(b: BytesRejection) -> ApiError {
    if b.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large("the request body is larger than this route accepts")
    } else {
        ApiError::bad_request("unreadable_body", b.body_text())
    }
}

/// The field a JSON data error is about (`name`, `patient_context.age`, `channels[1]`) and
/// serde's sentence. serde reports a missing field on the object that lacks it, so its name
/// is appended to the path; a wrong type, unknown variant or unknown field is at the path
/// itself. `body` when the whole body has the wrong shape.
fn data_error_field(e: &(dyn std::error::Error + 'static)) -> (String, String) {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(located) = err.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            let message = located.inner().to_string();
            let path = located.path().to_string();
            let named = ["missing field `", "unknown field `"]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix))
                .and_then(|rest| rest.split('`').next())
                // An unknown field is already the last segment of the path.
                .filter(|name| !path.ends_with(name));
            let field = match (path.as_str(), named) {
                (".", Some(name)) => name.to_string(),
                (".", None) => "body".to_string(),
                (_, Some(name)) => format!("{path}.{name}"),
                (_, None) => path,
            };
            return (field, message);
        }
        cur = err.source();
    }
    ("body".to_string(), source_text(e))
}

/// serde's message is more useful than axum's wrapper text ("Failed to deserialize...").
fn source_text(e: &dyn std::error::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Query strings that fail to parse become a 400 problem.
#[derive(Debug, Clone, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                "invalid_query",
                format!("invalid query string: {}", source_text(&e)),
            )),
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

/// Path parameters that fail to parse become a 400 problem instead of axum's plain text.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
    .with_code("unknown_route")
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

impl ApiError {
    /// Replaces the code, keeping status and detail.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

fn panic_to_problem(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("handler panicked").into_response()
}

/// What a function serves: its routes plus the shared behaviour.
pub type HubService = NormalizePath<Router>;

/// Wraps a function's router with the behaviour every endpoint shares:
/// problem answers for unknown routes and methods, a default body limit, panics as 500
/// problems, and the seed's trailing-slash paths answering like the paths without it
/// (the slash is trimmed before routing, so routes are declared once, without it).
pub fn app(router: Router) -> HubService {
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_to_problem,
        ));
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

/// Runs a function's service on the Lambda runtime (or under `cargo lambda watch`).
///
/// The integration log's writes leave the critical path (`crate::deferred`): they are queued
/// while the handler runs and flushed by the outermost runtime layer once the answer has been
/// posted to the Runtime API, before the runtime asks for the next event.
pub async fn run(service: HubService) -> Result<(), lambda_http::Error> {
    crate::deferred::activate();
    lambda_runtime::Runtime::new(lambda_http::Adapter::from(service))
        .layer(lambda_runtime::layers::TracingLayer::new())
        .layer(crate::deferred::FlushAfterResponseLayer)
        .run()
        .await
}

/// The request id: the Lambda request id when running on Lambda (or `cargo lambda watch`),
/// else the caller's `X-Request-Id`, else a fresh one. Recorded in the integration log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<lambda_http::Context>() {
            return Ok(RequestId(ctx.request_id.clone()));
        }
        let from_header = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_string);
        Ok(RequestId(
            from_header.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ))
    }
}
