//! The fallback when no SMS provider is configured (seed 2: "SMS: logs no console"): logs
//! the masked number and the message type, never the body or the token. Used only when the
//! deployment allows it (`SMS_FALLBACK=console`, or the local stage), and its answers say
//! `fallback`, never `sent`.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Accepted, ItemResult, Outgoing, SmsProvider, target_of};
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::sms::SmsStatus;

pub const CONSOLE_SLUG: &str = "console";

pub struct ConsoleSms {
    log: IntegrationLog,
}

impl ConsoleSms {
    pub fn new(log: IntegrationLog) -> Self {
        Self { log }
    }
}

impl SmsProvider for ConsoleSms {
    fn slug(&self) -> &'static str {
        CONSOLE_SLUG
    }

    fn is_configured(&self) -> BoxFuture<'_, Result<bool, ProviderError>> {
        async { Ok(true) }.boxed()
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
            self.log.record(&rec).await;
            let logged = Accepted {
                provider_message_id: None,
                status: SmsStatus::Fallback,
                provider_status: Some("logged".into()),
            };
            Ok(items.iter().map(|_| Ok(logged.clone())).collect())
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
