//! Assembly of the notifications capability from the cold-start state: the stores, the
//! sending service, the worker's dispatcher with its channel senders, and the adapters that
//! let notifications reach the rate limiter and the email and SMS capabilities. This is the
//! only place notifications meet those capabilities' own types and errors.

use std::sync::Arc;

use super::HubContext;
use crate::config::ConfigError;
use crate::email::{Delivery, EmailContent, EmailRequest, EmailService};
use crate::http::problem::ApiError;
#[cfg(feature = "apigw-management")]
use crate::notifications::ManagementApi;
use crate::notifications::dispatch::{SendError, Sent};
use crate::notifications::limit::{ChannelLimit, LimitChannel, LimitRefused};
use crate::notifications::push::BoxFuture;
use crate::notifications::senders::{
    EmailChannel, EmailSender, SmsChannel, SmsSender, WebsocketSender,
};
use crate::notifications::{
    Channel, ConnectionGateway, ConnectionStore, Dispatcher, NotificationService,
    NotificationStore, NotificationsConfig, Pusher,
};
use crate::rate_limit::{RateLimitDecision, RateLimiter, Subject};
use crate::sms::{Phone, SmsContent, SmsService};

impl HubContext {
    pub fn notifications_config(&self) -> Result<NotificationsConfig, ConfigError> {
        NotificationsConfig::from_env(&self.env)
    }

    /// Notifications, profiles and outcomes in the hub table.
    pub fn notification_store(&self, config: &NotificationsConfig) -> NotificationStore {
        NotificationStore::new(
            self.aws.dynamo.clone(),
            self.config.hub_table.clone(),
            config.ttl,
        )
        .with_redrive_after(config.redrive_after)
    }

    /// The sending side (the notifications function); needs `NOTIFICATIONS_QUEUE_URL`.
    pub fn notification_service(
        &self,
        config: &NotificationsConfig,
    ) -> Result<NotificationService, ConfigError> {
        Ok(NotificationService::new(
            self.notification_store(config),
            self.aws.sqs().clone(),
            config.require_queue_url()?,
        )
        .with_events(self.event_publisher()))
    }

    /// Users' WebSocket connections.
    pub fn connection_store(&self, config: &NotificationsConfig) -> ConnectionStore {
        ConnectionStore::new(
            self.aws.dynamo.clone(),
            self.config.hub_table.clone(),
            config.connection_ttl,
        )
    }

    /// The notifications worker: every channel gets its sender, or is marked unavailable with
    /// the reason (its messages then end `failed` / `channel_unavailable`) instead of failing
    /// the cold start, so the other channels keep working.
    pub fn notification_dispatcher(self: &Arc<Self>, config: &NotificationsConfig) -> Dispatcher {
        let limiter: Arc<dyn ChannelLimit> = self.rate_limiter.clone();
        let mut d = Dispatcher::new(self.notification_store(config), config.max_attempts)
            .with_stale_claim(config.claim_stale_after);
        d = match self.websocket_gateway(config) {
            Ok(gateway) => {
                let pusher = Pusher::new(self.connection_store(config), gateway, limiter.clone());
                d.with_sender(Channel::Websocket, Arc::new(WebsocketSender(pusher)))
            }
            Err(reason) => d.with_unavailable(Channel::Websocket, reason),
        };
        d = match self.email_service() {
            Ok(service) => d.with_sender(
                Channel::Email,
                Arc::new(EmailSender {
                    email: Arc::new(service),
                    limiter: limiter.clone(),
                }),
            ),
            Err(e) => {
                tracing::error!(error = %e, "email channel unavailable");
                d.with_unavailable(
                    Channel::Email,
                    format!("email is not configured correctly: {e}"),
                )
            }
        };
        match self.sms_service() {
            Ok(service) => d.with_sender(
                Channel::Sms,
                Arc::new(SmsSender {
                    sms: Arc::new(service),
                    limiter,
                }),
            ),
            Err(e) => {
                tracing::error!(error = %e, "SMS channel unavailable");
                d.with_unavailable(
                    Channel::Sms,
                    format!("SMS is not configured correctly: {e}"),
                )
            }
        }
    }
}

impl HubContext {
    /// The API Gateway Management API at `WEBSOCKET_MANAGEMENT_ENDPOINT`, or why the WebSocket
    /// channel is unavailable.
    #[cfg(feature = "apigw-management")]
    fn websocket_gateway(
        &self,
        config: &NotificationsConfig,
    ) -> Result<Arc<dyn ConnectionGateway>, &'static str> {
        let endpoint = config
            .management_endpoint
            .as_deref()
            .ok_or("WEBSOCKET_MANAGEMENT_ENDPOINT is not set")?;
        Ok(Arc::new(ManagementApi::new(&self.aws.sdk_config, endpoint)))
    }

    /// A build without the management API client (shared's `apigw-management` feature) has
    /// no WebSocket channel: its messages end `failed` / `channel_unavailable`, saying why.
    #[cfg(not(feature = "apigw-management"))]
    fn websocket_gateway(
        &self,
        _config: &NotificationsConfig,
    ) -> Result<Arc<dyn ConnectionGateway>, &'static str> {
        Err("this function is built without the apigw-management feature")
    }
}

/// Another capability's error as the problem its own routes would answer (whatever its
/// error type, so this keeps working as those capabilities move to their own errors).
fn problem(e: impl Into<ApiError>) -> ApiError {
    e.into()
}

/// Another capability's failure as a channel outcome: the hub's own per-user limit is final,
/// provider failures (5xx) and provider throttling retry, the rest is final.
fn send_error(e: ApiError) -> SendError {
    let (code, detail) = (e.code.to_string(), e.detail);
    let status = e.status.as_u16();
    if (status == 429 && code != "rate_limited") || e.status.is_server_error() {
        SendError::Retryable { code, detail }
    } else {
        SendError::Permanent { code, detail }
    }
}

impl ChannelLimit for RateLimiter {
    fn take<'a>(
        &'a self,
        channel: LimitChannel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<RateLimitDecision, LimitRefused>> {
        Box::pin(async move {
            self.check(&Subject::channel(channel).user(user))
                .await
                .map_err(|e| {
                    let e = problem(e);
                    if e.status.as_u16() == 429 {
                        let retry_after = e
                            .headers
                            .iter()
                            .find(|(name, _)| name == axum::http::header::RETRY_AFTER)
                            .and_then(|(_, v)| v.to_str().ok()?.parse().ok())
                            .unwrap_or(0);
                        LimitRefused::Limited {
                            detail: e.detail,
                            retry_after,
                        }
                    } else {
                        LimitRefused::Unavailable(format!("{}: {}", e.code, e.detail))
                    }
                })
        })
    }

    fn give_back<'a>(&'a self, decision: &'a RateLimitDecision) -> BoxFuture<'a, ()> {
        Box::pin(self.refund(decision))
    }
}

impl EmailChannel for EmailService {
    fn send_plain<'a>(
        &'a self,
        to: String,
        subject: String,
        body: String,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(email_send(
            self,
            EmailRequest {
                to,
                content: EmailContent::Plain { subject, body },
                request_id: request_id.to_string(),
            },
        ))
    }

    fn send_template<'a>(
        &'a self,
        to: String,
        template: &'a str,
        language: &'a str,
        data: serde_json::Map<String, serde_json::Value>,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(email_send(
            self,
            EmailRequest {
                to,
                content: EmailContent::Template {
                    template: template.to_string(),
                    language: language.to_string(),
                    data,
                },
                request_id: request_id.to_string(),
            },
        ))
    }
}

/// One email through the email service, its outcome as a channel's.
async fn email_send(service: &EmailService, request: EmailRequest) -> Result<Sent, SendError> {
    match service.send(&request).await {
        Ok(receipt) => Ok(Sent {
            provider: Some(
                match receipt.delivery {
                    Delivery::Smtp => "smtp",
                    Delivery::Console => "console",
                    Delivery::NotConfigured => "none",
                }
                .into(),
            ),
            reference: Some(receipt.message_id),
            delivered: None,
        }),
        Err(e) => {
            let retryable = e.is_retryable();
            let api = problem(e);
            let (code, detail) = (api.code.to_string(), api.detail);
            Err(if retryable {
                SendError::Retryable { code, detail }
            } else {
                SendError::Permanent { code, detail }
            })
        }
    }
}

impl SmsChannel for SmsService {
    fn send_text<'a>(
        &'a self,
        phone: Phone,
        text: String,
        user: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            self.send(phone, SmsContent::Text { message: text }, user, request_id)
                .await
                .map(|r| Sent {
                    provider: Some(r.provider),
                    reference: Some(r.message_id),
                    delivered: None,
                })
                .map_err(|e| send_error(problem(e)))
        })
    }
}
