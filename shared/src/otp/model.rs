//! The OTP API's request and response bodies (shared by the sms function and the domain).

use serde::{Deserialize, Serialize};

/// `POST /api/integrations/sms/otp/send`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendOtpRequest {
    /// `09123456789`, `+989123456789`, Persian/Arabic digits, or E.164 for other countries.
    #[schema(example = "09123456789")]
    pub receptor: String,
    /// Kavenegar `verify/lookup` template (default `SMS_OTP_TEMPLATE`, `verify`).
    #[schema(example = "verify")]
    pub template: Option<String>,
    /// Language of the local text (Twilio, console): `fa`, `pt-BR`, `en`. Default: by the
    /// receptor's country (`+98` fa, `+55` pt-BR, else en).
    #[schema(example = "fa")]
    pub language: Option<String>,
    /// `sms` (the only channel so far).
    #[schema(example = "sms")]
    pub channel: Option<String>,
    /// Service and admin tokens: the end user the code is for (counts against their SMS
    /// limit). User tokens: absent or their own id.
    pub user_id: Option<String>,
}

/// The answer to a send: never the code.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OtpSent {
    pub verification_id: String,
    /// Masked: `+98912*****89`.
    pub receptor: String,
    pub channel: String,
    /// `pending`.
    pub status: String,
    /// What became of the SMS: the provider's status (`queued`, `sent`, ...); `unknown` when
    /// its answer was lost after the request was written (the code may have arrived; it is
    /// not sent again, and the verification stands); `fallback` when the console fallback
    /// logged it (nothing was sent).
    pub delivery: crate::sms::SmsStatus,
    /// The SMS record (`GET /api/integrations/sms/{id}`).
    pub sms_message_id: String,
    /// RFC 3339: the code is refused after this.
    pub expires_at: String,
    /// RFC 3339: a new send to this receptor is accepted from this time.
    pub resend_after: String,
}

/// `POST /api/integrations/sms/otp/verify`: the verification by id, or the receptor's latest.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyOtpRequest {
    pub verification_id: Option<String>,
    /// Instead of `verification_id`: the receptor's latest verification.
    pub receptor: Option<String>,
    /// The code as typed; Persian and Arabic digits are accepted (`۱۲۳۴۵۶`).
    #[schema(example = "123456")]
    pub code: String,
}

/// An approved verification.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OtpApproved {
    pub verification_id: String,
    /// `approved`.
    pub status: String,
    /// Masked.
    pub receptor: String,
    pub approved_at: String,
}

/// Sends and approvals of one template through one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OtpStatRow {
    pub template: String,
    /// `kavenegar`, `twilio` or `console`.
    pub provider: String,
    pub sends: u64,
    /// Sends (included in `sends`) whose outcome is unknown: the provider's answer was lost.
    pub unknown: u64,
    pub approvals: u64,
    /// approvals / sends (0 when nothing was sent).
    pub conversion_rate: f64,
}

/// `GET /api/integrations/sms/otp/statistics`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OtpStatistics {
    /// First day counted (UTC, `YYYY-MM-DD`).
    pub from: String,
    /// Last day counted.
    pub to: String,
    pub sends: u64,
    /// Sends whose outcome is unknown (included in `sends`).
    pub unknown: u64,
    pub approvals: u64,
    pub conversion_rate: f64,
    pub by_template_and_provider: Vec<OtpStatRow>,
}

pub fn rate(approvals: u64, sends: u64) -> f64 {
    if sends == 0 {
        0.0
    } else {
        approvals as f64 / sends as f64
    }
}
