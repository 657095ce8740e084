//! The hub's own overhead per AI call: `POST /api/integrations/ai/generate` served in-process
//! (JWT check, validation, rate-limit rules, catalog and credentials from cache, redaction,
//! the provider request and answer parsing) against a local fake provider that answers at
//! once, minus the time the same request takes when sent to the fake directly. Paired per
//! iteration, so noise on the fake's side cancels out.
//!
//! The integration-log entry and its counters are written after the answer, as on Lambda
//! (`shared::deferred`: the runtime layer flushes them after posting the answer); the bench
//! plays that layer's part between calls and times the flush on its own.
//!
//!   cd /work/main && set -a && . .local/test4570.env && set +a
//!   cargo bench -p hub-tests --bench ai_overhead           # BENCH_CALLS=300 by default
//!
//! Side by side with LiteLLM (what `make bench` runs, scripts/bench.sh starts both): with
//! `OPENAI_STANDIN_URL` (an OpenAI stand-in's `/v1` base, benches/openai_standin.py) the hub
//! and the direct calls go to that stand-in instead of wiremock, and with `LITELLM_URL` (a
//! LiteLLM proxy in front of the same stand-in, `LITELLM_KEY` its master key) each iteration
//! also sends the same chat through LiteLLM: the added latency of `POST
//! /api/integrations/ai/chat` and of LiteLLM's `/v1/chat/completions`, each minus the paired
//! direct call, in one run.

use std::time::Instant;

use axum::body::Body;
use hub_tests::{TestHub, send};
use serde_json::json;
use shared::auth::Role;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let fake = MockServer::start().await;
    // An outside stand-in (shared with LiteLLM) when given, else the in-process fake.
    let provider_base =
        std::env::var("OPENAI_STANDIN_URL").unwrap_or_else(|_| format!("{}/v1", fake.uri()));
    let answer = json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_763_800_000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Remember your appointment tomorrow at 10:00."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}
    });
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&fake)
        .await;
    let hub = TestHub::with_env(&[("OPENAI_BASE_URL", provider_base.clone())]).await;
    hub.put_secret("openai", json!({"api_key": "bench-key"}))
        .await;
    let state = ai::AiState::new(hub.ctx_of("ai")).expect("AI config");
    let svc = shared::http::app(ai::router(state));
    // As `shared::http::run` does on Lambda: the integration log and counters are queued during
    // the call and written after the answer (the flush below plays the runtime layer's part).
    shared::deferred::activate();
    let token = hub.token("bench-user", Role::User);
    let prompt = "Patient: John Smith, phone +1 415 555 0199. Write a short, friendly appointment reminder for tomorrow 10:00.";
    let body = serde_json::to_vec(&json!({"prompt": prompt, "max_tokens": 100})).unwrap();
    // What the hub sends, sent straight to the fake: the provider's own time as a client sees it.
    let direct_body = json!({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": prompt}], "max_completion_tokens": 100, "temperature": 0.7});
    let direct_url = format!("{provider_base}/chat/completions");

    let hub_call = || {
        let req = hub_tests::req("POST", "/api/integrations/ai/generate", Some(&token))
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        send(&svc, req)
    };
    let direct_call = || {
        hub.ctx
            .http()
            .post(&direct_url)
            .bearer_auth("bench-key")
            .json(&direct_body)
            .send()
    };

    for _ in 0..20 {
        assert_eq!(hub_call().await.status, 200);
        shared::deferred::flush().await;
        direct_call().await.unwrap().bytes().await.unwrap();
    }
    // Interleaved per iteration: the provider alone, then the hub, then the hub's deferred
    // writes (what its runtime layer runs after posting the answer, before the next event),
    // so all three see the same load on the fake and on moto.
    let (mut hub_times, mut direct_times, mut overhead, mut after_times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..calls {
        let t = Instant::now();
        direct_call().await.unwrap().bytes().await.unwrap();
        let direct = t.elapsed();
        let t = Instant::now();
        let res = hub_call().await;
        let total = t.elapsed();
        assert_eq!(res.status, 200);
        let t = Instant::now();
        let flushed = shared::deferred::flush().await;
        let after = t.elapsed();
        // The log write, and now and then a rate-limit lease refill.
        assert!(
            flushed >= 1,
            "the integration-log write is deferred past the answer"
        );
        direct_times.push(direct);
        hub_times.push(total);
        overhead.push(total.saturating_sub(direct));
        after_times.push(after);
    }
    println!(
        "AI call overhead, {calls} calls, fake provider on loopback, AWS on moto (the integration log after the answer)"
    );
    hub_tests::bench::report("provider alone (direct POST to the fake)", direct_times);
    hub_tests::bench::report(
        "through the hub (POST /api/integrations/ai/generate)",
        hub_times,
    );
    hub_tests::bench::report("hub overhead (paired difference)", overhead);
    hub_tests::bench::report(
        "after the answer: log + counters (+ lease refills) (moto)",
        after_times,
    );

    if let Ok(litellm) = std::env::var("LITELLM_URL") {
        let key = std::env::var("LITELLM_KEY").unwrap_or_default();
        side_by_side(&hub, &svc, &direct_url, &litellm, &key, calls).await;
    }
}

/// The hub's AI chat and LiteLLM's chat completions, each paired with a direct call to the
/// same stand-in, interleaved per iteration: the added latency of each, in one run.
async fn side_by_side(
    hub: &TestHub,
    svc: &shared::http::HubService,
    direct_url: &str,
    litellm: &str,
    litellm_key: &str,
    calls: usize,
) {
    let token = hub.token("bench-chat-user", Role::User);
    let message = "Como agendar uma consulta?";
    let chat_body =
        serde_json::to_vec(&json!({"message": message, "context": "Paciente novo"})).unwrap();
    let completion = json!({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "You are a clinic assistant."}, {"role": "user", "content": message}], "max_tokens": 300});
    let litellm_url = format!("{}/v1/chat/completions", litellm.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let hub_chat = || {
        let req = hub_tests::req("POST", "/api/integrations/ai/chat", Some(&token))
            .header("content-type", "application/json")
            .body(Body::from(chat_body.clone()))
            .unwrap();
        send(svc, req)
    };
    let direct = || async {
        let t = Instant::now();
        let res = client
            .post(direct_url)
            .bearer_auth("bench-key")
            .json(&completion)
            .send()
            .await
            .expect("stand-in");
        res.bytes().await.expect("stand-in body");
        t.elapsed()
    };
    let through_litellm = || async {
        let t = Instant::now();
        let res = client
            .post(&litellm_url)
            .bearer_auth(litellm_key)
            .json(&completion)
            .send()
            .await
            .expect("LiteLLM");
        let status = res.status();
        let body = res.bytes().await.expect("LiteLLM body");
        assert!(
            status.is_success(),
            "LiteLLM answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        t.elapsed()
    };
    for _ in 0..20 {
        let res = hub_chat().await;
        shared::deferred::flush().await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        assert_eq!(
            res.json()["provider"],
            "openai",
            "the chat must reach the stand-in: {}",
            res.json()
        );
        through_litellm().await;
        direct().await;
    }
    let (mut hub_added, mut litellm_added) = (Vec::new(), Vec::new());
    for _ in 0..calls {
        // Each side minus the direct call nearest to it.
        let d1 = direct().await;
        let t = Instant::now();
        let res = hub_chat().await;
        let hub_time = t.elapsed();
        assert_eq!(res.status, 200);
        // The runtime layer's part, after the answer and outside the timed call.
        assert!(
            shared::deferred::flush().await >= 1,
            "the deferred log write (and now and then a lease refill)"
        );
        let l = through_litellm().await;
        let d2 = direct().await;
        hub_added.push(hub_time.saturating_sub(d1));
        litellm_added.push(l.saturating_sub(d2));
    }
    println!("\nAI chat side by side, {calls} calls each, the same OpenAI stand-in on loopback");
    hub_tests::bench::report(
        "hub added latency (POST /api/integrations/ai/chat)",
        hub_added.clone(),
    );
    hub_tests::bench::report(
        "LiteLLM added latency (POST /v1/chat/completions)",
        litellm_added.clone(),
    );
    hub_added.sort();
    litellm_added.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let (h50, h99) = (
        ms(hub_tests::bench::percentile(&hub_added, 0.5)),
        ms(hub_tests::bench::percentile(&hub_added, 0.99)),
    );
    let (l50, l99) = (
        ms(hub_tests::bench::percentile(&litellm_added, 0.5)),
        ms(hub_tests::bench::percentile(&litellm_added, 0.99)),
    );
    let line = format!(
        "AI chat added latency: hub p50 {h50:.2} ms / p99 {h99:.2} ms; LiteLLM p50 {l50:.2} ms / p99 {l99:.2} ms; hub/LiteLLM p50 {:.2}x, p99 {:.2}x",
        h50 / l50,
        h99 / l99
    );
    println!("{line}");
    if let Ok(dir) = std::env::var("BENCH_SUMMARY_DIR") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(format!("{dir}/ai_vs_litellm.txt"), line + "\n");
    }
}
