//! The notification, its channels and outcomes, the user's profile, and the request shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

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
pub enum ChannelStatus {
    /// A message for the channel is in the queue.
    Queued,
    /// A worker has claimed the channel and is sending.
    Sending,
    Sent,
    Failed,
    /// Not sent on purpose: the user turned the channel off, no address, nobody connected.
    Skipped,
}

impl ChannelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Queued => "queued",
            ChannelStatus::Sending => "sending",
            ChannelStatus::Sent => "sent",
            ChannelStatus::Failed => "failed",
            ChannelStatus::Skipped => "skipped",
        }
    }

    /// No further work will change this outcome.
    pub fn is_final(self) -> bool {
        matches!(self, ChannelStatus::Sent | ChannelStatus::Skipped)
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
}

impl ChannelOutcome {
    pub fn new(status: ChannelStatus) -> Self {
        Self {
            status,
            code: None,
            detail: None,
            attempts: 0,
            updated_at: super::now_rfc3339(),
            provider: None,
            reference: None,
            delivered: None,
            claimed_at: None,
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

/// `POST /api/v1/notifications`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendNotification {
    pub user_id: String,
    /// Free-form kind, e.g. `reminder`, `appointment_reminder`, `message` (seed: `lembrete`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    /// Extra data for the client (an object).
    #[serde(default)]
    pub data: Option<Value>,
    /// Channels to use; default all. `in_app` is always included.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Overrides the profile's email address for this notification.
    #[serde(default)]
    pub email: Option<String>,
    /// Overrides the profile's phone number for this notification.
    #[serde(default)]
    pub phone: Option<String>,
}

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 4000;
pub const MAX_DATA_BYTES: usize = 16 * 1024;
pub const MAX_KIND_CHARS: usize = 64;
pub const MAX_USER_ID_CHARS: usize = 128;

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
}

pub fn validate_user_id(field: &str, user_id: &str) -> Result<(), ApiError> {
    if user_id.trim().is_empty() {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    if user_id.chars().count() > MAX_USER_ID_CHARS
        || user_id.contains('#')
        || user_id.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_field(
            field,
            "must be at most 128 characters, without '#' or control characters",
        ));
    }
    Ok(())
}

pub fn validate_email(field: &str, email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            "must be an email address like name@example.com",
        ))
    }
}

/// A phone number as the SMS module reads it (Iranian national forms, Persian digits, `00`
/// prefixes), normalised to E.164.
pub fn normalize_phone(field: &str, phone: &str) -> Result<String, ApiError> {
    crate::sms::Phone::parse(phone)
        .map(|p| p.e164().to_string())
        .map_err(|e| e.for_field(field).into())
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Parses a requested channel list: unknown names are a 400 naming them; `in_app` is added.
pub fn parse_channels(requested: Option<&[String]>) -> Result<Vec<Channel>, ApiError> {
    let mut out = vec![Channel::InApp];
    match requested {
        None => out.extend(Channel::QUEUED),
        Some(list) => {
            for (i, name) in list.iter().enumerate() {
                let c = Channel::parse(name).ok_or_else(|| {
                    ApiError::invalid_field(
                        format!("channels[{i}]"),
                        format!(
                            "unknown channel {name:?}; expected in_app, email, sms or websocket"
                        ),
                    )
                })?;
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    Ok(out)
}

impl SendNotification {
    pub fn validate(self, event: &str) -> Result<NewNotification, ApiError> {
        validate_user_id("user_id", &self.user_id)?;
        check_len("type", &self.kind, MAX_KIND_CHARS)?;
        check_len("title", &self.title, MAX_TITLE_CHARS)?;
        check_len("message", &self.message, MAX_MESSAGE_CHARS)?;
        let data = match self.data {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(v @ Value::Object(_)) => v,
            Some(_) => return Err(ApiError::invalid_field("data", "must be a JSON object")),
        };
        if serde_json::to_vec(&data).map(|b| b.len()).unwrap_or(0) > MAX_DATA_BYTES {
            return Err(ApiError::invalid_field(
                "data",
                format!("must be at most {MAX_DATA_BYTES} bytes of JSON"),
            ));
        }
        let channels = parse_channels(self.channels.as_deref())?;
        if let Some(e) = &self.email {
            validate_email("email", e)?;
        }
        let phone = self
            .phone
            .as_deref()
            .map(|p| normalize_phone("phone", p))
            .transpose()?;
        Ok(NewNotification {
            user_id: self.user_id,
            kind: self.kind.trim().to_string(),
            title: self.title,
            message: self.message,
            data,
            event: event.to_string(),
            channels,
            email: self.email,
            phone,
        })
    }
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

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelSwitches {
    /// Always true: the inbox cannot be turned off.
    pub in_app: bool,
    pub email: bool,
    pub sms: bool,
    pub websocket: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// `GET /api/v1/notifications/preferences`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preferences {
    pub user_id: String,
    pub channels: ChannelSwitches,
    pub contact: Contact,
    pub updated_at: Option<String>,
}

/// `PUT /api/v1/notifications/preferences`: every field optional; what is given replaces
/// the stored value (`contact.email: null` removes the address).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    /// Admin/service only: whose preferences (default: the caller).
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub channels: Option<ChannelSwitchesUpdate>,
    #[serde(default)]
    pub contact: Option<ContactUpdate>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSwitchesUpdate {
    pub in_app: Option<bool>,
    pub email: Option<bool>,
    pub sms: Option<bool>,
    pub websocket: Option<bool>,
}

/// `Some(None)` (an explicit `null`) removes the value; absent leaves it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl PreferencesUpdate {
    /// Applies the update to `profile`, validating as it goes.
    pub fn apply(&self, profile: &mut Profile) -> Result<(), ApiError> {
        if let Some(ch) = &self.channels {
            if ch.in_app == Some(false) {
                return Err(ApiError::invalid_field(
                    "channels.in_app",
                    "the in-app inbox cannot be turned off",
                ));
            }
            if let Some(v) = ch.email {
                profile.email_enabled = v;
            }
            if let Some(v) = ch.sms {
                profile.sms_enabled = v;
            }
            if let Some(v) = ch.websocket {
                profile.websocket_enabled = v;
            }
        }
        if let Some(contact) = &self.contact {
            if let Some(email) = &contact.email {
                if let Some(e) = email {
                    validate_email("contact.email", e)?;
                }
                profile.email = email.clone();
            }
            if let Some(phone) = &contact.phone {
                profile.phone = phone
                    .as_deref()
                    .map(|p| normalize_phone("contact.phone", p))
                    .transpose()?;
            }
        }
        profile.updated_at = Some(super::now_rfc3339());
        Ok(())
    }
}

/// One queue message: one channel of one notification. Ids only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelJob {
    pub notification_id: String,
    pub user_id: String,
    pub channel: Channel,
}

/// `202` answer of a send.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SendAccepted {
    pub id: String,
    pub user_id: String,
    /// Channels handed to the queue (their outcomes appear on the notification).
    pub channels_queued: Vec<Channel>,
    /// Every requested channel's outcome so far.
    pub channels: BTreeMap<String, ChannelOutcome>,
    pub created_at: String,
}

/// A page of the inbox.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboxPage {
    pub items: Vec<Notification>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_default_to_all_and_in_app_is_always_there() {
        assert_eq!(parse_channels(None).unwrap(), Channel::ALL.to_vec());
        let only_sms = parse_channels(Some(&["sms".to_string()])).unwrap();
        assert_eq!(only_sms, vec![Channel::InApp, Channel::Sms]);
        let err = parse_channels(Some(&["pigeon".to_string()])).unwrap_err();
        assert_eq!(err.errors[0].field, "channels[0]");
    }

    #[test]
    fn validates_contact() {
        assert!(validate_email("e", "a@b.co").is_ok());
        assert!(validate_email("e", "a@b").is_err());
        assert_eq!(
            normalize_phone("p", "0912 000 0000").unwrap(),
            "+989120000000"
        );
        assert!(normalize_phone("p", "12ab").is_err());
    }

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
        };
        assert_eq!(r.websocket_event()["data"]["status"], "confirmed");
        r.event = EVENT_NOTIFICATION_NEW.into();
        let e = r.websocket_event();
        assert_eq!(e["type"], "notification:new");
        assert_eq!(e["data"]["title"], "t");
        assert_eq!(e["data"]["type"], "appointment_updated");
    }
}
