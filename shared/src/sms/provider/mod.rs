//! The SMS providers behind one trait: Kavenegar, Twilio and the console fallback.
//!
//! Each provider call goes through [`Adapter::attempt_logged`]: one integration-log entry per
//! HTTP attempt (masked target, provider message id as reference), retried with the one
//! retry policy ([`crate::retry`]) only when the provider says the error is retryable
//! (throttling, 5xx). A send that timed out is not retried on the same provider (it may have
//! gone out); the router may still fail it over.

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

    /// Whether it has the credentials it needs (and is enabled in the catalog).
    fn is_configured(&self) -> BoxFuture<'_, bool>;

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
        let is_read = matches!(self.operation, "sms/status" | "messages.fetch");
        e.is_retryable() && (is_read || e.kind != ProviderErrorKind::Timeout)
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
            Err(_) => Err(ProviderError::new(
                slug,
                ProviderErrorKind::Unavailable,
                format!("{slug}_catalog_unavailable"),
                "the provider catalog could not be read",
            )),
        }
    }

    /// The base URL, or the not-configured error.
    pub async fn require_base_url(&self, slug: &str) -> Result<String, ProviderError> {
        self.base_url(slug)
            .await?
            .ok_or_else(|| not_configured(slug))
    }

    /// Whether the provider is enabled and its credentials hold every field `has_fields`
    /// looks for.
    pub async fn is_configured(
        &self,
        slug: &str,
        has_fields: impl Fn(&Credentials) -> bool,
    ) -> bool {
        matches!(self.base_url(slug).await, Ok(Some(_)))
            && matches!(self.credentials.get(slug).await, Ok(Some(c)) if has_fields(&c))
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
            Err(e) => Err(ProviderError::new(
                slug,
                ProviderErrorKind::Unavailable,
                format!("{slug}_secret_unavailable"),
                e.to_string(),
            )),
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
