//! Webhook signature schemes as pure functions: no I/O, no clock (the caller passes `now`),
//! no HTTP types (the edge hands over a [`HeaderView`] and the raw body). Everything that
//! compares a secret-derived value does so in constant time.
//!
//! One file per scheme, each a [`WebhookVerifier`]:
//! - [`standard`] (standardwebhooks.com, what Svix sends): headers `webhook-id`,
//!   `webhook-timestamp`, `webhook-signature`; signed content `{id}.{timestamp}.{raw body}`;
//!   HMAC-SHA256 keyed with the base64-decoded secret after `whsec_`; header value
//!   `v1,<base64>`, possibly several separated by spaces; timestamps more than the tolerance
//!   (5 minutes) away from now are refused, with distinct errors for old and future-dated ones.
//! - [`twilio`]: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, full public URL
//!   \+ each POST parameter name+value, sorted by name)). [`public_url`] rebuilds the URL
//!   Twilio called from what API Gateway hands the function.
//! - [`hmac_hex`]: hex HMAC-SHA256 of the raw body (or `{timestamp}.{body}` when a
//!   timestamp header is configured) in a configurable header, with an optional prefix such as
//!   `sha256=`.
//! - [`path_token`]: a secret token in the URL path, for providers that do not sign at all
//!   (Kavenegar delivery callbacks).
//!
//! Every verifier holds a list of keys, so a rotated secret keeps verifying during its grace
//! period: the caller puts the current key first and the previous one after it.

pub mod hmac_hex;
pub mod path_token;
pub mod standard;
pub mod twilio;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use hmac_hex::{HmacSha256Hex, hmac_sha256_hex};
pub use path_token::{PathToken, generate_path_token};
pub use standard::{
    DEFAULT_TOLERANCE_SECS, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
    SECRET_PREFIX, StandardWebhooks, decode_standard_secret, generate_standard_secret,
    standard_sign,
};
pub use twilio::{HEADER_TWILIO_SIGNATURE, TwilioSignature, twilio_signature};

use super::model::VerificationConfig;

/// Why a request failed verification. Each variant maps to a stable problem `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent (or the path token is).
    #[error("missing {0}")]
    Missing(String),
    /// A header is present but unreadable (not a number, not base64, ...).
    #[error("malformed {0}")]
    Malformed(String),
    /// No signature matched any of the keys.
    #[error("signature does not match")]
    Invalid,
    /// The signed timestamp is older than the tolerance: a replay or a very late retry.
    #[error("timestamp is {age_secs}s old (tolerance {tolerance_secs}s)")]
    Stale { age_secs: i64, tolerance_secs: i64 },
    /// The signed timestamp is further in the future than the tolerance.
    #[error("timestamp is {ahead_secs}s in the future (tolerance {tolerance_secs}s)")]
    Future {
        ahead_secs: i64,
        tolerance_secs: i64,
    },
}

impl VerifyError {
    /// The stable problem code a receiver answers with.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Missing(_) => "missing_signature",
            VerifyError::Malformed(_) | VerifyError::Invalid => "invalid_signature",
            VerifyError::Stale { .. } => "stale_timestamp",
            VerifyError::Future { .. } => "future_timestamp",
        }
    }
}

/// The request headers a verifier reads: (name, raw value) pairs, built at the edge from
/// whatever the HTTP layer holds, e.g. `HeaderView::new(headers.iter().map(|(k, v)|
/// (k.as_str(), v.as_bytes())))`. Names match case-insensitively; of repeated names the
/// first value counts.
#[derive(Debug, Clone, Default)]
pub struct HeaderView<'a> {
    pairs: Vec<(&'a str, &'a [u8])>,
}

impl<'a> HeaderView<'a> {
    pub fn new(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        Self {
            pairs: pairs.into_iter().collect(),
        }
    }

    /// From text values (tests, callers that already hold strings).
    pub fn from_text(pairs: &'a [(&'a str, &'a str)]) -> Self {
        Self::new(pairs.iter().map(|(k, v)| (*k, v.as_bytes())))
    }

    /// The raw value of a header.
    pub fn raw(&self, name: &str) -> Option<&'a [u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The value as text, when it is visible ASCII (what HTTP header values are meant to be);
    /// `None` when absent or not text.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.raw(name).and_then(visible_ascii)
    }
}

fn visible_ascii(raw: &[u8]) -> Option<&str> {
    raw.iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(raw).ok())
        .flatten()
}

/// What a verifier looks at. Borrowed, so verification copies nothing.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    pub headers: &'a HeaderView<'a>,
    /// The raw body bytes exactly as received (already base64-decoded by the edge).
    pub body: &'a [u8],
    /// The full public URL the provider called, including the query (Twilio signs it).
    pub public_url: &'a str,
    /// The token segment of the path, for [`PathToken`].
    pub path_token: Option<&'a str>,
    /// Unix seconds; injected so tests control the clock.
    pub now: i64,
}

/// A signature scheme. Implementations are pure: same input, same answer.
pub trait WebhookVerifier {
    fn verify(&self, request: &InboundRequest<'_>) -> Result<(), VerifyError>;
}

/// All schemes behind one type, so an endpoint's configuration picks one at runtime.
#[derive(Debug, Clone)]
pub enum Verifier {
    StandardWebhooks(StandardWebhooks),
    Twilio(TwilioSignature),
    HmacSha256Hex(HmacSha256Hex),
    PathToken(PathToken),
}

impl Verifier {
    /// The verifier an endpoint's settings describe, keyed with `keys` (current first).
    /// Fails only when a key is unusable for the scheme (a Standard Webhooks secret that is
    /// not base64).
    pub fn for_config(config: &VerificationConfig, keys: Vec<String>) -> Result<Self, VerifyError> {
        Ok(match config {
            VerificationConfig::StandardWebhooks { tolerance_seconds } => {
                Verifier::StandardWebhooks(StandardWebhooks::from_secrets(
                    &keys,
                    *tolerance_seconds,
                )?)
            }
            VerificationConfig::Twilio {} => Verifier::Twilio(TwilioSignature::new(keys)),
            VerificationConfig::HmacSha256 {
                signature_header,
                signature_prefix,
                timestamp_header,
                tolerance_seconds,
            } => Verifier::HmacSha256Hex(HmacSha256Hex {
                keys: keys.into_iter().map(String::into_bytes).collect(),
                signature_header: signature_header.clone(),
                signature_prefix: signature_prefix.clone(),
                timestamp_header: timestamp_header.clone(),
                tolerance_secs: *tolerance_seconds,
            }),
            VerificationConfig::PathToken {} => Verifier::PathToken(PathToken::new(keys)),
        })
    }
}

impl WebhookVerifier for Verifier {
    fn verify(&self, request: &InboundRequest<'_>) -> Result<(), VerifyError> {
        match self {
            Verifier::StandardWebhooks(v) => v.verify(request),
            Verifier::Twilio(v) => v.verify(request),
            Verifier::HmacSha256Hex(v) => v.verify(request),
            Verifier::PathToken(v) => v.verify(request),
        }
    }
}

// ---------------------------------------------------------------------------------------
// helpers shared by the schemes

/// Constant-time equality of two byte strings of possibly different lengths: both are hashed
/// first, so neither the content nor the length of the expected value leaks through timing.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let ha = Sha256::digest(a);
    let hb = Sha256::digest(b);
    bool::from(ha.ct_eq(&hb))
}

/// Constant-time comparison of a presented MAC with an expected one (lengths are public).
fn mac_matches(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
}

/// Accepts when some key matched; no reason beyond "does not match" is given.
fn verdict(matched: bool) -> Result<(), VerifyError> {
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Invalid)
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// A header the scheme needs: missing (or blank) and unreadable apart.
fn header<'a>(headers: &HeaderView<'a>, name: &str) -> Result<&'a str, VerifyError> {
    let raw = headers
        .raw(name)
        .ok_or_else(|| VerifyError::Missing(format!("{name} header")))?;
    let value = visible_ascii(raw)
        .ok_or_else(|| VerifyError::Malformed(format!("{name} header")))?
        .trim();
    if value.is_empty() {
        return Err(VerifyError::Missing(format!("{name} header")));
    }
    Ok(value)
}

/// Refuses timestamps further than `tolerance` from `now`, old and future-dated apart.
pub fn check_timestamp(timestamp: i64, now: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    if now - timestamp > tolerance_secs {
        return Err(VerifyError::Stale {
            age_secs: now - timestamp,
            tolerance_secs,
        });
    }
    if timestamp - now > tolerance_secs {
        return Err(VerifyError::Future {
            ahead_secs: timestamp - now,
            tolerance_secs,
        });
    }
    Ok(())
}

fn parse_timestamp(raw: &str, name: &str) -> Result<i64, VerifyError> {
    raw.parse::<i64>()
        .map_err(|_| VerifyError::Malformed(format!("{name} header (expected unix seconds)")))
}

/// Rebuilds the public URL a provider called, behind API Gateway: scheme from
/// `X-Forwarded-Proto` (first hop; https when absent, since API Gateway only serves https),
/// host from `X-Forwarded-Host` or `Host`, then the request path and query as received.
/// `base_override` (e.g. `WEBHOOK_PUBLIC_BASE_URL=https://hooks.example.com`) wins over the
/// headers when a custom domain or CDN rewrites them.
pub fn public_url(
    headers: &HeaderView<'_>,
    path_and_query: &str,
    base_override: Option<&str>,
) -> String {
    if let Some(base) = base_override {
        return format!("{}{}", base.trim_end_matches('/'), path_and_query);
    }
    let first = |name: &str| {
        headers
            .text(name)
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let proto = first("x-forwarded-proto").unwrap_or_else(|| "https".into());
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .unwrap_or_else(|| "localhost".into());
    format!("{proto}://{host}{path_and_query}")
}

/// Form parameters of a body, or none when the body is not a form.
pub fn form_params(headers: &HeaderView<'_>, body: &[u8]) -> Vec<(String, String)> {
    let is_form = headers
        .text("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Vec::new();
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Runs a verifier over text headers and a body at `now`.
    pub fn check(
        v: &impl WebhookVerifier,
        headers: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let headers = HeaderView::from_text(headers);
        v.verify(&InboundRequest {
            headers: &headers,
            body,
            public_url: "https://hooks.example.com/x",
            path_token: None,
            now,
        })
    }

    #[test]
    fn header_view_matches_names_case_insensitively_and_refuses_non_text() {
        let pairs: [(&str, &[u8]); 3] = [
            ("Content-Type", b"application/json"),
            ("x-sig", b"caf\xc3\xa9"),
            ("content-type", b"text/plain"),
        ];
        let h = HeaderView::new(pairs);
        assert_eq!(h.text("content-type"), Some("application/json"));
        assert_eq!(h.text("x-sig"), None);
        assert_eq!(header(&h, "x-sig").unwrap_err().code(), "invalid_signature");
        assert_eq!(
            header(&h, "x-none").unwrap_err().code(),
            "missing_signature"
        );
    }

    #[test]
    fn public_url_behind_api_gateway() {
        let pairs = [
            ("host", "abc.execute-api.eu-west-1.amazonaws.com"),
            ("x-forwarded-proto", "https"),
        ];
        let h = HeaderView::from_text(&pairs);
        assert_eq!(
            public_url(&h, "/api/integrations/webhook/sms?x=1", None),
            "https://abc.execute-api.eu-west-1.amazonaws.com/api/integrations/webhook/sms?x=1"
        );
        let pairs = [
            ("host", "abc.execute-api.eu-west-1.amazonaws.com"),
            ("x-forwarded-proto", "http, https"),
        ];
        let h = HeaderView::from_text(&pairs);
        assert!(public_url(&h, "/p", None).starts_with("http://abc."));
        assert_eq!(
            public_url(&h, "/p?q", Some("https://hooks.example.com/")),
            "https://hooks.example.com/p?q"
        );
        assert_eq!(
            public_url(&HeaderView::default(), "/p", None),
            "https://localhost/p"
        );
    }
}
