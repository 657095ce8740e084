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

/// Most receptors `sms/send` and `sms/sendarray` take in one call.
pub const MAX_RECEPTORS_PER_CALL: usize = 200;

/// `sms/send`: one message to up to 200 receptors (comma-separated, `09…` form).
pub fn send_form(
    receptors: &[String],
    sender: Option<&str>,
    message: &str,
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("receptor", receptors.join(",")),
        ("message", message.to_string()),
    ];
    if let Some(s) = sender {
        form.push(("sender", s.to_string()));
    }
    form
}

/// `sms/sendarray`: one message per receptor; `receptor`, `sender` and `message` are JSON
/// arrays of equal length.
pub fn sendarray_form(
    receptors: &[String],
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
    ];
    if let Some(s) = sender {
        form.push((
            "sender",
            serde_json::to_string(&vec![s; receptors.len()]).unwrap_or_default(),
        ));
    }
    form
}

/// `verify/lookup`: a template defined in the Kavenegar panel with up to three tokens.
pub fn lookup_form(
    receptor: &str,
    template: &str,
    tokens: &[Option<&str>; 3],
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("receptor", receptor.to_string()),
        ("template", template.to_string()),
        ("type", "sms".to_string()),
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
    fn classifies_documented_codes() {
        assert_eq!(classify(403, "").kind, ProviderErrorKind::Credentials);
        assert_eq!(classify(418, "").kind, ProviderErrorKind::OutOfCredit);
        assert_eq!(classify(411, "").kind, ProviderErrorKind::InvalidRequest);
        assert!(classify(451, "").is_retryable());
        assert!(!classify(411, "").should_fail_over());
        assert_eq!(classify(418, "").code, "kavenegar_418");
    }
}
