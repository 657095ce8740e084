//! Email and SMS senders for the notifications worker, over `shared::email` and
//! `shared::sms` (the same code the email and SMS functions use: provider routing, failover,
//! retries, integration log). Each send first takes one unit of the user's hourly limit for
//! its channel (defaults: email 100/h, SMS 10/h).

use std::sync::Arc;

use super::dispatch::{ChannelSender, Dispatcher, SendError, Sent};
use super::model::{Channel, NotificationRecord};
use super::push::BoxFuture;
use crate::context::HubContext;
use crate::email::{Delivery, EmailContent, EmailRequest, EmailService};
use crate::error::DomainError;
use crate::rate_limit::{Channel as LimitChannel, RateLimitDecision, RateLimiter, Subject};
use crate::sms::{MAX_TEXT_CHARS, Phone, SmsContent, SmsService};

/// Adds the email and SMS senders to `dispatcher`; a capability whose configuration is
/// unusable is marked unavailable with the reason instead of failing the cold start (the
/// other channels keep working).
pub fn attach(mut dispatcher: Dispatcher, ctx: &Arc<HubContext>) -> anyhow::Result<Dispatcher> {
    dispatcher = match ctx.email_service() {
        Ok(service) => dispatcher.with_sender(
            Channel::Email,
            Arc::new(EmailSender {
                service,
                limiter: ctx.rate_limiter.clone(),
            }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "email channel unavailable");
            dispatcher.with_unavailable(
                Channel::Email,
                format!("email is not configured correctly: {e}"),
            )
        }
    };
    dispatcher = match ctx.sms_service() {
        Ok(service) => dispatcher.with_sender(
            Channel::Sms,
            Arc::new(SmsSender {
                service,
                limiter: ctx.rate_limiter.clone(),
            }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "SMS channel unavailable");
            dispatcher.with_unavailable(
                Channel::Sms,
                format!("SMS is not configured correctly: {e}"),
            )
        }
    };
    Ok(dispatcher)
}

async fn take_unit(
    limiter: &RateLimiter,
    channel: LimitChannel,
    user: &str,
) -> Result<RateLimitDecision, SendError> {
    limiter
        .check(&Subject::channel(channel).user(user))
        .await
        .map_err(|e| SendError::from_api(&crate::error::ApiError::from(e)))
}

/// A send that will be retried gives its unit back, so one notification counts once against
/// the user's limit however many deliveries it takes.
async fn settle(
    limiter: &RateLimiter,
    decision: &RateLimitDecision,
    result: Result<Sent, SendError>,
) -> Result<Sent, SendError> {
    if matches!(result, Err(SendError::Retryable { .. })) {
        limiter.refund(decision).await;
    }
    result
}

pub struct EmailSender {
    service: EmailService,
    limiter: Arc<RateLimiter>,
}

impl ChannelSender for EmailSender {
    fn send<'a>(
        &'a self,
        n: &'a NotificationRecord,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let to = n.email.clone().ok_or_else(|| SendError::Permanent {
                code: "no_contact".into(),
                detail: "no email address was recorded".into(),
            })?;
            let decision = take_unit(&self.limiter, LimitChannel::Email, &n.user_id).await?;
            let request = EmailRequest {
                to,
                content: EmailContent::Plain {
                    subject: n.title.clone(),
                    body: n.message.clone(),
                },
                request_id: request_id.to_string(),
            };
            let result = match self.service.send(&request).await {
                Ok(receipt) => Ok(Sent {
                    provider: Some(match receipt.delivery {
                        Delivery::Smtp => "smtp".into(),
                        Delivery::Console => "console".into(),
                    }),
                    reference: Some(receipt.message_id),
                    delivered: None,
                }),
                Err(e) => {
                    let (code, detail) = (e.code().to_string(), e.to_string());
                    Err(if e.is_retryable() {
                        SendError::Retryable { code, detail }
                    } else {
                        SendError::Permanent { code, detail }
                    })
                }
            };
            settle(&self.limiter, &decision, result).await
        })
    }
}

pub struct SmsSender {
    service: SmsService,
    limiter: Arc<RateLimiter>,
}

/// The SMS text: title and message, cut to what one SMS request takes.
fn sms_text(n: &NotificationRecord) -> String {
    let full = format!("{}: {}", n.title, n.message);
    if full.chars().count() <= MAX_TEXT_CHARS {
        full
    } else {
        let mut cut: String = full.chars().take(MAX_TEXT_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

impl ChannelSender for SmsSender {
    fn send<'a>(
        &'a self,
        n: &'a NotificationRecord,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let raw = n.phone.as_deref().ok_or_else(|| SendError::Permanent {
                code: "no_contact".into(),
                detail: "no phone number was recorded".into(),
            })?;
            let phone = Phone::parse(raw).map_err(|e| SendError::Permanent {
                code: "invalid_phone".into(),
                detail: e.0.to_string(),
            })?;
            let decision = take_unit(&self.limiter, LimitChannel::Sms, &n.user_id).await?;
            let result = self
                .service
                .send(
                    phone,
                    SmsContent::Text {
                        message: sms_text(n),
                    },
                    &n.user_id,
                    request_id,
                )
                .await
                .map(|r| Sent {
                    provider: Some(r.provider),
                    reference: Some(r.message_id),
                    delivered: None,
                })
                .map_err(|e| SendError::from_api(&e.into()));
            settle(&self.limiter, &decision, result).await
        })
    }
}
