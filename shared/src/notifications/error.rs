//! What can go wrong in the notifications capability, in its own terms. The edge maps each
//! to the status and problem code clients have always seen.

use crate::cursor::InvalidCursor;
use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// A request field is wrong: 400 `invalid_field` naming it.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The inbox cursor was not one this API returned: 400 `invalid_field` `cursor`.
    #[error(transparent)]
    Cursor(#[from] InvalidCursor),
    /// No such notification for this user: 404 `not_found`.
    #[error("no notification {0}")]
    NotFound(String),
    /// The user's hourly limit of a channel is used up (429 `rate_limited`, `Retry-After`),
    /// or the limiter could not decide (500).
    #[error(transparent)]
    Limit(#[from] super::limit::LimitRefused),
    /// DynamoDB kept part of a batch unprocessed: 503 `dynamodb_throttled`.
    #[error("could not store the WebSocket connection; try again")]
    Throttled,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug (an item that cannot be built, an event that cannot be serialised): 500.
    #[error("{0}")]
    Internal(String),
}

impl DomainError for NotificationError {
    fn kind(&self) -> ErrorKind {
        match self {
            NotificationError::Invalid(e) => e.kind(),
            NotificationError::Cursor(e) => e.kind(),
            NotificationError::NotFound(_) => ErrorKind::NotFound,
            NotificationError::Limit(e) => e.kind(),
            NotificationError::Throttled => ErrorKind::Unavailable,
            NotificationError::Store(e) => e.kind(),
            NotificationError::Internal(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            NotificationError::Invalid(e) => e.code(),
            NotificationError::Cursor(e) => e.code(),
            NotificationError::NotFound(_) => "not_found",
            NotificationError::Limit(e) => e.code(),
            NotificationError::Throttled => "dynamodb_throttled",
            NotificationError::Store(e) => e.code(),
            NotificationError::Internal(_) => "internal_error",
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            NotificationError::Invalid(e) => e.fields(),
            NotificationError::Cursor(e) => e.fields(),
            _ => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            NotificationError::Limit(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl From<serde_dynamo::Error> for NotificationError {
    fn from(e: serde_dynamo::Error) -> Self {
        NotificationError::Store(e.into())
    }
}
