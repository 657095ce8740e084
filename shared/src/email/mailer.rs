//! Where an email goes: the [`Mailer`] trait, its SMTP implementation ([`SmtpMailer`], lettre
//! on tokio with rustls) and the console fallback ([`ConsoleMailer`]) used when SMTP is not
//! configured.
//!
//! A mailer makes ONE attempt; retries, backoff and the integration log live in
//! [`super::EmailService`], so every mailer gets the same policy.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::mask::mask_email;
use crate::providers::smtp::{SLUG, SmtpSettings};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::secrets::{CredentialStore, Credentials};

/// How an email left the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Accepted by the SMTP server.
    Smtp,
    /// SMTP is not configured and the deployment allows the fallback (`EMAIL_FALLBACK`, or
    /// the local stage): logged (address masked, no content) instead of sent.
    Console,
    /// SMTP is not configured and no fallback is allowed: sends answer 503
    /// `email_not_configured`.
    NotConfigured,
}

/// The code of a mailer error that means the SMTP credentials could not be READ (Secrets
/// Manager failed): nothing was sent; the service answers it as `dependency_unavailable`.
pub const SECRET_UNAVAILABLE: &str = "smtp_secret_unavailable";

/// A message ready to go: validated recipient, rendered parts.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub to: Address,
    pub subject: String,
    pub text: String,
    /// With an HTML part the message is `multipart/alternative` (text first, HTML preferred).
    pub html: Option<String>,
    /// `Content-Language` (a BCP 47 tag such as `fa`).
    pub language: Option<&'static str>,
    /// Our `Message-ID`, without angle brackets.
    pub message_id: String,
}

/// One attempt at delivering one message.
pub trait Mailer: Send + Sync {
    fn delivery(&self) -> Delivery;
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), ProviderError>>;
}

/// `Content-Language`, which lettre has no typed header for.
#[derive(Debug, Clone)]
struct ContentLanguage(String);

impl Header for ContentLanguage {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Builds the MIME message (lettre picks quoted-printable or base64 per part, and encodes a
/// non-ASCII subject per RFC 2047).
pub fn build_message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, ProviderError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, email.to.clone()))
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)))
        .date_now();
    if let Some(lang) = email.language {
        builder = builder.header(ContentLanguage(lang.to_string()));
    }
    let built = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone()),
    };
    built.map_err(|e| {
        ProviderError::new(
            SLUG,
            ProviderErrorKind::InvalidRequest,
            "smtp_message_invalid",
            format!("the message could not be built: {e}"),
        )
    })
}

/// Sorts an SMTP failure into the hub's provider error kinds. The server's reply text is
/// left out on purpose: it often quotes the recipient's address.
pub fn classify(e: &SmtpError) -> ProviderError {
    let err = |kind, code: String, message: String| ProviderError::new(SLUG, kind, code, message);
    if let Some(code) = e.status() {
        let n = u16::from(code);
        let code_str = format!("smtp_{n}");
        return if e.is_transient() {
            err(
                ProviderErrorKind::Unavailable,
                code_str,
                format!("the server answered {n} (temporary failure)"),
            )
        } else if matches!(n, 530 | 534 | 535 | 538) {
            err(
                ProviderErrorKind::Credentials,
                code_str,
                format!("the server refused the login ({n})"),
            )
        } else {
            err(
                ProviderErrorKind::InvalidRequest,
                code_str,
                format!("the server refused the message ({n}, permanent)"),
            )
        };
    }
    if e.is_timeout() {
        err(
            ProviderErrorKind::Timeout,
            "smtp_timeout".into(),
            "the SMTP server did not answer in time".into(),
        )
    } else if e.is_tls() {
        err(
            ProviderErrorKind::Unavailable,
            "smtp_tls".into(),
            "the TLS handshake with the SMTP server failed".into(),
        )
    } else if e.is_client() {
        err(
            ProviderErrorKind::Malformed,
            "smtp_client_error".into(),
            "the SMTP session could not proceed (unsupported server features)".into(),
        )
    } else {
        err(
            ProviderErrorKind::Unavailable,
            "smtp_unreachable".into(),
            "the SMTP server could not be reached".into(),
        )
    }
}

struct CachedTransport {
    credentials: Option<Arc<Credentials>>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// SMTP through one pooled lettre transport, built on first use and kept for the life of the
/// Lambda instance. The password is the `smtp` provider secret's `password` (read through the
/// credential store's cache); when the server refuses the login the secret is read once more
/// and, if it changed, the transport is rebuilt and the message sent again.
pub struct SmtpMailer {
    settings: SmtpSettings,
    from: Mailbox,
    credentials: Arc<CredentialStore>,
    transport: Mutex<Option<CachedTransport>>,
}

impl SmtpMailer {
    pub fn new(settings: SmtpSettings, from: Mailbox, credentials: Arc<CredentialStore>) -> Self {
        Self {
            settings,
            from,
            credentials,
            transport: Mutex::new(None),
        }
    }

    /// The cached transport if it was built with these credentials, else a new one.
    fn transport(
        &self,
        credentials: Option<Arc<Credentials>>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, ProviderError> {
        let mut cached = self
            .transport
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = cached.as_ref()
            && c.credentials == credentials
        {
            return Ok(c.transport.clone());
        }
        let password = credentials.as_deref().and_then(|c| c.get("password"));
        let user = self
            .settings
            .login(credentials.as_deref().and_then(|c| c.get("username")));
        let transport = self.settings.transport_for(user, password).map_err(|_| {
            ProviderError::new(
                SLUG,
                ProviderErrorKind::InvalidRequest,
                "smtp_settings",
                "SMTP_HOST is not a valid host name",
            )
        })?;
        *cached = Some(CachedTransport {
            credentials,
            transport: transport.clone(),
        });
        Ok(transport)
    }

    async fn send_with(
        &self,
        credentials: Option<Arc<Credentials>>,
        message: &Message,
    ) -> Result<(), ProviderError> {
        let transport = self.transport(credentials)?;
        match transport.send(message.clone()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let classified = classify(&e);
                tracing::warn!(error = %classified, debug = ?e.status(), "SMTP attempt failed");
                Err(classified)
            }
        }
    }
}

impl Mailer for SmtpMailer {
    fn delivery(&self) -> Delivery {
        Delivery::Smtp
    }

    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let message = build_message(&self.from, email)?;
            let outcome = self
                .credentials
                .with_credentials(SLUG, |creds| {
                    let message = &message;
                    async move { self.send_with(Some(creds), message).await }
                })
                .await;
            match outcome {
                Ok(Some(result)) => result,
                // No secret (or an empty one): a server that needs no login, like the local sink.
                Ok(None) => self.send_with(None, &message).await,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the smtp secret");
                    Err(ProviderError::new(
                        SLUG,
                        ProviderErrorKind::Unavailable,
                        SECRET_UNAVAILABLE,
                        "the SMTP credentials could not be read",
                    ))
                }
            }
        })
    }
}

/// The fallback when SMTP is not configured (the seed's "Email: Logs no console"): logs that
/// an email would have been sent, with the address masked and neither subject nor body
/// (they can carry personal or medical details).
#[derive(Debug, Default)]
pub struct ConsoleMailer;

impl Mailer for ConsoleMailer {
    fn delivery(&self) -> Delivery {
        Delivery::Console
    }

    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            tracing::info!(
                to = %mask_email(email.to.as_ref()),
                message_id = %email.message_id,
                language = email.language.unwrap_or("-"),
                parts = if email.html.is_some() { "text+html" } else { "text" },
                text_chars = email.text.chars().count(),
                "email not sent: SMTP is not configured (console fallback)"
            );
            Ok(())
        })
    }
}

/// Parses a recipient: a bare address (`user@example.com`), nothing else.
pub fn parse_address(raw: &str) -> Result<Address, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.len() > 254 {
        return Err("longer than 254 characters".into());
    }
    let address = Address::from_str(trimmed)
        .map_err(|_| "is not an email address (expected user@example.com)".to_string())?;
    // lettre accepts dotless domains and IP literals; mail to those from a hosted service is
    // a typo or an attempt to reach internal hosts.
    let domain = address.domain();
    if !domain.contains('.') || domain.starts_with('[') || domain.ends_with('.') {
        return Err("the domain must be a public host name such as example.com".into());
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert!(parse_address("patient@example.com").is_ok());
        assert!(parse_address(" patient@example.com ").is_ok());
        assert!(parse_address("patient").is_err());
        assert!(parse_address("a@localhost").is_err());
        assert!(parse_address("a@[127.0.0.1]").is_err());
        assert!(parse_address("a@b.com\r\nBcc: x@y.com").is_err());
        assert!(parse_address("").is_err());
    }

    #[test]
    fn message_is_multipart_alternative_with_language() {
        let from: Mailbox = "Hub <noreply@example.com>".parse().unwrap();
        let email = OutgoingEmail {
            to: "p@example.com".parse().unwrap(),
            subject: "یادآوری".into(),
            text: "متن".into(),
            html: Some("<p>متن</p>".into()),
            language: Some("fa"),
            message_id: "abc@example.com".into(),
        };
        let raw = String::from_utf8(build_message(&from, &email).unwrap().formatted()).unwrap();
        assert!(raw.contains("Content-Language: fa"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("Message-ID: <abc@example.com>"), "{raw}");
    }
}
