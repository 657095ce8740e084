//! OTP verification as a service: the hub makes the code, delivers it, stores only a keyed
//! hash, and checks it (the Twilio Verify shape; Kavenegar's `verify/lookup` only delivers).
//!
//! - [`code`]: codes from the OS CSPRNG (4-10 digits), Persian/Arabic digits read as ASCII,
//!   and [`code::CodeHasher`]: HMAC-SHA256 keyed by the `{stack}/otp` secret (read once, on
//!   first use), compared in constant time.
//! - [`delivery`]: the one place that calls the SMS service (Kavenegar `verify/lookup` with
//!   the template; Twilio or the console fallback with a localized text in fa, pt-BR or en).
//! - [`store`]: the DynamoDB items and their conditional writes.
//! - [`service::OtpService`]: send (a new send cancels the pending one), verify, statistics.
//!
//! # Storage (HUB_TABLE)
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | verification | `OTP#{id}` | `OTP` | `code_hash` (HMAC of id and code, never the code), masked receptor, `status` pending → approved / canceled, `attempts`, `code_expires_at`; TTL `expires_at` one day after the code expires. |
//! | receptor pointer | `OTPR#{hmac(receptor)}` | `OTPR` | the receptor's latest verification id and `sent_at_ms`; its conditional put is the resend cooldown and finds what a new send cancels. |
//! | statistics | `OTPSTAT` | `{day}#{template}#{provider}` | atomic `sends`, `approvals` (an approval counts on its send's day). |
//!
//! # Races
//! Every state change is one conditional write: approving needs `status = pending`, an
//! unexpired code and attempts left, so of 10 concurrent right answers exactly one is
//! approved; a wrong answer adds one attempt only while pending; the receptor pointer is
//! claimed only when the previous send is older than the cooldown.

pub mod code;
pub mod delivery;
pub mod error;
pub mod model;
pub mod service;
pub mod store;

use std::time::Duration;

use crate::config::{ConfigError, Env};

pub use error::OtpError;
pub use model::{OtpApproved, OtpSent, OtpStatistics, SendOtpRequest, VerifyOtpRequest};
pub use service::OtpService;

/// Shortest and longest code the hub makes.
pub const CODE_LENGTHS: std::ops::RangeInclusive<usize> = 4..=10;

/// The languages the hub writes in (the email templates' list): the OTP text exists in each.
pub use crate::email::Language;

/// A language tag as a request gives it (`fa`, `pt-BR`, `pt`, `en`, any case).
pub fn parse_language(tag: &str) -> Option<Language> {
    tag.parse().ok()
}

/// The receptor's likely language when the request names none: Iran Persian, Brazil
/// Portuguese, English elsewhere.
pub fn language_for(e164: &str) -> Language {
    if e164.starts_with("+98") {
        Language::Fa
    } else if e164.starts_with("+55") {
        Language::PtBr
    } else {
        Language::En
    }
}

/// The local OTP text (Twilio, console); `{token}` is the code (rendered by the SMS
/// module's templates).
pub fn otp_text(lang: Language, minutes: u64) -> String {
    match lang {
        Language::Fa => format!("کد تأیید شما: {{token}}\nاین کد تا {minutes} دقیقه معتبر است."),
        Language::PtBr => {
            format!("Seu código de verificação é {{token}}. Ele expira em {minutes} minutos.")
        }
        Language::En => {
            format!("Your verification code is {{token}}. It expires in {minutes} minutes.")
        }
    }
}

/// The OTP capability's settings, read once at cold start.
#[derive(Debug, Clone)]
pub struct OtpConfig {
    /// `OTP_CODE_LENGTH` (6, 4-10).
    pub code_length: usize,
    /// `OTP_TTL_SECONDS` (600): how long a code is valid.
    pub ttl: Duration,
    /// `OTP_MAX_ATTEMPTS` (5): wrong codes before a verification locks.
    pub max_attempts: u32,
    /// `SMS_OTP_TEMPLATE` (`verify`): the Kavenegar template when a request names none.
    pub default_template: String,
    /// The secret holding the HMAC key: `{SECRETS_PREFIX}/otp`.
    pub key_secret_id: String,
}

impl OtpConfig {
    pub fn from_env(env: &Env, secrets_prefix: &str) -> Result<Self, ConfigError> {
        let code_length = env.parse_or("OTP_CODE_LENGTH", 6usize)?;
        if !CODE_LENGTHS.contains(&code_length) {
            return Err(ConfigError::Invalid {
                name: "OTP_CODE_LENGTH".into(),
                reason: "must be between 4 and 10".into(),
            });
        }
        let ttl = env.parse_or("OTP_TTL_SECONDS", 600u64)?;
        if ttl == 0 {
            return Err(ConfigError::Invalid {
                name: "OTP_TTL_SECONDS".into(),
                reason: "must be positive".into(),
            });
        }
        Ok(Self {
            code_length,
            ttl: Duration::from_secs(ttl),
            max_attempts: env.parse_or("OTP_MAX_ATTEMPTS", 5u32)?.max(1),
            default_template: env
                .optional("SMS_OTP_TEMPLATE")
                .unwrap_or_else(|| "verify".into()),
            key_secret_id: format!("{secrets_prefix}/otp"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_and_default_by_country() {
        assert_eq!(parse_language("pt_br"), Some(Language::PtBr));
        assert_eq!(parse_language("FA"), Some(Language::Fa));
        assert_eq!(parse_language("de"), None);
        assert_eq!(language_for("+989123456789"), Language::Fa);
        assert_eq!(language_for("+5511987654321"), Language::PtBr);
        assert_eq!(language_for("+14155550100"), Language::En);
        assert!(otp_text(Language::PtBr, 10).contains("10 minutos"));
    }

    #[test]
    fn config_bounds_the_code_length() {
        let env = Env::from_pairs([("OTP_CODE_LENGTH", "3")]);
        assert!(OtpConfig::from_env(&env, "s").is_err());
        let cfg =
            OtpConfig::from_env(&Env::from_pairs(Vec::<(String, String)>::new()), "s").unwrap();
        assert_eq!((cfg.code_length, cfg.max_attempts), (6, 5));
        assert_eq!(cfg.key_secret_id, "s/otp");
    }
}
