//! What subscriptions, events, messages and attempts are, and what the admin API shows of them.

use serde::{Deserialize, Serialize};

/// Every event type the hub emits (docs/subscriptions.md has their payloads). A subscription
/// names some of these, or `*` for all.
pub const EVENT_TYPES: &[&str] = &[
    "sms.sent",
    "sms.delivered",
    "sms.failed",
    "sms.batch.completed",
    "email.sent",
    "email.failed",
    "ai.job.succeeded",
    "ai.job.failed",
    "transcription.completed",
    "upload.completed",
    "notification.read",
    "webhook.received",
    PING,
];

/// The event `POST .../{id}/test` sends; only ever to the subscription under test.
pub const PING: &str = "ping";

/// A subscription as stored. The secrets never leave the hub after creation/rotation answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub disabled: bool,
    /// Why it is disabled, when the hub disabled it (`gone` on a 410, `failing` after 5 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// `whsec_...`: signs every delivery.
    pub secret: String,
    /// The secret before the last rotation, still signing (as a second signature) until
    /// `previous_expires_at` (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_expires_at: Option<i64>,
    /// Epoch seconds of the first failed delivery since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<i64>,
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

impl Subscription {
    /// True when this subscription wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        !self.disabled && self.event_types.iter().any(|t| t == "*" || t == event_type)
    }

    /// The secrets that sign a delivery at `now_secs`: the current one, and the previous one
    /// while its grace lasts.
    pub fn signing_secrets(&self, now_secs: i64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_expires_at)
            && now_secs < until
        {
            out.push(prev.as_str());
        }
        out
    }

    pub fn view(&self) -> SubscriptionView {
        SubscriptionView {
            id: self.id.clone(),
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            description: self.description.clone(),
            disabled: self.disabled,
            disabled_reason: self.disabled_reason.clone(),
            previous_secret_expires_at: self
                .previous_expires_at
                .filter(|_| self.previous_secret.is_some())
                .map(secs_rfc3339),
            failing_since: self.failing_since.map(secs_rfc3339),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

fn secs_rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(crate::clock::rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

/// A subscription as the admin API shows it: never its secrets.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub disabled: bool,
    /// `gone` (the receiver answered 410) or `failing` (5 days of failed deliveries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Until when the previous secret still signs (after a rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /api/integrations/subscriptions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// `https://...`; `http://` only to a loopback address on the local stack.
    pub url: String,
    /// Event type names (see the catalogue) or `*`.
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub disabled: bool,
}

/// The create answer: the subscription and its secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionCreated {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// `whsec_...`: verify deliveries with it. Not shown again.
    pub secret: String,
}

/// `PATCH /api/integrations/subscriptions/{id}`: the fields to change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// `false` re-enables a subscription the hub disabled (and forgets its failing streak).
    pub disabled: Option<bool>,
}

/// `POST .../{id}/rotate`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
// Named apart from the incoming webhooks' `RotateSecret` (one namespace of schemas).
#[schema(as = SubscriptionRotateSecret)]
pub struct RotateSecret {
    /// How long the old secret keeps signing beside the new one (default 86400, at most 7 days).
    #[schema(maximum = 604800)]
    pub grace_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretRotated {
    pub id: String,
    /// The new `whsec_...` secret, shown this once.
    pub secret: String,
    /// Until when deliveries also carry a signature under the previous secret.
    pub previous_secret_expires_at: String,
}

/// `POST .../{id}/replay`: re-deliver every matching event published in `[since, until)`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
// Named apart from the incoming webhooks' `ReplayRange` (`from`/`to`), which the merged
// document showed for this operation too.
#[schema(as = SubscriptionReplayRange)]
pub struct ReplayRange {
    /// RFC 3339, in the past.
    #[schema(format = DateTime)]
    pub since: String,
    /// RFC 3339, after `since`; default now.
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayAccepted {
    /// Events queued for delivery again.
    pub queued: usize,
}

/// An event as stored and as delivered (`{type, timestamp, data}`; its id is `webhook-id`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Event {
    /// `evt_<uuid v7>`: stable across retries, replays and manual retries, so receivers
    /// deduplicate on it (`webhook-id`).
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339 with milliseconds.
    pub timestamp: String,
    pub data: serde_json::Value,
}

impl Event {
    /// The body a receiver gets.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": self.event_type,
            "timestamp": self.timestamp,
            "data": self.data,
        }))
        .unwrap_or_default()
    }
}

/// A new event id: `evt_` + a UUID v7 (time-ordered, so message listings sort by time).
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// A new subscription id.
pub fn new_subscription_id() -> String {
    format!("sub_{}", uuid::Uuid::now_v7().simple())
}

/// One delivery try, as recorded on its message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Attempt {
    /// 1-based, across every round (automatic, manual retry, replay).
    pub number: u32,
    pub at: String,
    /// `scheduled`, `manual` or `replay`.
    pub trigger: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// The first 1 KB of the answer body (lossy UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Why no HTTP answer was had (timeout, connection refused, refused address...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The state of one event's delivery to one subscription.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct MessageView {
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivering`, `succeeded`, `failed`.
    pub status: String,
    pub attempt_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub items: Vec<MessageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptList {
    pub event_id: String,
    pub status: String,
    pub items: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    pub items: Vec<SubscriptionView>,
}

/// `POST .../test` and `.../retry`: what was queued.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryQueued {
    pub event_id: String,
    pub subscription_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(types: &[&str]) -> Subscription {
        Subscription {
            id: "sub_1".into(),
            url: "https://x.example/h".into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            description: String::new(),
            disabled: false,
            disabled_reason: None,
            secret: "whsec_a".into(),
            previous_secret: Some("whsec_b".into()),
            previous_expires_at: Some(100),
            failing_since: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn wants_exact_names_or_star_and_never_when_disabled() {
        assert!(sub(&["sms.sent"]).wants("sms.sent"));
        assert!(!sub(&["sms.sent"]).wants("sms.failed"));
        assert!(sub(&["*"]).wants("ai.job.failed"));
        let mut s = sub(&["*"]);
        s.disabled = true;
        assert!(!s.wants("sms.sent"));
    }

    #[test]
    fn previous_secret_signs_only_during_its_grace() {
        let s = sub(&["*"]);
        assert_eq!(s.signing_secrets(99), vec!["whsec_a", "whsec_b"]);
        assert_eq!(s.signing_secrets(100), vec!["whsec_a"]);
        let view = serde_json::to_value(s.view()).unwrap();
        assert!(!view.to_string().contains("whsec_"), "{view}");
    }
}
