//! What can go wrong limiting, or managing the rules.

use super::Quota;
use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// A rule's limit is reached: 429 `rate_limited`, with `Retry-After` and the quota of
    /// the rule that denied as `RateLimit-*`.
    #[error("{detail}")]
    Limited {
        detail: String,
        retry_after: u64,
        quota: Quota,
    },
    /// The counter table could not be read or updated. Fails closed: 503
    /// `rate_limit_unavailable` (an SMS must not go out unlimited).
    #[error("{0}")]
    Unavailable(&'static str),
    /// A rule's fields are wrong (400 `invalid_field`, 422 `invalid_rule`).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("no rate-limit rule with id {0:?}")]
    RuleNotFound(String),
    /// 409 `rule_exists`.
    #[error("{0}")]
    RuleExists(String),
    /// Reading or writing the rules failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for RateLimitError {
    fn kind(&self) -> ErrorKind {
        match self {
            RateLimitError::Limited { .. } => ErrorKind::RateLimited,
            RateLimitError::Unavailable(_) => ErrorKind::Unavailable,
            RateLimitError::Invalid(e) => e.kind(),
            RateLimitError::RuleNotFound(_) => ErrorKind::NotFound,
            RateLimitError::RuleExists(_) => ErrorKind::Conflict,
            RateLimitError::Store(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            RateLimitError::Limited { .. } => "rate_limited",
            RateLimitError::Unavailable(_) => "rate_limit_unavailable",
            RateLimitError::Invalid(e) => e.code(),
            RateLimitError::RuleNotFound(_) => "not_found",
            RateLimitError::RuleExists(_) => "rule_exists",
            RateLimitError::Store(e) => e.code(),
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            RateLimitError::Invalid(e) => e.fields(),
            _ => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            RateLimitError::Limited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            RateLimitError::Limited { quota, .. } => quota.headers(),
            _ => Vec::new(),
        }
    }
}
