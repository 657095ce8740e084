//! Sending: every channel through the emulator's SQS and the worker, one channel failing
//! while the others succeed, outcomes recorded, preferences, idempotent redelivery, the
//! appointment helpers and input errors.

use std::time::Duration;

use serde_json::{Value, json};
use shared::auth::Role;
use shared::notifications::{Channel, ChannelJob};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{Setup, connect, next_json};

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

fn kavenegar_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"return": {"status": status, "message": message}, "entries": null}))
}

fn kavenegar_sent(receptor: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "return": {"status": 200, "message": "تایید شد"},
        "entries": [{"messageid": 8792343, "message": "x", "status": 1, "statustext": "در صف ارسال",
                     "sender": "10004346", "receptor": receptor, "date": 1356619709, "cost": 120}]
    }))
}

fn outcome<'a>(n: &'a Value, channel: &str) -> &'a Value {
    &n["channels"][channel]
}

#[tokio::test]
async fn one_failing_channel_does_not_stop_the_others_and_every_outcome_is_recorded() {
    // Email: SMTP on a closed port (a transient failure, retried once, then final).
    // SMS: Kavenegar answering 418 "insufficient credit".
    let kavenegar = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(kavenegar_error(418, "اعتبار کافی نیست"))
        .mount(&kavenegar)
        .await;
    let s = Setup::with_env(&[
        ("SMTP_HOST", "127.0.0.1".into()),
        ("SMTP_PORT", closed_port().await.to_string()),
        ("SMTP_USER", String::new()),
        ("FROM_EMAIL", "noreply@clinic.test".into()),
        ("EMAIL_MAX_ATTEMPTS", "1".into()),
        ("KAVENEGAR_BASE_URL", kavenegar.uri()),
        ("SMS_MAX_ATTEMPTS", "1".into()),
    ])
    .await;
    let p1 = s.user("patient-1");
    s.hub
        .put_secret(
            "kavenegar",
            json!({"api_key": "test-key", "sender": "10004346"}),
        )
        .await;
    let token = s.hub.token(&p1, Role::User);
    let mut client = connect(&s, &format!("/ws/{token}")).await.unwrap();

    let res = s
        .send(json!({
            "user_id": &p1, "type": "lembrete", "title": "Nova Notificação",
            "message": "Você tem uma nova mensagem", "data": {"appointment_id": 456},
            "email": "patient@example.com", "phone": "0912 000 0000"
        }))
        .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let accepted = res.json();
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(
        accepted["channels_queued"],
        json!(["email", "sms", "websocket"])
    );
    assert_eq!(accepted["channels"]["in_app"]["status"], "sent");
    for c in ["email", "sms", "websocket"] {
        assert_eq!(accepted["channels"][c]["status"], "queued", "{c}");
    }

    s.drain().await;

    // The WebSocket channel delivered although email and SMS failed.
    let event = next_json(&mut client, Duration::from_secs(5))
        .await
        .expect("notification:new");
    assert_eq!(event["type"], "notification:new");
    assert_eq!(event["data"]["id"], id.as_str());
    assert_eq!(event["data"]["title"], "Nova Notificação");
    assert_eq!(event["data"]["message"], "Você tem uma nova mensagem");
    assert_eq!(event["data"]["type"], "lembrete");

    let n = s.notification(&p1, &id).await;
    assert_eq!(outcome(&n, "in_app")["status"], "sent");
    assert_eq!(outcome(&n, "websocket")["status"], "sent");
    assert_eq!(outcome(&n, "websocket")["delivered"], 1);
    let email = outcome(&n, "email");
    assert_eq!(email["status"], "failed", "{n}");
    assert_ne!(email["code"], "channel_unavailable");
    assert_eq!(
        email["attempts"], 2,
        "retried once (NOTIFICATION_MAX_ATTEMPTS=2), then final: {email}"
    );
    let sms = outcome(&n, "sms");
    assert_eq!(sms["status"], "failed", "{n}");
    assert_ne!(sms["code"], "channel_unavailable");
    assert!(
        !kavenegar.received_requests().await.unwrap().is_empty(),
        "the SMS went to Kavenegar"
    );
    // The retried email gave its rate-limit units back: all 100 of the hour are still there.
    let email_subject =
        shared::rate_limit::Subject::channel(shared::rate_limit::Channel::Email).user(p1.clone());
    s.hub
        .ctx
        .rate_limiter
        .check_cost(&email_subject, 100)
        .await
        .expect("failed email sends do not count against the limit");
    // Contact details are not part of the API's view.
    assert!(n.get("email").is_none() && n.get("phone").is_none(), "{n}");
}

#[tokio::test]
async fn successful_email_and_sms_are_recorded_with_their_provider() {
    let kavenegar = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(kavenegar_sent("09120000001"))
        .mount(&kavenegar)
        .await;
    // No SMTP_HOST: the email module's console fallback (the seed's "log the email").
    let s = Setup::with_env(&[
        ("SMTP_HOST", String::new()),
        ("KAVENEGAR_BASE_URL", kavenegar.uri()),
    ])
    .await;
    let p2 = s.user("patient-2");
    s.hub
        .put_secret(
            "kavenegar",
            json!({"api_key": "test-key", "sender": "10004346"}),
        )
        .await;
    let user = s.hub.token(&p2, Role::User);
    let res = hub_tests::send(
        &s.svc,
        hub_tests::json_req(
            "PUT",
            "/api/v1/notifications/preferences",
            Some(&user),
            &json!({"contact": {"email": "p2@example.com", "phone": "09120000001"}}),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let res = s.send(json!({"user_id": &p2, "type": "reminder", "title": "T", "message": "M", "channels": ["email", "sms"]})).await;
    assert_eq!(res.status, 202);
    let id = res.json()["id"].as_str().unwrap().to_string();
    s.drain().await;
    let n = s.notification(&p2, &id).await;
    assert_eq!(outcome(&n, "email")["status"], "sent", "{n}");
    assert_eq!(outcome(&n, "email")["provider"], "console");
    assert_eq!(outcome(&n, "sms")["status"], "sent", "{n}");
    assert_eq!(outcome(&n, "sms")["provider"], "kavenegar");
    assert!(outcome(&n, "sms")["reference"].is_string());
    assert!(
        n["channels"].get("websocket").is_none(),
        "websocket was not requested"
    );
    let form =
        String::from_utf8(kavenegar.received_requests().await.unwrap()[0].body.clone()).unwrap();
    assert!(form.contains("receptor="), "{form}");
}

#[tokio::test]
async fn preferences_are_respected_and_only_the_owner_changes_them() {
    let s = Setup::new().await;
    let pnc = s.user("patient-no-contact");
    let p3 = s.user("patient-3");
    let user = s.hub.token(&p3, Role::User);
    let get = hub_tests::send(
        &s.svc,
        hub_tests::get("/api/v1/notifications/preferences", Some(&user)),
    )
    .await;
    assert_eq!(get.status, 200);
    assert_eq!(
        get.json()["channels"],
        json!({"in_app": true, "email": true, "sms": true, "websocket": true})
    );

    let put = |body: Value| {
        hub_tests::json_req(
            "PUT",
            "/api/v1/notifications/preferences",
            Some(&user),
            &body,
        )
    };
    let res = hub_tests::send(&s.svc, put(json!({"channels": {"sms": false, "websocket": false}, "contact": {"email": "p3@example.com"}}))).await;
    assert_eq!(res.status, 200);
    let prefs = res.json();
    assert_eq!(
        prefs["channels"],
        json!({"in_app": true, "email": true, "sms": false, "websocket": false})
    );
    assert_eq!(prefs["contact"]["email"], "p3@example.com");
    hub_tests::send(&s.svc, put(json!({"channels": {"in_app": false}})))
        .await
        .assert_problem(400, "invalid_field");
    hub_tests::send(&s.svc, put(json!({"contact": {"phone": "12"}})))
        .await
        .assert_problem(400, "invalid_field");
    hub_tests::send(
        &s.svc,
        put(json!({"user_id": "someone-else", "channels": {"email": false}})),
    )
    .await
    .assert_problem(403, "forbidden");
    // A service may manage a user's preferences.
    let service = s.service_token();
    let res = hub_tests::send(
        &s.svc,
        hub_tests::get(
            &format!("/api/v1/notifications/preferences?user_id={p3}"),
            Some(&service),
        ),
    )
    .await;
    assert_eq!(res.json()["channels"]["sms"], false);

    let res = s.send(json!({"user_id": &p3, "type": "reminder", "title": "Nova Notificação", "message": "Você tem uma nova mensagem", "phone": "09120000002"})).await;
    assert_eq!(res.status, 202);
    // The queue holds ids only: no title, message, address or number.
    let peek = s
        .hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(&s.queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let messages = peek.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "one message: the email channel");
    for m in messages {
        let body = m.body.unwrap_or_default();
        for secret in ["Nova", "mensagem", "p3@example.com", "0912", "9120000000"] {
            assert!(
                !body.contains(secret),
                "queue body leaks {secret:?}: {body}"
            );
        }
    }

    let accepted = res.json();
    assert_eq!(accepted["channels_queued"], json!(["email"]));
    assert_eq!(accepted["channels"]["sms"]["status"], "skipped");
    assert_eq!(accepted["channels"]["sms"]["code"], "disabled_by_user");
    assert_eq!(
        accepted["channels"]["websocket"]["code"],
        "disabled_by_user"
    );

    // No address anywhere: skipped with a reason, not queued.
    let res = s.send(json!({"user_id": &pnc, "type": "t", "title": "T", "message": "M", "channels": ["email", "sms"]})).await;
    let accepted = res.json();
    assert_eq!(accepted["channels_queued"], json!([]));
    assert_eq!(accepted["channels"]["email"]["code"], "no_contact");
    assert_eq!(accepted["channels"]["sms"]["code"], "no_contact");
}

#[tokio::test]
async fn a_redelivered_message_never_sends_twice_and_appointments_use_the_seed_events() {
    let s = Setup::new().await;
    let p4 = s.user("patient-4");
    let token = s.hub.token(&p4, Role::User);
    let mut client = connect(&s, &format!("/ws/{token}")).await.unwrap();
    let service = s.service_token();
    let res = hub_tests::send(
        &s.svc,
        hub_tests::json_req(
            "POST",
            "/api/v1/notifications/appointment-updated",
            Some(&service),
            &json!({"user_id": &p4, "appointment": {"id": 456, "status": "confirmado", "date": "2025-01-20"}, "channels": ["websocket"]}),
        ),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let id = res.json()["id"].as_str().unwrap().to_string();
    s.drain().await;
    let event = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        event,
        json!({"type": "appointment:updated", "data": {"id": 456, "status": "confirmado", "date": "2025-01-20"}})
    );

    // SQS delivers the same message again: the claim sees `sent` and nothing goes out.
    let job = ChannelJob {
        notification_id: id.clone(),
        user_id: p4.clone(),
        channel: Channel::Websocket,
    };
    shared::queue::send_json(s.hub.ctx.aws.sqs(), &s.queue_url, &job)
        .await
        .unwrap();
    s.drain().await;
    assert!(
        next_json(&mut client, Duration::from_millis(600))
            .await
            .is_none(),
        "a second push went out"
    );
    let n = s.notification(&p4, &id).await;
    assert_eq!(outcome(&n, "websocket")["attempts"], 1);
    assert_eq!(n["type"], "appointment_updated");

    // The reminder helper: a notification:new of type appointment_reminder.
    let res = hub_tests::send(
        &s.svc,
        hub_tests::json_req(
            "POST",
            "/api/v1/notifications/appointment-reminder/",
            Some(&service),
            &json!({"user_id": &p4, "appointment_id": "a-9", "date": "2025-01-20", "time": "14:00", "patient_name": "João Silva", "channels": ["websocket"]}),
        ),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    s.drain().await;
    let event = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(event["type"], "notification:new");
    assert_eq!(event["data"]["type"], "appointment_reminder");
    assert!(
        event["data"]["message"]
            .as_str()
            .unwrap()
            .contains("20 January 2025 at 14:00")
    );
    assert_eq!(event["data"]["data"]["appointment_id"], "a-9");
}

#[tokio::test]
async fn a_channel_without_a_usable_provider_is_recorded_failed_channel_unavailable() {
    // No management endpoint: the WebSocket channel cannot be used here.
    let s = Setup::with_env(&[("WEBSOCKET_MANAGEMENT_ENDPOINT", String::new())]).await;
    let p5 = s.user("patient-5");
    let res = s.send(json!({"user_id": &p5, "type": "t", "title": "T", "message": "M", "channels": ["websocket"]})).await;
    let id = res.json()["id"].as_str().unwrap().to_string();
    s.drain().await;
    let n = s.notification(&p5, &id).await;
    assert_eq!(outcome(&n, "websocket")["status"], "failed");
    assert_eq!(outcome(&n, "websocket")["code"], "channel_unavailable");

    // With the gateway but nobody connected: skipped, the inbox has it.
    let s = Setup::new().await;
    let p6 = s.user("patient-6");
    let res = s.send(json!({"user_id": &p6, "type": "t", "title": "T", "message": "M", "channels": ["websocket"]})).await;
    let id = res.json()["id"].as_str().unwrap().to_string();
    s.drain().await;
    let n = s.notification(&p6, &id).await;
    assert_eq!(outcome(&n, "websocket")["status"], "skipped");
    assert_eq!(outcome(&n, "websocket")["code"], "not_connected");
}

#[tokio::test]
async fn bad_sends_are_problems_naming_the_field() {
    let s = Setup::new().await;
    let base = json!({"user_id": "u", "type": "t", "title": "T", "message": "M"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let p = s
        .send(with("channels", json!(["email", "pigeon"])))
        .await
        .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "channels[1]");
    let p = s
        .send(with("title", json!("  ")))
        .await
        .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "title");
    s.send(with("data", json!([1, 2])))
        .await
        .assert_problem(400, "invalid_field");
    s.send(with("email", json!("not-an-address")))
        .await
        .assert_problem(400, "invalid_field");
    s.send(with("user_id", json!("a#b")))
        .await
        .assert_problem(400, "invalid_field");
    s.send(json!({"user_id": "u", "type": "t", "message": "M"}))
        .await
        .assert_problem(422, "invalid_body");
    let user = s.hub.token("u", Role::User);
    let res = hub_tests::send(
        &s.svc,
        hub_tests::json_req("POST", "/api/v1/notifications", Some(&user), &base),
    )
    .await;
    res.assert_problem(403, "forbidden");
    let service = s.service_token();
    let res = hub_tests::send(
        &s.svc,
        hub_tests::json_req("POST", "/api/v1/notifications/appointment-updated", Some(&service), &json!({"user_id": "u", "appointment": {"id": 1, "status": "ok", "date": "20/01/2025"}})),
    )
    .await;
    assert_eq!(
        res.assert_problem(400, "invalid_field")["errors"][0]["field"],
        "appointment.date"
    );
}
