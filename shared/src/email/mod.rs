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
//!   invocations); else, where the deployment allows it (`EMAIL_FALLBACK=log`, or the local
//!   stage when unset), [`ConsoleMailer`] (logged, address masked, receipt status `fallback`,
//!   never `sent`); else no mailer: sends answer 503 `email_not_configured`.
//! - SMTP credentials that cannot be READ (Secrets Manager failing) are not "no password":
//!   the send stops before SMTP and answers 503 `dependency_unavailable` with `Retry-After`.
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

pub mod error;
pub mod mailer;
pub mod model;
pub mod schema;
pub mod templates;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;

pub use error::EmailError;
pub use mailer::{ConsoleMailer, Delivery, Mailer, OutgoingEmail, SmtpMailer, parse_address};
pub use model::{
    EmailContent, EmailReceipt, EmailRequest, EmailStatus, SendEmailBody, TemplateInfo,
    TemplateList,
};
pub use templates::{Language, RenderedEmail, TemplateCatalog, TemplateName};

use crate::clock::now_rfc3339;
use crate::config::{ConfigError, Env};
use crate::error::InvalidInput;
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::mask::mask_email;
use crate::providers::smtp::{SLUG, SmtpSettings};
use crate::retry::RetryPolicy;
use crate::secrets::CredentialStore;
use crate::subscriptions::EventPublisher;

/// Announced when the SMTP server accepted a message (never for the console fallback).
pub const EVENT_SENT: &str = "email.sent";
/// Announced when a message was refused for good (permanent reply, or retries spent).
pub const EVENT_FAILED: &str = "email.failed";

/// Longest plain subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Longest plain body, in characters.
pub const MAX_BODY_CHARS: usize = 100_000;

/// A validated, rendered email ready for [`EmailService::deliver`].
#[derive(Debug, Clone)]
pub struct PreparedEmail {
    pub email: OutgoingEmail,
    pub template: Option<TemplateName>,
    pub language: Option<Language>,
}

/// Settings read once at cold start.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// `SMTP_HOST` and friends; `None`: the console fallback.
    pub smtp: Option<SmtpSettings>,
    /// `FROM_EMAIL`, parsed (with SMTP only).
    pub from: Option<Mailbox>,
    /// Domain of our `Message-ID`s (the sender's domain).
    pub id_domain: String,
    /// Temporary failures: `EMAIL_MAX_ATTEMPTS` (1-5, default 3) attempts, the first pause
    /// `EMAIL_RETRY_BASE_MS` (default 250), doubled each retry with jitter.
    pub retry: RetryPolicy,
    /// No new attempt starts after this much time has passed since the first: with the 10 s
    /// SMTP timeout per attempt, starting none after 15 s keeps a send under the API's 29 s.
    pub budget: Duration,
    /// Without SMTP, whether emails may be logged instead (`EMAIL_FALLBACK=log`; unset: the
    /// local stage only). See [`crate::fallback`].
    pub console_fallback: bool,
}

impl EmailConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_attempts: u32 = env.parse_or("EMAIL_MAX_ATTEMPTS", 3)?;
        if !(1..=5).contains(&max_attempts) {
            return Err(ConfigError::Invalid {
                name: "EMAIL_MAX_ATTEMPTS".into(),
                reason: "must be between 1 and 5".into(),
            });
        }
        let budget = Duration::from_secs(15);
        let retry = RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(env.parse_or("EMAIL_RETRY_BASE_MS", 250u64)?),
            max_delay: budget,
        };
        let smtp = SmtpSettings::from_env(env)?;
        let from = match &smtp {
            Some(settings) => Some(Mailbox::from_str(&settings.from_email).map_err(|_| ConfigError::Invalid {
                name: "FROM_EMAIL".into(),
                reason: "expected an address such as noreply@example.com or `Name <noreply@example.com>`".into(),
            })?),
            None => None,
        };
        let id_domain = env
            .optional("FROM_EMAIL")
            .and_then(|f| Mailbox::from_str(&f).ok())
            .map(|m| m.email.domain().to_string())
            .unwrap_or_else(|| "integrations-hub.local".into());
        Ok(Self {
            smtp,
            from,
            id_domain,
            retry,
            budget,
            console_fallback: crate::fallback::allowed(env, "EMAIL_FALLBACK", &["log", "console"])?,
        })
    }
}

/// Sends email. Built once per cold start and shared.
pub struct EmailService {
    /// `None`: SMTP is not configured and no fallback is allowed.
    mailer: Option<Arc<dyn Mailer>>,
    templates: Arc<TemplateCatalog>,
    log: IntegrationLog,
    retry: RetryPolicy,
    budget: Duration,
    /// Domain of our `Message-ID`s (the sender's domain).
    id_domain: String,
    /// Where `email.sent` / `email.failed` are announced; `None`: nowhere.
    events: Option<EventPublisher>,
}

impl std::fmt::Debug for EmailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailService")
            .field("delivery", &self.delivery())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EmailService {
    /// SMTP when the config has it (the password in the `smtp` secret, read through
    /// `credentials`), else the console fallback. Compiles the templates.
    pub fn from_config(
        config: EmailConfig,
        credentials: Arc<CredentialStore>,
        log: IntegrationLog,
    ) -> anyhow::Result<Self> {
        let templates = Arc::new(
            TemplateCatalog::new()
                .map_err(|e| anyhow::anyhow!("compiling the email templates: {e}"))?,
        );
        let mailer: Option<Arc<dyn Mailer>> = match (config.smtp, config.from) {
            (Some(settings), Some(from)) => {
                Some(Arc::new(SmtpMailer::new(settings, from, credentials)))
            }
            _ if config.console_fallback => {
                tracing::info!(
                    "SMTP_HOST is not set: emails are logged to the console (address masked) instead of sent"
                );
                Some(Arc::new(ConsoleMailer))
            }
            _ => {
                tracing::warn!(
                    "SMTP_HOST is not set and EMAIL_FALLBACK does not allow the console: sends answer 503"
                );
                None
            }
        };
        Ok(Self {
            mailer,
            templates,
            log,
            retry: config.retry,
            budget: config.budget,
            id_domain: config.id_domain,
            events: None,
        })
    }

    /// Announces `email.sent` (SMTP accepted it) and `email.failed` (refused for good)
    /// through `events`, keyed by the `Message-ID`.
    pub fn with_events(mut self, events: EventPublisher) -> Self {
        self.events = Some(events);
        self
    }

    /// The mail is sent (or definitely not): an announcement that fails is logged, never
    /// turned into an error that would have the caller send it again.
    async fn announce(&self, event: &str, prepared: &PreparedEmail, data: serde_json::Value) {
        let Some(events) = &self.events else {
            return;
        };
        let mut data = data;
        data["message_id"] = serde_json::json!(prepared.email.message_id);
        data["to"] = serde_json::json!(mask_email(prepared.email.to.as_ref()));
        if let Some(t) = prepared.template {
            data["template"] = serde_json::json!(t);
        }
        if let Some(l) = prepared.language {
            data["language"] = serde_json::json!(l);
        }
        events
            .announce_once(event, &prepared.email.message_id, data)
            .await;
    }

    pub fn delivery(&self) -> Delivery {
        self.mailer
            .as_ref()
            .map_or(Delivery::NotConfigured, |m| m.delivery())
    }

    /// Every template with its fields and languages, and how mail leaves.
    pub fn template_list(&self) -> TemplateList {
        let items = TemplateName::ALL
            .into_iter()
            .map(|t| TemplateInfo {
                name: t,
                required_fields: t.required_fields().to_vec(),
                optional_fields: t.optional_fields().to_vec(),
                languages: Language::ALL.to_vec(),
            })
            .collect();
        TemplateList {
            items,
            delivery: self.delivery(),
        }
    }

    /// Validates and renders without sending (no I/O): the HTTP function calls it before
    /// claiming an idempotency key or quota, so bad input costs neither.
    pub fn prepare(&self, request: &EmailRequest) -> Result<PreparedEmail, EmailError> {
        let to = parse_address(&request.to).map_err(|reason| InvalidInput::field("to", reason))?;
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
                let field = |field: &str, reason: &str| {
                    EmailError::from(InvalidInput::field(field, reason))
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
        let Some(mailer) = &self.mailer else {
            return Err(EmailError::NotConfigured);
        };
        let delivery = mailer.delivery();
        let first_started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = mailer.send(email).await;
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
                    if delivery != Delivery::Console {
                        self.announce(
                            EVENT_SENT,
                            prepared,
                            serde_json::json!({"attempts": attempt}),
                        )
                        .await;
                    }
                    return Ok(EmailReceipt {
                        status: if delivery == Delivery::Console {
                            EmailStatus::Fallback
                        } else {
                            EmailStatus::Sent
                        },
                        message_id: email.message_id.clone(),
                        delivery,
                        to: target,
                        template: prepared.template,
                        language: prepared.language,
                        attempts: attempt,
                        sent_at: now_rfc3339(),
                    });
                }
                Err(e) => {
                    record.outcome = Outcome::Failure;
                    record.error_code = Some(e.code.clone());
                    self.log.record(&record).await;
                    if e.code == mailer::SECRET_UNAVAILABLE {
                        // Nothing reached the server: not a mail failure, and not "no password".
                        return Err(EmailError::DependencyUnavailable);
                    }
                    let pause = self.retry.delay(attempt);
                    let in_budget = first_started.elapsed() + pause < self.budget;
                    if !e.is_retryable() || attempt >= self.retry.max_attempts || !in_budget {
                        tracing::warn!(to = %target, attempts = attempt, code = %e.code, "email not sent");
                        self.announce(
                            EVENT_FAILED,
                            prepared,
                            serde_json::json!({"attempts": attempt, "error_code": e.code}),
                        )
                        .await;
                        return Err(EmailError::Provider(e));
                    }
                    tracing::info!(to = %target, attempt, code = %e.code, pause_ms = pause.as_millis() as u64, "temporary SMTP failure; retrying");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}
