//! Issue 19: a provider per call, as the Helsa seed's `AIIntegrationService('openai')`.
//! `provider` (and `model`) on generate, chat and transcriptions: checked against the
//! catalog (422 naming `provider`), the model passed to the provider's wire request, no
//! failover and no rules fallback (the caller asked for that provider), and carried by a
//! job to the worker.

use std::time::Duration;

use hub_tests::{TestHub, create_queue, drain_queue, get, send};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::providers::{NewProvider, Protocol, ProviderKind};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::chat::CHAT;
use crate::generate::{GENERATE, post};
use crate::{When, ai_service, body_json, completion, hub_with, log_entries, request_id, worker};

const TRANSCRIPTIONS: &str = "/api/integrations/ai/transcriptions";

/// TalkBot answers only for `model`; anything else gets a 500 (so a call sent with another
/// model, or retried elsewhere, shows).
async fn talkbot_serving(model: &'static str) -> MockServer {
    let talkbot = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(move |r| body_json(r)["model"] == model)))
        .respond_with(completion("from talkbot", 33))
        .mount(&talkbot)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}),
        ))
        .mount(&talkbot)
        .await;
    talkbot
}

async fn openai_answering() -> MockServer {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("from openai", 21))
        .mount(&openai)
        .await;
    openai
}

async fn models_sent(fake: &MockServer) -> Vec<Value> {
    fake.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| body_json(r)["model"].clone())
        .collect()
}

#[tokio::test]
async fn a_chosen_provider_and_model_serve_the_call_without_failover() {
    let openai = openai_answering().await;
    let talkbot = talkbot_serving("tb-large").await;
    // The order puts OpenAI first: without a choice it would answer.
    let hub = hub_with(
        &[("openai", &openai), ("talkbot", &talkbot)],
        &[("AI_PROVIDER_ORDER", "openai,huggingface,talkbot".into())],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u-choice", Role::User);

    // generate, as `AIIntegrationService('talkbot')` with a model of the caller's.
    let rid = request_id();
    let res = post(
        &svc,
        GENERATE,
        &token,
        &rid,
        &json!({"prompt": "Write a two-line reminder", "provider": "talkbot", "model": "tb-large"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["provider"], "talkbot", "{v}");
    assert_eq!(v["text"], "from talkbot", "{v}");
    assert_eq!(v["failed_over_from"], json!([]), "{v}");
    assert_eq!(models_sent(&talkbot).await, vec![json!("tb-large")]);
    let logged = log_entries(&hub, "talkbot", &rid).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].operation, "generate");

    // chat, the same way.
    let res = post(
        &svc,
        CHAT,
        &token,
        &request_id(),
        &json!({"message": "Can I reschedule my appointment?", "provider": "talkbot", "model": "tb-large"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["provider"], "talkbot");
    assert_eq!(res.json()["reply"], "from talkbot");

    // No failover: TalkBot failing (it refuses any other model) is the answer, with its
    // retries (AI_MAX_ATTEMPTS = 3); OpenAI, healthy and first in the order, is not asked.
    let rid = request_id();
    let p = post(
        &svc,
        GENERATE,
        &token,
        &rid,
        &json!({"prompt": "Write a two-line reminder", "provider": "talkbot", "model": "tb-small"}),
    )
    .await;
    assert!(p.status.is_server_error(), "{p:?}");
    let p = p.json();
    let detail = p["detail"].as_str().unwrap_or_default();
    assert!(
        detail.ends_with("providers tried: talkbot (talkbot_server_error)"),
        "{p}"
    );
    assert_eq!(log_entries(&hub, "talkbot", &rid).await.len(), 3);
    assert!(log_entries(&hub, "openai", &rid).await.is_empty());
    assert!(
        openai
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "OpenAI was never asked"
    );

    // Without a choice the order (and its failover) still applies: OpenAI answers.
    let res = post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "Write a two-line reminder"}),
    )
    .await;
    assert_eq!(res.json()["provider"], "openai");
    // And a model for OpenAI reaches OpenAI's wire request.
    let res = post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "Write a two-line reminder", "provider": "openai", "model": "gpt-4o"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(
        models_sent(&openai).await,
        vec![json!("gpt-4o-mini"), json!("gpt-4o")]
    );
}

#[tokio::test]
async fn unknown_or_non_ai_providers_are_422_naming_provider() {
    let openai = openai_answering().await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u-choice-bad", Role::User);
    let cases = [
        (
            GENERATE,
            json!({"prompt": "hi", "provider": "gpt-vendor"}),
            "unknown_provider",
            "no provider \"gpt-vendor\"",
        ),
        (
            CHAT,
            json!({"message": "hi", "provider": "gpt-vendor"}),
            "unknown_provider",
            "AI providers: openai",
        ),
        (
            GENERATE,
            json!({"prompt": "hi", "provider": "OpenAI!"}),
            "unknown_provider",
            "not a provider slug",
        ),
        (
            GENERATE,
            json!({"prompt": "hi", "provider": "kavenegar"}),
            "invalid_provider",
            "an SMS provider, not an AI provider",
        ),
        (
            CHAT,
            json!({"message": "hi", "provider": "smtp"}),
            "invalid_provider",
            "an email provider",
        ),
    ];
    for (route, body, code, says) in cases {
        let p = post(&svc, route, &token, &request_id(), &body)
            .await
            .assert_problem(422, code);
        assert_eq!(p["errors"][0]["field"], "provider", "{body}: {p}");
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{body}: {p}");
    }
    // The model as written: only with a provider, and a model id's characters.
    for body in [
        json!({"prompt": "hi", "model": "gpt-4o"}),
        json!({"prompt": "hi", "provider": "openai", "model": "gpt 4o"}),
        json!({"prompt": "hi", "provider": "openai", "model": ""}),
    ] {
        let p = post(&svc, GENERATE, &token, &request_id(), &body)
            .await
            .assert_problem(400, "invalid_field");
        assert_eq!(p["errors"][0]["field"], "model", "{body}: {p}");
    }
    // Nothing of this reached a provider.
    assert!(
        openai
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn a_chosen_provider_without_credentials_is_the_default_paths_503_not_the_rules() {
    let openai = openai_answering().await;
    // The local stage allows the rules fallback: the default path would answer from them
    // without providers, but a caller who chose one gets that provider or a 503.
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    // A provider disabled in the catalog is not configured either (a custom one, so no
    // other test's catalog changes; disabled entries are in no one's order).
    let slug = format!("ai-off-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    hub.ctx
        .catalog
        .create(NewProvider {
            slug: slug.clone(),
            name: "Switched off".into(),
            kind: ProviderKind::Ai,
            protocol: Protocol::OpenaiCompatible,
            description: String::new(),
            enabled: false,
            base_url: Some(format!("{}/v1", openai.uri())),
            priority: 90,
            credential_fields: vec!["api_key".into()],
            settings: Default::default(),
        })
        .await
        .expect("create a disabled AI provider");
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u-choice-503", Role::User);
    for (route, body) in [
        (
            GENERATE,
            json!({"prompt": "How do I book an appointment?", "provider": "talkbot"}),
        ),
        (
            CHAT,
            json!({"message": "How do I book an appointment?", "provider": "talkbot"}),
        ),
    ] {
        let p = post(&svc, route, &token, &request_id(), &body)
            .await
            .assert_problem(503, "ai_not_configured");
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("\"talkbot\"") && detail.contains("api_key"),
            "{p}"
        );
    }
    // The default path's answer without any provider, where the rules are not allowed: the
    // same status and code.
    let bare = hub_with(&[], &[("AI_FALLBACK", "none".into())]).await;
    let (_, bare_svc) = ai_service(&bare);
    post(
        &bare_svc,
        GENERATE,
        &bare.token("u-choice-503", Role::User),
        &request_id(),
        &json!({"prompt": "How do I book an appointment?"}),
    )
    .await
    .assert_problem(503, "ai_not_configured");

    // The disabled provider (created above, before this hub's ai function first read the
    // catalog, which it caches for 30 s).
    let p = post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "hi", "provider": slug}),
    )
    .await
    .assert_problem(503, "ai_not_configured");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("disabled"),
        "{p}"
    );
    hub.ctx.catalog.delete(&slug).await.expect("clean up");
    assert!(
        openai
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn a_job_carries_the_choice_to_the_worker() {
    let openai = openai_answering().await;
    let talkbot = talkbot_serving("tb-large").await;
    let probe = TestHub::new().await;
    let queue = create_queue(&probe, "AI_JOBS_QUEUE_URL").await;
    let hub = hub_with(
        &[("openai", &openai), ("talkbot", &talkbot)],
        &[
            ("AI_JOBS_QUEUE_URL", queue.clone()),
            ("AI_PROVIDER_ORDER", "openai,talkbot".into()),
        ],
    )
    .await;
    let (state, svc) = ai_service(&hub);
    let owner = hub.token("u-choice-job", Role::User);
    let res = post(
        &svc,
        GENERATE,
        &owner,
        &request_id(),
        &json!({"prompt": "A care plan", "async": true, "provider": "talkbot", "model": "tb-large"}),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let id = res.json()["id"].as_str().unwrap().to_string();
    // The stored work names the provider and model.
    let record = state.jobs.get(&id).await.unwrap().expect("the job");
    let work = state.jobs.request(&record).await.unwrap();
    let stored = serde_json::to_value(&work).unwrap();
    assert_eq!(
        stored["choice"],
        json!({"provider": "talkbot", "model": "tb-large"}),
        "{stored}"
    );
    // A bad choice is refused before any job is stored.
    post(
        &svc,
        GENERATE,
        &owner,
        &request_id(),
        &json!({"prompt": "A care plan", "async": true, "provider": "twilio"}),
    )
    .await
    .assert_problem(422, "invalid_provider");

    tokio::time::sleep(Duration::from_millis(50)).await;
    let w = worker(&hub);
    drain_queue(hub.ctx_of("ai-worker").aws.sqs(), &queue, 10, |event| {
        let w = w.clone();
        async move { ai_worker::handle_event(&w, event).await }
    })
    .await;
    let done = send(
        &svc,
        get(&format!("/api/integrations/ai/jobs/{id}"), Some(&owner)),
    )
    .await
    .assert_status(200);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["provider"], "talkbot", "{done}");
    assert_eq!(done["result"]["text"], "from talkbot", "{done}");
    assert_eq!(models_sent(&talkbot).await, vec![json!("tb-large")]);
    assert!(
        openai
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn transcription_takes_only_a_provider_that_transcribes() {
    let hub = hub_with(&[], &[]).await;
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u-choice-audio", Role::User);
    let key = "ai-audio/u-choice-audio/none/visit.mp3";
    let p = post(
        &svc,
        TRANSCRIPTIONS,
        &token,
        &request_id(),
        &json!({"s3_key": key, "provider": "huggingface"}),
    )
    .await
    .assert_problem(422, "invalid_provider");
    assert_eq!(p["errors"][0]["field"], "provider");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("does not transcribe"),
        "{p}"
    );
    // The provider goes with the job, not with the upload ticket.
    let p = post(
        &svc,
        TRANSCRIPTIONS,
        &token,
        &request_id(),
        &json!({"upload": {"filename": "a.mp3", "content_type": "audio/mpeg", "size": 10}, "provider": "openai"}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "provider");
    // A provider that transcribes passes the check; the object is what is missing then.
    post(
        &svc,
        TRANSCRIPTIONS,
        &token,
        &request_id(),
        &json!({"s3_key": key, "provider": "openai", "model": "gpt-4o-transcribe"}),
    )
    .await
    .assert_problem(404, "audio_not_found");
}

/// Clients generate SDKs from the spec: it states `provider` and `model` on every body that
/// takes them, and the transcriptions route's two body forms.
#[test]
fn the_openapi_spec_states_the_choice_and_the_multipart_form() {
    let spec = serde_json::to_value(ai::openapi()).unwrap();
    let schemas = &spec["components"]["schemas"];
    // A body is one object or `oneOf` shapes (generation or analysis, with or without a
    // chosen provider): some shape takes `provider` (the catalog's slug pattern) and `model`,
    // and `model` is never documented without `provider`.
    for body in [
        "GenerateBody",
        "ChatBody",
        "TranscriptionBody",
        "TranscriptionForm",
    ] {
        let shapes: Vec<&Value> = match schemas[body]["oneOf"].as_array() {
            Some(shapes) => shapes.iter().collect(),
            None => vec![&schemas[body]],
        };
        assert!(
            shapes
                .iter()
                .any(|s| s["properties"]["provider"].is_object()
                    && s["properties"]["model"].is_object()),
            "{body}: {shapes:?}"
        );
        for s in &shapes {
            let (provider, model) = (&s["properties"]["provider"], &s["properties"]["model"]);
            if model.is_object() && model["type"] != "null" {
                assert!(provider.is_object(), "{body}: model without provider: {s}");
            }
        }
    }
    let generate = schemas["GenerateBody"]["oneOf"].as_array().unwrap();
    assert!(
        generate
            .iter()
            .any(
                |s| s["properties"]["provider"]["pattern"] == "^[a-z0-9][a-z0-9-]{1,39}$"
                    || s["properties"]["provider"]["anyOf"].is_array()
                    || s["properties"]["provider"]["oneOf"].is_array()
            ),
        "{generate:?}"
    );
    let content =
        &spec["paths"]["/api/integrations/ai/transcriptions"]["post"]["requestBody"]["content"];
    assert_eq!(
        content["application/json"]["schema"]["$ref"],
        "#/components/schemas/TranscriptionBody"
    );
    assert_eq!(
        content["multipart/form-data"]["schema"]["$ref"],
        "#/components/schemas/TranscriptionForm"
    );
    assert_eq!(schemas["TranscriptionForm"]["required"], json!(["file"]));
}
