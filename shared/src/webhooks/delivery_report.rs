//! SMS delivery reports (Kavenegar and Twilio status callbacks): the one parser, used by the
//! webhook worker and the SMS callback routes.

use serde::{Deserialize, Serialize};

/// The event type the receive path gives delivery reports.
pub const SMS_DELIVERY_REPORT: &str = "sms.delivery_report";

/// An SMS delivery report, parsed from a Kavenegar or Twilio status callback. Carries no
/// phone number or message text (Twilio's callback has `To`/`From`; they are not copied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryReport {
    /// `kavenegar` or `twilio`.
    pub provider: String,
    /// The provider's message id (`messageid`, `MessageSid`).
    pub provider_message_id: String,
    /// The provider's status as sent (`10`, `delivered`, ...).
    pub provider_status: String,
    /// The hub's SMS status (`queued`, `sent`, `delivered`, `undelivered`, `failed`, ...).
    pub status: String,
    #[serde(default)]
    pub error_code: Option<String>,
}

/// The hub's SMS status for a provider's status (the SMS capability's mapping, so a report
/// reads the same here and on the message).
pub fn normalize_status(provider: &str, raw: &str) -> &'static str {
    crate::sms::SmsStatus::from_provider(provider, raw).as_str()
}

/// A non-blank field of a form or query, trimmed.
pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

impl DeliveryReport {
    fn new(provider: &str, id: &str, status: &str, error_code: Option<&str>) -> Self {
        Self {
            provider: provider.into(),
            provider_message_id: id.into(),
            provider_status: status.into(),
            status: normalize_status(provider, status).into(),
            error_code: error_code.map(str::to_string),
        }
    }

    /// Twilio's status callback: `MessageSid` (or the older `SmsSid`), `MessageStatus` (or
    /// `SmsStatus`), `ErrorCode`. `Err` names the missing field.
    pub fn twilio(params: &[(String, String)]) -> Result<Self, &'static str> {
        let sid = param(params, "MessageSid")
            .or_else(|| param(params, "SmsSid"))
            .ok_or("MessageSid")?;
        let status = param(params, "MessageStatus")
            .or_else(|| param(params, "SmsStatus"))
            .ok_or("MessageStatus")?;
        Ok(Self::new("twilio", sid, status, param(params, "ErrorCode")))
    }

    /// Kavenegar's delivery callback: `messageid` and `status`. `Err` names the missing field.
    pub fn kavenegar(params: &[(String, String)]) -> Result<Self, &'static str> {
        let id = param(params, "messageid").ok_or("messageid")?;
        let status = param(params, "status").ok_or("status")?;
        Ok(Self::new("kavenegar", id, status, None))
    }

    /// Either provider's report, recognised by its fields.
    pub fn from_params(params: &[(String, String)]) -> Option<Self> {
        Self::twilio(params)
            .or_else(|_| Self::kavenegar(params))
            .ok()
    }

    /// Whether form fields look like a delivery report (the receive path's event type).
    pub fn is_report(params: &[(String, String)]) -> bool {
        (param(params, "MessageSid").is_some() && param(params, "MessageStatus").is_some())
            || (param(params, "messageid").is_some() && param(params, "status").is_some())
    }
}

/// Parses a delivery report from a form body (POST) or query (GET, stored as the body).
pub fn parse_delivery_report(body: &[u8]) -> Option<DeliveryReport> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    DeliveryReport::from_params(&params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twilio_and_kavenegar_reports() {
        let t = parse_delivery_report(
            b"MessageSid=SM123&MessageStatus=undelivered&ErrorCode=30003&To=%2B15551234567",
        )
        .unwrap();
        assert_eq!(t.provider, "twilio");
        assert_eq!(t.status, "undelivered");
        assert_eq!(t.error_code.as_deref(), Some("30003"));
        assert!(!serde_json::to_string(&t).unwrap().contains("5551234567"));
        let k = parse_delivery_report(b"messageid=8792343&status=10").unwrap();
        assert_eq!(
            (k.provider.as_str(), k.status.as_str()),
            ("kavenegar", "delivered")
        );
        assert!(parse_delivery_report(b"{\"a\":1}").is_none());
        assert_eq!(normalize_status("kavenegar", "4"), "sent");
        assert_eq!(normalize_status("kavenegar", "14"), "filtered");
        assert_eq!(normalize_status("twilio", "queued"), "queued");
    }

    #[test]
    fn missing_fields_are_named() {
        let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            DeliveryReport::twilio(&params(&[("MessageStatus", "sent")])),
            Err("MessageSid")
        );
        assert_eq!(
            DeliveryReport::twilio(&params(&[("SmsSid", "SM1"), ("SmsStatus", "sent")]))
                .unwrap()
                .provider_message_id,
            "SM1"
        );
        assert_eq!(
            DeliveryReport::kavenegar(&params(&[("messageid", " 77 ")])),
            Err("status")
        );
        assert!(!DeliveryReport::is_report(&params(&[("messageid", "77")])));
    }
}
