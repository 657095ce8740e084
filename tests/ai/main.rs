//! AI: providers faked with wiremock in their real formats (OpenAI chat completions and
//! transcriptions, the HuggingFace router and raw text-generation form, TalkBot), retries,
//! failover, medical analysis, redaction, the rule-based chat, and async jobs through the
//! emulator's SQS and the worker. Run through `make test` (moto server + its environment).

mod chat;
mod direct_audio;
mod fallback;
mod generate;
mod jobs;
mod provider_choice;

use std::sync::Arc;

use hub_tests::TestHub;
use serde_json::{Value, json};
use shared::http::HubService;
use wiremock::{Match, MockServer, Request, ResponseTemplate};

/// An OpenAI chat completion answer.
pub fn completion(content: &str, total_tokens: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_763_800_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": total_tokens.saturating_sub(7), "completion_tokens": total_tokens.min(7), "total_tokens": total_tokens}
    }))
}

/// OpenAI's error object.
pub fn openai_error(status: u16, kind: &str, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {"message": format!("test {code}"), "type": kind, "param": null, "code": code}}))
}

/// A hub whose AI providers are the given fakes (`{SLUG}_BASE_URL`), each with a stored key,
/// quick retries, plus `extra` environment.
pub async fn hub_with(fakes: &[(&str, &MockServer)], extra: &[(&str, String)]) -> TestHub {
    let mut env: Vec<(String, String)> = vec![("AI_RETRY_BASE_MS".into(), "10".into())];
    for (slug, fake) in fakes {
        env.push((
            format!("{}_BASE_URL", slug.to_ascii_uppercase()),
            format!("{}/v1", fake.uri()),
        ));
    }
    for (k, v) in extra {
        env.push((k.to_string(), v.clone()));
    }
    let pairs: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let hub = TestHub::with_env(&pairs).await;
    for (slug, _) in fakes {
        hub.put_secret(slug, json!({"api_key": format!("key-{slug}")}))
            .await;
    }
    hub
}

pub fn ai_service(hub: &TestHub) -> (ai::AiState, HubService) {
    let state = ai::AiState::new(hub.ctx_of("ai")).expect("AI config");
    let svc = shared::http::app(ai::router(state.clone()));
    (state, svc)
}

pub fn worker(hub: &TestHub) -> Arc<shared::ai::jobs::JobRunner> {
    Arc::new(
        hub.ctx_of("ai-worker")
            .ai_job_runner()
            .expect("worker config"),
    )
}

/// A wiremock matcher from a predicate over the request.
pub struct When(pub Box<dyn Fn(&Request) -> bool + Send + Sync>);

impl Match for When {
    fn matches(&self, request: &Request) -> bool {
        (self.0)(request)
    }
}

pub fn body_json(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// The integration-log entries this request made, newest first.
pub async fn log_entries(
    hub: &TestHub,
    provider: &str,
    request_id: &str,
) -> Vec<shared::integration_log::LogEntry> {
    let q = shared::integration_log::LogQuery {
        provider: Some(provider.into()),
        limit: Some(100),
        ..Default::default()
    };
    let page = hub.ctx.log.list(&q).await.expect("list logs");
    page.items
        .into_iter()
        .filter(|e| e.request_id == request_id)
        .collect()
}

/// A fresh request id to find this test's log entries by.
pub fn request_id() -> String {
    format!("ai-test-{}", uuid::Uuid::new_v4())
}
