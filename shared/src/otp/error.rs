//! What can go wrong sending or checking a code, in the OTP capability's terms.

use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::secrets::SecretError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No verification with this id (or receptor), or not the caller's.
    #[error("no pending verification {0}")]
    NotFound(String),
    /// The code is wrong; `attempts_left` more before the verification locks.
    #[error("the code is wrong; {attempts_left} attempt(s) left")]
    InvalidCode { attempts_left: u32 },
    #[error("the code has expired; send a new one")]
    Expired,
    /// A newer send to the same receptor replaced this verification.
    #[error("a newer code was sent to this receptor; use that one")]
    Canceled,
    #[error("this verification is already approved")]
    AlreadyApproved,
    /// Too many wrong codes; usable again never (a new send is needed), so `retry_after`
    /// says when the locked code would have expired.
    #[error("too many wrong codes; send a new one")]
    Locked { retry_after: u64 },
    /// The resend cooldown of this receptor has not passed.
    #[error("a code was sent to this receptor moments ago; resend in {retry_after} s")]
    ResendTooSoon { retry_after: u64 },
    /// No SMS provider (nor the console) took the message; `code` is the SMS problem code.
    #[error("the code could not be delivered: {detail}")]
    DeliveryFailed { code: &'static str, detail: String },
    /// The HMAC key secret is missing (or not usable).
    #[error("OTP verification is not configured: {0}")]
    NotConfigured(String),
    /// A dependency could not be read just now (Secrets Manager, the provider catalog, a
    /// throttled table): 503 `dependency_unavailable` with Retry-After; nothing was sent.
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SecretError> for OtpError {
    fn from(e: SecretError) -> Self {
        match e {
            // A read that failed is an outage, not a missing key.
            SecretError::Unavailable(_) => OtpError::Unavailable(e.to_string()),
            SecretError::NotJson(_) => OtpError::NotConfigured(e.to_string()),
        }
    }
}

impl DomainError for OtpError {
    fn kind(&self) -> ErrorKind {
        match self {
            OtpError::Invalid(e) => e.kind(),
            OtpError::NotFound(_) => ErrorKind::NotFound,
            OtpError::InvalidCode { .. } => ErrorKind::Invalid,
            OtpError::Expired | OtpError::Canceled => ErrorKind::Gone,
            OtpError::AlreadyApproved => ErrorKind::Conflict,
            OtpError::Locked { .. } | OtpError::ResendTooSoon { .. } => ErrorKind::RateLimited,
            OtpError::DeliveryFailed { .. } => ErrorKind::ProviderFailed,
            OtpError::NotConfigured(_) | OtpError::Unavailable(_) => ErrorKind::Unavailable,
            OtpError::Store(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            OtpError::Invalid(e) => e.code(),
            OtpError::NotFound(_) => "not_found",
            OtpError::InvalidCode { .. } => "invalid_code",
            OtpError::Expired => "verification_expired",
            OtpError::Canceled => "verification_canceled",
            OtpError::AlreadyApproved => "already_approved",
            OtpError::Locked { .. } => "verification_locked",
            OtpError::ResendTooSoon { .. } => "rate_limited",
            OtpError::DeliveryFailed { code, .. } => code,
            OtpError::NotConfigured(_) => "otp_not_configured",
            OtpError::Unavailable(_) => crate::error::DEPENDENCY_UNAVAILABLE,
            OtpError::Store(e) => e.code(),
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            OtpError::Invalid(e) => e.fields(),
            OtpError::InvalidCode { attempts_left } => vec![FieldError::new(
                "code",
                format!("wrong code; {attempts_left} attempt(s) left"),
            )],
            _ => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            OtpError::Locked { retry_after } | OtpError::ResendTooSoon { retry_after } => {
                Some((*retry_after).max(1))
            }
            OtpError::Unavailable(_) => Some(crate::error::DEPENDENCY_RETRY_AFTER_SECS),
            OtpError::Store(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl OtpError {
    /// Attempts left after a wrong code (the problem's `errors[0].message` says it too).
    pub fn attempts_left(&self) -> Option<u32> {
        match self {
            OtpError::InvalidCode { attempts_left } => Some(*attempts_left),
            _ => None,
        }
    }
}
