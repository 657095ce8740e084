//! Synchronous generation and analysis: success, retries, failover, malformed answers,
//! redaction, HuggingFace's raw form, and bad input.

use std::time::{Duration, Instant};

use axum::body::Body;
use hub_tests::{TestResponse, send};
use serde_json::{Value, json};
use shared::auth::Role;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{
    When, ai_service, body_json, completion, hub_with, log_entries, openai_error, request_id,
};

pub const GENERATE: &str = "/api/integrations/ai/generate";

pub async fn post(
    svc: &shared::http::HubService,
    path: &str,
    token: &str,
    rid: &str,
    body: &Value,
) -> TestResponse {
    let req = hub_tests::req("POST", path, Some(token))
        .header("content-type", "application/json")
        .header("x-request-id", rid)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    send(svc, req).await
}

fn triage_json() -> String {
    json!({"urgency": "urgent", "reasoning": "fever with headache for three days", "red_flags": [], "recommended_action": "see a GP today", "recommended_specialty": "general practice"}).to_string()
}

#[tokio::test]
async fn generates_text_and_logs_tokens_and_latency() {
    let openai = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer key-openai"))
        .and(When(Box::new(|r| {
            let b = body_json(r);
            b["model"] == "gpt-4o-mini"
                && b["max_completion_tokens"] == 200
                && b["messages"][1]["content"] == "Write a short reminder"
        })))
        .respond_with(completion("Remember your appointment tomorrow.", 42))
        .expect(1)
        .mount(&openai)
        .await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let rid = request_id();
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &rid,
        &json!({"prompt": "Write a short reminder", "max_tokens": 200, "temperature": 0.5}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["text"], "Remember your appointment tomorrow.");
    assert_eq!(v["provider"], "openai");
    assert_eq!(v["tokens"], 42);
    let logs = log_entries(&hub, "openai", &rid).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].tokens, Some(42));
    assert_eq!(logs[0].operation, "generate");
    assert_eq!(logs[0].outcome, shared::integration_log::Outcome::Success);
    // Statistics add the tokens up from the hourly counters.
    let stats = hub.ctx.log.statistics("openai", 1).await.unwrap();
    assert!(stats.total.tokens >= 42);
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out_then_retried() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(
            openai_error(429, "requests", "rate_limit_exceeded").insert_header("retry-after", "1"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("ok", 10))
        .expect(1)
        .mount(&openai)
        .await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let rid = request_id();
    let started = Instant::now();
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &rid,
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured ({:?})",
        started.elapsed()
    );
    assert_eq!(res.json()["provider"], "openai");
    let logs = log_entries(&hub, "openai", &rid).await;
    assert_eq!(logs.len(), 2);
    assert!(
        logs.iter()
            .any(|l| l.error_code.as_deref() == Some("openai_rate_limit_exceeded"))
    );
}

#[tokio::test]
async fn rate_limit_without_retry_after_backs_off_and_retries() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_error(429, "requests", "rate_limit_exceeded"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("third time", 10))
        .expect(1)
        .mount(&openai)
        .await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &request_id(),
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["text"], "third time");
}

#[tokio::test]
async fn retry_after_too_long_for_the_api_fails_over_at_once() {
    let (openai, hf) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/v1/chat/completions"))
        .respond_with(
            openai_error(429, "requests", "rate_limit_exceeded")
                .insert_header("retry-after", "120"),
        )
        .expect(1)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer key-huggingface"))
        .respond_with(completion("from hf", 12))
        .expect(1)
        .mount(&hf)
        .await;
    let hub = hub_with(&[("openai", &openai), ("huggingface", &hf)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let started = Instant::now();
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &request_id(),
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.status, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    let v = res.json();
    assert_eq!(v["provider"], "huggingface");
    assert_eq!(v["failed_over_from"], json!(["openai"]));
}

#[tokio::test]
async fn server_errors_are_retried_then_the_next_provider_answers() {
    let (openai, hf) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_error(500, "server_error", "server_error"))
        .expect(3) // AI_MAX_ATTEMPTS
        .mount(&openai)
        .await;
    // The HuggingFace router takes OpenAI's format with `max_tokens`.
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(|r| {
            body_json(r)["max_tokens"] == 1000
                && body_json(r)["model"] == "meta-llama/Llama-3.1-8B-Instruct"
        })))
        .respond_with(completion("hf answer", 30))
        .expect(1)
        .mount(&hf)
        .await;
    let hub = hub_with(&[("openai", &openai), ("huggingface", &hf)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let rid = request_id();
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &rid,
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["provider"], "huggingface");
    assert_eq!(log_entries(&hub, "openai", &rid).await.len(), 3);
    assert_eq!(
        log_entries(&hub, "huggingface", &rid).await[0].tokens,
        Some(30)
    );
}

#[tokio::test]
async fn insufficient_quota_is_not_retried_and_fails_over_along_the_order() {
    let (openai, talkbot) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_error(
            429,
            "insufficient_quota",
            "insufficient_quota",
        ))
        .expect(1)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer key-talkbot"))
        .respond_with(completion("talkbot", 9))
        .expect(1)
        .mount(&talkbot)
        .await;
    let hub = hub_with(
        &[("openai", &openai), ("talkbot", &talkbot)],
        &[("AI_PROVIDER_ORDER", "openai,talkbot".into())],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let rid = request_id();
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &rid,
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["provider"], "talkbot");
    let logs = log_entries(&hub, "openai", &rid).await;
    assert_eq!(
        logs[0].error_code.as_deref(),
        Some("openai_insufficient_quota")
    );
}

#[tokio::test]
async fn the_configured_order_decides_who_goes_first() {
    let (openai, talkbot) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("openai", 9))
        .expect(0)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("talkbot", 9))
        .expect(1)
        .mount(&talkbot)
        .await;
    let hub = hub_with(
        &[("openai", &openai), ("talkbot", &talkbot)],
        &[("AI_PROVIDER_ORDER", "talkbot,openai".into())],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &request_id(),
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.json()["provider"], "talkbot");
}

#[tokio::test]
async fn every_provider_failing_is_a_problem_naming_them() {
    let (openai, talkbot) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_error(503, "server_error", "overloaded"))
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .mount(&talkbot)
        .await;
    let hub = hub_with(&[("openai", &openai), ("talkbot", &talkbot)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &request_id(),
        &json!({"prompt": "hi"}),
    )
    .await;
    let p = res.assert_problem(502, "provider_failed");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("openai (openai_overloaded)")
            && detail.contains("talkbot (talkbot_http_502)"),
        "{detail}"
    );
    // Nothing configured at all: medical analysis is 503 (plain generation falls back to
    // the rules since issue 19: tests/ai/fallback.rs).
    let hub = hub_with(&[], &[]).await;
    let (_, svc) = ai_service(&hub);
    post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &request_id(),
        &json!({"prompt": "hi", "analysis_type": "symptoms"}),
    )
    .await
    .assert_problem(503, "ai_not_configured");
}

#[tokio::test]
async fn malformed_answers_fail_over_and_analyses_are_validated() {
    let (openai, hf, talkbot) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    // OpenAI gets the schema as a strict response_format, and answers prose anyway.
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(|r| {
            let b = body_json(r);
            b["response_format"]["type"] == "json_schema"
                && b["response_format"]["json_schema"]["strict"] == true
        })))
        .respond_with(completion("The patient should probably see a doctor.", 50))
        .expect(1)
        .mount(&openai)
        .await;
    // HuggingFace answers 200 with a body that is not a chat completion at all.
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"choices": []})))
        .expect(1)
        .mount(&hf)
        .await;
    // TalkBot has no response_format: the schema is in the prompt, and it answers valid JSON in a fence.
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(|r| {
            body_json(r).get("response_format").is_none()
                && body_json(r)["messages"][0]["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains("JSON schema")
        })))
        .respond_with(completion(&format!("```json\n{}\n```", triage_json()), 80))
        .expect(1)
        .mount(&talkbot)
        .await;
    let hub = hub_with(
        &[
            ("openai", &openai),
            ("huggingface", &hf),
            ("talkbot", &talkbot),
        ],
        &[],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let rid = request_id();
    let body = json!({"prompt": "Fever and headache for three days", "analysis_type": "triage", "patient_context": {"age": 35, "gender": "male"}});
    let res = post(&svc, GENERATE, &hub.token("u1", Role::User), &rid, &body).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["provider"], "talkbot");
    assert_eq!(v["failed_over_from"], json!(["openai", "huggingface"]));
    assert_eq!(v["analysis"]["urgency"], "urgent");
    assert_eq!(v["analysis_type"], "triage");
    assert!(v["notice"].as_str().unwrap().contains("not a diagnosis"));
    let openai_log = log_entries(&hub, "openai", &rid).await;
    assert_eq!(
        openai_log[0].error_code.as_deref(),
        Some("openai_invalid_output")
    );
    assert_eq!(
        openai_log[0].tokens,
        Some(50),
        "tokens spent on a rejected answer are still logged"
    );
    assert_eq!(
        log_entries(&hub, "huggingface", &rid).await[0]
            .error_code
            .as_deref(),
        Some("huggingface_malformed")
    );
}

#[tokio::test]
async fn identifiers_are_redacted_before_the_text_leaves() {
    let openai = MockServer::start().await;
    let symptoms = json!({"symptoms": [{"name": "headache", "severity": "moderate", "duration": "2 days"}, {"name": "fever", "severity": "mild", "duration": "2 days"}],
        "possible_causes": ["viral infection"], "red_flags": [], "recommended_specialty": "general practice", "follow_up_questions": ["Any neck stiffness?"]});
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(|r| {
            let text = String::from_utf8_lossy(&r.body).to_string();
            let leaked = [
                "Ali Rezaei",
                "09123456789",
                "ali.rezaei@example.com",
                "0012345678",
                "1369/02/15",
            ]
            .iter()
            .any(|s| text.contains(s));
            !leaked
                && text.contains("[NAME]")
                && text.contains("[PHONE]")
                && text.contains("[EMAIL]")
                && text.contains("[DATE]")
                && text.contains("سردرد")
                && text.contains("age 35")
        })))
        .respond_with(completion(&symptoms.to_string(), 120))
        .expect(1)
        .mount(&openai)
        .await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let text = "بیمار: Ali Rezaei، کد ملی 0012345678، تلفن 09123456789، ایمیل ali.rezaei@example.com، تاریخ تولد 1369/02/15. بیمار از سردرد و تب شکایت دارد";
    let body = json!({"prompt": text, "analysis_type": "symptoms", "patient_context": {"age": 35, "gender": "male"}});
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &request_id(),
        &body,
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["language"], "fa");
    assert!(v["redacted_identifiers"].as_u64().unwrap() >= 4, "{v}");
    assert_eq!(v["analysis"]["symptoms"][0]["name"], "headache");
    assert!(v["notice"].as_str().unwrap().contains("تشخیص"));
}

#[tokio::test]
async fn redaction_can_be_switched_off() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(|r| {
            String::from_utf8_lossy(&r.body).contains("09123456789")
        })))
        .respond_with(completion("ok", 5))
        .expect(1)
        .mount(&openai)
        .await;
    let hub = hub_with(
        &[("openai", &openai)],
        &[("AI_REDACT_IDENTIFIERS", "false".into())],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &request_id(),
        &json!({"prompt": "Call 09123456789"}),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["redacted_identifiers"], 0);
}

#[tokio::test]
async fn huggingface_raw_text_generation_list_object_and_loading() {
    let hf = MockServer::start().await;
    let model_path = "/hf-inference/models/meta-llama/Llama-3.1-8B-Instruct";
    Mock::given(method("POST"))
        .and(path(model_path))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "Model meta-llama/Llama-3.1-8B-Instruct is currently loading", "estimated_time": 0.2})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&hf)
        .await;
    Mock::given(method("POST"))
        .and(path(model_path))
        .and(When(Box::new(|r| {
            let b = body_json(r);
            b["inputs"]
                .as_str()
                .is_some_and(|i| i.contains("Say hello"))
                && b["parameters"]["max_new_tokens"] == 50
                && b["parameters"]["return_full_text"] == false
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"generated_text": "Hello from the list form"}])),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&hf)
        .await;
    Mock::given(method("POST"))
        .and(path(model_path))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"generated_text": "Hello from the object form"})),
        )
        .expect(1)
        .mount(&hf)
        .await;
    let hub = hub_with(
        &[("huggingface", &hf)],
        &[("HUGGINGFACE_API", "text-generation".into())],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u1", Role::User);
    let started = Instant::now();
    let first = post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "Say hello", "max_tokens": 50}),
    )
    .await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "the loading estimate was not waited out"
    );
    assert_eq!(first.json()["text"], "Hello from the list form");
    assert_eq!(first.json()["provider"], "huggingface");
    let second = post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "Say hello", "max_tokens": 50}),
    )
    .await;
    assert_eq!(second.json()["text"], "Hello from the object form");
}

#[tokio::test]
async fn bad_input_gets_field_problems() {
    let hub = hub_with(&[], &[]).await;
    let (_, svc) = ai_service(&hub);
    let t = hub.token("u1", Role::User);
    let rid = request_id();
    let p = post(&svc, GENERATE, &t, &rid, &json!({"prompt": "  "}))
        .await
        .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "prompt");
    let p = post(
        &svc,
        GENERATE,
        &t,
        &rid,
        &json!({"prompt": "x", "temperature": 3.5}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "temperature");
    let p = post(
        &svc,
        GENERATE,
        &t,
        &rid,
        &json!({"prompt": "x", "max_tokens": 0}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "max_tokens");
    let p = post(
        &svc,
        GENERATE,
        &t,
        &rid,
        &json!({"prompt": "x", "analysis_type": "horoscope"}),
    )
    .await
    .assert_problem(422, "invalid_body");
    assert!(p["detail"].as_str().unwrap().contains("symptoms"), "{p}");
    let p = post(
        &svc,
        GENERATE,
        &t,
        &rid,
        &json!({"prompt": "x", "analysis_type": "triage", "patient_context": {"age": 300}}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "patient_context.age");
    post(
        &svc,
        GENERATE,
        &t,
        &rid,
        &json!({"prompt": "x", "user_id": "someone-else"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let res = send(
        &svc,
        hub_tests::json_req("POST", GENERATE, None, &json!({"prompt": "x"})),
    )
    .await;
    assert_eq!(res.status, 401);
}

#[tokio::test]
async fn the_per_user_ai_limit_applies() {
    // Rate-limit rules live in the hub table; this test gets a table of its own so its tight
    // rule cannot touch any other test.
    // Named `<stack hub table>-<suffix>`: the AI role reaches such copies in test mode.
    let table = format!(
        "{}-ai-rl-{}",
        std::env::var("HUB_TABLE").unwrap(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let probe = hub_with(&[], &[]).await;
    create_hub_table(&probe, &table).await;
    let hub = hub_with(&[], &[("HUB_TABLE", table.clone())]).await;
    hub.ctx
        .rate_limiter
        .rules()
        .create(shared::rate_limit::rules::NewRateLimitRule {
            id: Some("ai-user-test".into()),
            scope: shared::rate_limit::rules::Scope::User,
            target: "ai".into(),
            limit: 2,
            window_seconds: 3600,
            enabled: true,
            description: Some("test".into()),
        })
        .await
        .expect("create the AI rule");
    let (_, svc) = ai_service(&hub);
    let t = hub.token("limited-user", Role::User);
    for _ in 0..2 {
        let ok = post(
            &svc,
            crate::chat::CHAT,
            &t,
            &request_id(),
            &json!({"message": "hello"}),
        )
        .await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.headers.get("ratelimit-limit").unwrap(), "2");
    }
    let denied = post(
        &svc,
        crate::chat::CHAT,
        &t,
        &request_id(),
        &json!({"message": "hello"}),
    )
    .await;
    denied.assert_problem(429, "rate_limited");
    assert!(denied.headers.get("retry-after").is_some());
}

async fn create_hub_table(hub: &hub_tests::TestHub, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    hub.ctx
        .aws
        .dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create table");
}

#[tokio::test]
async fn a_provider_that_does_not_answer_in_time_is_cut_off_and_failed_over() {
    let (openai, hf) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("too late", 5).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("in time", 5))
        .expect(1)
        .mount(&hf)
        .await;
    let hub = hub_with(
        &[("openai", &openai), ("huggingface", &hf)],
        &[
            ("AI_REQUEST_TIMEOUT_SECONDS", "1".into()),
            ("AI_MAX_ATTEMPTS", "1".into()),
        ],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let rid = request_id();
    let started = Instant::now();
    let res = post(
        &svc,
        GENERATE,
        &hub.token("u1", Role::User),
        &rid,
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(res.json()["text"], "in time");
    assert_eq!(
        log_entries(&hub, "openai", &rid).await[0]
            .error_code
            .as_deref(),
        Some("openai_timeout")
    );
}
