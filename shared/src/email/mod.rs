//! Email over SMTP: templated messages (appointment reminder, confirmation, cancellation,
//! password recovery, generic) in fa, pt-BR and en, and plain messages like the BluRosiere
//! seed's `email_service.send_email(to, subject, body)`.
//!
//! [`EmailService::send`] is the one entry point, for the HTTP function and for the
//! notifications worker alike: it validates the recipient, renders the template, sends
//! through the configured [`Mailer`] with retries, and records every attempt in the
//! integration log (provider `smtp`, operation `send_template` or `send_plain`, target masked,
//! reference = our `Message-ID`).
//!
//! - Mailer: [`SmtpMailer`] when `SMTP_HOST` is set (lettre, pooled, kept across warm
//!   invocations), else [`ConsoleMailer`] (logged, address masked, outcome `fallback`).
//! - Retries: temporary failures (4xx replies, connection errors, timeouts) are tried again
//!   with exponential backoff, up to `EMAIL_MAX_ATTEMPTS` (default 3) and never past a time
//!   budget that keeps the whole send under the API's 29 s; permanent ones (5xx) are reported
//!   at once. A retry after a lost connection can deliver twice (SMTP has no idempotency of
//!   its own); callers that must not double-send use an `Idempotency-Key`, which stops repeats
//!   of the whole request.
//! - Nothing personal reaches logs: addresses masked, no subjects, no bodies.
//!
//! Storage: none of its own. (The HTTP function's `Idempotency-Key` records live in the hub
//! table under `IDEM#send_email#…`, see [`crate::idempotency`].)

pub mod mailer;
pub mod templates;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use mailer::{
    ConsoleMailer, Delivery, Mailer, OutgoingEmail, SentEmail, SmtpMailer, parse_address,
};
pub use templates::{Language, RenderedEmail, TemplateCatalog, TemplateName};

use crate::config::{ConfigError, Env};
use crate::context::HubContext;
use crate::error::ApiError;
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::mask::mask_email;
use crate::providers::smtp::{SLUG, SmtpSettings};
use crate::providers::{ProviderError, ProviderErrorKind};

/// Longest plain subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Longest plain body, in characters.
pub const MAX_BODY_CHARS: usize = 100_000;

/// What to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailContent {
    /// A template rendered in a language; `data` holds its fields.
    Template {
        template: String,
        language: String,
        data: Map<String, Value>,
    },
    /// A plain-text message (the seed's `send_email(to, subject, body)`).
    Plain { subject: String, body: String },
}

/// One email to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailRequest {
    pub to: String,
    pub content: EmailContent,
    /// Ties the integration-log entries to the request (API request id, queue message id).
    pub request_id: String,
}

/// What happened to a sent email. Safe to return and to store: the address is masked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmailReceipt {
    /// Our `Message-ID` (without angle brackets); also the integration log's `reference`.
    pub message_id: String,
    pub delivery: Delivery,
    /// The recipient, masked.
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// SMTP attempts made (1 unless a temporary failure was retried; 1 for the console).
    pub attempts: u32,
    /// RFC 3339 time the message was accepted.
    pub sent_at: String,
}

/// A validated, rendered email ready for [`EmailService::deliver`].
#[derive(Debug, Clone)]
pub struct PreparedEmail {
    pub email: OutgoingEmail,
    pub template: Option<TemplateName>,
    pub language: Option<Language>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EmailError {
    #[error("{field}: {reason}")]
    InvalidAddress { field: String, reason: String },
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("unknown template {0:?}")]
    UnknownTemplate(String),
    #[error("unknown language {0:?}")]
    UnknownLanguage(String),
    #[error("template {template} needs data.{field}")]
    MissingData {
        template: TemplateName,
        field: String,
    },
    #[error("data.{field}: {reason}")]
    InvalidData { field: String, reason: String },
    #[error(transparent)]
    Provider(ProviderError),
    /// A shipped template failed to render: a bug.
    #[error("template rendering failed: {0}")]
    Render(String),
}

impl EmailError {
    /// Worth trying the whole send again later (a queue worker returns the message to the
    /// queue for these; everything else is final).
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmailError::Provider(e) if e.is_retryable())
    }

    pub fn to_api_error(&self) -> ApiError {
        let names = |all: &[&str]| all.join(", ");
        match self {
            EmailError::InvalidAddress { field, reason }
            | EmailError::InvalidField { field, reason } => {
                ApiError::invalid_field(field.clone(), reason.clone())
            }
            EmailError::UnknownTemplate(t) => ApiError::unprocessable(
                "unknown_template",
                format!("there is no email template {t:?}"),
            )
            .with_field(
                "template",
                format!(
                    "one of {}",
                    names(&TemplateName::ALL.map(TemplateName::as_str))
                ),
            ),
            EmailError::UnknownLanguage(l) => ApiError::unprocessable(
                "unknown_language",
                format!("email templates are not available in {l:?}"),
            )
            .with_field(
                "language",
                format!("one of {}", names(&Language::ALL.map(Language::tag))),
            ),
            EmailError::MissingData { template, field } => ApiError::unprocessable(
                "missing_template_data",
                format!("template {template} needs data.{field}"),
            )
            .with_field(
                format!("data.{field}"),
                format!("required by template {template}"),
            ),
            EmailError::InvalidData { field, reason } => {
                ApiError::unprocessable("invalid_template_data", format!("data.{field}: {reason}"))
                    .with_field(format!("data.{field}"), reason.clone())
            }
            EmailError::Provider(e) if e.kind == ProviderErrorKind::InvalidRequest => {
                ApiError::unprocessable(
                    "email_rejected",
                    format!("the mail server refused the message: {}", e.message),
                )
            }
            EmailError::Provider(e) => e.to_api_error(),
            EmailError::Render(cause) => ApiError::internal(cause),
        }
    }
}

impl From<EmailError> for ApiError {
    fn from(e: EmailError) -> Self {
        e.to_api_error()
    }
}

/// How temporary failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// The pause before the second attempt; each later pause is four times the previous.
    pub base_delay: Duration,
    /// No new attempt starts after this much time has passed since the first.
    pub budget: Duration,
}

impl RetryPolicy {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_attempts: u32 = env.parse_or("EMAIL_MAX_ATTEMPTS", 3)?;
        if !(1..=5).contains(&max_attempts) {
            return Err(ConfigError::Invalid {
                name: "EMAIL_MAX_ATTEMPTS".into(),
                reason: "must be between 1 and 5".into(),
            });
        }
        Ok(Self {
            max_attempts,
            base_delay: Duration::from_millis(env.parse_or("EMAIL_RETRY_BASE_MS", 250u64)?),
            // 10 s SMTP timeout per attempt: starting none after 15 s keeps a send under 29 s.
            budget: Duration::from_secs(15),
        })
    }
}

/// Sends email. Built once per cold start ([`EmailService::from_context`]) and shared.
pub struct EmailService {
    mailer: Arc<dyn Mailer>,
    templates: Arc<TemplateCatalog>,
    log: IntegrationLog,
    retry: RetryPolicy,
    /// Domain of our `Message-ID`s (the sender's domain).
    id_domain: String,
}

impl std::fmt::Debug for EmailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailService")
            .field("delivery", &self.mailer.delivery())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EmailService {
    /// SMTP when `SMTP_HOST` is set (with `SMTP_PORT`, `SMTP_USER`, `FROM_EMAIL`, password in
    /// the `smtp` secret), else the console fallback. Compiles the templates.
    pub fn from_context(ctx: &HubContext) -> anyhow::Result<Self> {
        let templates = Arc::new(
            TemplateCatalog::new()
                .map_err(|e| anyhow::anyhow!("compiling the email templates: {e}"))?,
        );
        let retry = RetryPolicy::from_env(&ctx.env)?;
        let mailer: Arc<dyn Mailer> = match SmtpSettings::from_env(&ctx.env)? {
            Some(settings) => {
                let from = Mailbox::from_str(&settings.from_email).map_err(|_| ConfigError::Invalid {
                    name: "FROM_EMAIL".into(),
                    reason: "expected an address such as noreply@example.com or `Name <noreply@example.com>`".into(),
                })?;
                Arc::new(SmtpMailer::new(settings, from, ctx.credentials.clone()))
            }
            None => {
                tracing::info!(
                    "SMTP_HOST is not set: emails are logged to the console (address masked) instead of sent"
                );
                Arc::new(ConsoleMailer)
            }
        };
        let id_domain = ctx
            .env
            .optional("FROM_EMAIL")
            .and_then(|f| Mailbox::from_str(&f).ok())
            .map(|m| m.email.domain().to_string())
            .unwrap_or_else(|| "integrations-hub.local".into());
        Ok(Self::new(
            mailer,
            templates,
            ctx.log.clone(),
            retry,
            id_domain,
        ))
    }

    pub fn new(
        mailer: Arc<dyn Mailer>,
        templates: Arc<TemplateCatalog>,
        log: IntegrationLog,
        retry: RetryPolicy,
        id_domain: String,
    ) -> Self {
        Self {
            mailer,
            templates,
            log,
            retry,
            id_domain,
        }
    }

    pub fn delivery(&self) -> Delivery {
        self.mailer.delivery()
    }

    pub fn templates(&self) -> &TemplateCatalog {
        &self.templates
    }

    /// Validates and renders without sending (no I/O): the HTTP function calls it before
    /// claiming an idempotency key or quota, so bad input costs neither.
    pub fn prepare(&self, request: &EmailRequest) -> Result<PreparedEmail, EmailError> {
        let to = parse_address(&request.to).map_err(|reason| EmailError::InvalidAddress {
            field: "to".into(),
            reason,
        })?;
        let message_id = format!("{}@{}", uuid::Uuid::now_v7().simple(), self.id_domain);
        match &request.content {
            EmailContent::Template {
                template,
                language,
                data,
            } => {
                let template = TemplateName::from_str(template)?;
                let language = Language::from_str(language)?;
                let rendered = self.templates.render(template, language, data)?;
                let email = OutgoingEmail {
                    to,
                    subject: rendered.subject,
                    text: rendered.text,
                    html: Some(rendered.html),
                    language: Some(language.tag()),
                    message_id,
                };
                Ok(PreparedEmail {
                    email,
                    template: Some(template),
                    language: Some(language),
                })
            }
            EmailContent::Plain { subject, body } => {
                let subject = templates::one_line(subject);
                let field = |field: &str, reason: &str| EmailError::InvalidField {
                    field: field.into(),
                    reason: reason.into(),
                };
                if subject.is_empty() {
                    return Err(field("subject", "must not be empty"));
                }
                if subject.chars().count() > MAX_SUBJECT_CHARS {
                    return Err(field(
                        "subject",
                        &format!("longer than {MAX_SUBJECT_CHARS} characters"),
                    ));
                }
                if body.trim().is_empty() {
                    return Err(field("body", "must not be empty"));
                }
                if body.chars().count() > MAX_BODY_CHARS {
                    return Err(field(
                        "body",
                        &format!("longer than {MAX_BODY_CHARS} characters"),
                    ));
                }
                let email = OutgoingEmail {
                    to,
                    subject,
                    text: body.clone(),
                    html: None,
                    language: None,
                    message_id,
                };
                Ok(PreparedEmail {
                    email,
                    template: None,
                    language: None,
                })
            }
        }
    }

    /// Sends one email: validate, render, deliver with retries, log every attempt.
    pub async fn send(&self, request: &EmailRequest) -> Result<EmailReceipt, EmailError> {
        let prepared = self.prepare(request)?;
        self.deliver(&prepared, &request.request_id).await
    }

    /// Delivers a prepared email with retries; every attempt goes into the integration log.
    pub async fn deliver(
        &self,
        prepared: &PreparedEmail,
        request_id: &str,
    ) -> Result<EmailReceipt, EmailError> {
        let email = &prepared.email;
        let operation = if prepared.template.is_some() {
            "send_template"
        } else {
            "send_plain"
        };
        let target = mask_email(email.to.as_ref());
        let delivery = self.mailer.delivery();
        let first_started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = self.mailer.send(email).await;
            let mut record = CallRecord::new(SLUG, operation, request_id);
            record.latency = started.elapsed();
            record.target = Some(target.clone());
            record.reference = Some(email.message_id.clone());
            match result {
                Ok(_) => {
                    record.outcome = if delivery == Delivery::Console {
                        Outcome::Fallback
                    } else {
                        Outcome::Success
                    };
                    self.log.record(&record).await;
                    return Ok(EmailReceipt {
                        message_id: email.message_id.clone(),
                        delivery,
                        to: target,
                        template: prepared.template,
                        language: prepared.language,
                        attempts: attempt,
                        sent_at: crate::integration_log::rfc3339(time::OffsetDateTime::now_utc()),
                    });
                }
                Err(e) => {
                    record.outcome = Outcome::Failure;
                    record.error_code = Some(e.code.clone());
                    self.log.record(&record).await;
                    let pause = self.retry.base_delay * 4u32.saturating_pow(attempt - 1);
                    let in_budget = first_started.elapsed() + pause < self.retry.budget;
                    if !e.is_retryable() || attempt >= self.retry.max_attempts || !in_budget {
                        tracing::warn!(to = %target, attempts = attempt, code = %e.code, "email not sent");
                        return Err(EmailError::Provider(e));
                    }
                    tracing::info!(to = %target, attempt, code = %e.code, pause_ms = pause.as_millis() as u64, "temporary SMTP failure; retrying");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}
