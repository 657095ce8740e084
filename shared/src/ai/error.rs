//! What can go wrong in the AI capability, in domain terms. The edge maps each variant to
//! the status and problem code clients have always seen; a job stores [`AiError::job_code`]
//! and the public detail.

use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// No provider in the order has credentials (the chat then answers from rules).
    #[error("no AI provider is configured: store an api_key for openai, huggingface or talkbot")]
    NotConfigured,
    /// The provider the caller chose (`provider` on the request) cannot serve now: no
    /// credentials stored, disabled in the catalog, or no base URL. The same 503
    /// `ai_not_configured` as the default path, naming the provider; never the rules
    /// fallback (the caller asked for that provider).
    #[error("the AI provider {provider:?} is not configured: {reason}")]
    ProviderNotConfigured {
        provider: String,
        reason: &'static str,
    },
    /// Every configured provider failed; the errors in the order tried (never empty).
    #[error("{}", providers_failed_detail(.0))]
    ProvidersFailed(Vec<ProviderError>),
    /// Reading the providers' configuration or credentials failed (the provider catalog in
    /// DynamoDB, a secret in Secrets Manager): NOT "not configured", so never the rules
    /// fallback. 503 `dependency_unavailable` with `Retry-After`; a job is retried.
    #[error("{0} could not be read; try again shortly")]
    DependencyUnavailable(&'static str),
    /// Async work was asked for but `AI_JOBS_QUEUE_URL` is not set.
    #[error("async AI jobs are not configured (AI_JOBS_QUEUE_URL)")]
    JobsUnavailable,
    /// Audio work was asked for but `UPLOADS_BUCKET` is not set.
    #[error("UPLOADS_BUCKET is not configured")]
    UploadsUnavailable,
    /// No such job, or not the caller's to see.
    #[error("no AI job {0}")]
    JobNotFound(String),
    /// The named audio object is not in the uploads bucket.
    #[error("no audio object {0:?} in the uploads bucket")]
    AudioNotFound(String),
    /// The audio is over Whisper's limit.
    #[error("the audio is {size} bytes; the limit is {limit} (25 MB)")]
    AudioTooLarge { size: u64, limit: u64 },
    /// Audio posted with the request (multipart) larger than a request can carry.
    #[error(
        "the file is {size} bytes; posted directly the limit is {limit} bytes (Lambda's request limit): send larger audio, up to 25 MB, with `upload` (a presigned POST) and then `s3_key`"
    )]
    DirectAudioTooLarge { size: u64, limit: u64 },
    /// Audio posted with the request whose bytes are not a format the providers transcribe.
    #[error(
        "the file is {0}, not audio the providers transcribe (mp3, mp4/m4a, wav, webm, ogg, flac)"
    )]
    NotAudio(String),
    /// A job payload too big for DynamoDB with no bucket to put it in.
    #[error("the AI payload is too large to store without UPLOADS_BUCKET")]
    PayloadTooLarge,
    /// Only a service or admin may do this (act for another user, read another's upload).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// S3 refused or failed a call; worth another try later.
    #[error("S3 {operation} failed: {message}")]
    ObjectStore {
        operation: &'static str,
        message: String,
    },
    /// A bug: a stored payload that does not parse, a request that cannot be serialised.
    #[error("{0}")]
    Internal(String),
}

fn providers_failed_detail(errors: &[ProviderError]) -> String {
    let tried: Vec<String> = errors
        .iter()
        .map(|e| format!("{} ({})", e.provider, e.code))
        .collect();
    let last = errors
        .last()
        .map(ProviderError::public_detail)
        .unwrap_or_default();
    format!("{last}; providers tried: {}", tried.join(", "))
}

impl AiError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        AiError::Internal(cause.to_string())
    }

    /// A provider refused the request itself (bad parameters), or none is configured:
    /// retrying later will not help.
    pub fn is_permanent(&self) -> bool {
        match self {
            AiError::NotConfigured | AiError::ProviderNotConfigured { .. } => true,
            AiError::ProvidersFailed(errors) => errors
                .iter()
                .any(|e| e.kind == ProviderErrorKind::InvalidRequest),
            _ => !self.is_retryable(),
        }
    }

    /// Worth another delivery of a job later (providers down or throttling, S3 or DynamoDB
    /// hiccups, credentials or catalog unreadable). Never after an ambiguous outcome: a
    /// provider that timed out may have run (and billed) the request.
    pub fn is_retryable(&self) -> bool {
        match self {
            AiError::ProvidersFailed(_) => !self.is_permanent() && !self.is_ambiguous(),
            AiError::ObjectStore { .. } | AiError::Store(_) | AiError::DependencyUnavailable(_) => {
                true
            }
            _ => false,
        }
    }

    /// The request was written to a provider and its answer was lost (timeout): it may have
    /// run. The worker records the job `failed` (`provider_timeout`) instead of paying for a
    /// second run.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, AiError::ProvidersFailed(errors)
            if errors.last().is_some_and(|e| e.kind == ProviderErrorKind::Timeout))
    }

    /// The code a failed job records: the last provider's own code (`openai_insufficient_quota`)
    /// when providers failed, else what went wrong with the job's input.
    pub fn job_code(&self) -> String {
        match self {
            AiError::ProvidersFailed(_) if self.is_ambiguous() => "provider_timeout".into(),
            AiError::ProvidersFailed(errors) => {
                errors.last().map(|e| e.code.clone()).unwrap_or_default()
            }
            AiError::UploadsUnavailable => "uploads_bucket_missing".into(),
            AiError::AudioTooLarge { .. } => "audio_too_large".into(),
            AiError::ObjectStore { .. } => "s3_unavailable".into(),
            other => other.code().into(),
        }
    }
}

impl DomainError for AiError {
    fn kind(&self) -> ErrorKind {
        match self {
            AiError::NotConfigured
            | AiError::ProviderNotConfigured { .. }
            | AiError::JobsUnavailable
            | AiError::UploadsUnavailable
            | AiError::DependencyUnavailable(_) => ErrorKind::Unavailable,
            AiError::ProvidersFailed(errors) => errors
                .last()
                .map_or(ErrorKind::ProviderFailed, ProviderError::error_kind),
            AiError::JobNotFound(_) | AiError::AudioNotFound(_) => ErrorKind::NotFound,
            AiError::AudioTooLarge { .. }
            | AiError::DirectAudioTooLarge { .. }
            | AiError::PayloadTooLarge => ErrorKind::TooLarge,
            AiError::NotAudio(_) => ErrorKind::UnsupportedMedia,
            AiError::Forbidden(_) => ErrorKind::Forbidden,
            AiError::Invalid(e) => e.kind(),
            AiError::Store(_) | AiError::ObjectStore { .. } | AiError::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AiError::NotConfigured | AiError::ProviderNotConfigured { .. } => "ai_not_configured",
            AiError::ProvidersFailed(errors) => errors
                .last()
                .map_or("provider_failed", ProviderError::public_code),
            AiError::DependencyUnavailable(_) => "dependency_unavailable",
            AiError::JobsUnavailable => "ai_jobs_unavailable",
            AiError::UploadsUnavailable => "uploads_unavailable",
            AiError::JobNotFound(_) => "job_not_found",
            AiError::AudioNotFound(_) => "audio_not_found",
            AiError::AudioTooLarge { .. }
            | AiError::DirectAudioTooLarge { .. }
            | AiError::PayloadTooLarge => "payload_too_large",
            AiError::NotAudio(_) => "unsupported_audio",
            AiError::Forbidden(_) => "forbidden",
            AiError::Invalid(e) => e.code(),
            AiError::Store(_) | AiError::ObjectStore { .. } | AiError::Internal(_) => {
                "internal_error"
            }
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            AiError::Invalid(e) => e.fields(),
            AiError::DirectAudioTooLarge { limit, .. } => {
                vec![FieldError::new("file", format!("at most {limit} bytes"))]
            }
            AiError::NotAudio(_) => vec![FieldError::new(
                "file",
                "mp3, mp4/m4a, wav, webm, ogg or flac audio",
            )],
            _ => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AiError::ProvidersFailed(errors) => {
                errors.last().and_then(ProviderError::public_retry_after)
            }
            AiError::DependencyUnavailable(_) => Some(DEPENDENCY_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

/// `Retry-After` of a 503 `dependency_unavailable`: long enough for the SDK's own retries
/// and a throttled secret read to settle.
pub const DEPENDENCY_RETRY_AFTER_SECS: u64 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_providers_answer_as_the_last_one_and_name_all() {
        let mut throttled = ProviderError::new(
            "huggingface",
            ProviderErrorKind::RateLimited,
            "huggingface_429",
            "slow down",
        );
        throttled.retry_after = Some(std::time::Duration::from_secs(7));
        let e = AiError::ProvidersFailed(vec![
            ProviderError::new("openai", ProviderErrorKind::Unavailable, "openai_500", "x"),
            throttled,
        ]);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.code(), "provider_rate_limited");
        assert_eq!(e.retry_after(), Some(7));
        assert_eq!(e.job_code(), "huggingface_429");
        assert!(e.is_retryable());
        assert_eq!(
            e.to_string(),
            "huggingface is throttling requests; providers tried: openai (openai_500), huggingface (huggingface_429)"
        );
    }

    #[test]
    fn an_unreadable_dependency_is_a_503_with_retry_after_and_retried_by_jobs() {
        let e = AiError::DependencyUnavailable("AI provider credentials");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.code(), "dependency_unavailable");
        assert_eq!(e.retry_after(), Some(DEPENDENCY_RETRY_AFTER_SECS));
        assert!(e.is_retryable());
    }

    #[test]
    fn a_timeout_is_ambiguous_and_never_retried() {
        let e = AiError::ProvidersFailed(vec![ProviderError::new(
            "openai",
            ProviderErrorKind::Timeout,
            "openai_timeout",
            "late",
        )]);
        assert!(e.is_ambiguous());
        assert!(!e.is_retryable());
        assert_eq!(e.job_code(), "provider_timeout");
    }

    #[test]
    fn a_refused_request_is_permanent() {
        let e = AiError::ProvidersFailed(vec![ProviderError::new(
            "openai",
            ProviderErrorKind::InvalidRequest,
            "openai_invalid_request_error",
            "bad",
        )]);
        assert!(e.is_permanent());
        assert!(!e.is_retryable());
        assert_eq!(e.kind(), ErrorKind::Unprocessable);
    }
}
