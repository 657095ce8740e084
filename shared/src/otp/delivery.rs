//! Delivery of a code: the one place the OTP capability calls the SMS service's public send
//! API. Kavenegar gets `verify/lookup` with the template and the code as `token` (its
//! template holds the text); Twilio and the console fallback render the template locally,
//! so each language has an SMS service whose OTP text is that language's (three small
//! structs sharing the same clients, built once at cold start).

use std::collections::HashMap;

use super::code::Code;
use super::{Language, OtpError};
use crate::error::DomainError;
use crate::sms::{Phone, SmsConfig, SmsContent, SmsError, SmsService, SmsStatus};

/// What took the message.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// `kavenegar`, `twilio` or `console`.
    pub provider: String,
    /// The SMS record's id (`GET /api/integrations/sms/{id}`).
    pub message_id: String,
    /// The provider's status, `unknown` (its answer was lost: the code may have arrived) or
    /// `fallback` (the console logged it).
    pub status: SmsStatus,
}

pub struct OtpDelivery {
    by_language: HashMap<Language, SmsService>,
}

impl OtpDelivery {
    /// `sms_for(config)` builds one SMS service for a configuration (the wiring passes
    /// its `sms_service_with`).
    pub fn new<E>(
        base: &SmsConfig,
        ttl_minutes: u64,
        mut sms_for: impl FnMut(SmsConfig) -> Result<SmsService, E>,
    ) -> Result<Self, E> {
        let by_language = Language::ALL
            .into_iter()
            .map(|lang| Ok((lang, sms_for(localized(base, lang, ttl_minutes))?)))
            .collect::<Result<_, E>>()?;
        Ok(Self { by_language })
    }

    pub async fn deliver(
        &self,
        phone: &Phone,
        template: &str,
        code: &Code,
        language: Language,
        owner: &str,
        request_id: &str,
    ) -> Result<Delivered, OtpError> {
        let sms = &self.by_language[&language];
        let content = SmsContent::Otp {
            template: template.to_string(),
            token: code.expose().to_string(),
        };
        let sent = sms
            .send(phone.clone(), content, owner, request_id)
            .await
            .map_err(|e| match e {
                SmsError::Store(e) => OtpError::Store(e),
                // Nothing was sent: the configuration could not be read (retry), or no
                // provider is configured.
                e if e.code() == crate::error::DEPENDENCY_UNAVAILABLE => {
                    OtpError::Unavailable(e.to_string())
                }
                SmsError::NotConfigured => OtpError::NotConfigured(e.to_string()),
                e => OtpError::DeliveryFailed {
                    code: e.code(),
                    detail: e.to_string(),
                },
            })?;
        Ok(Delivered {
            provider: sent.provider,
            message_id: sent.message_id,
            status: sent.status,
        })
    }
}

/// The SMS settings with the language's OTP text, unless the operator gave the template a
/// text of their own (`SMS_TEMPLATES`).
fn localized(base: &SmsConfig, lang: Language, ttl_minutes: u64) -> SmsConfig {
    let mut config = base.clone();
    let text = super::otp_text(lang, ttl_minutes);
    for body in config.templates.values_mut() {
        if body.as_str() == crate::sms::config::DEFAULT_OTP_BODY {
            *body = text.clone();
        }
    }
    if config.otp_body == crate::sms::config::DEFAULT_OTP_BODY {
        config.otp_body = text;
    }
    config
}
