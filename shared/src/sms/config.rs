//! The SMS capability's settings, read once at cold start.

use std::collections::HashMap;
use std::time::Duration;

use super::SmsContent;
use crate::config::{ConfigError, Env};
use crate::retry::RetryPolicy;

pub const DEFAULT_OTP_BODY: &str = "Your verification code is {token}";

#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// `SMS_BULK_QUEUE_URL`: where bulk chunks go (bulk answers 503 without it).
    pub bulk_queue_url: Option<String>,
    /// `REDRIVE_AFTER_SECONDS` (60): how long after a bulk chunk is stored the re-drive
    /// sweeper sends its queue message again if no worker has claimed it (`shared::redrive`).
    pub redrive_after: Duration,
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
    /// How provider calls are retried: `SMS_MAX_ATTEMPTS` (3) in all, from
    /// `SMS_RETRY_BASE_MS` (250) doubling, each wait at most `SMS_RETRY_MAX_MS` (4000). Only
    /// errors the provider calls retryable (throttling, 5xx, timeouts of reads) are retried.
    pub retry: RetryPolicy,
    /// `SMS_MESSAGE_TTL_DAYS` (90): how long message and batch records are kept.
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
    /// Whether the console fallback may answer when no provider is configured:
    /// `SMS_FALLBACK=console` (yes) or `none` (no); unset: only on the local stage
    /// (`STAGE=local`, the default of `make dev` and the tests), never on AWS, where an
    /// unconfigured SMS send is a 503 `sms_not_configured`.
    pub console_fallback: bool,
}

/// `SMS_FALLBACK` (`console` | `none`), or the stage's default.
fn console_fallback_from_env(env: &Env) -> Result<bool, ConfigError> {
    match env.optional("SMS_FALLBACK").as_deref().map(str::trim) {
        Some("console") => Ok(true),
        Some("none") | Some("") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            name: "SMS_FALLBACK".into(),
            reason: format!("expected console or none, got {other:?}"),
        }),
        None => Ok(env.optional("STAGE").is_none_or(|s| s == "local")),
    }
}

/// `SMS_MESSAGE_TTL_DAYS` (default 90) as a duration: the store's record lifetime.
pub fn message_ttl_from_env(env: &Env) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(
        env.parse_or("SMS_MESSAGE_TTL_DAYS", 90u64)? * 86_400,
    ))
}

fn templates_from_env(env: &Env) -> Result<HashMap<String, String>, ConfigError> {
    let mut templates = HashMap::from([("verify".to_string(), DEFAULT_OTP_BODY.to_string())]);
    if let Some(raw) = env.optional("SMS_TEMPLATES") {
        let parsed: HashMap<String, String> =
            serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid {
                name: "SMS_TEMPLATES".into(),
                reason: format!("expected a JSON object of template name to body: {e}"),
            })?;
        templates.extend(parsed);
    }
    Ok(templates)
}

fn retry_from_env(env: &Env) -> Result<RetryPolicy, ConfigError> {
    Ok(RetryPolicy {
        max_attempts: env.parse_or("SMS_MAX_ATTEMPTS", 3u32)?.max(1),
        base_delay: Duration::from_millis(env.parse_or("SMS_RETRY_BASE_MS", 250u64)?),
        max_delay: Duration::from_millis(env.parse_or("SMS_RETRY_MAX_MS", 4_000u64)?),
    })
}

impl SmsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bulk_queue_url: env.url("SMS_BULK_QUEUE_URL")?,
            redrive_after: crate::redrive::after_from_env(env),
            otp_template: env
                .optional("SMS_OTP_TEMPLATE")
                .unwrap_or_else(|| "verify".into()),
            templates: templates_from_env(env)?,
            otp_body: env
                .optional("SMS_OTP_BODY")
                .unwrap_or_else(|| DEFAULT_OTP_BODY.into()),
            callback_base_url: env.url("SMS_CALLBACK_BASE_URL")?,
            retry: retry_from_env(env)?,
            message_ttl: message_ttl_from_env(env)?,
            claim_stale_after: Duration::from_secs(
                env.parse_or("SMS_CLAIM_STALE_SECONDS", 120u64)?,
            ),
            chunk_max_receives: env.parse_or("SMS_CHUNK_MAX_RECEIVES", 4u32)?.max(1),
            twilio_concurrency: env.parse_or("SMS_TWILIO_CONCURRENCY", 10usize)?.max(1),
            console_fallback: console_fallback_from_env(env)?,
        })
    }

    /// The URL Twilio is given for status callbacks, when the public URL is known.
    pub fn twilio_status_callback(&self) -> Option<String> {
        self.callback_base_url
            .as_ref()
            .map(|b| format!("{b}/api/integrations/sms/callbacks/twilio"))
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

    #[test]
    fn the_console_fallback_is_a_setting_local_by_default() {
        let fallback = |pairs: &[(&str, &str)]| {
            SmsConfig::from_env(&Env::from_pairs(pairs.iter().copied())).map(|c| c.console_fallback)
        };
        assert!(fallback(&[]).unwrap());
        assert!(fallback(&[("STAGE", "local")]).unwrap());
        assert!(!fallback(&[("STAGE", "prod")]).unwrap());
        assert!(fallback(&[("STAGE", "prod"), ("SMS_FALLBACK", "console")]).unwrap());
        assert!(!fallback(&[("SMS_FALLBACK", "none")]).unwrap());
        assert!(fallback(&[("SMS_FALLBACK", "log")]).is_err());
    }

    #[test]
    fn message_ttl_follows_the_setting() {
        let default = SmsConfig::from_env(&Env::from_pairs(Vec::<(&str, &str)>::new())).unwrap();
        assert_eq!(default.message_ttl, Duration::from_secs(90 * 86_400));
        let two = Env::from_pairs([("SMS_MESSAGE_TTL_DAYS", "2")]);
        assert_eq!(
            message_ttl_from_env(&two).unwrap(),
            Duration::from_secs(2 * 86_400)
        );
        assert_eq!(
            SmsConfig::from_env(&two).unwrap().message_ttl,
            Duration::from_secs(2 * 86_400)
        );
    }
}
