//! Twilio: one `Messages.json` request per message (no multi-receptor send), a few at a time;
//! bodies of OTP/pattern messages are rendered from local templates.
//!
//! Twilio's Messages API has no idempotency key or client reference: a create whose answer
//! was lost cannot be looked up without the `sid` it would have returned, so such a message
//! stays `unknown` (never re-sent) unless a status callback settles it.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::Value;

use super::{Accepted, Adapter, Call, ItemResult, Outgoing, SmsProvider, credential, malformed};
use crate::providers::twilio::{self, SLUG};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::secrets::Credentials;
use crate::sms::{SmsConfig, SmsStatus};

pub struct TwilioSms {
    adapter: Adapter,
    config: Arc<SmsConfig>,
}

impl TwilioSms {
    pub fn new(adapter: Adapter, config: Arc<SmsConfig>) -> Self {
        Self { adapter, config }
    }

    async fn send_one(&self, request_id: &str, item: &Outgoing, base: &str) -> ItemResult {
        let body = self.config.render(&item.content).ok_or_else(|| {
            ProviderError::new(
                SLUG,
                ProviderErrorKind::InvalidRequest,
                "sms_template_not_found",
                "no local template with this name for Twilio (SMS_TEMPLATES)",
            )
        })?;
        let callback = self.config.twilio_status_callback();
        let target = item.phone.masked();
        let call = Call {
            provider: SLUG,
            operation: "messages.create",
            request_id,
            target: &target,
        };
        let (adapter, body, callback) = (&self.adapter, body.as_str(), callback.as_deref());
        let answer = adapter
            .attempt_logged(&call, sid_of, move || {
                adapter.with_creds(SLUG, move |c| async move {
                    let (sid, token) = account(&c)?;
                    let from = match c.get("messaging_service_sid") {
                        Some(service) => service,
                        None => credential(&c, SLUG, "from_number")?,
                    };
                    let form = twilio::message_form(item.phone.e164(), from, body, callback);
                    twilio::create_message(&adapter.http, base, sid, token, &form).await
                })
            })
            .await?;
        accepted(&answer)
    }
}

impl SmsProvider for TwilioSms {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn is_configured(&self) -> BoxFuture<'_, Result<bool, ProviderError>> {
        self.adapter
            .is_configured(SLUG, |c| {
                c.get("account_sid").is_some()
                    && c.get("auth_token").is_some()
                    && (c.get("from_number").is_some() || c.get("messaging_service_sid").is_some())
            })
            .boxed()
    }

    fn send<'a>(
        &'a self,
        request_id: &'a str,
        items: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<Vec<ItemResult>, ProviderError>> {
        async move {
            let base = self.adapter.require_base_url(SLUG).await?;
            let base = &base;
            let calls: Vec<BoxFuture<'_, ItemResult>> = items
                .iter()
                .map(|item| self.send_one(request_id, item, base).boxed())
                .collect();
            Ok(futures::stream::iter(calls)
                .buffered(self.config.twilio_concurrency)
                .collect()
                .await)
        }
        .boxed()
    }

    fn fetch_status<'a>(
        &'a self,
        request_id: &'a str,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        async move {
            let base = self.adapter.require_base_url(SLUG).await?;
            let call = Call {
                provider: SLUG,
                operation: "messages.fetch",
                request_id,
                target: provider_message_id,
            };
            let (adapter, base) = (&self.adapter, base.as_str());
            let answer = adapter
                .attempt_logged(
                    &call,
                    |_| Some(provider_message_id.to_string()),
                    move || {
                        adapter.with_creds(SLUG, move |c| async move {
                            let (sid, token) = account(&c)?;
                            twilio::fetch_message(
                                &adapter.http,
                                base,
                                sid,
                                token,
                                provider_message_id,
                            )
                            .await
                        })
                    },
                )
                .await?;
            accepted(&answer)
        }
        .boxed()
    }
}

/// The account SID and auth token of the credentials.
fn account(c: &Credentials) -> Result<(&str, &str), ProviderError> {
    Ok((
        credential(c, SLUG, "account_sid")?,
        credential(c, SLUG, "auth_token")?,
    ))
}

fn sid_of(v: &Value) -> Option<String> {
    v.get("sid").and_then(Value::as_str).map(str::to_string)
}

fn accepted(v: &Value) -> Result<Accepted, ProviderError> {
    let sid =
        sid_of(v).ok_or_else(|| malformed(SLUG, "twilio_malformed", "no sid in the answer"))?;
    let status = v.get("status").and_then(Value::as_str).unwrap_or("queued");
    Ok(Accepted {
        provider_message_id: Some(sid),
        status: SmsStatus::from_twilio(status),
        provider_status: Some(status.to_string()),
    })
}
