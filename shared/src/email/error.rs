//! What can go wrong sending an email, in domain terms. `Display` is the public detail; the
//! edge maps each variant to the status and problem code clients have always seen.

use super::templates::{Language, TemplateName};
use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::providers::{ProviderError, ProviderErrorKind};

#[derive(Debug, Clone, thiserror::Error)]
pub enum EmailError {
    /// A field of the request is wrong (the address, the subject, the body, the shape).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("there is no email template {0:?}")]
    UnknownTemplate(String),
    #[error("email templates are not available in {0:?}")]
    UnknownLanguage(String),
    #[error("template {template} needs data.{field}")]
    MissingData {
        template: TemplateName,
        field: String,
    },
    #[error("data.{field}: {reason}")]
    InvalidData { field: String, reason: String },
    /// SMTP is not configured and no fallback is allowed (`EMAIL_FALLBACK`).
    #[error("email is not configured: set SMTP_HOST and FROM_EMAIL")]
    NotConfigured,
    /// The SMTP credentials could not be read (Secrets Manager failed): nothing was sent;
    /// 503 `dependency_unavailable` with `Retry-After`, a retry for workers.
    #[error("the SMTP credentials could not be read; try again shortly")]
    DependencyUnavailable,
    /// The mail server (or reaching it) failed, after the retries.
    #[error("{}", provider_detail(.0))]
    Provider(ProviderError),
    /// A shipped template failed to render: a bug.
    #[error("template rendering failed: {0}")]
    Render(String),
}

fn provider_detail(e: &ProviderError) -> String {
    if e.kind == ProviderErrorKind::InvalidRequest {
        format!("the mail server refused the message: {}", e.message)
    } else {
        e.public_detail()
    }
}

impl EmailError {
    /// Worth trying the whole send again later (a queue worker returns the message to the
    /// queue for these; everything else is final).
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmailError::Provider(e) if e.is_retryable())
            || matches!(self, EmailError::DependencyUnavailable)
    }
}

impl DomainError for EmailError {
    fn kind(&self) -> ErrorKind {
        match self {
            EmailError::Invalid(e) => e.kind(),
            EmailError::UnknownTemplate(_)
            | EmailError::UnknownLanguage(_)
            | EmailError::MissingData { .. }
            | EmailError::InvalidData { .. } => ErrorKind::Unprocessable,
            EmailError::Provider(e) => e.error_kind(),
            EmailError::NotConfigured | EmailError::DependencyUnavailable => ErrorKind::Unavailable,
            EmailError::Render(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            EmailError::Invalid(e) => e.code(),
            EmailError::UnknownTemplate(_) => "unknown_template",
            EmailError::UnknownLanguage(_) => "unknown_language",
            EmailError::MissingData { .. } => "missing_template_data",
            EmailError::InvalidData { .. } => "invalid_template_data",
            EmailError::Provider(e) if e.kind == ProviderErrorKind::InvalidRequest => {
                "email_rejected"
            }
            EmailError::Provider(e) => e.public_code(),
            EmailError::NotConfigured => "email_not_configured",
            EmailError::DependencyUnavailable => "dependency_unavailable",
            EmailError::Render(_) => "internal_error",
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        let names = |all: &[&str]| format!("one of {}", all.join(", "));
        match self {
            EmailError::Invalid(e) => e.fields(),
            EmailError::UnknownTemplate(_) => vec![FieldError::new(
                "template",
                names(&TemplateName::ALL.map(TemplateName::as_str)),
            )],
            EmailError::UnknownLanguage(_) => vec![FieldError::new(
                "language",
                names(&Language::ALL.map(Language::tag)),
            )],
            EmailError::MissingData { template, field } => vec![FieldError::new(
                format!("data.{field}"),
                format!("required by template {template}"),
            )],
            EmailError::InvalidData { field, reason } => {
                vec![FieldError::new(format!("data.{field}"), reason.clone())]
            }
            EmailError::Provider(_)
            | EmailError::Render(_)
            | EmailError::NotConfigured
            | EmailError::DependencyUnavailable => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            EmailError::Provider(e) if e.kind != ProviderErrorKind::InvalidRequest => {
                e.public_retry_after()
            }
            EmailError::DependencyUnavailable => Some(DEPENDENCY_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

/// `Retry-After` of a 503 `dependency_unavailable`.
pub const DEPENDENCY_RETRY_AFTER_SECS: u64 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_credentials_are_a_503_with_retry_after_and_retried_by_workers() {
        let e = EmailError::DependencyUnavailable;
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.code(), "dependency_unavailable");
        assert_eq!(e.retry_after(), Some(DEPENDENCY_RETRY_AFTER_SECS));
        assert!(e.is_retryable());
        assert_eq!(EmailError::NotConfigured.code(), "email_not_configured");
        assert!(!EmailError::NotConfigured.is_retryable());
    }

    #[test]
    fn a_refused_message_is_422_email_rejected_and_a_down_server_502() {
        let refused = EmailError::Provider(ProviderError::new(
            "smtp",
            ProviderErrorKind::InvalidRequest,
            "smtp_550",
            "the server refused the message (550, permanent)",
        ));
        assert_eq!(refused.kind(), ErrorKind::Unprocessable);
        assert_eq!(refused.code(), "email_rejected");
        assert!(!refused.is_retryable());
        let down = EmailError::Provider(ProviderError::new(
            "smtp",
            ProviderErrorKind::Unavailable,
            "smtp_unreachable",
            "the SMTP server could not be reached",
        ));
        assert_eq!(down.kind(), ErrorKind::ProviderFailed);
        assert_eq!(down.code(), "provider_failed");
        assert!(down.is_retryable());
        assert_eq!(
            down.to_string(),
            "smtp failed: the SMTP server could not be reached"
        );
    }

    #[test]
    fn an_unknown_template_names_the_choices() {
        let e = EmailError::UnknownTemplate("nope".into());
        assert_eq!(e.kind(), ErrorKind::Unprocessable);
        assert_eq!(e.fields()[0].field, "template");
        assert!(e.fields()[0].message.contains("appointment_reminder"));
    }
}
