//! The notification, its channels and their outcomes, the user's profile, and the queue
//! message: what is stored and what moves between the function and the worker.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::{ChannelSwitches, Contact, Preferences};
use crate::clock::now_rfc3339;
use crate::locale::{Language, ShortTemplate};

/// The WebSocket event a new notification is announced with (seed: `notification:new`).
pub const EVENT_NOTIFICATION_NEW: &str = "notification:new";
/// The WebSocket event of the appointment helper (seed: `appointment:updated`).
pub const EVENT_APPOINTMENT_UPDATED: &str = "appointment:updated";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Named apart from the rate limiter's `Channel` and the health report's `ChannelStatus`:
// the hub's document has one namespace of schemas.
#[schema(as = NotificationChannel)]
pub enum Channel {
    /// The inbox; always written.
    InApp,
    Email,
    Sms,
    Websocket,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::InApp,
        Channel::Email,
        Channel::Sms,
        Channel::Websocket,
    ];
    /// The channels that go through the queue.
    pub const QUEUED: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Websocket];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Websocket => "websocket",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotificationChannelStatus)]
pub enum ChannelStatus {
    /// A message for the channel is in the queue.
    Queued,
    /// A worker has claimed the channel and is sending.
    Sending,
    Sent,
    Failed,
    /// Not sent on purpose: the user turned the channel off, no address, nobody connected.
    Skipped,
    /// A worker claimed the channel and stopped before recording whether it sent: it may
    /// have gone out. Never sent again (a second copy is worse than an honest unknown).
    Unknown,
}

impl ChannelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Queued => "queued",
            ChannelStatus::Sending => "sending",
            ChannelStatus::Sent => "sent",
            ChannelStatus::Failed => "failed",
            ChannelStatus::Skipped => "skipped",
            ChannelStatus::Unknown => "unknown",
        }
    }

    /// No further work will change this outcome.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ChannelStatus::Sent | ChannelStatus::Skipped | ChannelStatus::Unknown
        )
    }
}

/// One channel's outcome, recorded on the notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelOutcome {
    pub status: ChannelStatus,
    /// Stable reason code for `failed`/`skipped` (e.g. `channel_unavailable`,
    /// `disabled_by_user`, `no_contact`, `not_connected`, `rate_limited`, or the provider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Send attempts made by workers.
    #[serde(default)]
    pub attempts: u32,
    pub updated_at: String,
    /// The provider that carried it (e.g. `smtp`, `kavenegar`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The provider's message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// WebSocket: connections the event reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u32>,
    /// Epoch seconds a worker claimed the channel (a stale claim is taken over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub claimed_at: Option<i64>,
    /// The claim's token: only the worker holding it records this channel's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub claim_token: Option<String>,
}

impl ChannelOutcome {
    pub fn new(status: ChannelStatus) -> Self {
        Self {
            status,
            code: None,
            detail: None,
            attempts: 0,
            updated_at: now_rfc3339(),
            provider: None,
            reference: None,
            delivered: None,
            claimed_at: None,
            claim_token: None,
        }
    }

    pub fn with_code(mut self, code: &str, detail: impl Into<String>) -> Self {
        self.code = Some(code.to_string());
        self.detail = Some(detail.into());
        self
    }
}

/// A notification as stored in the hub table (see the module docs for the keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub pk: String,
    pub sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub expires_at: i64,
    pub id: String,
    pub user_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    #[serde(default)]
    pub data: Value,
    /// The WebSocket event type this notification is pushed as.
    pub event: String,
    pub channels: BTreeMap<String, ChannelOutcome>,
    #[serde(default)]
    pub read: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    pub created_at: String,
    /// Contact chosen at send time, for the worker (never returned, never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The localized template the title and message were rendered from, for the worker's
    /// email channel (never returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
}

/// A notification written from a template: which one, in which language, with which fields.
/// Its title and message are the short template's; the email channel sends the template's
/// email form (or the generic email in the same language) instead of a plain text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub template: ShortTemplate,
    pub language: Language,
    /// The template's fields as the caller gave them (dates in ISO form).
    #[serde(default)]
    pub data: serde_json::Map<String, Value>,
}

/// A notification as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Value,
    /// The channels requested and what happened on each (`in_app` is always `sent`).
    pub channels: BTreeMap<String, ChannelOutcome>,
    pub read: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    pub created_at: String,
}

impl NotificationRecord {
    pub fn view(&self) -> Notification {
        Notification {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            kind: self.kind.clone(),
            title: self.title.clone(),
            message: self.message.clone(),
            data: self.data.clone(),
            channels: self.channels.clone(),
            read: self.read,
            read_at: self.read_at.clone(),
            created_at: self.created_at.clone(),
        }
    }

    pub fn outcome(&self, channel: Channel) -> Option<&ChannelOutcome> {
        self.channels.get(channel.as_str())
    }

    /// The WebSocket message for this notification: `{"type": event, "data": {...}}` in the
    /// seed's shapes (`notification:new` carries id, title, message and type;
    /// `appointment:updated` carries the appointment's `{id, status, date}`).
    pub fn websocket_event(&self) -> Value {
        let data = if self.event == EVENT_APPOINTMENT_UPDATED {
            self.data.clone()
        } else {
            serde_json::json!({
                "id": self.id,
                "title": self.title,
                "message": self.message,
                "type": self.kind,
                "data": self.data,
                "created_at": self.created_at,
            })
        };
        serde_json::json!({ "type": self.event, "data": data })
    }
}

/// A validated send request.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: String,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Value,
    pub event: String,
    pub channels: Vec<Channel>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Set by the appointment helpers: the localized template of title and message.
    pub template: Option<TemplateRef>,
}

/// The user's channel switches and contact, stored at `PREFS#{user}` / `PROFILE`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    #[serde(default = "yes")]
    pub email_enabled: bool,
    #[serde(default = "yes")]
    pub sms_enabled: bool,
    #[serde(default = "yes")]
    pub websocket_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            email_enabled: true,
            sms_enabled: true,
            websocket_enabled: true,
            email: None,
            phone: None,
            updated_at: None,
        }
    }
}

impl Profile {
    pub fn allows(&self, channel: Channel) -> bool {
        match channel {
            Channel::InApp => true,
            Channel::Email => self.email_enabled,
            Channel::Sms => self.sms_enabled,
            Channel::Websocket => self.websocket_enabled,
        }
    }

    pub fn view(&self, user_id: &str) -> Preferences {
        Preferences {
            user_id: user_id.to_string(),
            channels: ChannelSwitches {
                in_app: true,
                email: self.email_enabled,
                sms: self.sms_enabled,
                websocket: self.websocket_enabled,
            },
            contact: Contact {
                email: self.email.clone(),
                phone: self.phone.clone(),
            },
            updated_at: self.updated_at.clone(),
        }
    }
}
/// One channel of one notification: what a worker claims and sends. Ids only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelJob {
    pub notification_id: String,
    pub user_id: String,
    pub channel: Channel,
}

/// The queue message of a notification: its queued channels, ids only. The same body is
/// stored on the notification as its redrive marker, so the sweeper can send it again if it
/// never reached the queue. One message per notification (one `SendMessage`, nothing
/// partially queued); the worker handles its channels concurrently, each claimed on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationJob {
    pub notification_id: String,
    pub user_id: String,
    pub channels: Vec<Channel>,
}

impl NotificationJob {
    pub fn channel_jobs(&self) -> impl Iterator<Item = ChannelJob> + '_ {
        self.channels.iter().map(|c| ChannelJob {
            notification_id: self.notification_id.clone(),
            user_id: self.user_id.clone(),
            channel: *c,
        })
    }
}

/// What the worker accepts: a notification's message, or (as queued before, and by tools) one
/// channel's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueueBody {
    Notification(NotificationJob),
    Channel(ChannelJob),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appointment_event_carries_the_appointment() {
        let mut r = NotificationRecord {
            pk: "NOTIF#u".into(),
            sk: "1".into(),
            gsi1pk: None,
            gsi1sk: None,
            expires_at: 0,
            id: "1".into(),
            user_id: "u".into(),
            kind: "appointment_updated".into(),
            title: "t".into(),
            message: "m".into(),
            data: serde_json::json!({"id": "456", "status": "confirmed", "date": "2025-01-20"}),
            event: EVENT_APPOINTMENT_UPDATED.into(),
            channels: Default::default(),
            read: false,
            read_at: None,
            created_at: "now".into(),
            email: None,
            phone: None,
            template: None,
        };
        assert_eq!(r.websocket_event()["data"]["status"], "confirmed");
        r.event = EVENT_NOTIFICATION_NEW.into();
        let e = r.websocket_event();
        assert_eq!(e["type"], "notification:new");
        assert_eq!(e["data"]["title"], "t");
        assert_eq!(e["data"]["type"], "appointment_updated");
    }
}
