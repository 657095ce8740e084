//! Standard Webhooks signing of outgoing deliveries, with the hub's own scheme code
//! (`webhooks::signature::standard`, which also verifies incoming provider webhooks):
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, one
//! signature per live secret, space-separated, so a receiver holding either the new or the
//! old secret accepts the delivery during a rotation grace.

use crate::webhooks::signature::{decode_standard_secret, generate_standard_secret, standard_sign};

pub use crate::webhooks::signature::{
    HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
};

/// A fresh `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    generate_standard_secret()
}

/// True when `secret` is a usable Standard Webhooks secret.
pub fn secret_is_valid(secret: &str) -> bool {
    decode_standard_secret(secret).is_ok_and(|k| k.len() >= 24)
}

/// The `webhook-signature` value for `body` under every secret in `secrets` (current first).
/// Unusable secrets are skipped (they cannot be stored: [`new_secret`] makes them all).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| decode_standard_secret(s).ok())
        .map(|key| standard_sign(&key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_every_live_secret_and_matches_the_reference_vector() {
        // Standard Webhooks' reference vector.
        let sig = signature_header(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let (a, b) = (new_secret(), new_secret());
        assert!(secret_is_valid(&a) && a.starts_with("whsec_") && a != b);
        let two = signature_header(&[&a, &b], "evt_1", 1, b"{}");
        assert_eq!(two.split(' ').count(), 2);
    }
}
