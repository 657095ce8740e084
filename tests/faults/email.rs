//! Email under faults: Secrets Manager failing while the SMTP credentials are read is a 503
//! `dependency_unavailable` with `Retry-After` and nothing reaches the mail server; it is never
//! answered as sent, nor as the console fallback.

use hub_tests::TestHub;
use hub_tests::faults::{Fault, Faults, Row};
use serde_json::json;
use shared::auth::Role;

use crate::sink::SmtpSink;

#[tokio::test]
async fn secrets_manager_failing_during_an_email_send_is_a_503_and_nothing_is_sent() {
    let sink = SmtpSink::start(&[]);
    let env = [
        ("SMTP_HOST", "127.0.0.1".to_string()),
        ("SMTP_PORT", sink.port.to_string()),
        ("SMTP_USER", String::new()),
        ("FROM_EMAIL", "Clinic <noreply@clinic.example>".to_string()),
        ("EMAIL_RETRY_BASE_MS", "10".to_string()),
    ];
    let hub = TestHub::with_env(&env).await;
    let faults = Faults::new();
    let ctx = hub.faulty_ctx_with("email", &faults, &env).await;
    let svc = shared::http::app(email::router(email::EmailState::new(ctx).unwrap()));
    let token = hub.token("scheduler", Role::Service);
    // A first request reads the JWT signing key (cached); then Secrets Manager fails.
    let warm = hub_tests::send(
        &svc,
        hub_tests::get("/api/integrations/email/templates", Some(&token)),
    )
    .await;
    assert_eq!(warm.status, 200);
    faults.inject(Fault::unavailable("GetSecretValue").times(1000));
    let subject = format!("Results ready {}", uuid::Uuid::new_v4().simple());
    let body =
        json!({"to": "patient@example.com", "subject": subject, "body": "Your results are ready."});
    let send = || {
        hub_tests::send(
            &svc,
            hub_tests::json_req("POST", "/api/integrations/email/send", Some(&token), &body),
        )
    };
    let res = send().await;
    let mut wrong = 0;
    if res.status != 503
        || res.json()["code"] != "dependency_unavailable"
        || !res.headers.contains_key("retry-after")
    {
        eprintln!("{} {}", res.status, String::from_utf8_lossy(&res.body));
        wrong += 1;
    }
    let during = sink.messages().len();
    // Healed, the retry sends it once, and only now says `sent`.
    faults.clear();
    let res = send().await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    wrong += usize::from(res.json()["status"] != "sent");
    let sends = sink
        .messages()
        .iter()
        .filter(|m| m["subject"] == subject.as_str())
        .count();
    Row {
        scenario: "Secrets Manager error during an email send",
        sends,
        lost: usize::from(sends == 0),
        duplicates: sends.saturating_sub(1) + during,
        wrong_statuses: wrong,
    }
    .report();
}
