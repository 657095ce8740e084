//! Domain errors, without HTTP.
//!
//! Each capability has its own error type (`SmsError`, `WebhookError`, [`StoreError`], ...)
//! that says what went wrong in that capability's terms. Every one of them implements
//! [`DomainError`]: a [`ErrorKind`] (not found, conflict, invalid, dependency unavailable,
//! provider failed, ...), the stable machine `code` clients branch on, and the fields at
//! fault. The edge (`crate::http::problem`) maps a kind to an HTTP status, once, so no
//! domain module knows about status codes, axum or Lambda.
//!
//! [`StoreError`]: crate::store::StoreError

use serde::Serialize;

/// What kind of failure, in domain terms. The edge gives each kind one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input is wrong: a field, a header, a query value (400).
    Invalid,
    /// Well-formed input that cannot be accepted as it is (422).
    Unprocessable,
    /// No credentials, or credentials that do not verify (401).
    Unauthenticated,
    /// Authenticated, but not allowed to do this (403).
    Forbidden,
    /// The thing asked for does not exist, or is not the caller's to see (404).
    NotFound,
    /// The thing exists in a state that does not allow this (409).
    Conflict,
    /// The thing existed and is no longer usable (410).
    Gone,
    /// The input is larger than accepted (413).
    TooLarge,
    /// The input's media type is not accepted (415).
    UnsupportedMedia,
    /// A limit was reached; `retry_after` says when to try again (429).
    RateLimited,
    /// An outside provider refused or failed the call (502).
    ProviderFailed,
    /// An outside provider did not answer in time (504).
    ProviderTimeout,
    /// Not available now: not configured, or a dependency is down (503).
    Unavailable,
    /// A bug, or a failure of the hub's own infrastructure; the detail is logged, never shown
    /// (500).
    Internal,
}

/// The code of a 503 whose cause is a dependency the hub could not read or write just now
/// (Secrets Manager, the provider catalog, a throttled or failing DynamoDB call): never
/// "not configured", always worth retrying after [`DEPENDENCY_RETRY_AFTER_SECS`].
pub const DEPENDENCY_UNAVAILABLE: &str = "dependency_unavailable";

/// The `Retry-After` (seconds) of a [`DEPENDENCY_UNAVAILABLE`] answer.
pub const DEPENDENCY_RETRY_AFTER_SECS: u64 = 5;

/// One field at fault in the input.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer-ish path of the field, e.g. `receptor` or `files[2]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What every capability error tells the edge. `Display` is the public detail, except for
/// [`ErrorKind::Internal`], whose text is only logged.
pub trait DomainError: std::error::Error {
    fn kind(&self) -> ErrorKind;

    /// Stable, machine-readable snake_case code (part of the API contract).
    fn code(&self) -> &'static str;

    /// The input fields at fault, for [`ErrorKind::Invalid`] and [`ErrorKind::Unprocessable`].
    fn fields(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Seconds after which a retry may succeed (rate limits, dependency outages).
    fn retry_after(&self) -> Option<u64> {
        None
    }

    /// Standard metadata the answer carries beside the problem, as (name, value) pairs: the
    /// `RateLimit-*` quota of a denied request. The edge turns them into response headers.
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Input that fails validation: the error every capability's validation returns, so the
/// edge answers every wrong field the same way (400 `invalid_field` naming the field, or the
/// capability's own code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct InvalidInput {
    pub code: &'static str,
    pub detail: String,
    pub fields: Vec<FieldError>,
    /// 422 instead of 400: well-formed, but not acceptable.
    pub unprocessable: bool,
}

impl InvalidInput {
    /// One field is wrong: 400 `invalid_field`, detail `"{field}: {message}"`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self {
            code: "invalid_field",
            detail: format!("{field}: {message}"),
            fields: vec![FieldError::new(field, message)],
            unprocessable: false,
        }
    }

    /// A 400 with its own code and no single field.
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            fields: Vec::new(),
            unprocessable: false,
        }
    }

    /// A 422 with its own code.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            unprocessable: true,
            ..Self::new(code, detail)
        }
    }

    /// Replaces the code, keeping the detail and fields.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.fields.push(FieldError::new(field, message));
        self
    }
}

impl DomainError for InvalidInput {
    fn kind(&self) -> ErrorKind {
        if self.unprocessable {
            ErrorKind::Unprocessable
        } else {
            ErrorKind::Invalid
        }
    }

    fn code(&self) -> &'static str {
        self.code
    }

    fn fields(&self) -> Vec<FieldError> {
        self.fields.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_field_names_the_field() {
        let e = InvalidInput::field("receptor", "not a phone number");
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.code(), "invalid_field");
        assert_eq!(e.to_string(), "receptor: not a phone number");
        assert_eq!(e.fields()[0].field, "receptor");
    }
}
