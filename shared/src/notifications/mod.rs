//! Notifications across channels (BluRosiere's `notification_service`): in-app always, then
//! email, SMS and WebSocket where configured and allowed by the user's preferences.
//!
//! Flow: the notifications function writes the in-app notification (one `PutItem`, which
//! also stores the queue message as its redrive marker), then queues one SQS message for its
//! further channels (`{notification_id, user_id, channels}`: ids only, never the title,
//! message or contact details). The notifications worker handles the channels concurrently,
//! each claimed on its own, and records each channel's outcome on the notification, so a
//! slow or failing channel neither holds the request nor stops the others.
//!
//! # Delivery guarantees (docs/notifications.md)
//! - Nothing lost between store and enqueue: if the message never reaches the queue, the
//!   sweeper sends the stored one (`shared::redrive`); the first channel claim removes it.
//! - One send per channel: a channel is claimed (`queued`/`failed` -> `sending`, claim
//!   token) before it is sent; a redelivered or concurrent message that finds it `sending`
//!   or `sent` does not send. A failed outcome write after a send is retried; if it keeps
//!   failing, the claim stays and the channel ends `unknown` once stale, never re-sent.
//!
//! # Layout in `HUB_TABLE`
//! | item | `pk` | `sk` | notes |
//! | --- | --- | --- | --- |
//! | notification | `NOTIF#{user}` | `{id}` (UUID v7: sorts by time) | TTL `expires_at` (90 days); while unread also `gsi1pk = UNREAD#{user}`, `gsi1sk = {id}` (a sparse index: marking read removes both) |
//! | profile | `PREFS#{user}` | `PROFILE` | channel switches and contact (`email`, `phone`); one `GetItem` at send time |
//! | connection | `WSCONN#{user}` | `{connection id}` | TTL 2 h (API Gateway's own connection limit) |
//! | reverse connection | `WSCONNID#{connection id}` | `WSCONN` | the user, for `$disconnect` |
//!
//! Each channel's outcome lives in the notification's `channels` map
//! (`channels.email = {status, code, detail, attempts, ...}`) and is updated with `UpdateItem`
//! on that one map entry, so two workers recording two channels never overwrite each other.
//!
//! # Contact details
//! Email and SMS need an address. The caller may pass `email`/`phone` in the send request;
//! otherwise the user's stored profile (`PUT /api/v1/notifications/preferences`, `contact`)
//! is used. The address chosen at send time is copied onto the notification item (DynamoDB,
//! encrypted at rest) so the worker needs a single read; it is never put in a queue body,
//! never returned by the inbox and never logged in clear.

pub mod api;
pub mod connections;
pub mod dispatch;
mod error;
pub mod limit;
#[cfg(feature = "apigw-management")]
pub mod management_api;
pub mod model;
pub mod push;
mod send;
pub mod senders;
pub mod store;
pub mod validate;

use std::time::Duration;

pub use api::*;
pub use connections::{Connection, ConnectionStore};
pub use dispatch::Dispatcher;
pub use error::NotificationError;
pub use limit::{ChannelLimit, LimitRefused};
#[cfg(feature = "apigw-management")]
pub use management_api::ManagementApi;
pub use model::*;
pub use push::{ConnectionGateway, PostError, PushReport, Pusher};
pub use send::NotificationService;
pub use store::NotificationStore;
pub use validate::validate_user_id;

use crate::config::{ConfigError, Env};

/// Settings of the notifications capability, read once at cold start.
#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    /// `NOTIFICATIONS_QUEUE_URL`: where the per-channel messages go (the sending function needs it).
    pub queue_url: Option<String>,
    /// `NOTIFICATION_TTL_DAYS` (default 90): how long a notification stays in the inbox.
    pub ttl: Duration,
    /// `WEBSOCKET_MANAGEMENT_ENDPOINT`: the API Gateway Management API
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` on AWS, the local
    /// gateway's management port locally). Without it the WebSocket channel is unavailable.
    pub management_endpoint: Option<String>,
    /// `WEBSOCKET_CONNECTION_TTL_SECONDS` (default 7200, API Gateway's connection limit).
    pub connection_ttl: Duration,
    /// `NOTIFICATION_MAX_ATTEMPTS` (default 3): deliveries of a channel message that may end
    /// in a retryable failure before the failure is final (recorded, message acknowledged).
    pub max_attempts: u32,
    /// `REDRIVE_AFTER_SECONDS` (default 60): when the sweeper sends a notification's message
    /// again if no worker has claimed any of its channels.
    pub redrive_after: Duration,
    /// `NOTIFICATION_CLAIM_STALE_SECONDS` (default 120, four times the worker's 30 s timeout):
    /// a channel `sending` for longer belongs to a worker that stopped between the send and
    /// the outcome write; it becomes `unknown`, never sent again.
    pub claim_stale_after: Duration,
}

impl NotificationsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let ttl_days: u64 = env.parse_or("NOTIFICATION_TTL_DAYS", 90)?;
        let max_attempts: u32 = env.parse_or("NOTIFICATION_MAX_ATTEMPTS", 3)?;
        if max_attempts == 0 {
            return Err(ConfigError::Invalid {
                name: "NOTIFICATION_MAX_ATTEMPTS".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            queue_url: env.optional("NOTIFICATIONS_QUEUE_URL"),
            ttl: Duration::from_secs(ttl_days * 86_400),
            management_endpoint: env.url("WEBSOCKET_MANAGEMENT_ENDPOINT")?,
            connection_ttl: Duration::from_secs(
                env.parse_or("WEBSOCKET_CONNECTION_TTL_SECONDS", 7200u64)?,
            ),
            max_attempts,
            redrive_after: crate::redrive::after_from_env(env),
            claim_stale_after: Duration::from_secs(
                env.parse_or("NOTIFICATION_CLAIM_STALE_SECONDS", 120u64)?,
            ),
        })
    }

    /// The queue URL, or a configuration error naming the variable.
    pub fn require_queue_url(&self) -> Result<String, ConfigError> {
        self.queue_url
            .clone()
            .ok_or_else(|| ConfigError::Missing("NOTIFICATIONS_QUEUE_URL".into()))
    }
}
