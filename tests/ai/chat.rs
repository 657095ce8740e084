//! The chat assistant: rule-based answers in three languages without providers, the
//! provider when one is configured, and the rules again when every provider fails.

use serde_json::json;
use shared::auth::Role;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer};

use crate::generate::post;
use crate::{
    When, ai_service, body_json, completion, hub_with, log_entries, openai_error, request_id,
};

pub const CHAT: &str = "/api/integrations/ai/chat";

#[tokio::test]
async fn rules_answer_in_portuguese_persian_and_english_without_providers() {
    let hub = hub_with(&[], &[("CLINIC_PHONE", "+55 11 4000-1234".into())]).await;
    let (_, svc) = ai_service(&hub);
    let t = hub.token("u-rules", Role::User);
    let cases = [
        // (message, context, language, intent words the reply must contain)
        (
            "Como agendar uma consulta?",
            Some("Paciente novo"),
            "pt-BR",
            vec!["agendar", "Consultas", "paciente novo"],
        ),
        (
            "Quero cancelar minha consulta",
            None,
            "pt-BR",
            vec!["cancelar", "24 horas"],
        ),
        ("چطور نوبتم را لغو کنم؟", None, "fa", vec!["لغو", "۲۴ ساعت"]),
        ("ساعت کاری کلینیک چیست؟", None, "fa", vec!["ساعات کاری"]),
        (
            "Can I reschedule my appointment?",
            None,
            "en",
            vec!["reschedule", "new free date"],
        ),
        (
            "What is your phone number?",
            None,
            "en",
            vec!["+55 11 4000-1234"],
        ),
    ];
    for (message, context, language, words) in cases {
        let rid = request_id();
        let res = post(
            &svc,
            CHAT,
            &t,
            &rid,
            &json!({"message": message, "context": context}),
        )
        .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let v = res.json();
        assert_eq!(v["provider"], "rules", "{v}");
        assert_eq!(v["fallback_reason"], "not_configured");
        assert_eq!(v["language"], language, "{message}");
        let reply = v["reply"].as_str().unwrap().to_lowercase();
        for w in words {
            assert!(
                reply.contains(&w.to_lowercase()),
                "{message:?}: {reply:?} lacks {w:?}"
            );
        }
        let logs = log_entries(&hub, "rules", &rid).await;
        assert_eq!(logs[0].outcome, shared::integration_log::Outcome::Fallback);
    }
    // The caller's language wins over detection.
    let v = post(
        &svc,
        CHAT,
        &t,
        &request_id(),
        &json!({"message": "hello", "language": "fa"}),
    )
    .await
    .json();
    assert_eq!(v["language"], "fa");
    assert!(v["reply"].as_str().unwrap().contains("سلام"));
}

#[tokio::test]
async fn emergencies_always_get_the_emergency_number_and_never_reach_a_model() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("model answer", 5))
        .expect(0)
        .mount(&openai)
        .await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let t = hub.token("u-emergency", Role::User);
    for (message, number) in [
        ("Estou com dor no peito e falta de ar", "192"),
        ("پدرم بیهوش شده و تنگی نفس دارد", "۱۱۵"),
        (
            "My father has chest pain, I want to cancel his appointment",
            "emergency number",
        ),
    ] {
        let v = post(&svc, CHAT, &t, &request_id(), &json!({"message": message}))
            .await
            .json();
        assert_eq!(v["provider"], "rules");
        assert_eq!(v["fallback_reason"], "emergency");
        assert!(
            v["reply"].as_str().unwrap().contains(number),
            "{message}: {v}"
        );
    }
}

#[tokio::test]
async fn a_configured_provider_answers_and_its_failure_is_a_problem_not_a_rules_answer() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(|r| {
            let b = body_json(r);
            let system = b["messages"][0]["content"].as_str().unwrap_or("");
            system.contains("Brazilian Portuguese")
                && b["messages"][1]["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Paciente novo")
        })))
        .respond_with(completion("Você pode agendar pelo aplicativo.", 33))
        .up_to_n_times(1)
        .expect(1)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_error(500, "server_error", "server_error"))
        .mount(&openai)
        .await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let t = hub.token("u-chat", Role::User);
    let v = post(
        &svc,
        CHAT,
        &t,
        &request_id(),
        &json!({"message": "Como agendar uma consulta?", "context": "Paciente novo"}),
    )
    .await
    .json();
    assert_eq!(v["provider"], "openai", "{v}");
    assert_eq!(v["reply"], "Você pode agendar pelo aplicativo.");
    assert_eq!(v["tokens"], 33);
    assert_eq!(v["status"], "answered", "{v}");
    // Issue 13: the rules stand in only when no provider is configured. A configured provider
    // that fails is an error, never a rules answer dressed as a reply.
    post(
        &svc,
        CHAT,
        &t,
        &request_id(),
        &json!({"message": "Como agendar uma consulta?"}),
    )
    .await
    .assert_problem(502, "provider_failed");
}

#[tokio::test]
async fn chat_input_is_checked() {
    let hub = hub_with(&[], &[]).await;
    let (_, svc) = ai_service(&hub);
    let t = hub.token("u1", Role::User);
    post(&svc, CHAT, &t, &request_id(), &json!({"message": ""}))
        .await
        .assert_problem(400, "invalid_field");
    let p = post(
        &svc,
        CHAT,
        &t,
        &request_id(),
        &json!({"message": "hi", "language": "klingon"}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "language");
    let p = post(
        &svc,
        CHAT,
        &t,
        &request_id(),
        &json!({"message": "hi", "context": 42}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "context");
}
