//! Named SMS templates (BluRosiere's Twilio SMS: appointment reminders, risk alerts, quick
//! confirmations) sent as the seed writes them, in fa, pt-BR and en: the text each provider
//! actually received, with dates as each reader writes them.

use hub_tests::send;
use serde_json::{Value, json};
use shared::auth::Role;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::support::*;

/// Twilio answers every create with a fresh sid.
async fn twilio_accepts(twilio: &MockServer, to: &str) {
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created("SM0000000000000000000000000000000a", to))
        .mount(twilio)
        .await;
}

/// The `Body` of every message Twilio was asked to create for `to`, in order.
async fn twilio_bodies(twilio: &MockServer, to: &str) -> Vec<String> {
    requests_to(twilio, "Messages.json")
        .await
        .iter()
        .filter(|r| field(r, "To").as_deref() == Some(to))
        .filter_map(|r| field(r, "Body"))
        .collect()
}

#[tokio::test]
async fn the_seed_reminder_goes_to_twilio_in_portuguese_with_the_brazilian_date() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    twilio_accepts(&fx.twilio, "+5511999999999").await;
    let token = fx.hub.token("svc-tpl", Role::Service);
    // sms_service.send_appointment_reminder(to="+5511999999999", date="2025-01-20", time="14:00")
    let body = json!({"receptor": "+5511999999999", "template": "appointment_reminder", "language": "pt-BR",
                      "data": {"date": "2025-01-20", "time": "14:00"}});
    let res = send(&fx.svc, post(SEND, &token, &body, &request_id())).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let answer = res.json();
    assert_eq!(answer["provider"], "twilio");
    assert_eq!(
        answer["message_type"], "text",
        "a named template goes out as text"
    );
    assert_eq!(
        twilio_bodies(&fx.twilio, "+5511999999999").await,
        vec!["Lembrete da sua consulta em 20/01/2025 às 14:00.".to_string()]
    );
    assert!(requests_to(&fx.kavenegar, "").await.is_empty());

    // Risk alert and quick confirmation, the other two of the seed's Twilio functions.
    let cases: [(&str, &str, Value, &str); 3] = [
        (
            "risk_alert",
            "pt-BR",
            json!({"patient_name": "João Silva", "risk_level": "alto", "detail": "Pressão 180/110.", "contact_phone": "+55 11 4000-0000"}),
            "Alerta de risco alto para João Silva. Pressão 180/110. Ligue para +55 11 4000-0000.",
        ),
        (
            "quick_confirmation",
            "pt-BR",
            json!({"date": "2025-01-20", "time": "14:00", "patient_name": "João Silva", "doctor_name": "Dra. Ana", "appointment_id": 456}),
            "João Silva, sua consulta em 20/01/2025 às 14:00 com Dra. Ana está confirmada. Código: 456.",
        ),
        (
            "quick_confirmation",
            "en",
            json!({"date": "2025-01-20", "time": "09:05"}),
            "Your appointment on 20 January 2025 at 09:05 is confirmed.",
        ),
    ];
    for (i, (template, language, data, text)) in cases.into_iter().enumerate() {
        let to = format!("+1415555{:04}", 2600 + i);
        twilio_accepts(&fx.twilio, &to).await;
        let body =
            json!({"receptor": to, "template": template, "language": language, "data": data});
        let res = send(&fx.svc, post(SEND, &token, &body, &request_id())).await;
        assert_eq!(
            res.status,
            200,
            "{template}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_eq!(
            twilio_bodies(&fx.twilio, &to).await,
            vec![text.to_string()],
            "{template} {language}"
        );
    }
}

#[tokio::test]
async fn a_persian_reminder_goes_to_kavenegar_with_the_solar_hijri_date_in_persian_digits() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(kav_ok(vec![kav_entry(88_001, "09123456780", 1)]))
        .expect(1)
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-tpl-fa", Role::Service);
    let body = json!({"receptor": "09123456780", "template": "appointment_reminder", "language": "fa",
                      "data": {"date": "2025-01-20", "time": "14:00", "patient_name": "زهرا", "doctor_name": "دکتر رضایی"}});
    let res = send(&fx.svc, post(SEND, &token, &body, &request_id())).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["provider"], "kavenegar");
    let sent = &requests_to(&fx.kavenegar, "sms/send.json").await[0];
    assert_eq!(
        field(sent, "message").as_deref(),
        Some("زهرا گرامی، یادآوری نوبت شما در تاریخ ۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰ نزد دکتر رضایی.")
    );
    assert!(requests_to(&fx.twilio, "").await.is_empty());
}

#[tokio::test]
async fn a_wrong_named_template_is_a_problem_naming_the_field_and_sends_nothing() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    let token = fx.hub.token("svc-tpl-bad", Role::Service);
    let reminder = |data: Value| json!({"receptor": "+5511999999998", "template": "appointment_reminder", "language": "pt-BR", "data": data});
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            reminder(json!({"date": "2025-01-20"})),
            422,
            "missing_template_data",
            "data.time",
        ),
        (
            json!({"receptor": "+5511999999998", "template": "appointment_reminder", "language": "pt-BR"}),
            422,
            "missing_template_data",
            "data.date",
        ),
        (
            reminder(json!({"date": "20/01/2025", "time": "14:00"})),
            422,
            "invalid_template_data",
            "data.date",
        ),
        (
            json!({"receptor": "+5511999999998", "template": "risk_alert", "data": {"patient_name": "João", "risk_level": "spicy"}}),
            422,
            "invalid_template_data",
            "data.risk_level",
        ),
        (
            json!({"receptor": "+5511999999998", "template": "welcome", "language": "en", "data": {}}),
            422,
            "unknown_template",
            "template",
        ),
        (
            json!({"receptor": "+5511999999998", "template": "appointment_reminder", "language": "de",
                   "data": {"date": "2025-01-20", "time": "14:00"}}),
            422,
            "unknown_language",
            "language",
        ),
        (
            json!({"receptor": "+5511999999998", "message_type": "text", "message": "oi", "data": {"date": "2025-01-20"}}),
            400,
            "invalid_field",
            "data",
        ),
        (
            json!({"receptor": "+5511999999998", "template": "appointment_reminder", "token": "1",
                   "data": {"date": "2025-01-20", "time": "14:00"}}),
            400,
            "invalid_field",
            "token",
        ),
        (
            json!({"receptor": "+5511999999998", "message": "oi"}),
            400,
            "invalid_field",
            "message_type",
        ),
    ];
    for (body, status, code, named) in cases {
        let res = send(&fx.svc, post(SEND, &token, &body, &request_id())).await;
        let problem = res.assert_problem(status, code);
        assert_eq!(problem["errors"][0]["field"], named, "{body} -> {problem}");
    }
    assert!(requests_to(&fx.twilio, "").await.is_empty());
    assert!(requests_to(&fx.kavenegar, "").await.is_empty());
}
