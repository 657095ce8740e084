//! Standard Webhooks (standardwebhooks.com, what Svix sends).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{
    HeaderView, InboundRequest, VerifyError, WebhookVerifier, check_timestamp, header, hmac_sha256,
    mac_matches, parse_timestamp, verdict,
};

/// Standard Webhooks' recommended tolerance between the signed timestamp and now.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;
pub const SECRET_PREFIX: &str = "whsec_";

pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

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
    pub fn message_id<'a>(headers: &HeaderView<'a>) -> Option<&'a str> {
        headers
            .text(HEADER_WEBHOOK_ID)
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
                matched |= mac_matches(&sig, e);
            }
        }
        verdict(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;

    // Standard Webhooks reference vector (standard-webhooks / svix-webhooks library tests).
    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TS: i64 = 1614265330;
    const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn sw_headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            (HEADER_WEBHOOK_ID, id),
            (HEADER_WEBHOOK_TIMESTAMP, ts),
            (HEADER_WEBHOOK_SIGNATURE, sig),
        ]
    }

    fn sw() -> StandardWebhooks {
        StandardWebhooks::from_secrets(&[SW_SECRET], DEFAULT_TOLERANCE_SECS).unwrap()
    }

    #[test]
    fn standard_webhooks_reference_vector_signs_and_verifies() {
        let key = decode_standard_secret(SW_SECRET).unwrap();
        assert_eq!(standard_sign(&key, SW_ID, SW_TS, SW_BODY), SW_SIG);
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        assert_eq!(check(&sw(), &h, SW_BODY, SW_TS), Ok(()));
        // Without the prefix, as the reference libraries also accept.
        let bare =
            StandardWebhooks::from_secrets(&["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], 300).unwrap();
        assert_eq!(check(&bare, &h, SW_BODY, SW_TS + 10), Ok(()));
    }

    #[test]
    fn standard_webhooks_accepts_any_of_several_signatures() {
        let several = format!("v1,bm9wZQ== v1a,abc {SW_SIG}");
        let h = sw_headers(SW_ID, "1614265330", &several);
        assert_eq!(check(&sw(), &h, SW_BODY, SW_TS), Ok(()));
        let h = sw_headers(
            SW_ID,
            "1614265330",
            "v1,bm9wZQ== v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        assert_eq!(check(&sw(), &h, SW_BODY, SW_TS), Err(VerifyError::Invalid));
    }

    #[test]
    fn standard_webhooks_refuses_tampering() {
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        assert_eq!(
            check(&sw(), &h, br#"{"test": 2432232315}"#, SW_TS),
            Err(VerifyError::Invalid)
        );
        let h = sw_headers("msg_other", "1614265330", SW_SIG);
        assert_eq!(check(&sw(), &h, SW_BODY, SW_TS), Err(VerifyError::Invalid));
        let h = sw_headers(SW_ID, "1614265331", SW_SIG);
        assert_eq!(check(&sw(), &h, SW_BODY, SW_TS), Err(VerifyError::Invalid));
        let other = StandardWebhooks::from_secrets(&[generate_standard_secret()], 300).unwrap();
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        assert_eq!(check(&other, &h, SW_BODY, SW_TS), Err(VerifyError::Invalid));
    }

    #[test]
    fn standard_webhooks_timestamps_stale_and_future_are_distinct() {
        let h = sw_headers(SW_ID, "1614265330", SW_SIG);
        let stale = check(&sw(), &h, SW_BODY, SW_TS + 301).unwrap_err();
        assert_eq!(
            stale,
            VerifyError::Stale {
                age_secs: 301,
                tolerance_secs: 300
            }
        );
        assert_eq!(stale.code(), "stale_timestamp");
        let future = check(&sw(), &h, SW_BODY, SW_TS - 301).unwrap_err();
        assert_eq!(future.code(), "future_timestamp");
        assert_eq!(check(&sw(), &h, SW_BODY, SW_TS + 300), Ok(()));
        assert_eq!(check(&sw(), &h, SW_BODY, SW_TS - 300), Ok(()));
        let h = sw_headers(SW_ID, "yesterday", SW_SIG);
        assert_eq!(
            check(&sw(), &h, SW_BODY, SW_TS).unwrap_err().code(),
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
            let h: Vec<_> = sw_headers(SW_ID, "1614265330", SW_SIG)
                .into_iter()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = check(&sw(), &h, SW_BODY, SW_TS).unwrap_err();
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
        assert_eq!(check(&rotated, &h, SW_BODY, SW_TS), Ok(()));
    }
}
