//! The appointment helpers in the reader's language on every channel: one template, and what
//! each channel actually delivered: the SMTP sink's mail, the SMS provider's request, the
//! WebSocket event and the inbox.

use std::time::Duration;

use serde_json::{Value, json};
use shared::auth::Role;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::sink::SmtpSink;
use crate::{Setup, connect, next_json};

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// A hub whose worker mails into `sink` and texts through the fake Kavenegar and Twilio.
async fn setup(sink: &SmtpSink, kavenegar: &MockServer, twilio: &MockServer) -> Setup {
    let s = Setup::with_env(&[
        ("SMTP_HOST", "127.0.0.1".into()),
        ("SMTP_PORT", sink.port.to_string()),
        ("SMTP_USER", String::new()),
        ("FROM_EMAIL", "Clinic <noreply@clinic.example>".into()),
        ("KAVENEGAR_BASE_URL", kavenegar.uri()),
        ("TWILIO_BASE_URL", twilio.uri()),
        ("SMS_CALLBACK_BASE_URL", String::new()),
    ])
    .await;
    s.hub
        .put_secret(
            "kavenegar",
            json!({"api_key": "test-key", "sender": "10004346"}),
        )
        .await;
    s.hub
        .put_secret(
            "twilio",
            json!({"account_sid": TWILIO_SID, "auth_token": "t", "from_number": "+15005550006"}),
        )
        .await;
    s
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The mail the sink received for `to`.
fn mail_to(sink: &SmtpSink, to: &str) -> Value {
    sink.messages()
        .into_iter()
        .find(|m| m["rcpt_tos"] == json!([to]))
        .unwrap_or_else(|| panic!("no mail to {to}"))
}

async fn post(s: &Setup, route: &str, body: &Value) -> Value {
    let res = hub_tests::send(
        &s.svc,
        hub_tests::json_req("POST", route, Some(&s.service_token()), body),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

#[tokio::test]
async fn a_portuguese_reminder_reads_the_same_on_every_channel() {
    let (sink, kavenegar, twilio) = (
        SmtpSink::start(&[]),
        MockServer::start().await,
        MockServer::start().await,
    );
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"sid": "SM0000000000000000000000000000000b", "status": "queued"}),
        ))
        .mount(&twilio)
        .await;
    let s = setup(&sink, &kavenegar, &twilio).await;
    let patient = s.user("paciente-pt");
    let mut client = connect(&s, &format!("/ws/{}", s.hub.token(&patient, Role::User)))
        .await
        .unwrap();
    let to = format!("{patient}@email.com");

    // notification_service.send_appointment_reminder(db, appointment), for a pt-BR reader.
    let accepted = post(
        &s,
        "/api/v1/notifications/appointment-reminder",
        &json!({"user_id": &patient, "appointment_id": 456, "date": "2025-01-20", "time": "14:00",
                "patient_name": "João Silva", "email": &to, "phone": "+5511999999999", "language": "pt-BR"}),
    )
    .await;
    let id = accepted["id"].as_str().unwrap().to_string();
    s.drain().await;

    let text = "Olá, João Silva! Lembrete da sua consulta em 20/01/2025 às 14:00.";
    // WebSocket: the localized title and message.
    let event = next_json(&mut client, Duration::from_secs(5))
        .await
        .expect("notification:new");
    assert_eq!(event["type"], "notification:new");
    assert_eq!(event["data"]["title"], "Lembrete de consulta");
    assert_eq!(event["data"]["message"], text);
    // In-app: the same.
    let n = s.notification(&patient, &id).await;
    assert_eq!(n["title"], "Lembrete de consulta");
    assert_eq!(n["message"], text);
    assert_eq!(n["channels"]["email"]["status"], "sent", "{n}");
    assert_eq!(n["channels"]["sms"]["status"], "sent", "{n}");
    assert_eq!(n["channels"]["sms"]["provider"], "twilio");
    assert!(
        n.get("template").is_none(),
        "the template reference is the worker's, not the inbox's: {n}"
    );
    // SMS: the same text, as Twilio received it.
    let sms: Vec<String> = twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| form_field(&r.body, "Body"))
        .collect();
    assert_eq!(sms, vec![text.to_string()]);
    // Email: the localized appointment_reminder email, not a plain text.
    let mail = mail_to(&sink, &to);
    assert_eq!(mail["subject"], "Lembrete de consulta: 20/01/2025 às 14:00");
    assert_eq!(mail["headers"]["Content-Language"], "pt-BR");
    let body = mail["parts"][0]["text"].as_str().unwrap();
    assert!(body.starts_with("Olá, João Silva,"), "{body}");
    assert!(
        body.contains("Este é um lembrete da sua consulta em 20/01/2025 às 14:00."),
        "{body}"
    );
    assert!(
        mail["parts"][1]["text"]
            .as_str()
            .unwrap()
            .contains(r#"<html lang="pt-BR" dir="ltr">"#)
    );
    assert!(kavenegar.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn persian_readers_get_the_solar_hijri_date_in_persian_digits_on_every_channel() {
    let (sink, kavenegar, twilio) = (
        SmtpSink::start(&[]),
        MockServer::start().await,
        MockServer::start().await,
    );
    Mock::given(method("POST"))
        .and(path("/test-key/sms/send.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "return": {"status": 200, "message": "تایید شد"},
            "entries": [{"messageid": 8_792_399, "message": "x", "status": 1, "statustext": "در صف ارسال",
                         "sender": "10004346", "receptor": "09120000009", "date": 1_356_619_709, "cost": 120}]
        })))
        .mount(&kavenegar)
        .await;
    let s = setup(&sink, &kavenegar, &twilio).await;
    let patient = s.user("bimar-fa");
    let mut client = connect(&s, &format!("/ws/{}", s.hub.token(&patient, Role::User)))
        .await
        .unwrap();
    let to = format!("{patient}@example.com");

    let accepted = post(
        &s,
        "/api/v1/notifications/appointment-reminder",
        &json!({"user_id": &patient, "appointment_id": "a-1", "date": "2025-01-20", "time": "14:00",
                "email": &to, "phone": "۰۹۱۲۰۰۰۰۰۰۹", "language": "fa"}),
    )
    .await;
    let id = accepted["id"].as_str().unwrap().to_string();
    s.drain().await;

    let text = "یادآوری نوبت شما در تاریخ ۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰.";
    let event = next_json(&mut client, Duration::from_secs(5))
        .await
        .expect("notification:new");
    assert_eq!(event["data"]["title"], "یادآوری نوبت");
    assert_eq!(event["data"]["message"], text);
    let n = s.notification(&patient, &id).await;
    assert_eq!(n["message"], text);
    assert_eq!(n["channels"]["sms"]["provider"], "kavenegar", "{n}");
    let sent = &kavenegar.received_requests().await.unwrap()[0];
    assert_eq!(form_field(&sent.body, "message").as_deref(), Some(text));
    let mail = mail_to(&sink, &to);
    assert_eq!(mail["subject"], "یادآوری نوبت: ۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰");
    assert_eq!(mail["headers"]["Content-Language"], "fa");
    let body = mail["parts"][0]["text"].as_str().unwrap();
    assert!(
        body.starts_with("بیمار گرامی،"),
        "no patient name: the language's 'dear patient': {body}"
    );
    assert!(
        mail["parts"][1]["text"]
            .as_str()
            .unwrap()
            .contains(r#"<html lang="fa" dir="rtl">"#)
    );

    // The seed's appointment:updated, for a Persian reader: the status in Persian words, the
    // generic email in Persian, the seed's WebSocket event unchanged.
    let accepted = post(
        &s,
        "/api/v1/notifications/appointment-updated",
        &json!({"user_id": &patient, "appointment": {"id": 456, "status": "confirmado", "date": "2025-01-20"},
                "email": &to, "channels": ["email", "websocket"], "language": "fa"}),
    )
    .await;
    let id = accepted["id"].as_str().unwrap().to_string();
    s.drain().await;
    let event = next_json(&mut client, Duration::from_secs(5))
        .await
        .expect("appointment:updated");
    assert_eq!(
        event,
        json!({"type": "appointment:updated", "data": {"id": 456, "status": "confirmado", "date": "2025-01-20"}})
    );
    let n = s.notification(&patient, &id).await;
    assert_eq!(n["title"], "به‌روزرسانی نوبت");
    assert_eq!(
        n["message"],
        "وضعیت نوبت شما در تاریخ ۱۴۰۳/۱۱/۰۱: تأیید شده."
    );
    let mails: Vec<Value> = sink
        .messages()
        .into_iter()
        .filter(|m| m["subject"] == "به‌روزرسانی نوبت")
        .collect();
    assert_eq!(mails.len(), 1, "{:?}", sink.messages());
    assert!(
        mails[0]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("وضعیت نوبت شما در تاریخ ۱۴۰۳/۱۱/۰۱: تأیید شده.")
    );
    assert!(
        mails[0]["parts"][1]["text"]
            .as_str()
            .unwrap()
            .contains(r#"dir="rtl""#)
    );
}

#[tokio::test]
async fn an_unknown_language_is_a_problem_naming_it() {
    let s = Setup::new().await;
    let res = hub_tests::send(
        &s.svc,
        hub_tests::json_req(
            "POST",
            "/api/v1/notifications/appointment-reminder",
            Some(&s.service_token()),
            &json!({"user_id": "u", "appointment_id": 1, "date": "2025-01-20", "time": "14:00", "language": "de"}),
        ),
    )
    .await;
    let problem = res.assert_problem(422, "unknown_language");
    assert_eq!(problem["errors"][0]["field"], "language");
}
