//! OpenAI's REST API and the OpenAI-compatible ones (HuggingFace router, TalkBot): bearer
//! key, errors as `{"error":{"message","type","param","code"}}`.

use serde::Deserialize;
use serde_json::Value;

use super::{ProviderError, ProviderErrorKind, retry_after};

#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<Value>,
}

/// Classifies an error answer. `insufficient_quota` arrives as a 429 too, but retrying it
/// is pointless: it is out-of-credit, not throttling.
pub fn classify(provider: &str, http_status: u16, body: &[u8]) -> ProviderError {
    use ProviderErrorKind::*;
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.error.code.as_ref().and_then(|c| c.as_str().map(str::to_string)).or_else(|| b.error.kind.clone()))
        .unwrap_or_else(|| format!("http_{http_status}"));
    let kind = match (http_status, code.as_str()) {
        (_, "insufficient_quota") => OutOfCredit,
        (401 | 403, _) | (_, "invalid_api_key") => Credentials,
        (429, _) => RateLimited,
        // HuggingFace answers 503 while a model is loading.
        (500..=599, _) => Unavailable,
        (408, _) => Timeout,
        (400..=499, _) => InvalidRequest,
        _ => Unavailable,
    };
    ProviderError::new(provider, kind, format!("{provider}_{code}"), format!("HTTP {http_status}"))
}

/// Sends a request and classifies failures, keeping `Retry-After`.
pub async fn send(provider: &str, req: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
    let res = req.send().await.map_err(|e| ProviderError::transport(provider, &e))?;
    let status = res.status();
    let ra = retry_after(res.headers());
    let body = res.bytes().await.map_err(|e| ProviderError::transport(provider, &e))?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|_| {
            ProviderError::new(provider, ProviderErrorKind::Malformed, format!("{provider}_malformed"), "unreadable answer")
        })
    } else {
        let mut e = classify(provider, status.as_u16(), &body);
        e.retry_after = ra;
        Err(e)
    }
}

/// `GET {base}/models`: the cheapest authenticated call.
pub async fn list_models(http: &reqwest::Client, provider: &str, base: &str, api_key: &str) -> Result<Value, ProviderError> {
    send(provider, http.get(format!("{base}/models")).bearer_auth(api_key)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_not_retryable_but_rate_limit_is() {
        let q = classify("openai", 429, br#"{"error":{"message":"m","type":"insufficient_quota","code":"insufficient_quota"}}"#);
        assert_eq!(q.kind, ProviderErrorKind::OutOfCredit);
        assert!(!q.is_retryable());
        let r = classify("openai", 429, br#"{"error":{"message":"m","type":"requests","code":"rate_limit_exceeded"}}"#);
        assert!(r.is_retryable());
        assert_eq!(r.code, "openai_rate_limit_exceeded");
        assert_eq!(classify("huggingface", 503, b"loading").kind, ProviderErrorKind::Unavailable);
    }
}
