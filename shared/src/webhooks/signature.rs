//! Webhook signature schemes as pure functions: no I/O, no clock (the caller passes `now`),
//! no Lambda types. Everything that compares a secret-derived value does so in constant time.
//!
//! Schemes:
//! - [`StandardWebhooks`] (standardwebhooks.com, what Svix sends): headers `webhook-id`,
//!   `webhook-timestamp`, `webhook-signature`; signed content `{id}.{timestamp}.{raw body}`;
//!   HMAC-SHA256 keyed with the base64-decoded secret after `whsec_`; header value
//!   `v1,<base64>`, possibly several separated by spaces; timestamps more than the tolerance
//!   (5 minutes) away from now are refused, with distinct errors for old and future-dated ones.
//! - [`TwilioSignature`]: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, full public URL
//!   \+ each POST parameter name+value, sorted by name)). [`public_url`] rebuilds the URL
//!   Twilio called from what API Gateway hands the function.
//! - [`HmacSha256Hex`]: hex HMAC-SHA256 of the raw body (or `{timestamp}.{body}` when a
//!   timestamp header is configured) in a configurable header, with an optional prefix such as
//!   `sha256=`.
//! - [`PathToken`]: a secret token in the URL path, for providers that do not sign at all
//!   (Kavenegar delivery callbacks).
//!
//! Every verifier holds a list of keys, so a rotated secret keeps verifying during its grace
//! period: the caller puts the current key first and the previous one after it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Standard Webhooks' recommended tolerance between the signed timestamp and now.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;
pub const SECRET_PREFIX: &str = "whsec_";

pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";
pub const HEADER_TWILIO_SIGNATURE: &str = "x-twilio-signature";

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

impl From<VerifyError> for crate::error::ApiError {
    /// A 401 problem without `WWW-Authenticate: Bearer`: a provider cannot fix this with a JWT.
    fn from(e: VerifyError) -> Self {
        crate::error::ApiError::new(
            http::StatusCode::UNAUTHORIZED,
            e.code(),
            format!("webhook verification failed: {e}"),
        )
    }
}

/// What a verifier looks at. Borrowed, so verification copies nothing.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    pub headers: &'a HeaderMap,
    /// The raw body bytes exactly as received (already base64-decoded by lambda_http).
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
// constant-time helpers

/// Constant-time equality of two byte strings of possibly different lengths: both are hashed
/// first, so neither the content nor the length of the expected value leaks through timing.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let ha = Sha256::digest(a);
    let hb = Sha256::digest(b);
    bool::from(ha.ct_eq(&hb))
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, VerifyError> {
    let value = headers
        .get(name)
        .ok_or_else(|| VerifyError::Missing(format!("{name} header")))?;
    let value = value
        .to_str()
        .map_err(|_| VerifyError::Malformed(format!("{name} header")))?
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

// ---------------------------------------------------------------------------------------
// Standard Webhooks

/// Decodes a Standard Webhooks secret: base64 after an optional `whsec_` prefix (the
/// reference libraries accept both forms).
pub fn decode_standard_secret(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    B64.decode(b64.trim())
        .map_err(|_| VerifyError::Malformed("signing secret (expected whsec_<base64>)".into()))
}

/// A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_standard_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source is available");
    format!("{SECRET_PREFIX}{}", B64.encode(key))
}

/// A fresh URL-safe random token (32 random bytes, base64url without padding).
pub fn generate_path_token() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

/// `v1,<base64>` for one key: what a sender puts in `webhook-signature`.
pub fn standard_sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", B64.encode(mac))
}

#[derive(Debug, Clone)]
pub struct StandardWebhooks {
    /// Raw (decoded) keys; any one matching accepts the request.
    pub keys: Vec<Vec<u8>>,
    pub tolerance_secs: i64,
}

impl StandardWebhooks {
    /// From `whsec_…` secrets, current first.
    pub fn from_secrets<S: AsRef<str>>(
        secrets: &[S],
        tolerance_secs: i64,
    ) -> Result<Self, VerifyError> {
        let keys = secrets
            .iter()
            .map(|s| decode_standard_secret(s.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            keys,
            tolerance_secs,
        })
    }

    /// The `webhook-id`, the provider's own event id (the dedupe key).
    pub fn message_id(headers: &HeaderMap) -> Option<&str> {
        headers
            .get(HEADER_WEBHOOK_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

impl WebhookVerifier for StandardWebhooks {
    fn verify(&self, r: &InboundRequest<'_>) -> Result<(), VerifyError> {
        let id = header(r.headers, HEADER_WEBHOOK_ID)?;
        let ts_raw = header(r.headers, HEADER_WEBHOOK_TIMESTAMP)?;
        let signatures = header(r.headers, HEADER_WEBHOOK_SIGNATURE)?;
        let ts = parse_timestamp(ts_raw, HEADER_WEBHOOK_TIMESTAMP)?;
        // Timestamp first, like the reference libraries: a stale request costs no HMAC.
        check_timestamp(ts, r.now, self.tolerance_secs)?;
        let expected: Vec<[u8; 32]> = self
            .keys
            .iter()
            .map(|k| hmac_sha256(k, &[id.as_bytes(), b".", ts_raw.as_bytes(), b".", r.body]))
            .collect();
        let mut matched = false;
        for candidate in signatures.split(' ').filter(|s| !s.is_empty()) {
            let Some((version, sig)) = candidate.split_once(',') else {
                continue;
            };
            // Other versions (e.g. v1a, asymmetric) are skipped, as the spec says.
            if version != "v1" {
                continue;
            }
            let Ok(sig) = B64.decode(sig) else { continue };
            for e in &expected {
                // No early exit: every candidate is compared against every key.
                matched |= sig.len() == e.len() && bool::from(sig.as_slice().ct_eq(e.as_slice()));
            }
        }
        if matched {
            Ok(())
        } else {
            Err(VerifyError::Invalid)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Twilio

/// Twilio's signature over a URL and form parameters:
/// base64(HMAC-SHA1(auth token, url + name1 + value1 + name2 + value2 ...)), sorted by name.
pub fn twilio_signature<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &str,
    url: &str,
    params: &[(K, V)],
) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    // Sorted by name, then value (Twilio's libraries do the same for repeated names).
    sorted.sort();
    let mut content = String::with_capacity(url.len() + 64 * sorted.len());
    content.push_str(url);
    for (k, v) in sorted {
        content.push_str(k);
        content.push_str(v);
    }
    B64.encode(hmac_sha1(auth_token.as_bytes(), &[content.as_bytes()]))
}

/// Rebuilds the public URL a provider called, behind API Gateway: scheme from
/// `X-Forwarded-Proto` (first hop; https when absent, since API Gateway only serves https),
/// host from `X-Forwarded-Host` or `Host`, then the request path and query as received.
/// `base_override` (e.g. `WEBHOOK_PUBLIC_BASE_URL=https://hooks.example.com`) wins over the
/// headers when a custom domain or CDN rewrites them.
pub fn public_url(
    headers: &HeaderMap,
    path_and_query: &str,
    base_override: Option<&str>,
) -> String {
    if let Some(base) = base_override {
        return format!("{}{}", base.trim_end_matches('/'), path_and_query);
    }
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
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

/// The URL with and without its default port: Twilio may sign either form for https/http URLs
/// that carry an explicit port (its own libraries try both).
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match authority.rsplit_once(':') {
        Some((host, port)) if port == default_port => out.push(format!("{scheme}://{host}{tail}")),
        Some(_) => {}
        None => out.push(format!("{scheme}://{authority}:{default_port}{tail}")),
    }
    out
}

#[derive(Debug, Clone)]
pub struct TwilioSignature {
    /// Auth tokens, current first.
    pub auth_tokens: Vec<String>,
}

impl TwilioSignature {
    pub fn new<S: Into<String>>(auth_tokens: impl IntoIterator<Item = S>) -> Self {
        Self {
            auth_tokens: auth_tokens.into_iter().map(Into::into).collect(),
        }
    }

    /// Checks one signature against a URL and already-parsed parameters (the SMS capability
    /// can call this directly when it parses the form itself).
    pub fn verify_params(
        &self,
        signature: &str,
        url: &str,
        params: &[(String, String)],
    ) -> Result<(), VerifyError> {
        let presented = B64
            .decode(signature.trim())
            .map_err(|_| VerifyError::Malformed("X-Twilio-Signature header".into()))?;
        let mut matched = false;
        for token in &self.auth_tokens {
            for u in url_variants(url) {
                let expected = B64
                    .decode(twilio_signature(token, &u, params))
                    .unwrap_or_default();
                matched |= presented.len() == expected.len()
                    && bool::from(presented.as_slice().ct_eq(expected.as_slice()));
            }
        }
        if matched {
            Ok(())
        } else {
            Err(VerifyError::Invalid)
        }
    }
}

/// Form parameters of a body, or none when the body is not a form.
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let is_form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
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

impl WebhookVerifier for TwilioSignature {
    fn verify(&self, r: &InboundRequest<'_>) -> Result<(), VerifyError> {
        let signature = header(r.headers, HEADER_TWILIO_SIGNATURE)?;
        // JSON bodies (some Twilio products): the URL carries `bodySHA256`, the signature
        // covers the URL alone, and the body must hash to that value.
        let body_sha = r
            .public_url
            .split_once('?')
            .map(|(_, q)| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
            })
            .and_then(|q| {
                q.into_iter()
                    .find(|(k, _)| k == "bodySHA256")
                    .map(|(_, v)| v)
            });
        if let Some(expected_hex) = body_sha {
            self.verify_params(signature, r.public_url, &[])?;
            let actual = hex::encode(Sha256::digest(r.body));
            return if ct_eq(
                actual.as_bytes(),
                expected_hex.to_ascii_lowercase().as_bytes(),
            ) {
                Ok(())
            } else {
                Err(VerifyError::Invalid)
            };
        }
        self.verify_params(signature, r.public_url, &form_params(r.headers, r.body))
    }
}

// ---------------------------------------------------------------------------------------
// HMAC-SHA256 hex of the body

/// Hex HMAC-SHA256 of the body, or of `{timestamp}.{body}` when a timestamp header is set.
pub fn hmac_sha256_hex(key: &[u8], timestamp: Option<&str>, body: &[u8]) -> String {
    match timestamp {
        Some(ts) => hex::encode(hmac_sha256(key, &[ts.as_bytes(), b".", body])),
        None => hex::encode(hmac_sha256(key, &[body])),
    }
}

#[derive(Debug, Clone)]
pub struct HmacSha256Hex {
    pub keys: Vec<Vec<u8>>,
    /// Lower-case header name carrying the signature, e.g. `x-signature`.
    pub signature_header: String,
    /// Stripped from the header value when present, e.g. `sha256=` (GitHub style).
    pub signature_prefix: Option<String>,
    /// When set, the signed content is `{timestamp}.{body}` and the timestamp must be fresh.
    pub timestamp_header: Option<String>,
    pub tolerance_secs: i64,
}

impl WebhookVerifier for HmacSha256Hex {
    fn verify(&self, r: &InboundRequest<'_>) -> Result<(), VerifyError> {
        let raw = header(r.headers, &self.signature_header)?;
        let hex_sig = match &self.signature_prefix {
            Some(p) => raw.strip_prefix(p.as_str()).unwrap_or(raw),
            None => raw,
        };
        let presented = hex::decode(hex_sig.trim()).map_err(|_| {
            VerifyError::Malformed(format!("{} header (expected hex)", self.signature_header))
        })?;
        let timestamp = match &self.timestamp_header {
            Some(name) => {
                let ts_raw = header(r.headers, name)?;
                check_timestamp(parse_timestamp(ts_raw, name)?, r.now, self.tolerance_secs)?;
                Some(ts_raw)
            }
            None => None,
        };
        let mut matched = false;
        for key in &self.keys {
            let expected = match timestamp {
                Some(ts) => hmac_sha256(key, &[ts.as_bytes(), b".", r.body]),
                None => hmac_sha256(key, &[r.body]),
            };
            matched |= presented.len() == expected.len()
                && bool::from(presented.as_slice().ct_eq(expected.as_slice()));
        }
        if matched {
            Ok(())
        } else {
            Err(VerifyError::Invalid)
        }
    }
}

// ---------------------------------------------------------------------------------------
// secret path token

#[derive(Debug, Clone)]
pub struct PathToken {
    /// Accepted tokens, current first.
    pub tokens: Vec<String>,
}

impl PathToken {
    pub fn new<S: Into<String>>(tokens: impl IntoIterator<Item = S>) -> Self {
        Self {
            tokens: tokens.into_iter().map(Into::into).collect(),
        }
    }

    /// Checks a presented token against every accepted one, in constant time.
    pub fn check(&self, presented: Option<&str>) -> Result<(), VerifyError> {
        let presented = presented
            .filter(|t| !t.is_empty())
            .ok_or_else(|| VerifyError::Missing("path token".into()))?;
        let mut matched = false;
        for t in &self.tokens {
            matched |= ct_eq(t.as_bytes(), presented.as_bytes());
        }
        if matched {
            Ok(())
        } else {
            Err(VerifyError::Invalid)
        }
    }
}

impl WebhookVerifier for PathToken {
    fn verify(&self, r: &InboundRequest<'_>) -> Result<(), VerifyError> {
        self.check(r.path_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    // Standard Webhooks reference vector (standard-webhooks / svix-webhooks library tests).
    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TS: i64 = 1614265330;
    const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn sw_headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER_WEBHOOK_ID, HeaderValue::from_str(id).unwrap());
        h.insert(HEADER_WEBHOOK_TIMESTAMP, HeaderValue::from_str(ts).unwrap());
        h.insert(
            HEADER_WEBHOOK_SIGNATURE,
            HeaderValue::from_str(sig).unwrap(),
        );
        h
    }

    fn req<'a>(headers: &'a HeaderMap, body: &'a [u8], now: i64) -> InboundRequest<'a> {
        InboundRequest {
            headers,
            body,
            public_url: "https://hooks.example.com/x",
            path_token: None,
            now,
        }
    }

    fn sw() -> StandardWebhooks {
        StandardWebhooks::from_secrets(&[SW_SECRET], DEFAULT_TOLERANCE_SECS).unwrap()
    }

    #[test]
    fn standard_webhooks_reference_vector_signs_and_verifies() {
        let key = decode_standard_secret(SW_SECRET).unwrap();
        assert_eq!(standard_sign(&key, SW_ID, SW_TS, SW_BODY), SW_SIG);
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        assert_eq!(sw().verify(&req(&h, SW_BODY, SW_TS)), Ok(()));
        // Without the prefix, as the reference libraries also accept.
        let bare =
            StandardWebhooks::from_secrets(&["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], 300).unwrap();
        assert_eq!(bare.verify(&req(&h, SW_BODY, SW_TS + 10)), Ok(()));
    }

    #[test]
    fn standard_webhooks_accepts_any_of_several_signatures() {
        let h = sw_headers(
            SW_ID,
            "1614265330",
            &format!("v1,bm9wZQ== v1a,abc {SW_SIG}"),
        );
        assert_eq!(sw().verify(&req(&h, SW_BODY, SW_TS)), Ok(()));
        let h = sw_headers(
            SW_ID,
            "1614265330",
            "v1,bm9wZQ== v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        assert_eq!(
            sw().verify(&req(&h, SW_BODY, SW_TS)),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn standard_webhooks_refuses_tampering() {
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        assert_eq!(
            sw().verify(&req(&h, br#"{"test": 2432232315}"#, SW_TS)),
            Err(VerifyError::Invalid)
        );
        let h = sw_headers("msg_other", "1614265330", SW_SIG);
        assert_eq!(
            sw().verify(&req(&h, SW_BODY, SW_TS)),
            Err(VerifyError::Invalid)
        );
        let h = sw_headers(SW_ID, "1614265331", SW_SIG);
        assert_eq!(
            sw().verify(&req(&h, SW_BODY, SW_TS)),
            Err(VerifyError::Invalid)
        );
        let other = StandardWebhooks::from_secrets(&[generate_standard_secret()], 300).unwrap();
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        assert_eq!(
            other.verify(&req(&h, SW_BODY, SW_TS)),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn standard_webhooks_timestamps_stale_and_future_are_distinct() {
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        let stale = sw().verify(&req(&h, SW_BODY, SW_TS + 301)).unwrap_err();
        assert_eq!(
            stale,
            VerifyError::Stale {
                age_secs: 301,
                tolerance_secs: 300
            }
        );
        assert_eq!(stale.code(), "stale_timestamp");
        let future = sw().verify(&req(&h, SW_BODY, SW_TS - 301)).unwrap_err();
        assert_eq!(future.code(), "future_timestamp");
        assert_eq!(sw().verify(&req(&h, SW_BODY, SW_TS + 300)), Ok(()));
        assert_eq!(sw().verify(&req(&h, SW_BODY, SW_TS - 300)), Ok(()));
        let h = sw_headers(SW_ID, "yesterday", SW_SIG);
        assert_eq!(
            sw().verify(&req(&h, SW_BODY, SW_TS)).unwrap_err().code(),
            "invalid_signature"
        );
    }

    #[test]
    fn standard_webhooks_missing_headers_are_named() {
        for missing in [
            HEADER_WEBHOOK_ID,
            HEADER_WEBHOOK_TIMESTAMP,
            HEADER_WEBHOOK_SIGNATURE,
        ] {
            let mut h = sw_headers(SW_ID, "1614265330", SW_SIG);
            h.remove(missing);
            let err = sw().verify(&req(&h, SW_BODY, SW_TS)).unwrap_err();
            assert_eq!(err.code(), "missing_signature");
            assert!(err.to_string().contains(missing), "{err}");
        }
    }

    #[test]
    fn standard_webhooks_rotation_accepts_previous_key() {
        let new = generate_standard_secret();
        assert!(new.starts_with("whsec_") && decode_standard_secret(&new).unwrap().len() == 32);
        let rotated = StandardWebhooks::from_secrets(&[new.as_str(), SW_SECRET], 300).unwrap();
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        assert_eq!(rotated.verify(&req(&h, SW_BODY, SW_TS)), Ok(()));
    }

    // Twilio's documented example (twilio.com/docs/usage/security, twilio-python tests).
    const TW_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const TW_SIG: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
    fn tw_params() -> Vec<(String, String)> {
        [
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn twilio_reference_vector() {
        assert_eq!(twilio_signature("12345", TW_URL, &tw_params()), TW_SIG);
        let v = TwilioSignature::new(["12345"]);
        assert_eq!(v.verify_params(TW_SIG, TW_URL, &tw_params()), Ok(()));
        let mut tampered = tw_params();
        tampered[2].1 = "9999".into();
        assert_eq!(
            v.verify_params(TW_SIG, TW_URL, &tampered),
            Err(VerifyError::Invalid)
        );
        assert_eq!(
            v.verify_params(
                TW_SIG,
                "https://mycompany.com/myapp.php?foo=1&bar=3",
                &tw_params()
            ),
            Err(VerifyError::Invalid)
        );
        assert_eq!(
            TwilioSignature::new(["54321"]).verify_params(TW_SIG, TW_URL, &tw_params()),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn twilio_verifies_a_form_post_and_port_variants() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        h.insert(HEADER_TWILIO_SIGNATURE, HeaderValue::from_static(TW_SIG));
        let body = b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&From=%2B12349013030&Caller=%2B12349013030";
        let v = TwilioSignature::new(["12345"]);
        let r = InboundRequest {
            headers: &h,
            body,
            public_url: TW_URL,
            path_token: None,
            now: 0,
        };
        assert_eq!(v.verify(&r), Ok(()));
        let with_port = InboundRequest {
            public_url: "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            ..r
        };
        assert_eq!(v.verify(&with_port), Ok(()));
        h.remove(HEADER_TWILIO_SIGNATURE);
        let r = InboundRequest {
            headers: &h,
            body,
            public_url: TW_URL,
            path_token: None,
            now: 0,
        };
        assert_eq!(v.verify(&r).unwrap_err().code(), "missing_signature");
    }

    #[test]
    fn twilio_json_body_uses_body_sha256() {
        let body = br#"{"CallSid":"CA1234567890ABCDE"}"#;
        let url = format!(
            "https://example.com/myapp?bodySHA256={}",
            hex::encode(Sha256::digest(body))
        );
        let sig = twilio_signature::<String, String>("12345", &url, &[]);
        let mut h = HeaderMap::new();
        h.insert(
            HEADER_TWILIO_SIGNATURE,
            HeaderValue::from_str(&sig).unwrap(),
        );
        let v = TwilioSignature::new(["12345"]);
        assert_eq!(
            v.verify(&InboundRequest {
                headers: &h,
                body,
                public_url: &url,
                path_token: None,
                now: 0
            }),
            Ok(())
        );
        let r = InboundRequest {
            headers: &h,
            body: b"{}",
            public_url: &url,
            path_token: None,
            now: 0,
        };
        assert_eq!(v.verify(&r), Err(VerifyError::Invalid));
    }

    #[test]
    fn public_url_behind_api_gateway() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("abc.execute-api.eu-west-1.amazonaws.com"),
        );
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            public_url(&h, "/api/integrations/webhook/sms?x=1", None),
            "https://abc.execute-api.eu-west-1.amazonaws.com/api/integrations/webhook/sms?x=1"
        );
        h.insert("x-forwarded-proto", HeaderValue::from_static("http, https"));
        assert!(public_url(&h, "/p", None).starts_with("http://abc."));
        assert_eq!(
            public_url(&h, "/p?q", Some("https://hooks.example.com/")),
            "https://hooks.example.com/p?q"
        );
        assert_eq!(
            public_url(&HeaderMap::new(), "/p", None),
            "https://localhost/p"
        );
    }

    #[test]
    fn hmac_hex_with_and_without_timestamp() {
        let key = b"s3cret".to_vec();
        let body = b"{\"event\":\"payment.success\"}";
        let mut v = HmacSha256Hex {
            keys: vec![key.clone()],
            signature_header: "x-signature".into(),
            signature_prefix: Some("sha256=".into()),
            timestamp_header: None,
            tolerance_secs: 300,
        };
        let mut h = HeaderMap::new();
        let sig = hmac_sha256_hex(&key, None, body);
        // Computed independently: `printf '%s' '{"event":"payment.success"}' | openssl dgst -sha256 -hmac s3cret`.
        assert_eq!(
            sig,
            "09b3bb93ae88bf6a8071266758d9459238769144808dfe7e8eef7992ffa358e5"
        );
        h.insert(
            "x-signature",
            HeaderValue::from_str(&format!("sha256={sig}")).unwrap(),
        );
        assert_eq!(v.verify(&req(&h, body, 0)), Ok(()));
        assert_eq!(v.verify(&req(&h, b"{}", 0)), Err(VerifyError::Invalid));
        // Upper-case hex is the same bytes.
        h.insert(
            "x-signature",
            HeaderValue::from_str(&sig.to_uppercase()).unwrap(),
        );
        assert_eq!(v.verify(&req(&h, body, 0)), Ok(()));
        h.insert("x-signature", HeaderValue::from_static("zz"));
        assert_eq!(
            v.verify(&req(&h, body, 0)).unwrap_err().code(),
            "invalid_signature"
        );

        v.timestamp_header = Some("x-timestamp".into());
        let sig = hmac_sha256_hex(&key, Some("1000"), body);
        h.insert("x-signature", HeaderValue::from_str(&sig).unwrap());
        assert_eq!(
            v.verify(&req(&h, body, 1000)).unwrap_err().code(),
            "missing_signature"
        );
        h.insert("x-timestamp", HeaderValue::from_static("1000"));
        assert_eq!(v.verify(&req(&h, body, 1000)), Ok(()));
        assert_eq!(
            v.verify(&req(&h, body, 1400)).unwrap_err().code(),
            "stale_timestamp"
        );
        assert_eq!(
            v.verify(&req(&h, body, 600)).unwrap_err().code(),
            "future_timestamp"
        );
    }

    #[test]
    fn hmac_hex_known_value() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_sha256_hex(b"Jefe", None, b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn path_token_constant_time_check() {
        let t = generate_path_token();
        assert!(t.len() >= 43);
        let v = PathToken::new([t.clone(), "old-token".to_string()]);
        assert_eq!(v.check(Some(&t)), Ok(()));
        assert_eq!(v.check(Some("old-token")), Ok(()));
        assert_eq!(v.check(Some("old-toke")), Err(VerifyError::Invalid));
        assert_eq!(v.check(None).unwrap_err().code(), "missing_signature");
        assert_eq!(v.check(Some("")).unwrap_err().code(), "missing_signature");
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abcd"));
    }
}
