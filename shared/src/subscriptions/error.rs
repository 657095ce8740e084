//! What can go wrong managing subscriptions and publishing events.

use crate::error::{DomainError, ErrorKind, FieldError};
use crate::queue::QueueError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// A field of the request is unacceptable (the URL, an event type...): 422 naming it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("subscription {0} not found")]
    NotFound(String),
    #[error("no message for event {0} on this subscription")]
    MessageNotFound(String),
    #[error("subscription {0} is disabled; enable it first (PATCH disabled=false)")]
    Disabled(String),
    /// The subscription queue is not configured in this function (SUBSCRIPTIONS_QUEUE_URL).
    #[error("event delivery is not configured (SUBSCRIPTIONS_QUEUE_URL)")]
    NotConfigured,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl SubscriptionError {
    /// A publishing failure as the store error of the capability that published: it is
    /// one (the event's `PutItem` or the subscription list's `Query`), or a body that did not
    /// serialise.
    pub fn into_store_error(self) -> StoreError {
        match self {
            Self::Store(e) => e,
            other => StoreError::Malformed(other.to_string()),
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl DomainError for SubscriptionError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Unprocessable,
            Self::NotFound(_) | Self::MessageNotFound(_) => ErrorKind::NotFound,
            Self::NotConfigured => ErrorKind::Unavailable,
            Self::Disabled(_) => ErrorKind::Conflict,
            Self::Store(StoreError::Dynamo {
                transient: true, ..
            }) => ErrorKind::Unavailable,
            Self::Store(_) | Self::Queue(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::NotFound(_) | Self::MessageNotFound(_) => "not_found",
            Self::NotConfigured => "not_configured",
            Self::Disabled(_) => "subscription_disabled",
            Self::Store(StoreError::Dynamo {
                transient: true, ..
            }) => "dependency_unavailable",
            Self::Store(_) | Self::Queue(_) => "internal_error",
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid { field, message } => vec![FieldError::new(*field, message.clone())],
            _ => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        matches!(self.kind(), ErrorKind::Unavailable).then_some(5)
    }
}
