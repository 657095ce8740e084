//! The channel senders of the notifications worker. WebSocket pushes through [`Pusher`];
//! email and SMS go through the email and SMS capabilities (the same code their functions
//! use: provider routing, failover, retries, integration log), reached through the small
//! [`EmailChannel`] and [`SmsChannel`] traits that `context` implements for their services.
//! Each email or SMS send first takes one unit of the user's hourly limit for its channel
//! (defaults: email 100/h, SMS 10/h).
//!
//! A notification written from a template ([`TemplateRef`]: the appointment helpers) goes out
//! in its language on every channel: its title and message are the short template's (in-app,
//! WebSocket, and the SMS text), and the email is the template's email form
//! (`appointment_reminder`) or, for templates without one, the generic email template with
//! that title and message, in the same language and direction. Other notifications keep
//! their caller's text: a plain email, and `title: message` by SMS.

use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::dispatch::{ChannelSender, SendError, Sent};
use super::limit::{ChannelLimit, LimitChannel};
use super::model::{NotificationRecord, TemplateRef};
use super::push::{BoxFuture, Pusher};
use crate::sms::{MAX_TEXT_CHARS, Phone};

/// The email capability, as far as notifications use it: one plain-text message, or one
/// template in a language.
pub trait EmailChannel: Send + Sync {
    fn send_plain<'a>(
        &'a self,
        to: String,
        subject: String,
        body: String,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>>;

    /// `template` and `language` by name (`appointment_reminder`, `pt-BR`), as the email
    /// route takes them.
    fn send_template<'a>(
        &'a self,
        to: String,
        template: &'a str,
        language: &'a str,
        data: Map<String, Value>,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>>;
}

/// The email of a templated notification: the template's email form with its fields, or
/// the generic email carrying the notification's (localized) title and message.
fn email_form(t: &TemplateRef, n: &NotificationRecord) -> (&'static str, Map<String, Value>) {
    match t.template.email_template() {
        Some(email) => (email.as_str(), t.data.clone()),
        None => {
            let mut data = Map::new();
            data.insert("subject".into(), n.title.clone().into());
            data.insert("message".into(), n.message.clone().into());
            ("generic", data)
        }
    }
}

/// The SMS capability, as far as notifications use it: one text to one number.
pub trait SmsChannel: Send + Sync {
    fn send_text<'a>(
        &'a self,
        phone: Phone,
        text: String,
        user: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>>;
}

/// WebSocket: the notification's event to every connection of the user.
pub struct WebsocketSender(pub Pusher);

impl ChannelSender for WebsocketSender {
    fn send<'a>(
        &'a self,
        n: &'a NotificationRecord,
        _request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let report = self
                .0
                .push(&n.user_id, &n.websocket_event())
                .await
                .map_err(|e| SendError::from_domain(&e))?;
            if report.delivered > 0 {
                Ok(Sent {
                    provider: Some("websocket".into()),
                    reference: None,
                    delivered: Some(report.delivered),
                })
            } else if report.failed > 0 {
                Err(SendError::Retryable {
                    code: "push_failed".into(),
                    detail: format!("{} connection(s) could not be reached", report.failed),
                })
            } else {
                Err(SendError::Skipped {
                    code: "not_connected".into(),
                    detail: "the user has no open WebSocket connection; the inbox holds the notification".into(),
                })
            }
        })
    }
}

/// Sends after taking one unit of the user's hourly limit on `channel`. A send that will be
/// retried gives its unit back, so one notification counts once against the user's limit
/// however many deliveries it takes.
async fn within_limit(
    limiter: &dyn ChannelLimit,
    channel: LimitChannel,
    user: &str,
    send: impl Future<Output = Result<Sent, SendError>>,
) -> Result<Sent, SendError> {
    let decision = limiter
        .take(channel, user)
        .await
        .map_err(|e| SendError::from_domain(&e))?;
    let result = send.await;
    if matches!(result, Err(SendError::Retryable { .. })) {
        limiter.give_back(&decision).await;
    }
    result
}

pub struct EmailSender {
    pub email: Arc<dyn EmailChannel>,
    pub limiter: Arc<dyn ChannelLimit>,
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
            let send = match &n.template {
                Some(t) => {
                    let (template, data) = email_form(t, n);
                    self.email
                        .send_template(to, template, t.language.tag(), data, request_id)
                }
                None => self
                    .email
                    .send_plain(to, n.title.clone(), n.message.clone(), request_id),
            };
            within_limit(&*self.limiter, LimitChannel::Email, &n.user_id, send).await
        })
    }
}

pub struct SmsSender {
    pub sms: Arc<dyn SmsChannel>,
    pub limiter: Arc<dyn ChannelLimit>,
}

/// The SMS text: a templated notification's message is its SMS template's text (which
/// stands alone); otherwise title and message. Cut to what one SMS request takes.
fn sms_text(n: &NotificationRecord) -> String {
    let full = if n.template.is_some() {
        n.message.clone()
    } else {
        format!("{}: {}", n.title, n.message)
    };
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
            let send = self
                .sms
                .send_text(phone, sms_text(n), &n.user_id, request_id);
            within_limit(&*self.limiter, LimitChannel::Sms, &n.user_id, send).await
        })
    }
}
