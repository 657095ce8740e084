//! The SMS providers behind one trait: Kavenegar, Twilio and the console fallback.
//!
//! Each provider call goes through [`Adapter::attempt_logged`]: one integration-log entry per
//! HTTP attempt (masked target, provider message id as reference), retried with the one
//! retry policy ([`crate::retry`]) only when the provider says the error is retryable
//! (throttling, 5xx). A send whose answer was lost (timeout, connection reset after the
//! write: [`ProviderError::is_ambiguous`]) may have gone out: it is never retried, and the
//! router never fails it over; it is `unknown` until [`SmsProvider::reconcile`] finds it.
//!
//! An error reading the catalog or the credentials is [`ProviderErrorKind::ConfigUnavailable`],
//! never "not configured": [`SmsProvider::is_configured`] answers it as an error, so a brief
//! Secrets Manager or DynamoDB outage cannot route messages to the console fallback.

mod console;
mod kavenegar;
mod twilio;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use super::{Phone, SmsContent, SmsStatus};
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::providers::{ProviderCatalog, ProviderError, ProviderErrorKind};
use crate::retry::RetryPolicy;
use crate::secrets::{CredentialStore, Credentials};

pub use console::{CONSOLE_SLUG, ConsoleSms};
pub use kavenegar::KavenegarSms;
pub use twilio::TwilioSms;

/// One message to one receptor. The content is shared by all receptors of a bulk text.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The hub's message id (single sends: a UUIDv7; bulk: `{batch_id}-{position}`): the
    /// providers that take a client reference get one derived from it (Kavenegar `localid`),
    /// so a repeat of the same message is recognised by the provider itself.
    pub message_id: String,
    pub phone: Phone,
    pub content: Arc<SmsContent>,
}

/// What a provider said about an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's id (Kavenegar `messageid`, Twilio `sid`); `None` for the console.
    pub provider_message_id: Option<String>,
    pub status: SmsStatus,
    /// The provider's own status word or code.
    pub provider_status: Option<String>,
}

pub type ItemResult = Result<Accepted, ProviderError>;

/// An SMS provider. `send` answers one result per item, in order; `Err` means the call as a
/// whole failed and nothing was sent.
pub trait SmsProvider: Send + Sync {
    fn slug(&self) -> &'static str;

    /// Whether it has the credentials it needs (and is enabled in the catalog). `Err` when
    /// the catalog or the credentials could not be read: unknown, not "not configured".
    fn is_configured(&self) -> BoxFuture<'_, Result<bool, ProviderError>>;

    fn send<'a>(
        &'a self,
        request_id: &'a str,
        items: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<Vec<ItemResult>, ProviderError>>;

    /// The provider's current status of a message it accepted.
    fn fetch_status<'a>(
        &'a self,
        request_id: &'a str,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>>;

    /// After a send whose answer was lost: what the provider knows of `item`, found by the
    /// hub's own reference (Kavenegar `sms/statuslocalmessageid` with the `localid`).
    /// `Ok(None)`: the provider cannot be asked (Twilio's Messages API takes no client
    /// reference) or does not know the message; it stays `unknown`.
    fn reconcile<'a>(
        &'a self,
        _request_id: &'a str,
        _item: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Option<Accepted>, ProviderError>> {
        Box::pin(async { Ok(None) })
    }
}

/// What every HTTP adapter uses: the pooled client, the catalog (base URLs, enabled), the
/// credentials, the integration log and the retry policy.
#[derive(Clone)]
pub struct Adapter {
    pub http: reqwest::Client,
    pub catalog: ProviderCatalog,
    pub credentials: Arc<CredentialStore>,
    pub log: IntegrationLog,
    pub retry: RetryPolicy,
}

/// One logged operation: who, what, for which request, to whom (masked).
pub struct Call<'a> {
    pub provider: &'static str,
    pub operation: &'static str,
    pub request_id: &'a str,
    pub target: &'a str,
}

impl Call<'_> {
    /// A send that timed out may have gone out: retrying it could deliver the SMS twice, so
    /// only reads (status) retry timeouts. Throttling and 5xx answers mean nothing was sent.
    fn retries(&self, e: &ProviderError) -> bool {
        let is_read = matches!(
            self.operation,
            "sms/status" | "sms/statuslocalmessageid" | "messages.fetch"
        );
        e.is_retryable() && (is_read || !e.is_ambiguous())
    }

    fn record<T>(
        &self,
        started: Instant,
        result: &Result<T, ProviderError>,
        reference: impl Fn(&T) -> Option<String>,
    ) -> CallRecord {
        let mut rec = CallRecord::new(self.provider, self.operation, self.request_id);
        rec.latency = started.elapsed();
        rec.target = Some(self.target.to_string());
        match result {
            Ok(v) => rec.reference = reference(v),
            Err(e) => {
                rec.outcome = Outcome::Failure;
                rec.error_code = Some(e.code.clone());
            }
        }
        rec
    }
}

impl Adapter {
    /// Runs one provider operation with retries, logging every attempt.
    pub async fn attempt_logged<T, F, Fut>(
        &self,
        call: &Call<'_>,
        reference: impl Fn(&T) -> Option<String>,
        mut attempt: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let reference = &reference;
        self.retry
            .run(
                || {
                    let started = Instant::now();
                    let fut = attempt();
                    async move {
                        let result = fut.await;
                        self.log.record(&call.record(started, &result, reference)).await;
                        result
                    }
                },
                |e| call.retries(e),
                |e| e.retry_after,
                |e, wait| {
                    tracing::warn!(provider = call.provider, operation = call.operation, code = %e.code, wait_ms = wait.as_millis() as u64, "retryable provider error; retrying")
                },
            )
            .await
    }

    /// The provider's base URL when it is enabled in the (cached) catalog.
    pub async fn base_url(&self, slug: &str) -> Result<Option<String>, ProviderError> {
        match self.catalog.get(slug).await {
            Ok(Some(info)) if info.enabled => Ok(self.catalog.base_url(&info)),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::warn!(provider = slug, error = %e, "the provider catalog could not be read");
                Err(ProviderError::config_unavailable(slug, "catalog"))
            }
        }
    }

    /// The base URL, or the not-configured error.
    pub async fn require_base_url(&self, slug: &str) -> Result<String, ProviderError> {
        self.base_url(slug)
            .await?
            .ok_or_else(|| not_configured(slug))
    }

    /// Whether the provider is enabled and its credentials hold every field `has_fields`
    /// looks for; `Err` when the catalog or the secret could not be read.
    pub async fn is_configured(
        &self,
        slug: &str,
        has_fields: impl Fn(&Credentials) -> bool,
    ) -> Result<bool, ProviderError> {
        if self.base_url(slug).await?.is_none() {
            return Ok(false);
        }
        match self.credentials.get(slug).await {
            Ok(c) => Ok(c.is_some_and(|c| has_fields(&c))),
            Err(e) => {
                tracing::warn!(provider = slug, error = %e, "the provider's credentials could not be read");
                Err(ProviderError::config_unavailable(slug, "secret"))
            }
        }
    }

    /// Runs `call` with the provider's credentials (refreshed once if the provider rejects
    /// them).
    pub async fn with_creds<T, F, Fut>(&self, slug: &str, call: F) -> Result<T, ProviderError>
    where
        F: FnMut(Arc<Credentials>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        match self.credentials.with_credentials(slug, call).await {
            Ok(Some(r)) => r,
            Ok(None) => Err(not_configured(slug)),
            Err(e) => {
                tracing::warn!(provider = slug, error = %e, "the provider's credentials could not be read");
                Err(ProviderError::config_unavailable(slug, "secret"))
            }
        }
    }
}

/// The masked target of a call: one number, or how many.
pub fn target_of(items: &[Outgoing]) -> String {
    match items {
        [one] => one.phone.masked(),
        many => format!("{} receptors", many.len()),
    }
}

fn not_configured(slug: &str) -> ProviderError {
    ProviderError::new(
        slug,
        ProviderErrorKind::Credentials,
        format!("{slug}_not_configured"),
        "no credentials are stored for this provider",
    )
}

/// A credential field, or the error naming it.
pub fn credential<'c>(
    c: &'c Credentials,
    slug: &str,
    field: &str,
) -> Result<&'c str, ProviderError> {
    c.get(field).ok_or_else(|| {
        ProviderError::new(
            slug,
            ProviderErrorKind::Credentials,
            format!("{slug}_missing_{field}"),
            format!("the credential secret lacks {field}"),
        )
    })
}

/// An answer that lacks what the hub needs.
pub fn malformed(slug: &str, code: &str, message: &str) -> ProviderError {
    ProviderError::new(slug, ProviderErrorKind::Malformed, code, message)
}
