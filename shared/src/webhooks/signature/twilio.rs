//! Twilio: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, full public URL + each POST
//! parameter name+value, sorted by name)). The key is the account's auth token; a caller that
//! reads it from the provider credentials re-reads them once when a signature does not
//! match (see [`crate::webhooks::registry::TwilioAuthToken`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{
    InboundRequest, VerifyError, WebhookVerifier, ct_eq, form_params, header, mac_matches, verdict,
};

pub const HEADER_TWILIO_SIGNATURE: &str = "x-twilio-signature";

fn hmac_sha1(key: &[u8], content: &[u8]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(content);
    mac.finalize().into_bytes().into()
}

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
    B64.encode(hmac_sha1(auth_token.as_bytes(), content.as_bytes()))
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
                matched |= mac_matches(&presented, &expected);
            }
        }
        verdict(matched)
    }
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
            return verdict(ct_eq(
                actual.as_bytes(),
                expected_hex.to_ascii_lowercase().as_bytes(),
            ));
        }
        self.verify_params(signature, r.public_url, &form_params(r.headers, r.body))
    }
}

#[cfg(test)]
mod tests {
    use super::super::HeaderView;
    use super::*;

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
        let pairs = [
            ("content-type", "application/x-www-form-urlencoded"),
            (HEADER_TWILIO_SIGNATURE, TW_SIG),
        ];
        let h = HeaderView::from_text(&pairs);
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
        let unsigned = HeaderView::from_text(&pairs[..1]);
        let r = InboundRequest {
            headers: &unsigned,
            ..r
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
        let pairs = [(HEADER_TWILIO_SIGNATURE, sig.as_str())];
        let h = HeaderView::from_text(&pairs);
        let v = TwilioSignature::new(["12345"]);
        let r = InboundRequest {
            headers: &h,
            body,
            public_url: &url,
            path_token: None,
            now: 0,
        };
        assert_eq!(v.verify(&r), Ok(()));
        let r = InboundRequest { body: b"{}", ..r };
        assert_eq!(v.verify(&r), Err(VerifyError::Invalid));
    }
}
