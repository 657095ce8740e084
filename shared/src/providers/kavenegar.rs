//! Kavenegar's REST API: `{base}/{API_KEY}/{scope}/{method}.json`, form-encoded POSTs, and
//! one envelope for every answer: `{"return":{"status":200,"message":"..."},"entries":...}`,
//! with the HTTP status mirroring `return.status`.
//!
//! The API key is part of the URL path, so URLs built here must never be logged.

use serde::Deserialize;
use serde_json::Value;

use super::{ProviderError, ProviderErrorKind};

pub const SLUG: &str = "kavenegar";

#[derive(Debug, Deserialize)]
pub struct Return {
    pub status: u16,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "return")]
    pub ret: Return,
    #[serde(default)]
    pub entries: Value,
}

/// Kavenegar's error statuses, mapped to what the hub does about them.
pub fn classify(status: u16, message: &str) -> ProviderError {
    use ProviderErrorKind::*;
    let (kind, text) = match status {
        401 => (Credentials, "account disabled"),
        403 => (Credentials, "invalid API key"),
        418 => (OutOfCredit, "insufficient credit"),
        451 => (RateLimited, "too many calls"),
        400 => (InvalidRequest, "incomplete parameters"),
        411 => (InvalidRequest, "invalid receptor"),
        412 => (InvalidRequest, "invalid sender"),
        413 => (InvalidRequest, "message empty or too long"),
        414 => (InvalidRequest, "too many records in one call"),
        422 => (InvalidRequest, "invalid characters in the message"),
        424 => (InvalidRequest, "template not found"),
        426 | 427 => (Credentials, "the account needs this service enabled"),
        428 => (InvalidRequest, "a call is not possible for this template"),
        431 | 432 => (InvalidRequest, "token structure is invalid"),
        501 => (InvalidRequest, "test mode: only the account owner's number"),
        500..=599 => (Unavailable, "provider error"),
        _ => (Unavailable, "unexpected status"),
    };
    let _ = message; // Kavenegar's messages are Persian prose; the code says it all.
    ProviderError::new(SLUG, kind, format!("kavenegar_{status}"), text)
}

/// POSTs a form to `{base}/{key}/{scope}/{method}.json` and unwraps the envelope.
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    api_key: &str,
    path: &str,
    form: &[(&str, String)],
) -> Result<Envelope, ProviderError> {
    let url = format!("{base}/{api_key}/{path}.json");
    let res = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| ProviderError::transport(SLUG, &e))?;
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|e| ProviderError::transport(SLUG, &e))?;
    match serde_json::from_slice::<Envelope>(&body) {
        Ok(env) if env.ret.status == 200 => Ok(env),
        Ok(env) => Err(classify(env.ret.status, &env.ret.message)),
        Err(_) if !status.is_success() => Err(classify(status.as_u16(), "")),
        Err(_) => Err(ProviderError::new(
            SLUG,
            ProviderErrorKind::Malformed,
            "kavenegar_malformed",
            "the answer is not a Kavenegar envelope",
        )),
    }
}

/// `account/info`: the cheapest authenticated call; answers remaining credit.
pub async fn account_info(
    http: &reqwest::Client,
    base: &str,
    api_key: &str,
) -> Result<Value, ProviderError> {
    call(http, base, api_key, "account/info", &[])
        .await
        .map(|e| e.entries)
}

/// One entry of a send, lookup or status answer. Kavenegar sends numbers as JSON numbers;
/// the fields the hub does not need are left out.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub messageid: Value,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub receptor: Option<String>,
}

impl Entry {
    /// The message id as text (`8792343`), whether Kavenegar sent a number or a string.
    pub fn message_id(&self) -> String {
        match &self.messageid {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// The entries of an answer as a list (Kavenegar answers a list for every method used here).
pub fn entries(env: &Envelope) -> Result<Vec<Entry>, ProviderError> {
    match &env.entries {
        Value::Array(_) => serde_json::from_value(env.entries.clone()).map_err(|_| {
            ProviderError::new(
                SLUG,
                ProviderErrorKind::Malformed,
                "kavenegar_malformed",
                "unexpected entries",
            )
        }),
        Value::Object(_) => serde_json::from_value(env.entries.clone())
            .map(|e: Entry| vec![e])
            .map_err(|_| {
                ProviderError::new(
                    SLUG,
                    ProviderErrorKind::Malformed,
                    "kavenegar_malformed",
                    "unexpected entries",
                )
            }),
        _ => Ok(Vec::new()),
    }
}

/// The `localid` Kavenegar is given for a hub message: a positive number below 2^53 (it is
/// a `long` at Kavenegar, and stays exact in any JSON reader) derived from the hub's message
/// id (SHA-256, first 8 bytes). The same message always gets the same `localid`, so a repeat
/// of a send is answered with the first send's entry instead of going out again, and
/// `sms/statuslocalmessageid` finds a message whose send answer was lost.
pub fn local_id(message_id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(message_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) & ((1 << 53) - 1)).max(1)
}

fn joined(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Most receptors `sms/send` and `sms/sendarray` take in one call.
pub const MAX_RECEPTORS_PER_CALL: usize = 200;

/// `sms/send`: one message to up to 200 receptors (comma-separated, `09…` form), with one
/// `localid` per receptor (comma-separated, in the same order).
pub fn send_form(
    receptors: &[String],
    local_ids: &[u64],
    sender: Option<&str>,
    message: &str,
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("receptor", receptors.join(",")),
        ("message", message.to_string()),
        ("localid", joined(local_ids)),
    ];
    if let Some(s) = sender {
        form.push(("sender", s.to_string()));
    }
    form
}

/// `sms/sendarray`: one message per receptor; `receptor`, `sender`, `message` and
/// `localmessageids` are JSON arrays of equal length.
pub fn sendarray_form(
    receptors: &[String],
    local_ids: &[u64],
    sender: Option<&str>,
    messages: &[&str],
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        (
            "receptor",
            serde_json::to_string(receptors).unwrap_or_default(),
        ),
        (
            "message",
            serde_json::to_string(messages).unwrap_or_default(),
        ),
        (
            "localmessageids",
            serde_json::to_string(local_ids).unwrap_or_default(),
        ),
    ];
    if let Some(s) = sender {
        form.push((
            "sender",
            serde_json::to_string(&vec![s; receptors.len()]).unwrap_or_default(),
        ));
    }
    form
}

/// `verify/lookup`: a template defined in the Kavenegar panel with up to three tokens, and
/// the message's `localid` (Kavenegar documents `localid` for `sms/send`; it is sent here
/// too so a lookup can be found by `sms/statuslocalmessageid` where the account supports it).
pub fn lookup_form(
    receptor: &str,
    local_id: u64,
    template: &str,
    tokens: &[Option<&str>; 3],
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("receptor", receptor.to_string()),
        ("template", template.to_string()),
        ("type", "sms".to_string()),
        ("localid", local_id.to_string()),
    ];
    for (name, value) in ["token", "token2", "token3"].into_iter().zip(tokens) {
        if let Some(v) = value {
            form.push((name, v.to_string()));
        }
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ids_are_stable_positive_and_distinct() {
        let a = local_id("0192d3f0-7a1b-7c2d-8e3f-0123456789ab");
        assert_eq!(a, local_id("0192d3f0-7a1b-7c2d-8e3f-0123456789ab"));
        assert_ne!(a, local_id("0192d3f0-7a1b-7c2d-8e3f-0123456789ac"));
        assert!(a > 0 && a < 1 << 53);
        let form = send_form(&["0912".into(), "0913".into()], &[7, 8], None, "hi");
        assert!(form.contains(&("localid", "7,8".to_string())));
        let form = sendarray_form(&["0912".into()], &[9], None, &["hi"]);
        assert!(form.contains(&("localmessageids", "[9]".to_string())));
    }

    #[test]
    fn classifies_documented_codes() {
        assert_eq!(classify(403, "").kind, ProviderErrorKind::Credentials);
        assert_eq!(classify(418, "").kind, ProviderErrorKind::OutOfCredit);
        assert_eq!(classify(411, "").kind, ProviderErrorKind::InvalidRequest);
        assert!(classify(451, "").is_retryable());
        assert!(!classify(411, "").should_fail_over());
        assert_eq!(classify(418, "").code, "kavenegar_418");
    }
}
