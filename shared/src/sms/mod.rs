//! SMS: OTP, pattern (template) and text messages through Kavenegar and Twilio, bulk sends
//! through SQS, stored statuses, delivery reports, and a console fallback.
//!
//! - [`phone`]: numbers as typed (Iranian national `09…`, `+98…`, `0098…`, Persian and
//!   Arabic-Indic digits, spaces, dashes, parentheses; E.164 elsewhere) normalised to E.164 for
//!   storage and rendered in each provider's form when sent.
//! - [`provider`]: the [`provider::SmsProvider`] trait and its three implementations:
//!   Kavenegar (`verify/lookup` for OTP and patterns, `sms/send` for one text to up to 200
//!   receptors, `sms/sendarray` for one text per receptor, `sms/status`), Twilio
//!   (`Messages.json`, bodies of OTP/pattern messages rendered from local templates) and the
//!   console fallback used when neither is configured (logs the masked number, never the
//!   body or token). Every HTTP attempt is written to the integration log with a masked
//!   target; only errors the provider calls retryable are retried, with exponential backoff
//!   honouring `Retry-After`.
//! - [`service::SmsService`]: routing (`+98` numbers to Kavenegar first, the rest to Twilio
//!   first; failover to the other on outage, timeout, throttling or no credit, as
//!   [`crate::providers::ProviderError::should_fail_over`] says), single sends, bulk batches
//!   and the worker's chunk processing.
//! - [`store`]: the DynamoDB layout, and [`apply_delivery_report`], which the SMS callback
//!   routes and the webhooks worker both call to record a provider's delivery status.
//!
//! # Storage (HUB_TABLE)
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | message | `SMS#{id}` | `SMS` | E.164 receptor, type, provider, provider id, status; never the body or token. `gsi1pk = SMSREF#{provider}#{provider_message_id}` finds it from a delivery report. TTL `SMS_MESSAGE_TTL_DAYS` (90). |
//! | batch | `SMSBATCH#{id}` | `BATCH` | `total`, and atomic counters `queued`, `sent`, `failed`, `delivered`, `undelivered`. |
//! | chunk | `SMSBATCH#{id}` | `CHUNK#{n:05}` | up to 200 receptors of one route with their text(s) and request positions; `state` pending → claimed → done; after sending the texts are removed and the per-receptor results kept. TTL 7 days. |
//!
//! Bulk message ids are `{batch_id}-{position}` (position in the request), single sends get a
//! UUIDv7.
//!
//! # Exactly-once (at most once) in the worker
//! Queue messages name a chunk (`{"batch_id","chunk"}`), never numbers or text. Before calling
//! a provider the worker claims the chunk with a conditional write (`state = pending` →
//! `claimed`, with a per-attempt token and the time). A redelivered message finds the chunk
//! `claimed` or `done` and sends nothing. If the worker dies between the claim and the end of
//! the send, the chunk stays `claimed`; once the claim is older than the worker can live
//! (`SMS_CLAIM_STALE_SECONDS`), a redelivery marks its messages `unknown` (counted as failed)
//! rather than sending again: for SMS a possible duplicate (a second OTP, a second charge) is
//! worse than a reported failure the caller can retry. Whole-chunk failures that are
//! retryable (outage, throttling) release the claim before anything was sent, so SQS
//! redelivers and the chunk is tried again.

pub mod phone;
pub mod provider;
pub mod service;
pub mod store;

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Env};

pub use phone::{Phone, PhoneError};
pub use provider::{Accepted, Outgoing, SmsProvider};
pub use service::SmsService;
pub use store::apply_delivery_report;

/// Most receptors in one bulk request.
pub const MAX_BULK_RECEPTORS: usize = 10_000;
/// Longest text message accepted (characters); providers split long texts into parts.
pub const MAX_TEXT_CHARS: usize = 1_000;
/// Longest OTP/pattern token (Kavenegar's limit is 100; tokens may not contain whitespace).
pub const MAX_TOKEN_CHARS: usize = 100;

/// The three kinds of message (the Helsa `message_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// A one-time code: Kavenegar `verify/lookup` with `template` and `token`.
    Otp,
    /// A template with `token`..`token3`.
    Pattern,
    /// Free text (`message`).
    Text,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Otp => "otp",
            MessageType::Pattern => "pattern",
            MessageType::Text => "text",
        }
    }
}

/// What to send. `Debug` never prints tokens or text.
#[derive(Clone, PartialEq, Eq)]
pub enum SmsContent {
    Otp {
        template: String,
        token: String,
    },
    Pattern {
        template: String,
        tokens: [Option<String>; 3],
    },
    Text {
        message: String,
    },
}

impl std::fmt::Debug for SmsContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmsContent::Otp { template, .. } => {
                write!(f, "Otp {{ template: {template:?}, token: <redacted> }}")
            }
            SmsContent::Pattern { template, .. } => write!(
                f,
                "Pattern {{ template: {template:?}, tokens: <redacted> }}"
            ),
            SmsContent::Text { message } => {
                write!(f, "Text {{ message: <{} chars> }}", message.chars().count())
            }
        }
    }
}

impl SmsContent {
    pub fn message_type(&self) -> MessageType {
        match self {
            SmsContent::Otp { .. } => MessageType::Otp,
            SmsContent::Pattern { .. } => MessageType::Pattern,
            SmsContent::Text { .. } => MessageType::Text,
        }
    }

    pub fn template(&self) -> Option<&str> {
        match self {
            SmsContent::Otp { template, .. } | SmsContent::Pattern { template, .. } => {
                Some(template)
            }
            SmsContent::Text { .. } => None,
        }
    }

    /// `token`, `token2`, `token3` (OTP: only the first).
    pub fn tokens(&self) -> [Option<&str>; 3] {
        match self {
            SmsContent::Otp { token, .. } => [Some(token), None, None],
            SmsContent::Pattern { tokens, .. } => [
                tokens[0].as_deref(),
                tokens[1].as_deref(),
                tokens[2].as_deref(),
            ],
            SmsContent::Text { .. } => [None, None, None],
        }
    }
}

/// A message's status, the same words whichever provider sent it. The provider's own status
/// is kept beside it (`provider_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsStatus {
    /// Accepted by the provider, waiting to go out.
    Queued,
    Scheduled,
    /// Handed to the operator.
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Canceled,
    /// Blocked by the operator (Kavenegar 14: the receptor blocks promotional SMS).
    Filtered,
    /// The worker stopped between claiming and recording; whether it went out is unknown.
    Unknown,
}

impl SmsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsStatus::Queued => "queued",
            SmsStatus::Scheduled => "scheduled",
            SmsStatus::Sent => "sent",
            SmsStatus::Delivered => "delivered",
            SmsStatus::Undelivered => "undelivered",
            SmsStatus::Failed => "failed",
            SmsStatus::Canceled => "canceled",
            SmsStatus::Filtered => "filtered",
            SmsStatus::Unknown => "unknown",
        }
    }

    /// Order of progress: a report never moves a message backwards (callbacks arrive out
    /// of order, and a refresh can race a callback).
    pub fn rank(self) -> u8 {
        match self {
            SmsStatus::Queued | SmsStatus::Scheduled => 1,
            SmsStatus::Sent => 2,
            SmsStatus::Unknown => 2,
            _ => 3,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() == 3
    }

    /// Kavenegar's delivery statuses (`sms/status`, callbacks, send answers).
    pub fn from_kavenegar(code: i64) -> SmsStatus {
        match code {
            1 => SmsStatus::Queued,
            2 => SmsStatus::Scheduled,
            4 | 5 => SmsStatus::Sent,
            6 => SmsStatus::Failed,
            10 => SmsStatus::Delivered,
            11 => SmsStatus::Undelivered,
            13 => SmsStatus::Canceled,
            14 => SmsStatus::Filtered,
            100 => SmsStatus::Failed,
            _ => SmsStatus::Unknown,
        }
    }

    /// Twilio's message statuses.
    pub fn from_twilio(status: &str) -> SmsStatus {
        match status {
            "accepted" | "queued" | "sending" => SmsStatus::Queued,
            "scheduled" => SmsStatus::Scheduled,
            "sent" => SmsStatus::Sent,
            "delivered" | "read" => SmsStatus::Delivered,
            "undelivered" => SmsStatus::Undelivered,
            "failed" => SmsStatus::Failed,
            "canceled" => SmsStatus::Canceled,
            _ => SmsStatus::Unknown,
        }
    }

    /// A provider's status as it arrives in a report (Kavenegar: a number, Twilio: a word).
    pub fn from_provider(provider: &str, status: &str) -> SmsStatus {
        match provider {
            crate::providers::kavenegar::SLUG => status
                .trim()
                .parse()
                .map(SmsStatus::from_kavenegar)
                .unwrap_or(SmsStatus::Unknown),
            crate::providers::twilio::SLUG => SmsStatus::from_twilio(status.trim()),
            _ => SmsStatus::Unknown,
        }
    }
}

/// How provider calls are retried: only errors the provider calls retryable (throttling,
/// 5xx, timeouts), `max_attempts` in all, waiting `base * 2^n` (or the provider's
/// `Retry-After`), at most `max_delay`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(10));
        // A little jitter (up to a quarter) so concurrent workers do not retry in step.
        let jitter = exp.mul_f64((uuid::Uuid::new_v4().as_bytes()[0] as f64 / 255.0) * 0.25);
        retry_after.unwrap_or(exp + jitter).min(self.max_delay)
    }
}

/// The SMS capability's settings, read once at cold start.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// `SMS_BULK_QUEUE_URL`: where bulk chunks go (bulk answers 503 without it).
    pub bulk_queue_url: Option<String>,
    /// `SMS_OTP_TEMPLATE` (default `verify`): the Kavenegar template used when an OTP request
    /// names none.
    pub otp_template: String,
    /// Local templates for providers without server-side ones (Twilio, console):
    /// built-in `verify`, plus `SMS_TEMPLATES` (JSON object name → body with `{token}`,
    /// `{token2}`, `{token3}`).
    pub templates: HashMap<String, String>,
    /// `SMS_OTP_BODY`: the body of an OTP whose template has no local text.
    pub otp_body: String,
    /// `SMS_CALLBACK_BASE_URL`: the public API URL; when set, Twilio sends are given
    /// `StatusCallback = {base}/api/integrations/sms/callbacks/twilio`.
    pub callback_base_url: Option<String>,
    pub retry: RetryPolicy,
    /// `SMS_MESSAGE_TTL_DAYS` (90): how long message records are kept.
    pub message_ttl: Duration,
    /// `SMS_CLAIM_STALE_SECONDS` (120): a chunk claimed longer ago than this belongs to a
    /// worker that died (must exceed the worker's timeout).
    pub claim_stale_after: Duration,
    /// `SMS_CHUNK_MAX_RECEIVES` (4): on this delivery of a chunk message the worker stops
    /// asking SQS to retry a failing chunk and records its receptors as failed (below the
    /// queue's `maxReceiveCount` of 5, so counts always reconcile without the DLQ).
    pub chunk_max_receives: u32,
    /// `SMS_TWILIO_CONCURRENCY` (10): parallel Twilio requests within one chunk.
    pub twilio_concurrency: usize,
}

pub const DEFAULT_OTP_BODY: &str = "Your verification code is {token}";

impl SmsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut templates = HashMap::from([("verify".to_string(), DEFAULT_OTP_BODY.to_string())]);
        if let Some(raw) = env.optional("SMS_TEMPLATES") {
            let parsed: HashMap<String, String> =
                serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid {
                    name: "SMS_TEMPLATES".into(),
                    reason: format!("expected a JSON object of template name to body: {e}"),
                })?;
            templates.extend(parsed);
        }
        Ok(Self {
            bulk_queue_url: env.url("SMS_BULK_QUEUE_URL")?,
            otp_template: env
                .optional("SMS_OTP_TEMPLATE")
                .unwrap_or_else(|| "verify".into()),
            templates,
            otp_body: env
                .optional("SMS_OTP_BODY")
                .unwrap_or_else(|| DEFAULT_OTP_BODY.into()),
            callback_base_url: env.url("SMS_CALLBACK_BASE_URL")?,
            retry: RetryPolicy {
                max_attempts: env.parse_or("SMS_MAX_ATTEMPTS", 3u32)?.max(1),
                base: Duration::from_millis(env.parse_or("SMS_RETRY_BASE_MS", 250u64)?),
                max_delay: Duration::from_millis(env.parse_or("SMS_RETRY_MAX_MS", 4_000u64)?),
            },
            message_ttl: Duration::from_secs(env.parse_or("SMS_MESSAGE_TTL_DAYS", 90u64)? * 86_400),
            claim_stale_after: Duration::from_secs(
                env.parse_or("SMS_CLAIM_STALE_SECONDS", 120u64)?,
            ),
            chunk_max_receives: env.parse_or("SMS_CHUNK_MAX_RECEIVES", 4u32)?.max(1),
            twilio_concurrency: env.parse_or("SMS_TWILIO_CONCURRENCY", 10usize)?.max(1),
        })
    }

    /// Renders a local template: `{token}`, `{token2}`, `{token3}` replaced.
    pub fn render(&self, content: &SmsContent) -> Option<String> {
        match content {
            SmsContent::Text { message } => Some(message.clone()),
            SmsContent::Otp { template, .. } | SmsContent::Pattern { template, .. } => {
                let body = match (self.templates.get(template), content) {
                    (Some(b), _) => b.as_str(),
                    (None, SmsContent::Otp { .. }) => self.otp_body.as_str(),
                    (None, _) => return None,
                };
                let [t1, t2, t3] = content.tokens();
                Some(
                    body.replace("{token3}", t3.unwrap_or(""))
                        .replace("{token2}", t2.unwrap_or(""))
                        .replace("{token}", t1.unwrap_or("")),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_and_rank() {
        assert_eq!(
            SmsStatus::from_provider("kavenegar", "10"),
            SmsStatus::Delivered
        );
        assert_eq!(SmsStatus::from_provider("kavenegar", "4"), SmsStatus::Sent);
        assert_eq!(
            SmsStatus::from_provider("kavenegar", "14"),
            SmsStatus::Filtered
        );
        assert_eq!(
            SmsStatus::from_provider("twilio", "undelivered"),
            SmsStatus::Undelivered
        );
        assert!(SmsStatus::Delivered.rank() > SmsStatus::Sent.rank());
        assert!(SmsStatus::Sent.rank() > SmsStatus::Queued.rank());
    }

    #[test]
    fn renders_local_templates_and_redacts_debug() {
        let env = Env::from_pairs([(
            "SMS_TEMPLATES",
            r#"{"reminder":"Appointment {token} at {token2}"}"#,
        )]);
        let cfg = SmsConfig::from_env(&env).unwrap();
        let otp = SmsContent::Otp {
            template: "verify".into(),
            token: "12345".into(),
        };
        assert_eq!(cfg.render(&otp).unwrap(), "Your verification code is 12345");
        let p = SmsContent::Pattern {
            template: "reminder".into(),
            tokens: [Some("2025-01-20".into()), Some("14:00".into()), None],
        };
        assert_eq!(cfg.render(&p).unwrap(), "Appointment 2025-01-20 at 14:00");
        let unknown = SmsContent::Pattern {
            template: "nope".into(),
            tokens: [None, None, None],
        };
        assert!(cfg.render(&unknown).is_none());
        assert!(!format!("{otp:?}").contains("12345"));
        let bad = Env::from_pairs([("SMS_TEMPLATES", "[1]")]);
        assert!(
            SmsConfig::from_env(&bad)
                .unwrap_err()
                .to_string()
                .contains("SMS_TEMPLATES")
        );
    }
}
