//! The one trait every AI provider speaks, and its two implementations:
//! [`ChatCompletions`] (OpenAI, the HuggingFace router, TalkBot: OpenAI's wire format) and
//! [`TextGeneration`] (HuggingFace's raw `{"inputs"}` form answering `generated_text`).
//! The wire details live in [`crate::providers::openai`].

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::providers::openai;
use crate::providers::{ProviderError, ProviderErrorKind};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(c: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: c.into(),
        }
    }
    pub fn user(c: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: c.into(),
        }
    }
}

/// What the hub asks of a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: f32,
    /// Structured output: `(name, JSON schema)`. Providers that support it get OpenAI's
    /// `response_format: {type: json_schema, strict: true}`; the others get the schema in
    /// the system prompt. Either way the engine validates the answer against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<(String, Value)>,
}

/// A model's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub text: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// Audio to transcribe.
#[derive(Debug, Clone)]
pub struct AudioInput {
    pub bytes: Vec<u8>,
    pub filename: String,
    pub content_type: String,
    pub language: Option<String>,
}

/// One AI provider. Implementations are cheap to build (strings and a pooled client clone)
/// and hold no credentials: the engine passes the key it read through the credential store.
pub trait AiProvider: Send + Sync {
    fn slug(&self) -> &str;
    fn model(&self) -> &str;
    fn supports_transcription(&self) -> bool {
        false
    }
    /// The model transcriptions use, when this provider serves them.
    fn transcription_model(&self) -> Option<&str> {
        None
    }
    fn complete<'a>(
        &'a self,
        api_key: &'a str,
        req: &'a CompletionRequest,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;
    fn transcribe<'a>(
        &'a self,
        _api_key: &'a str,
        _audio: &'a AudioInput,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        let slug = self.slug().to_string();
        Box::pin(async move {
            Err(ProviderError::new(
                &slug,
                ProviderErrorKind::InvalidRequest,
                format!("{slug}_no_transcription"),
                "this provider does not transcribe audio",
            ))
        })
    }
}

/// OpenAI's `/chat/completions` (and `/audio/transcriptions`) at a base URL.
pub struct ChatCompletions {
    pub slug: String,
    pub base_url: String,
    pub model: String,
    pub http: reqwest::Client,
    /// OpenAI renamed `max_tokens` to `max_completion_tokens`; compatible APIs still take
    /// the old name.
    pub max_completion_tokens_param: bool,
    pub json_schema: bool,
    /// `Some(model)` when this provider serves `/audio/transcriptions`.
    pub transcription_model: Option<String>,
}

impl ChatCompletions {
    /// The request body, in OpenAI's format.
    pub fn body(&self, req: &CompletionRequest) -> Value {
        let mut messages = req.messages.clone();
        let mut response_format = None;
        if let Some((name, schema)) = &req.json_schema {
            if self.json_schema {
                response_format = Some(
                    json!({"type": "json_schema", "json_schema": {"name": name, "strict": true, "schema": schema}}),
                );
            } else {
                messages.insert(0, Message::system(schema_instruction(schema)));
            }
        }
        let mut body =
            json!({"model": self.model, "messages": messages, "temperature": req.temperature});
        let key = if self.max_completion_tokens_param {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[key] = json!(req.max_tokens);
        if let Some(rf) = response_format {
            body["response_format"] = rf;
        }
        body
    }
}

/// For providers without `response_format`: the schema goes in the prompt.
pub fn schema_instruction(schema: &Value) -> String {
    format!(
        "Answer with one JSON object only, no prose and no code fences, matching this JSON schema: {schema}"
    )
}

impl AiProvider for ChatCompletions {
    fn slug(&self) -> &str {
        &self.slug
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn supports_transcription(&self) -> bool {
        self.transcription_model.is_some()
    }
    fn transcription_model(&self) -> Option<&str> {
        self.transcription_model.as_deref()
    }
    fn complete<'a>(
        &'a self,
        api_key: &'a str,
        req: &'a CompletionRequest,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let body = self.body(req);
            let a = openai::chat_completion(
                &self.http,
                &self.slug,
                &self.base_url,
                api_key,
                &body,
                timeout,
            )
            .await?;
            Ok(Completion {
                text: a.content,
                model: a.model.unwrap_or_else(|| self.model.clone()),
                tokens: a.total_tokens,
                finish_reason: a.finish_reason,
            })
        })
    }
    fn transcribe<'a>(
        &'a self,
        api_key: &'a str,
        audio: &'a AudioInput,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let Some(model) = &self.transcription_model else {
                return Err(ProviderError::new(
                    &self.slug,
                    ProviderErrorKind::InvalidRequest,
                    format!("{}_no_transcription", self.slug),
                    "this provider does not transcribe audio",
                ));
            };
            openai::transcribe(
                &self.http,
                &self.slug,
                &self.base_url,
                api_key,
                model,
                audio.bytes.clone(),
                &audio.filename,
                &audio.content_type,
                audio.language.as_deref(),
                timeout,
            )
            .await
        })
    }
}

/// HuggingFace's raw text-generation endpoint. It takes one string, so the messages are
/// flattened into a plain transcript; there is no usage, so tokens are not reported.
pub struct TextGeneration {
    pub slug: String,
    pub url: String,
    pub model: String,
    pub http: reqwest::Client,
}

impl TextGeneration {
    pub fn body(req: &CompletionRequest) -> Value {
        let mut inputs = String::new();
        if let Some((_, schema)) = &req.json_schema {
            inputs.push_str(&schema_instruction(schema));
            inputs.push_str("\n\n");
        }
        for m in &req.messages {
            inputs.push_str(&m.content);
            inputs.push_str("\n\n");
        }
        json!({
            "inputs": inputs.trim_end(),
            "parameters": {"max_new_tokens": req.max_tokens, "temperature": req.temperature.max(0.01), "return_full_text": false},
            "options": {"wait_for_model": false}
        })
    }
}

impl AiProvider for TextGeneration {
    fn slug(&self) -> &str {
        &self.slug
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn complete<'a>(
        &'a self,
        api_key: &'a str,
        req: &'a CompletionRequest,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let text = openai::text_generation(
                &self.http,
                &self.slug,
                &self.url,
                api_key,
                &Self::body(req),
                timeout,
            )
            .await?;
            Ok(Completion {
                text,
                model: self.model.clone(),
                tokens: None,
                finish_reason: None,
            })
        })
    }
}
