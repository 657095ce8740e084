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
        .and_then(|b| {
            b.error
                .code
                .as_ref()
                .and_then(|c| c.as_str().map(str::to_string))
                .or_else(|| b.error.kind.clone())
        })
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
    ProviderError::new(
        provider,
        kind,
        format!("{provider}_{code}"),
        format!("HTTP {http_status}"),
    )
}

/// Sends a request and classifies failures, keeping `Retry-After`.
pub async fn send(provider: &str, req: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
    let res = req
        .send()
        .await
        .map_err(|e| ProviderError::transport(provider, &e))?;
    let status = res.status();
    let ra = retry_after(res.headers());
    let body = res
        .bytes()
        .await
        .map_err(|e| ProviderError::transport(provider, &e))?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|_| {
            ProviderError::new(
                provider,
                ProviderErrorKind::Malformed,
                format!("{provider}_malformed"),
                "unreadable answer",
            )
        })
    } else {
        let mut e = classify(provider, status.as_u16(), &body);
        e.retry_after = ra;
        Err(e)
    }
}

/// A chat completion as the hub reads it from `choices[0].message.content` and `usage`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatAnswer {
    pub content: String,
    pub finish_reason: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
}

/// Reads a `/chat/completions` answer. An answer without `choices[0].message.content`
/// (or with an empty one) is `Malformed`: the caller fails over, it cannot use it.
pub fn parse_chat(provider: &str, v: &Value) -> Result<ChatAnswer, ProviderError> {
    let malformed = |what: &str| {
        ProviderError::new(
            provider,
            ProviderErrorKind::Malformed,
            format!("{provider}_malformed"),
            what.to_string(),
        )
    };
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| malformed("no choices in the answer"))?;
    let content = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| malformed("the answer has no message content"))?;
    let usage = v.get("usage");
    let n = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
    let (prompt, completion) = (n("prompt_tokens"), n("completion_tokens"));
    let total = n("total_tokens").or_else(|| Some(prompt? + completion?));
    Ok(ChatAnswer {
        content: content.to_string(),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
    })
}

/// `POST {base}/chat/completions` with a bearer key; `body` is the OpenAI request object.
pub async fn chat_completion(
    http: &reqwest::Client,
    provider: &str,
    base: &str,
    api_key: &str,
    body: &Value,
    timeout: std::time::Duration,
) -> Result<ChatAnswer, ProviderError> {
    let req = http
        .post(format!("{base}/chat/completions"))
        .bearer_auth(api_key)
        .timeout(timeout)
        .json(body);
    parse_chat(provider, &send(provider, req).await?)
}

/// Reads HuggingFace's raw text-generation answer: `[{"generated_text": ...}]` or
/// `{"generated_text": ...}`.
pub fn parse_text_generation(provider: &str, v: &Value) -> Result<String, ProviderError> {
    let first = match v {
        Value::Array(items) => items.first(),
        other => Some(other),
    };
    first
        .and_then(|o| o.get("generated_text"))
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ProviderError::new(
                provider,
                ProviderErrorKind::Malformed,
                format!("{provider}_malformed"),
                "no generated_text in the answer",
            )
        })
}

/// HuggingFace's raw text-generation call: `POST {url}` with `{"inputs", "parameters"}`.
/// While the model loads it answers 503 `{"error": "...loading", "estimated_time": 20.0}`;
/// the estimate becomes `retry_after` so the caller's backoff honours it.
pub async fn text_generation(
    http: &reqwest::Client,
    provider: &str,
    url: &str,
    api_key: &str,
    body: &Value,
    timeout: std::time::Duration,
) -> Result<String, ProviderError> {
    let res = http
        .post(url)
        .bearer_auth(api_key)
        .timeout(timeout)
        .json(body)
        .send()
        .await
        .map_err(|e| ProviderError::transport(provider, &e))?;
    let status = res.status();
    let ra = retry_after(res.headers());
    let bytes = res
        .bytes()
        .await
        .map_err(|e| ProviderError::transport(provider, &e))?;
    let parsed = serde_json::from_slice::<Value>(&bytes).ok();
    if status.is_success() {
        let v = parsed.ok_or_else(|| {
            ProviderError::new(
                provider,
                ProviderErrorKind::Malformed,
                format!("{provider}_malformed"),
                "unreadable answer",
            )
        })?;
        return parse_text_generation(provider, &v);
    }
    // HuggingFace's errors are `{"error": "text"}`, not OpenAI's object.
    let loading = parsed
        .as_ref()
        .and_then(|v| v.get("estimated_time"))
        .and_then(Value::as_f64);
    let mut e = match (status.as_u16(), &parsed) {
        (503, _) if loading.is_some() => ProviderError::new(
            provider,
            ProviderErrorKind::Unavailable,
            format!("{provider}_model_loading"),
            "the model is loading",
        ),
        (_, Some(v)) if v.get("error").is_some_and(Value::is_string) => {
            let mut e = classify(provider, status.as_u16(), b"{}");
            e.code = format!("{provider}_http_{}", status.as_u16());
            e
        }
        _ => classify(provider, status.as_u16(), &bytes),
    };
    e.retry_after = ra.or_else(|| {
        loading
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(std::time::Duration::from_secs_f64)
    });
    Err(e)
}

/// `POST {base}/audio/transcriptions`, multipart `file` + `model` (+ `language`); answers
/// `{"text": ...}`. Files up to 25 MB.
#[allow(clippy::too_many_arguments)]
pub async fn transcribe(
    http: &reqwest::Client,
    provider: &str,
    base: &str,
    api_key: &str,
    model: &str,
    audio: Vec<u8>,
    filename: &str,
    content_type: &str,
    language: Option<&str>,
    timeout: std::time::Duration,
) -> Result<String, ProviderError> {
    let part = reqwest::multipart::Part::bytes(audio)
        .file_name(filename.to_string())
        .mime_str(content_type)
        .map_err(|_| {
            ProviderError::new(
                provider,
                ProviderErrorKind::InvalidRequest,
                format!("{provider}_bad_content_type"),
                "invalid audio content type",
            )
        })?;
    let mut form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("model", model.to_string());
    if let Some(l) = language {
        form = form.text("language", l.to_string());
    }
    let req = http
        .post(format!("{base}/audio/transcriptions"))
        .bearer_auth(api_key)
        .timeout(timeout)
        .multipart(form);
    let v = send(provider, req).await?;
    v.get("text")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ProviderError::new(
                provider,
                ProviderErrorKind::Malformed,
                format!("{provider}_malformed"),
                "no text in the transcription answer",
            )
        })
}

/// `GET {base}/models`: the cheapest authenticated call.
pub async fn list_models(
    http: &reqwest::Client,
    provider: &str,
    base: &str,
    api_key: &str,
) -> Result<Value, ProviderError> {
    send(
        provider,
        http.get(format!("{base}/models")).bearer_auth(api_key),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_not_retryable_but_rate_limit_is() {
        let q = classify(
            "openai",
            429,
            br#"{"error":{"message":"m","type":"insufficient_quota","code":"insufficient_quota"}}"#,
        );
        assert_eq!(q.kind, ProviderErrorKind::OutOfCredit);
        assert!(!q.is_retryable());
        let r = classify(
            "openai",
            429,
            br#"{"error":{"message":"m","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert!(r.is_retryable());
        assert_eq!(r.code, "openai_rate_limit_exceeded");
        assert_eq!(
            classify("huggingface", 503, b"loading").kind,
            ProviderErrorKind::Unavailable
        );
    }

    #[test]
    fn reads_chat_answers_and_both_text_generation_forms() {
        let v = serde_json::json!({"model": "m", "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
        let a = parse_chat("openai", &v).unwrap();
        assert_eq!((a.content.as_str(), a.total_tokens), ("hi", Some(5)));
        assert_eq!(
            parse_chat("openai", &serde_json::json!({"choices": []}))
                .unwrap_err()
                .kind,
            ProviderErrorKind::Malformed
        );
        assert_eq!(
            parse_text_generation("hf", &serde_json::json!([{"generated_text": "a"}])).unwrap(),
            "a"
        );
        assert_eq!(
            parse_text_generation("hf", &serde_json::json!({"generated_text": "b"})).unwrap(),
            "b"
        );
        assert!(parse_text_generation("hf", &serde_json::json!({"x": 1})).is_err());
    }
}
