//! A secret token as the last path segment, for providers that do not sign at all
//! (Kavenegar delivery callbacks): `/webhook/{endpoint}/{token}`, compared in constant time.

use base64::Engine;

use super::{InboundRequest, VerifyError, WebhookVerifier, ct_eq, verdict};

/// A fresh URL-safe random token (32 random bytes, base64url without padding).
pub fn generate_path_token() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

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
        verdict(matched)
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
