//! What can go wrong in the webhooks capability, in its own terms. The edge maps each
//! variant's [`ErrorKind`] to a status (`crate::http::problem`); the codes are the ones
//! clients and providers see.

use crate::cursor::InvalidCursor;
use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::store::StoreError;

use super::signature::VerifyError;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A field of an admin request is wrong (400 `invalid_field`, or 422 with its own code).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// A page cursor this API did not return (400 `invalid_field`, field `cursor`).
    #[error(transparent)]
    Cursor(#[from] InvalidCursor),
    /// No endpoint with this slug, or it is disabled (404 `unknown_endpoint`).
    #[error("no webhook endpoint {0:?}")]
    UnknownEndpoint(String),
    /// No such event on this endpoint (404 `not_found`).
    #[error("no event {event_id} on endpoint {endpoint_slug}")]
    UnknownEvent {
        endpoint_slug: String,
        event_id: String,
    },
    /// The slug is taken (409 `endpoint_exists`, field `endpoint_url`).
    #[error("an endpoint {0:?} already exists")]
    EndpointExists(String),
    /// The body is above `WEBHOOK_MAX_BODY_BYTES` (413 `payload_too_large`).
    #[error("webhook bodies are limited to {0} bytes")]
    BodyTooLarge(usize),
    /// The body is above the inline limit and no bucket is configured (413).
    #[error("this body is too large to store inline and no bodies bucket is configured")]
    NoBodiesBucket,
    /// The request did not verify (401 with the verifier's code, and no
    /// `WWW-Authenticate: Bearer`: a provider cannot fix this with a JWT).
    #[error("webhook verification failed: {0}")]
    Rejected(#[from] VerifyError),
    /// Misconfiguration on the hub's side: the provider should retry later, not give up
    /// (503 `webhook_secret_missing`).
    #[error("this endpoint has no signing secret configured")]
    SecretMissing,
    /// The event could not be enqueued (503 `queue_unavailable`); the cause is logged. Only
    /// admin replays answer it: a received event is durable once stored (the sweeper
    /// re-drives it), so its enqueue failure is not the provider's problem.
    #[error("could not enqueue the event; retry later")]
    QueueUnavailable,
    /// Another provider's SMS delivery report posted to this endpoint (422
    /// `report_provider_mismatch`): reports are applied only through an endpoint of their
    /// own provider.
    #[error("{0}")]
    ReportRefused(super::delivery_report::ReportRefusal),
    /// Another capability (SMS, notifications) failed while processing an event.
    #[error("{detail}")]
    Downstream {
        code: &'static str,
        /// Public text (the other capability's detail).
        detail: String,
    },
    /// A dependency the hub reads could not be read (Secrets Manager, the provider
    /// credentials): never taken for "not configured"; 503 `dependency_unavailable` with
    /// `Retry-After`, so the provider retries. The cause is logged where it happens.
    #[error("{0} could not be read; retry later")]
    DependencyUnavailable(&'static str),
    /// DynamoDB failed; a transient failure (throttling, 5xx, timeout) is answered like
    /// [`WebhookError::DependencyUnavailable`], any other as an internal error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hub's own infrastructure (S3, Secrets Manager) or a stored value it cannot read;
    /// logged, answered generically.
    #[error("{0}")]
    Internal(String),
}

/// What a provider is told to wait before retrying after a dependency failure.
const RETRY_AFTER_SECS: u64 = 5;

impl WebhookError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        WebhookError::Internal(cause.to_string())
    }

    /// A read of `dependency` failed: the cause is logged, the caller told to retry.
    pub fn unavailable(dependency: &'static str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(dependency, error = %cause, "reading a dependency failed");
        WebhookError::DependencyUnavailable(dependency)
    }

    fn is_transient_store(&self) -> bool {
        matches!(
            self,
            WebhookError::Store(StoreError::Dynamo {
                transient: true,
                ..
            })
        )
    }

    /// The text an admin may see (an event's `last_error`): internal causes are logged, not
    /// shown.
    pub fn public_detail(&self) -> String {
        if let WebhookError::Downstream { detail, .. } = self {
            detail.clone()
        } else if self.kind() == ErrorKind::Internal {
            tracing::error!(error = %self, "internal error");
            "an internal error occurred; it has been logged".into()
        } else {
            self.to_string()
        }
    }
}

impl DomainError for WebhookError {
    fn kind(&self) -> ErrorKind {
        match self {
            WebhookError::Invalid(e) => e.kind(),
            WebhookError::Cursor(e) => e.kind(),
            WebhookError::UnknownEndpoint(_) | WebhookError::UnknownEvent { .. } => {
                ErrorKind::NotFound
            }
            WebhookError::EndpointExists(_) => ErrorKind::Conflict,
            WebhookError::BodyTooLarge(_) | WebhookError::NoBodiesBucket => ErrorKind::TooLarge,
            WebhookError::Rejected(_) => ErrorKind::Unauthenticated,
            WebhookError::ReportRefused(_) => ErrorKind::Unprocessable,
            WebhookError::SecretMissing
            | WebhookError::QueueUnavailable
            | WebhookError::DependencyUnavailable(_) => ErrorKind::Unavailable,
            _ if self.is_transient_store() => ErrorKind::Unavailable,
            WebhookError::Downstream { .. }
            | WebhookError::Store(_)
            | WebhookError::Internal(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            WebhookError::Invalid(e) => e.code(),
            WebhookError::Cursor(e) => e.code(),
            WebhookError::UnknownEndpoint(_) => "unknown_endpoint",
            WebhookError::UnknownEvent { .. } => "not_found",
            WebhookError::EndpointExists(_) => "endpoint_exists",
            WebhookError::BodyTooLarge(_) | WebhookError::NoBodiesBucket => "payload_too_large",
            WebhookError::Rejected(e) => e.code(),
            WebhookError::SecretMissing => "webhook_secret_missing",
            WebhookError::QueueUnavailable => "queue_unavailable",
            WebhookError::DependencyUnavailable(_) => "dependency_unavailable",
            _ if self.is_transient_store() => "dependency_unavailable",
            WebhookError::ReportRefused(_) => "report_provider_mismatch",
            WebhookError::Downstream { code, .. } => code,
            WebhookError::Store(e) => e.code(),
            WebhookError::Internal(_) => "internal_error",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        (matches!(self, WebhookError::DependencyUnavailable(_)) || self.is_transient_store())
            .then_some(RETRY_AFTER_SECS)
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            WebhookError::Invalid(e) => e.fields(),
            WebhookError::Cursor(e) => e.fields(),
            WebhookError::EndpointExists(_) => {
                vec![FieldError::new("endpoint_url", "already registered")]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_failures_keep_their_codes() {
        let e = WebhookError::from(VerifyError::Missing("webhook-id header".into()));
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Unauthenticated, "missing_signature")
        );
        assert_eq!(
            e.to_string(),
            "webhook verification failed: missing webhook-id header"
        );
        let e = WebhookError::EndpointExists("x".into());
        assert_eq!(e.fields()[0].field, "endpoint_url");
    }

    #[test]
    fn dependency_failures_are_503_with_retry_after_never_500() {
        let e = WebhookError::unavailable("Secrets Manager", "connection reset");
        assert_eq!(
            (e.kind(), e.code(), e.retry_after()),
            (ErrorKind::Unavailable, "dependency_unavailable", Some(5))
        );
        assert!(
            !e.to_string().contains("reset"),
            "the cause is logged, not shown"
        );
        let transient = WebhookError::Store(StoreError::Dynamo {
            operation: "PutItem",
            message: "ThrottlingException".into(),
            transient: true,
        });
        assert_eq!(
            (transient.kind(), transient.code(), transient.retry_after()),
            (ErrorKind::Unavailable, "dependency_unavailable", Some(5))
        );
        let permanent = WebhookError::Store(StoreError::Dynamo {
            operation: "PutItem",
            message: "ValidationException".into(),
            transient: false,
        });
        assert_eq!(permanent.kind(), ErrorKind::Internal);
        assert_eq!(permanent.retry_after(), None);
    }
}
