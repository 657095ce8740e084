//! SMTP settings and transport (lettre on tokio with rustls).
//!
//! Port 465 uses implicit TLS, 587 (and any other port on a remote host) STARTTLS; plain
//! SMTP is only allowed to a loopback host, which is what the local SMTP sink is.

use lettre::AsyncSmtpTransport;
use lettre::Tokio1Executor;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;

use crate::config::{ConfigError, Env};

pub const SLUG: &str = "smtp";

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub from_email: String,
}

impl SmtpSettings {
    /// `None` when `SMTP_HOST` is unset: email then falls back to the console.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(host) = env.optional("SMTP_HOST") else {
            return Ok(None);
        };
        Ok(Some(Self {
            host,
            port: env.parse_or("SMTP_PORT", 587u16)?,
            user: env.optional("SMTP_USER"),
            from_email: env
                .optional("FROM_EMAIL")
                .unwrap_or_else(|| "noreply@integrations-hub.local".into()),
        }))
    }

    pub fn is_loopback(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "::1")
            || self.host.starts_with("127.")
    }

    /// Builds a pooled transport. `password` comes from the `smtp` provider secret.
    pub fn transport(
        &self,
        password: Option<&str>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
        self.transport_for(self.user.as_deref(), password)
    }

    /// The login: `SMTP_USER`, else the secret's `username` (the secret may carry both).
    pub fn login<'a>(&'a self, secret_username: Option<&'a str>) -> Option<&'a str> {
        self.user.as_deref().or(secret_username)
    }

    /// Builds a pooled transport logging in as `user` (when both user and password are given).
    ///
    /// The pool keeps a few idle connections for a minute: a warm Lambda sending the next
    /// email skips the TCP + TLS + EHLO + AUTH round trips. lettre checks an idle connection
    /// with NOOP before reusing it and opens a new one if the server dropped it while the
    /// function was frozen; a connection lost mid-send is retried by the email service.
    pub fn transport_for(
        &self,
        user: Option<&str>,
        password: Option<&str>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
        let mut builder = if self.is_loopback() {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
        } else if self.port == 465 {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host)?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host)?
        };
        builder = builder
            .port(self.port)
            .timeout(Some(std::time::Duration::from_secs(10)))
            .pool_config(
                PoolConfig::new()
                    .max_size(4)
                    .idle_timeout(std::time::Duration::from_secs(60)),
            );
        if let (Some(user), Some(pass)) = (user, password) {
            builder = builder.credentials(SmtpCredentials::new(user.to_string(), pass.to_string()));
        }
        Ok(builder.build())
    }
}
