//! The SMS providers behind one trait: Kavenegar, Twilio and the console fallback.
//!
//! Each provider call goes through [`attempt_logged`]: one integration-log entry per HTTP
//! attempt (masked target, provider message id as reference), retried with backoff only when
//! the provider says the error is retryable (throttling, 5xx). A send that timed out is not
//! retried on the same provider (it may have gone out); the router may still fail it over.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::Value;

use super::{Phone, SmsConfig, SmsContent, SmsStatus};
use crate::context::HubContext;
use crate::integration_log::{CallRecord, Outcome};
use crate::providers::{ProviderError, ProviderErrorKind, kavenegar, twilio};
use crate::secrets::Credentials;

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

/// The masked target of a call: one number, or how many.
fn target_of(items: &[Outgoing]) -> String {
    match items {
        [one] => one.phone.masked(),
        many => format!("{} receptors", many.len()),
    }
}

/// Runs one provider operation with retries, logging every attempt.
#[allow(clippy::too_many_arguments)] // each is one fact of the log entry; a struct would only rename them
async fn attempt_logged<T, F, Fut>(
    ctx: &HubContext,
    config: &SmsConfig,
    provider: &str,
    operation: &str,
    request_id: &str,
    target: &str,
    reference: impl Fn(&T) -> Option<String>,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    // A send that timed out may have gone out: retrying it could deliver the SMS twice, so
    // only reads (status) retry timeouts. Throttling and 5xx answers mean nothing was sent.
    let is_read = matches!(operation, "sms/status" | "messages.fetch");
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        let result = call().await;
        let mut rec = CallRecord::new(provider, operation, request_id);
        rec.latency = started.elapsed();
        rec.target = Some(target.to_string());
        match &result {
            Ok(v) => rec.reference = reference(v),
            Err(e) => {
                rec.outcome = Outcome::Failure;
                rec.error_code = Some(e.code.clone());
            }
        }
        ctx.log.record(&rec).await;
        match result {
            Err(e)
                if e.is_retryable()
                    && (is_read || e.kind != ProviderErrorKind::Timeout)
                    && attempt + 1 < config.retry.max_attempts =>
            {
                let wait = config.retry.delay(attempt, e.retry_after);
                tracing::warn!(provider, operation, code = %e.code, wait_ms = wait.as_millis() as u64, "retryable provider error; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
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

fn missing(slug: &str, field: &str) -> ProviderError {
    ProviderError::new(
        slug,
        ProviderErrorKind::Credentials,
        format!("{slug}_missing_{field}"),
        format!("the credential secret lacks {field}"),
    )
}

/// The provider's base URL and whether it is enabled, from the (cached) catalog.
async fn base_url(ctx: &HubContext, slug: &str) -> Result<Option<String>, ProviderError> {
    match ctx.catalog.get(slug).await {
        Ok(Some(info)) if info.enabled => Ok(ctx.catalog.base_url(&info)),
        Ok(_) => Ok(None),
        Err(_) => Err(ProviderError::new(
            slug,
            ProviderErrorKind::Unavailable,
            format!("{slug}_catalog_unavailable"),
            "the provider catalog could not be read",
        )),
    }
}

/// Runs `call` with the provider's credentials (refreshed once if the provider rejects them).
async fn with_creds<T, F, Fut>(ctx: &HubContext, slug: &str, call: F) -> Result<T, ProviderError>
where
    F: FnMut(Arc<Credentials>) -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    match ctx.credentials.with_credentials(slug, call).await {
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

// ------------------------------------------------------------------------------ Kavenegar

pub struct KavenegarSms {
    ctx: Arc<HubContext>,
    config: Arc<SmsConfig>,
}

impl KavenegarSms {
    pub fn new(ctx: Arc<HubContext>, config: Arc<SmsConfig>) -> Self {
        Self { ctx, config }
    }

    /// One Kavenegar method, with credentials, retries and logging.
    async fn call(
        &self,
        request_id: &str,
        path: &str,
        target: &str,
        form: &[(&'static str, String)],
    ) -> Result<kavenegar::Envelope, ProviderError> {
        let base = base_url(&self.ctx, kavenegar::SLUG)
            .await?
            .ok_or_else(|| not_configured(kavenegar::SLUG))?;
        let ctx = &self.ctx;
        attempt_logged(
            ctx,
            &self.config,
            kavenegar::SLUG,
            path,
            request_id,
            target,
            |env: &kavenegar::Envelope| {
                let ids: Vec<String> = kavenegar::entries(env)
                    .ok()?
                    .iter()
                    .take(3)
                    .map(|e| e.message_id())
                    .collect();
                (!ids.is_empty()).then(|| ids.join(","))
            },
            || {
                let base = base.clone();
                async move {
                    with_creds(ctx, kavenegar::SLUG, |c| {
                        let base = base.clone();
                        async move {
                            let key = c
                                .get("api_key")
                                .ok_or_else(|| missing(kavenegar::SLUG, "api_key"))?;
                            let mut form = form.to_vec();
                            if let Some(sender) = c.get("sender") {
                                if path == "sms/send" {
                                    form.push(("sender", sender.to_string()));
                                } else if path == "sms/sendarray" {
                                    let n = form
                                        .iter()
                                        .find(|(k, _)| *k == "receptor")
                                        .and_then(|(_, v)| {
                                            serde_json::from_str::<Vec<String>>(v).ok()
                                        })
                                        .map_or(0, |v| v.len());
                                    form.push((
                                        "sender",
                                        serde_json::to_string(&vec![sender; n]).unwrap_or_default(),
                                    ));
                                }
                            }
                            kavenegar::call(&ctx.http, &base, key, path, &form).await
                        }
                    })
                    .await
                }
            },
        )
        .await
    }

    fn accepted(entry: &kavenegar::Entry) -> Accepted {
        Accepted {
            provider_message_id: Some(entry.message_id()),
            status: entry
                .status
                .map(SmsStatus::from_kavenegar)
                .unwrap_or(SmsStatus::Queued),
            provider_status: entry.status.map(|s| s.to_string()),
        }
    }

    /// Matches entries to items: Kavenegar answers in request order; the receptor is checked
    /// when present so a short answer cannot shift results onto the wrong numbers.
    fn match_entries(items: &[Outgoing], entries: &[kavenegar::Entry]) -> Vec<ItemResult> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let form = item.phone.kavenegar();
                let entry = entries
                    .get(i)
                    .filter(|e| {
                        e.receptor.as_deref().is_none_or(|r| {
                            r == form || r == item.phone.e164().trim_start_matches('+')
                        })
                    })
                    .or_else(|| {
                        entries
                            .iter()
                            .find(|e| e.receptor.as_deref() == Some(form.as_str()))
                    });
                match entry {
                    Some(e) => Ok(Self::accepted(e)),
                    None => Err(ProviderError::new(
                        kavenegar::SLUG,
                        ProviderErrorKind::Malformed,
                        "kavenegar_missing_entry",
                        "the answer has no entry for this receptor",
                    )),
                }
            })
            .collect()
    }

    async fn send_texts(
        &self,
        request_id: &str,
        items: &[Outgoing],
    ) -> Result<Vec<ItemResult>, ProviderError> {
        let mut results = Vec::with_capacity(items.len());
        for part in items.chunks(kavenegar::MAX_RECEPTORS_PER_CALL) {
            let receptors: Vec<String> = part.iter().map(|i| i.phone.kavenegar()).collect();
            let texts: Vec<&str> = part
                .iter()
                .map(|i| match i.content.as_ref() {
                    SmsContent::Text { message } => message.as_str(),
                    _ => "",
                })
                .collect();
            let same = texts.windows(2).all(|w| w[0] == w[1]);
            let (path, form) = if same {
                ("sms/send", kavenegar::send_form(&receptors, None, texts[0]))
            } else {
                (
                    "sms/sendarray",
                    kavenegar::sendarray_form(&receptors, None, &texts),
                )
            };
            let env = self.call(request_id, path, &target_of(part), &form).await?;
            results.extend(Self::match_entries(part, &kavenegar::entries(&env)?));
        }
        Ok(results)
    }

    async fn lookup(&self, request_id: &str, item: &Outgoing) -> ItemResult {
        let template = item.content.template().unwrap_or_default();
        let form =
            kavenegar::lookup_form(&item.phone.kavenegar(), template, &item.content.tokens());
        let env = self
            .call(request_id, "verify/lookup", &item.phone.masked(), &form)
            .await?;
        Self::match_entries(std::slice::from_ref(item), &kavenegar::entries(&env)?).remove(0)
    }
}

impl SmsProvider for KavenegarSms {
    fn slug(&self) -> &'static str {
        kavenegar::SLUG
    }

    fn is_configured(&self) -> BoxFuture<'_, bool> {
        async move {
            matches!(base_url(&self.ctx, kavenegar::SLUG).await, Ok(Some(_)))
                && matches!(self.ctx.credentials.get(kavenegar::SLUG).await, Ok(Some(c)) if c.get("api_key").is_some())
        }
        .boxed()
    }

    fn send<'a>(
        &'a self,
        request_id: &'a str,
        items: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<Vec<ItemResult>, ProviderError>> {
        async move {
            if items
                .iter()
                .all(|i| matches!(i.content.as_ref(), SmsContent::Text { .. }))
            {
                return self.send_texts(request_id, items).await;
            }
            // verify/lookup takes one receptor per call.
            // Collected first: a lazy `map` over borrowed items trips the Send check of `boxed`.
            let calls: Vec<BoxFuture<'_, ItemResult>> = items
                .iter()
                .map(|item| self.lookup(request_id, item).boxed())
                .collect();
            let results: Vec<ItemResult> = futures::stream::iter(calls)
                .buffered(self.config.twilio_concurrency)
                .collect()
                .await;
            if results.iter().all(|r| r.is_err())
                && let Some(Err(first)) = results.first()
            {
                return Err(first.clone());
            }
            Ok(results)
        }
        .boxed()
    }

    fn fetch_status<'a>(
        &'a self,
        request_id: &'a str,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        async move {
            let form = [("messageid", provider_message_id.to_string())];
            let env = self
                .call(request_id, "sms/status", provider_message_id, &form)
                .await?;
            let entries = kavenegar::entries(&env)?;
            entries.first().map(Self::accepted).ok_or_else(|| {
                ProviderError::new(
                    kavenegar::SLUG,
                    ProviderErrorKind::Malformed,
                    "kavenegar_missing_entry",
                    "no status entry",
                )
            })
        }
        .boxed()
    }
}

// --------------------------------------------------------------------------------- Twilio

pub struct TwilioSms {
    ctx: Arc<HubContext>,
    config: Arc<SmsConfig>,
}

impl TwilioSms {
    pub fn new(ctx: Arc<HubContext>, config: Arc<SmsConfig>) -> Self {
        Self { ctx, config }
    }

    fn accepted(v: &Value) -> Result<Accepted, ProviderError> {
        let sid = v.get("sid").and_then(Value::as_str).ok_or_else(|| {
            ProviderError::new(
                twilio::SLUG,
                ProviderErrorKind::Malformed,
                "twilio_malformed",
                "no sid in the answer",
            )
        })?;
        let status = v.get("status").and_then(Value::as_str).unwrap_or("queued");
        Ok(Accepted {
            provider_message_id: Some(sid.to_string()),
            status: SmsStatus::from_twilio(status),
            provider_status: Some(status.to_string()),
        })
    }

    async fn send_one(&self, request_id: &str, item: &Outgoing, base: &str) -> ItemResult {
        let body = self.config.render(&item.content).ok_or_else(|| {
            ProviderError::new(
                twilio::SLUG,
                ProviderErrorKind::InvalidRequest,
                "sms_template_not_found",
                "no local template with this name for Twilio (SMS_TEMPLATES)",
            )
        })?;
        let callback = self
            .config
            .callback_base_url
            .as_ref()
            .map(|b| format!("{b}/api/integrations/sms/callbacks/twilio"));
        let ctx = &self.ctx;
        let answer = attempt_logged(
            ctx,
            &self.config,
            twilio::SLUG,
            "messages.create",
            request_id,
            &item.phone.masked(),
            |v: &Value| v.get("sid").and_then(Value::as_str).map(str::to_string),
            || {
                with_creds(ctx, twilio::SLUG, |c| {
                    let body = body.clone();
                    let callback = callback.clone();
                    async move {
                        let sid = c
                            .get("account_sid")
                            .ok_or_else(|| missing(twilio::SLUG, "account_sid"))?;
                        let token = c
                            .get("auth_token")
                            .ok_or_else(|| missing(twilio::SLUG, "auth_token"))?;
                        let from = c
                            .get("messaging_service_sid")
                            .or_else(|| c.get("from_number"))
                            .ok_or_else(|| missing(twilio::SLUG, "from_number"))?;
                        let form = twilio::message_form(
                            item.phone.e164(),
                            from,
                            &body,
                            callback.as_deref(),
                        );
                        twilio::create_message(&ctx.http, base, sid, token, &form).await
                    }
                })
            },
        )
        .await?;
        Self::accepted(&answer)
    }
}

impl SmsProvider for TwilioSms {
    fn slug(&self) -> &'static str {
        twilio::SLUG
    }

    fn is_configured(&self) -> BoxFuture<'_, bool> {
        async move {
            matches!(base_url(&self.ctx, twilio::SLUG).await, Ok(Some(_)))
                && matches!(self.ctx.credentials.get(twilio::SLUG).await, Ok(Some(c))
                    if c.get("account_sid").is_some() && c.get("auth_token").is_some()
                        && (c.get("from_number").is_some() || c.get("messaging_service_sid").is_some()))
        }
        .boxed()
    }

    fn send<'a>(
        &'a self,
        request_id: &'a str,
        items: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<Vec<ItemResult>, ProviderError>> {
        async move {
            let base = base_url(&self.ctx, twilio::SLUG)
                .await?
                .ok_or_else(|| not_configured(twilio::SLUG))?;
            // One request per message (Twilio has no multi-receptor send), a few at a time.
            let base = &base;
            let calls: Vec<BoxFuture<'_, ItemResult>> = items
                .iter()
                .map(|item| self.send_one(request_id, item, base).boxed())
                .collect();
            let results: Vec<ItemResult> = futures::stream::iter(calls)
                .buffered(self.config.twilio_concurrency)
                .collect()
                .await;
            Ok(results)
        }
        .boxed()
    }

    fn fetch_status<'a>(
        &'a self,
        request_id: &'a str,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        async move {
            let base = base_url(&self.ctx, twilio::SLUG)
                .await?
                .ok_or_else(|| not_configured(twilio::SLUG))?;
            let ctx = &self.ctx;
            let base = &base;
            let answer = attempt_logged(
                ctx,
                &self.config,
                twilio::SLUG,
                "messages.fetch",
                request_id,
                provider_message_id,
                |_| Some(provider_message_id.to_string()),
                || {
                    with_creds(ctx, twilio::SLUG, |c| async move {
                        let sid = c
                            .get("account_sid")
                            .ok_or_else(|| missing(twilio::SLUG, "account_sid"))?;
                        let token = c
                            .get("auth_token")
                            .ok_or_else(|| missing(twilio::SLUG, "auth_token"))?;
                        twilio::fetch_message(&ctx.http, base, sid, token, provider_message_id)
                            .await
                    })
                },
            )
            .await?;
            Self::accepted(&answer)
        }
        .boxed()
    }
}

// -------------------------------------------------------------------------------- Console

/// The fallback when no SMS provider is configured (seed 2: "SMS: logs no console"): logs
/// the masked number and the message type, never the body or the token.
pub struct ConsoleSms {
    ctx: Arc<HubContext>,
}

pub const CONSOLE_SLUG: &str = "console";

impl ConsoleSms {
    pub fn new(ctx: Arc<HubContext>) -> Self {
        Self { ctx }
    }
}

impl SmsProvider for ConsoleSms {
    fn slug(&self) -> &'static str {
        CONSOLE_SLUG
    }

    fn is_configured(&self) -> BoxFuture<'_, bool> {
        async { true }.boxed()
    }

    fn send<'a>(
        &'a self,
        request_id: &'a str,
        items: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<Vec<ItemResult>, ProviderError>> {
        async move {
            for item in items {
                tracing::info!(
                    receptor = %item.phone.masked(),
                    message_type = item.content.message_type().as_str(),
                    template = item.content.template().unwrap_or(""),
                    "SMS (console fallback: no SMS provider is configured)"
                );
            }
            let mut rec = CallRecord::new(CONSOLE_SLUG, "send", request_id);
            rec.outcome = Outcome::Fallback;
            rec.target = Some(target_of(items));
            self.ctx.log.record(&rec).await;
            Ok(items
                .iter()
                .map(|_| {
                    Ok(Accepted {
                        provider_message_id: None,
                        status: SmsStatus::Sent,
                        provider_status: Some("logged".into()),
                    })
                })
                .collect())
        }
        .boxed()
    }

    fn fetch_status<'a>(
        &'a self,
        _request_id: &'a str,
        _id: &'a str,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        async {
            Err(ProviderError::new(
                CONSOLE_SLUG,
                ProviderErrorKind::InvalidRequest,
                "console_no_status",
                "the console fallback has no status to fetch",
            ))
        }
        .boxed()
    }
}
