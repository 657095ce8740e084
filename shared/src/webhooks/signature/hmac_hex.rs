//! Hex HMAC-SHA256 of the raw body (or `{timestamp}.{body}` when a timestamp header is
//! configured) in a configurable header, with an optional prefix such as `sha256=`.

use super::{
    InboundRequest, VerifyError, WebhookVerifier, check_timestamp, header, hmac_sha256,
    mac_matches, parse_timestamp, verdict,
};

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
            matched |= mac_matches(&presented, &expected);
        }
        verdict(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;

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
        let sig = hmac_sha256_hex(&key, None, body);
        // Computed independently: `printf '%s' '{"event":"payment.success"}' | openssl dgst -sha256 -hmac s3cret`.
        assert_eq!(
            sig,
            "09b3bb93ae88bf6a8071266758d9459238769144808dfe7e8eef7992ffa358e5"
        );
        let prefixed = format!("sha256={sig}");
        assert_eq!(check(&v, &[("x-signature", &prefixed)], body, 0), Ok(()));
        assert_eq!(
            check(&v, &[("x-signature", &prefixed)], b"{}", 0),
            Err(VerifyError::Invalid)
        );
        // Upper-case hex is the same bytes.
        assert_eq!(
            check(&v, &[("x-signature", &sig.to_uppercase())], body, 0),
            Ok(())
        );
        assert_eq!(
            check(&v, &[("x-signature", "zz")], body, 0)
                .unwrap_err()
                .code(),
            "invalid_signature"
        );

        v.timestamp_header = Some("x-timestamp".into());
        let sig = hmac_sha256_hex(&key, Some("1000"), body);
        assert_eq!(
            check(&v, &[("x-signature", &sig)], body, 1000)
                .unwrap_err()
                .code(),
            "missing_signature"
        );
        let signed = [("x-signature", sig.as_str()), ("x-timestamp", "1000")];
        assert_eq!(check(&v, &signed, body, 1000), Ok(()));
        assert_eq!(
            check(&v, &signed, body, 1400).unwrap_err().code(),
            "stale_timestamp"
        );
        assert_eq!(
            check(&v, &signed, body, 600).unwrap_err().code(),
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
}
