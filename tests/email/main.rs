//! Email over SMTP, end to end: the email function called in-process, the real lettre
//! transport, a real SMTP server (`scripts/smtp_sink.py`, aiosmtpd) started per test, and the
//! moto server for secrets, idempotency records, rate-limit counters and the integration log.
//! Run through `make test` (or with `.local/test4570.env` loaded).

mod auth_order;
mod sink;

use axum::body::Body;
use http::Request;
use hub_tests::{TestHub, json_req, send};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::http::HubService;
use shared::integration_log::{LogEntry, LogQuery, Outcome};
use shared::rate_limit::{Channel, Subject};
use sink::SmtpSink;

const SEND: &str = "/api/integrations/email/send";

fn service(hub: &TestHub) -> HubService {
    shared::http::app(email::router(
        email::EmailState::new(hub.ctx_of("email")).expect("email state"),
    ))
}

/// A hub sending to `sink` (retries with short pauses so the tests stay quick).
async fn hub_for(sink: &SmtpSink, extra: &[(&str, String)]) -> TestHub {
    let mut env = vec![
        ("SMTP_HOST", "127.0.0.1".to_string()),
        ("SMTP_PORT", sink.port.to_string()),
        ("SMTP_USER", String::new()),
        ("FROM_EMAIL", "Clinic <noreply@clinic.example>".to_string()),
        ("EMAIL_RETRY_BASE_MS", "50".to_string()),
    ];
    env.extend(extra.iter().cloned());
    TestHub::with_env(&env).await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn post(
    token: &str,
    body: &Value,
    request_id: &str,
    idempotency_key: Option<&str>,
) -> Request<Body> {
    let mut req = json_req("POST", SEND, Some(token), body);
    req.headers_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    if let Some(k) = idempotency_key {
        req.headers_mut()
            .insert("idempotency-key", k.parse().unwrap());
    }
    req
}

fn request_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

/// The integration-log entries of one request, oldest first.
async fn log_entries(hub: &TestHub, request_id: &str) -> Vec<LogEntry> {
    let page = hub
        .ctx
        .log
        .list(&LogQuery {
            provider: Some("smtp".into()),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .expect("list the integration log");
    let mut mine: Vec<LogEntry> = page
        .items
        .into_iter()
        .filter(|e| e.request_id == request_id)
        .collect();
    mine.reverse();
    mine
}

fn reminder(to: &str, language: &str, patient_name: &str) -> Value {
    json!({"to": to, "template": "appointment_reminder", "language": language,
           "data": {"patient_name": patient_name, "date": "2025-01-20", "time": "14:00", "doctor_name": "Dr. Rezaei"}})
}

#[tokio::test]
async fn persian_reminder_arrives_right_to_left_with_both_parts_and_escaped_html() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let to = unique("patient-");
    let rid = request_id();
    let name = "زهرا <script>alert(1)</script>";

    let res = send(
        &svc,
        post(
            &hub.token("svc-a", Role::Service),
            &reminder(&to, "fa", name),
            &rid,
            None,
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let receipt = res.json();
    assert_eq!(receipt["delivery"], "smtp");
    assert_eq!(receipt["attempts"], 1);
    assert_eq!(receipt["template"], "appointment_reminder");
    assert_eq!(receipt["language"], "fa");
    assert!(
        !receipt["to"].as_str().unwrap().contains(&to[1..8]),
        "the address is masked: {receipt}"
    );

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["rcpt_tos"], json!([to]));
    assert_eq!(m["mail_from"], "noreply@clinic.example");
    // The Gregorian 2025-01-20 as Persian readers write it: Solar Hijri, Persian digits.
    assert_eq!(m["subject"], "یادآوری نوبت: ۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰");
    assert_eq!(m["headers"]["Content-Language"], "fa");
    let message_id = receipt["message_id"].as_str().unwrap();
    assert_eq!(m["headers"]["Message-ID"], format!("<{message_id}>"));
    assert_eq!(m["content_type"], "multipart/alternative");
    let parts = m["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert_eq!(parts[1]["content_type"], "text/html");
    let (text, html) = (
        parts[0]["text"].as_str().unwrap(),
        parts[1]["text"].as_str().unwrap(),
    );
    assert!(
        text.contains(&format!("{name} گرامی")),
        "the text part carries the name as is: {text}"
    );
    assert!(text.contains("نزد Dr. Rezaei"), "{text}");
    assert!(
        text.contains("در تاریخ ۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰"),
        "the text part has the Solar Hijri date: {text}"
    );
    assert!(html.contains(r#"<html lang="fa" dir="rtl">"#), "{html}");
    assert!(
        html.contains("زهرا &lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "user data is escaped in HTML: {html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    // The transfer encoding keeps the raw message 7-bit clean.
    assert!(sink.raw(m).is_ascii());

    let log = log_entries(&hub, &rid).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].operation, "send_template");
    assert_eq!(log[0].outcome, Outcome::Success);
    assert_eq!(log[0].reference.as_deref(), Some(message_id));
    let target = log[0].target.clone().unwrap();
    assert!(
        target.ends_with("@example.com") && target.contains('*') && target != to,
        "{target}"
    );
}

#[tokio::test]
async fn every_template_is_sent_in_portuguese_and_english_left_to_right() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let token = hub.admin();
    let appointment = json!({"patient_name": "João Silva", "date": "2025-01-20", "time": "14:00"});
    let cases = [
        (
            "appointment_reminder",
            "pt-BR",
            appointment.clone(),
            "Lembrete de consulta: 20/01/2025 às 14:00",
            "consulta em 20/01/2025 às 14:00",
        ),
        (
            "appointment_confirmation",
            "pt-BR",
            appointment.clone(),
            "Consulta confirmada: 20/01/2025 às 14:00",
            "confirmada",
        ),
        (
            "appointment_cancellation",
            "en",
            appointment.clone(),
            "Appointment cancelled: 20 January 2025 at 14:00",
            "has been cancelled",
        ),
        (
            "password_recovery",
            "pt-BR",
            json!({"name": "João", "reset_url": "https://app.example/reset?t=abc&u=1", "expires_in_minutes": 30}),
            "Redefinição de senha",
            "https://app.example/reset?t=abc&u=1",
        ),
        (
            "generic",
            "en",
            json!({"subject": "Your results are ready", "message": "Line one\nLine two"}),
            "Your results are ready",
            "Line one\nLine two",
        ),
    ];
    for (template, language, data, subject, in_text) in cases {
        let to = unique("p-");
        let body = json!({"to": to, "template": template, "language": language, "data": data});
        let res = send(&svc, post(&token, &body, &request_id(), None)).await;
        assert_eq!(
            res.status,
            200,
            "{template}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let m = sink
            .messages()
            .into_iter()
            .find(|m| m["rcpt_tos"] == json!([to]))
            .unwrap_or_else(|| panic!("{template} not delivered"));
        assert_eq!(m["subject"], subject);
        assert_eq!(m["headers"]["Content-Language"], language);
        let text = m["parts"][0]["text"].as_str().unwrap();
        let html = m["parts"][1]["text"].as_str().unwrap();
        assert!(text.contains(in_text), "{template}: {text}");
        assert!(
            html.contains(&format!(r#"<html lang="{language}" dir="ltr">"#)),
            "{template}: {html}"
        );
    }
    // The link keeps its query string in the text part and is attribute-escaped in HTML.
    let recovery = sink
        .messages()
        .into_iter()
        .find(|m| m["subject"] == "Redefinição de senha")
        .unwrap();
    assert!(
        recovery["parts"][1]["text"]
            .as_str()
            .unwrap()
            .contains(r#"href="https:&#x2f;&#x2f;app.example&#x2f;reset?t=abc&amp;u=1""#)
    );
}

#[tokio::test]
async fn plain_send_like_the_seed_is_a_single_text_part() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let to = unique("plain-");
    let rid = request_id();
    let body = json!({"to": to, "subject": "Test", "body": "Body <b>not html</b>\nsecond line"});
    let res = send(
        &svc,
        post(&hub.token("svc-plain", Role::Service), &body, &rid, None),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(res.json().get("template").is_none());
    let m = &sink.messages()[0];
    assert_eq!(m["rcpt_tos"], json!([to]));
    assert_eq!(m["subject"], "Test");
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(m["parts"].as_array().unwrap().len(), 1);
    assert_eq!(
        m["parts"][0]["text"].as_str().unwrap().trim_end(),
        "Body <b>not html</b>\nsecond line"
    );
    assert_eq!(log_entries(&hub, &rid).await[0].operation, "send_plain");
}

#[tokio::test]
async fn bad_input_answers_problems_naming_the_field_and_sends_nothing() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let token = hub.token("svc-bad", Role::Service);
    let ok_data = json!({"patient_name": "Ana", "date": "2025-01-20", "time": "14:00"});
    let field = |p: &Value| {
        p["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"to": "not-an-address", "subject": "s", "body": "b"}),
            400,
            "invalid_field",
            "to",
        ),
        (
            json!({"to": "a@localhost", "subject": "s", "body": "b"}),
            400,
            "invalid_field",
            "to",
        ),
        (
            json!({"subject": "s", "body": "b"}),
            400,
            "invalid_field",
            "to",
        ),
        (
            json!({"to": "a@example.com", "body": "b"}),
            400,
            "invalid_field",
            "subject",
        ),
        (
            json!({"to": "a@example.com", "subject": "s", "body": "  "}),
            400,
            "invalid_field",
            "body",
        ),
        (
            json!({"to": "a@example.com", "template": "generic", "subject": "s", "data": {}}),
            400,
            "invalid_field",
            "template",
        ),
        (
            json!({"to": "a@example.com", "template": "welcome", "language": "en", "data": ok_data}),
            422,
            "unknown_template",
            "template",
        ),
        (
            json!({"to": "a@example.com", "template": "appointment_reminder", "language": "de", "data": ok_data}),
            422,
            "unknown_language",
            "language",
        ),
        (
            json!({"to": "a@example.com", "template": "appointment_reminder", "language": "fa", "data": {"patient_name": "Ana", "date": "2025-01-20"}}),
            422,
            "missing_template_data",
            "data.time",
        ),
        (
            json!({"to": "a@example.com", "template": "appointment_reminder", "language": "pt-BR", "data": {"date": "20/01/2025", "time": "14:00"}}),
            422,
            "invalid_template_data",
            "data.date",
        ),
        (
            // A Solar Hijri date in ISO shape: the hub wants the Gregorian date and converts it.
            json!({"to": "a@example.com", "template": "appointment_reminder", "language": "fa", "data": {"date": "1403-11-01", "time": "14:00"}}),
            422,
            "invalid_template_data",
            "data.date",
        ),
        (
            json!({"to": "a@example.com", "template": "password_recovery", "language": "en", "data": {"name": "Ana", "reset_url": "javascript:alert(1)"}}),
            422,
            "invalid_template_data",
            "data.reset_url",
        ),
    ];
    for (body, status, code, named) in cases {
        let res = send(&svc, post(&token, &body, &request_id(), None)).await;
        let problem = res.assert_problem(status, code);
        assert_eq!(field(&problem), named, "{body} -> {problem}");
    }
    // Roles: services and admins only.
    let body = json!({"to": "a@example.com", "subject": "s", "body": "b"});
    send(
        &svc,
        post(&hub.token("u1", Role::User), &body, &request_id(), None),
    )
    .await
    .assert_problem(403, "forbidden");
    let anonymous = json_req("POST", SEND, None, &body);
    assert_eq!(send(&svc, anonymous).await.status, 401);

    assert!(
        sink.rcpt_log().is_empty(),
        "nothing reached the server: {:?}",
        sink.rcpt_log()
    );
}

/// Collects what the code logs through `tracing` while it runs on this thread.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn without_smtp_the_email_is_logged_masked_instead_of_sent() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // `#[tokio::test]` runs on one thread, so a thread-local default sees every log line.
    let _guard = tracing::subscriber::set_default(subscriber);

    let hub = TestHub::with_env(&[("SMTP_HOST", String::new())]).await;
    let svc = service(&hub);
    let to = unique("console-");
    let rid = request_id();
    let res = send(
        &svc,
        post(
            &hub.token("svc-c", Role::Service),
            &reminder(&to, "pt-BR", "Maria Sigilosa"),
            &rid,
            None,
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let receipt = res.json();
    assert_eq!(receipt["delivery"], "console");
    assert_eq!(receipt["attempts"], 1);

    let log = log_entries(&hub, &rid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, Outcome::Fallback);

    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("console fallback"), "{out}");
    assert!(
        out.contains(&shared::mask::mask_email(&to)),
        "the masked address is logged: {out}"
    );
    assert!(!out.contains(&to), "never the full address: {out}");
    assert!(
        !out.contains("Sigilosa") && !out.contains("Lembrete"),
        "never the content: {out}"
    );

    let templates = send(
        &svc,
        hub_tests::get(
            "/api/integrations/email/templates",
            Some(&hub.token("u", Role::User)),
        ),
    )
    .await;
    assert_eq!(templates.status, 200);
    assert_eq!(templates.json()["delivery"], "console");
    assert_eq!(templates.json()["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_temporary_failure_is_retried_and_the_email_delivered() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let to = unique("tempfail1-");
    let rid = request_id();
    let res = send(
        &svc,
        post(
            &hub.token("svc-t", Role::Service),
            &reminder(&to, "en", "Ana"),
            &rid,
            None,
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["attempts"], 2);
    assert_eq!(sink.rcpt_log(), vec![(451, to.clone()), (250, to.clone())]);
    assert_eq!(sink.messages().len(), 1);

    let log = log_entries(&hub, &rid).await;
    let summary: Vec<(Outcome, Option<String>)> = log
        .iter()
        .map(|e| (e.outcome, e.error_code.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Outcome::Failure, Some("smtp_451".into())),
            (Outcome::Success, None)
        ]
    );
}

#[tokio::test]
async fn temporary_failures_that_persist_answer_502_after_three_attempts() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let to = unique("tempfail9-");
    let res = send(
        &svc,
        post(
            &hub.token("svc-t9", Role::Service),
            &reminder(&to, "en", "Ana"),
            &request_id(),
            None,
        ),
    )
    .await;
    res.assert_problem(502, "provider_failed");
    assert_eq!(sink.rcpt_log().len(), 3, "{:?}", sink.rcpt_log());
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_permanent_failure_is_reported_without_retry() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let to = unique("reject-");
    let rid = request_id();
    let res = send(
        &svc,
        post(
            &hub.token("svc-r", Role::Service),
            &reminder(&to, "fa", "Ana"),
            &rid,
            None,
        ),
    )
    .await;
    let problem = res.assert_problem(422, "email_rejected");
    assert!(
        problem["detail"].as_str().unwrap().contains("550"),
        "{problem}"
    );
    assert!(
        !problem["detail"].as_str().unwrap().contains(&to),
        "{problem}"
    );
    assert_eq!(sink.rcpt_log(), vec![(550, to.clone())], "one attempt only");

    let log = log_entries(&hub, &rid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, Outcome::Failure);
    assert_eq!(log[0].error_code.as_deref(), Some("smtp_550"));
}

#[tokio::test]
async fn an_idempotency_key_sends_once_and_replays_the_first_receipt() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let token = hub.token("svc-idem", Role::Service);
    let to = unique("idem-");
    let key = uuid::Uuid::new_v4().to_string();
    let body = reminder(&to, "en", "Ana");

    let first = send(&svc, post(&token, &body, &request_id(), Some(&key))).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let again = send(&svc, post(&token, &body, &request_id(), Some(&key))).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert_eq!(again.json()["message_id"], first.json()["message_id"]);
    assert_eq!(sink.messages().len(), 1, "one email for two requests");

    // The same key for a different email is refused.
    let other = reminder(&unique("idem-"), "en", "Ana");
    send(&svc, post(&token, &other, &request_id(), Some(&key)))
        .await
        .assert_problem(422, "idempotency_key_reused");
}

#[tokio::test]
async fn the_per_user_hourly_limit_of_100_emails_applies() {
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let svc = service(&hub);
    let token = hub.token("svc-rl", Role::Service);
    let user = format!("user-{}", uuid::Uuid::new_v4().simple());

    let body = |to: &str| json!({"to": to, "subject": "Hi", "body": "text", "user_id": user});
    let first = send(
        &svc,
        post(&token, &body(&unique("rl-")), &request_id(), None),
    )
    .await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.headers["ratelimit-limit"], "100");
    assert_eq!(first.headers["ratelimit-remaining"], "99");

    // Use up the rest of the user's hour, then the next send is refused and not delivered.
    hub.ctx
        .rate_limiter
        .check_cost(&Subject::channel(Channel::Email).user(&user), 99)
        .await
        .expect("take 99 more");
    let refused = send(
        &svc,
        post(&token, &body(&unique("rl-")), &request_id(), None),
    )
    .await;
    refused.assert_problem(429, "rate_limited");
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(sink.messages().len(), 1);

    // Another user is not affected.
    let other = json!({"to": unique("rl-"), "subject": "Hi", "body": "text", "user_id": format!("{user}-other")});
    assert_eq!(
        send(&svc, post(&token, &other, &request_id(), None))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_password_comes_from_the_secret_and_is_reread_once_when_refused() {
    let sink = SmtpSink::start(&["--auth", "mailer:right-password"]);
    let hub = hub_for(&sink, &[("SMTP_USER", "mailer".into())]).await;
    let svc = service(&hub);
    let token = hub.token("svc-auth", Role::Service);

    // A wrong password: refused by the server (535), read again, unchanged, so reported.
    hub.put_secret("smtp", json!({"password": "wrong"})).await;
    let rid = request_id();
    send(
        &svc,
        post(&token, &reminder(&unique("auth-"), "en", "Ana"), &rid, None),
    )
    .await
    .assert_problem(502, "provider_failed");
    assert_eq!(
        log_entries(&hub, &rid).await[0].error_code.as_deref(),
        Some("smtp_535")
    );
    assert!(sink.messages().is_empty());

    // The password is rotated behind the hub's back (its cache still holds the old one):
    // the refusal makes it read the secret again, rebuild the transport and send.
    let id = format!("{}/providers/smtp", hub.prefix);
    hub.ctx
        .aws
        .secrets
        .put_secret_value()
        .secret_id(&id)
        .secret_string(r#"{"password":"right-password"}"#)
        .send()
        .await
        .unwrap();
    let to = unique("auth-");
    let res = send(
        &svc,
        post(&token, &reminder(&to, "en", "Ana"), &request_id(), None),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(sink.messages()[0]["rcpt_tos"], json!([to]));
}

#[tokio::test]
async fn the_email_service_serves_callers_outside_http_too() {
    // The notifications worker calls `EmailService::send` directly with the same request type.
    let sink = SmtpSink::start(&[]);
    let hub = hub_for(&sink, &[]).await;
    let service = hub.ctx_of("notifications-worker").email_service().unwrap();
    assert_eq!(service.delivery(), shared::email::Delivery::Smtp);
    let to = unique("worker-");
    let request = shared::email::EmailRequest {
        to: to.clone(),
        content: shared::email::EmailContent::Template {
            template: "appointment_cancellation".into(),
            language: "fa".into(),
            data: json!({"patient_name": "Ali", "date": "2025-01-19", "time": "09:30", "reason": "بیماری پزشک"}).as_object().unwrap().clone(),
        },
        request_id: format!("sqs-message-{}", uuid::Uuid::new_v4()),
    };
    let receipt = service.send(&request).await.unwrap();
    assert_eq!(receipt.attempts, 1);
    let m = &sink.messages()[0];
    assert_eq!(m["subject"], "لغو نوبت: ۱۴۰۳/۱۰/۳۰ ساعت ۰۹:۳۰");
    assert!(
        m["parts"][1]["text"]
            .as_str()
            .unwrap()
            .contains("دلیل: بیماری پزشک")
    );

    // Two sends through one service reuse its pooled connection.
    let second = shared::email::EmailRequest {
        to: unique("worker-"),
        ..request.clone()
    };
    service.send(&second).await.unwrap();
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[0]["peer"], messages[1]["peer"],
        "the second email went over the first one's connection"
    );
    let log = log_entries(&hub, &request.request_id).await;
    assert_eq!(log.len(), 2);
    // A figure for docs/email.md (`--nocapture` shows it): connecting costs, pooling saves it.
    eprintln!(
        "smtp send latency: first {} ms (connect + EHLO), second {} ms (pooled connection)",
        log[0].latency_ms, log[1].latency_ms
    );
    let err = service
        .send(&shared::email::EmailRequest {
            to: unique("reject-"),
            ..second.clone()
        })
        .await
        .unwrap_err();
    assert!(
        !err.is_retryable(),
        "a permanent refusal goes to the dead-letter path, not back to the queue"
    );
}
