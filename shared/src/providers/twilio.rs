//! Twilio's REST API (2010-04-01): Basic auth `AccountSid:AuthToken`, form-encoded POSTs,
//! errors as `{"code":21211,"message":"...","more_info":"...","status":400}`.

use serde::Deserialize;
use serde_json::Value;

use super::{ProviderError, ProviderErrorKind, retry_after};

pub const SLUG: &str = "twilio";

#[derive(Debug, Deserialize)]
pub struct TwilioError {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: Option<u16>,
}

pub fn classify(http_status: u16, err: Option<&TwilioError>) -> ProviderError {
    use ProviderErrorKind::*;
    let code = err.and_then(|e| e.code);
    let kind = match (http_status, code) {
        (_, Some(20003)) | (401, _) | (403, _) => Credentials,
        (_, Some(20429)) | (429, _) => RateLimited,
        (_, Some(21211 | 21614 | 21612 | 21408 | 21610 | 21602 | 21604 | 21606)) => InvalidRequest,
        (_, Some(30044 | 20005)) => OutOfCredit, // account suspended / insufficient funds
        (400..=499, _) => InvalidRequest,
        _ => Unavailable,
    };
    let code_str = code
        .map(|c| format!("twilio_{c}"))
        .unwrap_or_else(|| format!("twilio_http_{http_status}"));
    // Twilio's messages can echo the phone number ("The 'To' number +1... is not valid"):
    // keep only the code's meaning, never the message text.
    let message = match kind {
        Credentials => "credentials rejected",
        RateLimited => "rate limited",
        InvalidRequest => "request rejected (see code)",
        OutOfCredit => "account cannot send (funds or suspension)",
        _ => "provider error",
    };
    ProviderError::new(SLUG, kind, code_str, message)
}

/// Sends a request and turns non-2xx answers into classified errors.
pub async fn send(req: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
    let res = req
        .send()
        .await
        .map_err(|e| ProviderError::transport(SLUG, &e))?;
    let status = res.status();
    let ra = retry_after(res.headers());
    let body = res
        .bytes()
        .await
        .map_err(|e| ProviderError::transport(SLUG, &e))?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|_| {
            ProviderError::new(
                SLUG,
                ProviderErrorKind::Malformed,
                "twilio_malformed",
                "unreadable answer",
            )
        })
    } else {
        let err = serde_json::from_slice::<TwilioError>(&body).ok();
        let mut e = classify(status.as_u16(), err.as_ref());
        e.retry_after = ra;
        Err(e)
    }
}

/// `GET /Accounts/{Sid}.json`: the cheapest authenticated call.
pub async fn fetch_account(
    http: &reqwest::Client,
    base: &str,
    sid: &str,
    token: &str,
) -> Result<Value, ProviderError> {
    send(
        http.get(format!("{base}/2010-04-01/Accounts/{sid}.json"))
            .basic_auth(sid, Some(token)),
    )
    .await
}

/// `POST /Accounts/{Sid}/Messages.json`: the form fields of one message. `from` is a phone
/// number (`From`) or, when it starts with `MG`, a Messaging Service (`MessagingServiceSid`).
pub fn message_form(
    to: &str,
    from: &str,
    body: &str,
    status_callback: Option<&str>,
) -> Vec<(&'static str, String)> {
    let from_field = if from.starts_with("MG") {
        "MessagingServiceSid"
    } else {
        "From"
    };
    let mut form = vec![
        ("To", to.to_string()),
        (from_field, from.to_string()),
        ("Body", body.to_string()),
    ];
    if let Some(cb) = status_callback {
        form.push(("StatusCallback", cb.to_string()));
    }
    form
}

/// Creates a message; the answer carries `sid`, `status` and `error_code`.
pub async fn create_message(
    http: &reqwest::Client,
    base: &str,
    sid: &str,
    token: &str,
    form: &[(&str, String)],
) -> Result<Value, ProviderError> {
    send(
        http.post(format!("{base}/2010-04-01/Accounts/{sid}/Messages.json"))
            .basic_auth(sid, Some(token))
            .form(form),
    )
    .await
}

/// Fetches a message (its current `status`).
pub async fn fetch_message(
    http: &reqwest::Client,
    base: &str,
    sid: &str,
    token: &str,
    message_sid: &str,
) -> Result<Value, ProviderError> {
    send(
        http.get(format!(
            "{base}/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json"
        ))
        .basic_auth(sid, Some(token)),
    )
    .await
}
