//! Issue 19: every integration is optional (BluRosiere). `generate` without `analysis_type`
//! and no provider answers from the rules like the chat does, marked as a fallback; medical
//! analysis without a provider stays a 503 `ai_not_configured` problem.

use serde_json::json;
use shared::auth::Role;

use crate::generate::{GENERATE, post};
use crate::{ai_service, hub_with, log_entries, request_id};

#[tokio::test]
async fn generate_without_a_provider_answers_from_the_rules() {
    let hub = hub_with(&[], &[]).await;
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u-fallback", Role::User);
    // The Helsa seed's generate_text body as written, then pt-BR and fa prompts.
    let cases = [
        (
            json!({"prompt": "How do I book an appointment?", "max_tokens": 500, "temperature": 0.7}),
            "en",
            "book",
        ),
        (
            json!({"prompt": "Como agendar uma consulta?"}),
            "pt-BR",
            "agendar",
        ),
        (json!({"prompt": "چطور نوبتم را لغو کنم؟"}), "fa", "لغو"),
    ];
    for (body, language, word) in cases {
        let rid = request_id();
        let res = post(&svc, GENERATE, &token, &rid, &body).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let v = res.json();
        assert_eq!(v["provider"], "rules", "{v}");
        assert_eq!(v["status"], "fallback", "{v}");
        assert_eq!(v["fallback_reason"], "not_configured", "{v}");
        assert_eq!(v["language"], language, "{v}");
        let text = v["text"].as_str().expect("text").to_lowercase();
        assert!(text.contains(word), "{body}: {text:?} lacks {word:?}");
        // Recorded as a fallback in the integration log, under this request.
        let logged = log_entries(&hub, "rules", &rid).await;
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert_eq!(logged[0].operation, "generate", "{logged:?}");
    }
    // Medical analysis cannot come from rules: 503, as documented.
    let p = post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "بیمار از سردرد و تب شکایت دارد", "max_tokens": 500, "temperature": 0.2, "analysis_type": "symptoms"}),
    )
    .await
    .assert_problem(503, "ai_not_configured");
    assert!(p["detail"].as_str().is_some(), "{p}");
}

/// Issue 13: the fallback is configuration. On an AWS stage (`STAGE` set, no `AI_FALLBACK`)
/// nothing answers from the rules: 503 `ai_not_configured`; `AI_FALLBACK=rules` allows it there.
#[tokio::test]
async fn the_rules_fallback_is_off_on_aws_stages_unless_configured() {
    let hub = hub_with(&[], &[("STAGE", "prod".into())]).await;
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u-no-fallback", Role::User);
    post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "How do I book an appointment?"}),
    )
    .await
    .assert_problem(503, "ai_not_configured");
    post(
        &svc,
        crate::chat::CHAT,
        &token,
        &request_id(),
        &json!({"message": "How do I book an appointment?"}),
    )
    .await
    .assert_problem(503, "ai_not_configured");
    // An emergency is answered by the rules by design, fallback or not.
    let res = post(
        &svc,
        crate::chat::CHAT,
        &token,
        &request_id(),
        &json!({"message": "My father has chest pain, I want to cancel his appointment"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["status"], "answered");

    let hub = hub_with(
        &[],
        &[("STAGE", "prod".into()), ("AI_FALLBACK", "rules".into())],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let token = hub.token("u-no-fallback", Role::User);
    let res = post(
        &svc,
        GENERATE,
        &token,
        &request_id(),
        &json!({"prompt": "How do I book an appointment?"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["status"], "fallback");
}
