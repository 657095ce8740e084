//! The edge's error: RFC 9457 `application/problem+json`.
//!
//! Every answer that is not a success goes through [`ApiError`], so clients always get the
//! same shape: `type`, `title`, `status`, `detail`, a stable machine `code`, and for input
//! errors the list of fields at fault. A 500 is reserved for bugs and outages; its detail
//! never carries internal error text (that goes to the log, with the request id).
//!
//! Capability errors say what went wrong in domain terms ([`crate::error::DomainError`]);
//! [`status_of`] is the one place a domain [`ErrorKind`] becomes an HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use crate::error::FieldError;
use crate::error::{DomainError, ErrorKind};

pub const PROBLEM_JSON: &str = "application/problem+json";
const TYPE_BASE: &str = "https://integrations-hub.dev/problems/";

/// The body of a problem answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_url: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable code (snake_case); safe to branch on.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra headers such as `Retry-After` or `WWW-Authenticate`.
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// A 400 naming one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{field}: {message}"),
        )
        .with_field(field, message)
    }

    /// A 422: well-formed but semantically unacceptable input.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
            .with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            detail,
        )
    }

    /// An upstream provider failed; 502 tells the caller the hub itself is fine.
    pub fn bad_gateway(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, code, detail)
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }

    /// An internal failure: the cause is logged, the client sees a generic detail.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_url: format!("{TYPE_BASE}{}", self.code.replace('_', "-")),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

/// The HTTP status of each kind of domain failure: the only place this mapping lives.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Gone => StatusCode::GONE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::ProviderFailed => StatusCode::BAD_GATEWAY,
        ErrorKind::ProviderTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Any capability error becomes a problem: its kind picks the status, its code and fields
/// go out as they are, an internal error's text is logged and replaced by a generic detail.
impl<E: DomainError> From<E> for ApiError {
    fn from(e: E) -> Self {
        let kind = e.kind();
        if kind == ErrorKind::Internal {
            return ApiError::internal(&e);
        }
        // A dependency's own error text (SDK debug output) is for the log, not the caller.
        let detail = if e.code() == crate::error::DEPENDENCY_UNAVAILABLE {
            tracing::warn!(error = %e, "dependency unavailable");
            "a dependency of the hub (secret store, provider catalog or table) is unavailable \
             just now; retry after the Retry-After delay"
                .to_string()
        } else {
            e.to_string()
        };
        let mut api = ApiError::new(status_of(kind), e.code(), detail);
        api.errors = e.fields();
        if kind == ErrorKind::Unauthenticated {
            api = api.with_header(header::WWW_AUTHENTICATE, "Bearer");
        }
        if let Some(secs) = e.retry_after() {
            api = api.with_header(header::RETRY_AFTER, &secs.to_string());
        }
        for (name, value) in e.headers() {
            api = api.with_header(header::HeaderName::from_static(name), &value);
        }
        api
    }
}

impl crate::providers::ProviderError {
    /// The problem answer for a caller when no provider could do the work. Transition:
    /// capability modules that still build `ApiError`s call it; a capability error wraps the
    /// `ProviderError` and reads `error_kind`/`public_code`/`public_detail` instead.
    pub fn to_api_error(&self) -> ApiError {
        let mut api = ApiError::new(
            status_of(self.error_kind()),
            self.public_code(),
            self.public_detail(),
        );
        if let Some(secs) = self.public_retry_after() {
            api = api.with_header(header::RETRY_AFTER, &secs.to_string());
        }
        api
    }
}

/// AWS SDK and other infrastructure errors are internal: logged in full, answered generically.
impl<E: std::fmt::Debug, R: std::fmt::Debug> From<aws_sdk_dynamodb::error::SdkError<E, R>>
    for ApiError
{
    fn from(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self {
        ApiError::internal(format!("{e:?}"))
    }
}

impl From<serde_dynamo::Error> for ApiError {
    fn from(e: serde_dynamo::Error) -> Self {
        ApiError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_has_rfc9457_members_and_code() {
        let p = ApiError::invalid_field("receptor", "not a phone number").problem();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["code"], "invalid_field");
        assert_eq!(
            v["type"],
            "https://integrations-hub.dev/problems/invalid-field"
        );
        assert_eq!(v["title"], "Bad Request");
        assert_eq!(v["errors"][0]["field"], "receptor");
    }
}
