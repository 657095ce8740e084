//! SMS delivery reports (Kavenegar and Twilio status callbacks): the one parser, used by the
//! webhook worker and the SMS callback routes. Which provider a report belongs to is decided
//! by where it arrived (the webhook endpoint's `provider_slug`, the SMS callback route),
//! never by the body alone.

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
        Ok(Self::new(TWILIO, sid, status, param(params, "ErrorCode")))
    }

    /// Kavenegar's delivery callback: `messageid` and `status`. `Err` names the missing field.
    pub fn kavenegar(params: &[(String, String)]) -> Result<Self, &'static str> {
        let id = param(params, "messageid").ok_or("messageid")?;
        let status = param(params, "status").ok_or("status")?;
        Ok(Self::new(KAVENEGAR, id, status, None))
    }

    /// The provider whose report fields `params` carries (Twilio's `MessageSid` +
    /// `MessageStatus`, or Kavenegar's `messageid` + `status`), if any. Says only what the
    /// body looks like: which provider's report it IS is decided by the endpoint it came
    /// through ([`DeliveryReport::for_endpoint`]).
    pub fn looks_like(params: &[(String, String)]) -> Option<&'static str> {
        if Self::twilio(params).is_ok() {
            Some(TWILIO)
        } else if Self::kavenegar(params).is_ok() {
            Some(KAVENEGAR)
        } else {
            None
        }
    }

    /// The report of the endpoint's own provider: a Twilio report only through an endpoint
    /// whose `provider_slug` is `twilio`, a Kavenegar one only through a `kavenegar` endpoint.
    /// The provider is never inferred from the body alone, so an endpoint of another
    /// provider cannot rewrite SMS statuses.
    pub fn for_endpoint(
        endpoint_provider: &str,
        params: &[(String, String)],
    ) -> Result<Self, ReportRefusal> {
        let looks_like = Self::looks_like(params);
        let parsed = match endpoint_provider {
            TWILIO => Self::twilio(params),
            KAVENEGAR => Self::kavenegar(params),
            _ => Err(""),
        };
        match (parsed, looks_like) {
            (Ok(report), _) => Ok(report),
            (Err(_), Some(provider)) => Err(ReportRefusal::ProviderMismatch {
                report_provider: provider,
                endpoint_provider: endpoint_provider.to_string(),
            }),
            (Err(_), None) => Err(ReportRefusal::NotAReport),
        }
    }
}

/// Why a body was not taken as a delivery report of the endpoint's provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefusal {
    /// Nothing in it looks like a delivery report.
    #[error("not a delivery report")]
    NotAReport,
    /// It carries another provider's report fields.
    #[error(
        "a {report_provider} delivery report is applied only through an endpoint whose provider_slug is {report_provider:?}; this endpoint's is {endpoint_provider:?}"
    )]
    ProviderMismatch {
        report_provider: &'static str,
        endpoint_provider: String,
    },
}

/// The provider slugs whose delivery reports the hub understands (the SMS capability's).
pub const TWILIO: &str = "twilio";
pub const KAVENEGAR: &str = "kavenegar";

/// Parses the delivery report of the endpoint's provider from a form body (POST) or query
/// (GET, stored as the body).
pub fn parse_delivery_report(
    endpoint_provider: &str,
    body: &[u8],
) -> Result<DeliveryReport, ReportRefusal> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| ReportRefusal::NotAReport)?;
    DeliveryReport::for_endpoint(endpoint_provider, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twilio_and_kavenegar_reports() {
        let t = parse_delivery_report(
            "twilio",
            b"MessageSid=SM123&MessageStatus=undelivered&ErrorCode=30003&To=%2B15551234567",
        )
        .unwrap();
        assert_eq!(t.provider, "twilio");
        assert_eq!(t.status, "undelivered");
        assert_eq!(t.error_code.as_deref(), Some("30003"));
        assert!(!serde_json::to_string(&t).unwrap().contains("5551234567"));
        let k = parse_delivery_report("kavenegar", b"messageid=8792343&status=10").unwrap();
        assert_eq!(
            (k.provider.as_str(), k.status.as_str()),
            ("kavenegar", "delivered")
        );
        assert_eq!(
            parse_delivery_report("kavenegar", b"{\"a\":1}"),
            Err(ReportRefusal::NotAReport)
        );
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
        assert_eq!(
            DeliveryReport::looks_like(&params(&[("messageid", "77")])),
            None
        );
    }

    #[test]
    fn a_report_is_applied_only_through_its_providers_endpoint() {
        let kavenegar = b"messageid=8792343&status=10";
        // Never inferred from the body: the endpoint's provider decides.
        let refused = parse_delivery_report("payment-gateway", kavenegar).unwrap_err();
        assert_eq!(
            refused,
            ReportRefusal::ProviderMismatch {
                report_provider: "kavenegar",
                endpoint_provider: "payment-gateway".into()
            }
        );
        assert!(
            refused
                .to_string()
                .contains("provider_slug is \"kavenegar\"")
        );
        assert!(matches!(
            parse_delivery_report("twilio", kavenegar),
            Err(ReportRefusal::ProviderMismatch {
                report_provider: "kavenegar",
                ..
            })
        ));
        assert!(matches!(
            parse_delivery_report("kavenegar", b"MessageSid=SM1&MessageStatus=delivered"),
            Err(ReportRefusal::ProviderMismatch {
                report_provider: "twilio",
                ..
            })
        ));
        assert_eq!(
            parse_delivery_report("kavenegar", kavenegar)
                .unwrap()
                .provider,
            "kavenegar"
        );
        assert_eq!(
            parse_delivery_report("payment-gateway", b"a=1"),
            Err(ReportRefusal::NotAReport)
        );
    }
}
