//! What can go wrong in the SMS capability, in its own terms. The edge maps each kind to a
//! status once (the problem module); the codes here are the ones clients already see.

use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::providers::ProviderError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// A field of the request is wrong (400 `invalid_field`, `invalid_bulk`).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No message with this id (or not the caller's to see).
    #[error("no SMS message {0:?}")]
    MessageNotFound(String),
    /// No batch with this id (or not the caller's to see).
    #[error("no SMS batch {0:?}")]
    BatchNotFound(String),
    /// Bulk sends need a queue (`SMS_BULK_QUEUE_URL`).
    #[error("bulk SMS needs SMS_BULK_QUEUE_URL")]
    BulkNotConfigured,
    /// No provider is configured and the console fallback is not allowed (`SMS_FALLBACK`):
    /// nothing was sent (503 `sms_not_configured`).
    #[error(
        "no SMS provider is configured; store Kavenegar or Twilio credentials (or set SMS_FALLBACK=console where logging instead of sending is acceptable)"
    )]
    NotConfigured,
    /// No provider sent the message; it is stored as failed under `message_id`.
    #[error("{} (message id {message_id})", .error.public_detail())]
    SendFailed {
        error: ProviderError,
        message_id: String,
    },
    /// A provider call other than a send failed (a status refresh).
    #[error("{}", .0.public_detail())]
    Provider(ProviderError),
    /// The hub table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bulk queue refused the batch's chunks.
    #[error("queueing the batch failed: {0}")]
    Queue(String),
}

impl SmsError {
    fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            SmsError::SendFailed { error, .. } | SmsError::Provider(error) => Some(error),
            _ => None,
        }
    }
}

impl DomainError for SmsError {
    fn kind(&self) -> ErrorKind {
        match self {
            SmsError::Invalid(e) => e.kind(),
            SmsError::MessageNotFound(_) | SmsError::BatchNotFound(_) => ErrorKind::NotFound,
            SmsError::BulkNotConfigured | SmsError::NotConfigured => ErrorKind::Unavailable,
            SmsError::SendFailed { error, .. } | SmsError::Provider(error) => error.error_kind(),
            SmsError::Store(e) => e.kind(),
            SmsError::Queue(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SmsError::Invalid(e) => e.code(),
            SmsError::MessageNotFound(_) | SmsError::BatchNotFound(_) => "not_found",
            SmsError::BulkNotConfigured => "bulk_not_configured",
            SmsError::NotConfigured => super::service::NOT_CONFIGURED,
            SmsError::SendFailed { error, .. } | SmsError::Provider(error) => error.public_code(),
            SmsError::Store(e) => e.code(),
            SmsError::Queue(_) => "internal_error",
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            SmsError::Invalid(e) => e.fields(),
            _ => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            SmsError::Store(e) => e.retry_after(),
            _ => self
                .provider_error()
                .and_then(ProviderError::public_retry_after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderErrorKind;

    #[test]
    fn provider_failures_keep_their_codes_and_name_the_message() {
        let e = SmsError::SendFailed {
            error: ProviderError::new(
                "kavenegar",
                ProviderErrorKind::InvalidRequest,
                "kavenegar_411",
                "invalid receptor",
            ),
            message_id: "m-1".into(),
        };
        assert_eq!(e.kind(), ErrorKind::Unprocessable);
        assert_eq!(e.code(), "provider_rejected");
        assert!(e.to_string().ends_with("(message id m-1)"), "{e}");
        let throttled = SmsError::Provider(ProviderError::new(
            "twilio",
            ProviderErrorKind::RateLimited,
            "twilio_20429",
            "rate limited",
        ));
        assert_eq!(throttled.kind(), ErrorKind::Unavailable);
        assert_eq!(throttled.retry_after(), Some(30));
        assert_eq!(SmsError::BulkNotConfigured.code(), "bulk_not_configured");
        // A configuration read that failed is a retryable 503, not a provider failure.
        let unreadable =
            SmsError::Provider(ProviderError::config_unavailable("kavenegar", "secret"));
        assert_eq!(unreadable.kind(), ErrorKind::Unavailable);
        assert_eq!(unreadable.code(), "dependency_unavailable");
        assert!(unreadable.retry_after().is_some());
        let throttled = SmsError::Store(StoreError::Dynamo {
            operation: "PutItem",
            message: "ThrottlingException".into(),
            transient: true,
        });
        assert_eq!(throttled.kind(), ErrorKind::Unavailable);
        assert_eq!(throttled.code(), "dependency_unavailable");
        assert_eq!(SmsError::NotConfigured.code(), "sms_not_configured");
    }
}
