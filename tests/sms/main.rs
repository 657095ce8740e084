//! SMS end to end: the sms function and sms-worker in-process, wiremock fakes answering
//! Kavenegar's and Twilio's real envelopes and error codes, and the moto server for secrets,
//! message records, idempotency keys, rate-limit counters, the integration log and SQS.
//! Run through `make test` (or with `.local/test4570.env` loaded).

mod auth_order;
mod bulk;
mod callbacks;
mod support;
mod templates;
mod ttl;

use hub_tests::{get, send};
use serde_json::json;
use shared::auth::Role;
use shared::integration_log::Outcome;
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn helsa_otp() -> serde_json::Value {
    json!({"receptor": "09123456789", "message_type": "otp", "token": "12345", "template": "verify"})
}

#[tokio::test]
async fn otp_goes_through_kavenegar_lookup_and_is_stored_and_logged_masked() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_ok(vec![kav_entry(8792343, "09123456789", 5)]))
        .expect(1)
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let rid = request_id();
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &rid)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(body["provider"], "kavenegar");
    assert_eq!(body["status"], "sent");
    assert_eq!(body["receptor"], "+989123456789");
    assert_eq!(body["provider_message_id"], "8792343");
    assert!(
        res.headers.contains_key("ratelimit-limit"),
        "rate-limit headers on the answer"
    );

    let id = body["message_id"].as_str().unwrap();
    let lookup = &requests_to(&fx.kavenegar, "verify/lookup.json").await[0];
    assert_eq!(field(lookup, "receptor").as_deref(), Some("09123456789"));
    assert_eq!(field(lookup, "template").as_deref(), Some("verify"));
    assert_eq!(field(lookup, "token").as_deref(), Some("12345"));
    // Our reference, derived from the message id, so Kavenegar can refuse a repeat.
    assert_eq!(
        field(lookup, "localid"),
        Some(shared::providers::kavenegar::local_id(id).to_string())
    );
    assert!(requests_to(&fx.twilio, "").await.is_empty());

    // Stored: the status route answers it (without refresh, no provider call).
    let stored = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}/"), Some(&token)),
    )
    .await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json()["status"], "sent");
    assert_eq!(stored.json()["message_type"], "otp");
    assert!(stored.json().get("token").is_none());

    let log = log_entries(&fx.hub, "kavenegar", &rid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].operation, "verify/lookup");
    assert_eq!(log[0].target.as_deref(), Some("+98912*****89"));
    assert_eq!(log[0].reference.as_deref(), Some("8792343"));
}

#[tokio::test]
async fn pattern_sends_three_tokens_and_text_uses_sms_send_with_sender() {
    let fx = fixture(Opts {
        kavenegar: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_ok(vec![kav_entry(11, "09123456789", 1)]))
        .mount(&fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(kav_ok(vec![kav_entry(12, "09123456789", 1)]))
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);

    let pattern = json!({"receptor": "+98 912 345 6789", "message_type": "pattern", "template": "appointment", "token": "Sara", "token2": "1403-10-01", "token3": "14:00"});
    let res = send(&fx.svc, post(SEND, &token, &pattern, &request_id())).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["status"], "queued");
    let lookup = &requests_to(&fx.kavenegar, "verify/lookup.json").await[0];
    assert_eq!(field(lookup, "template").as_deref(), Some("appointment"));
    assert_eq!(field(lookup, "token2").as_deref(), Some("1403-10-01"));
    assert_eq!(field(lookup, "token3").as_deref(), Some("14:00"));

    let text = json!({"receptor": "0912-345-6789", "message_type": "text", "message": "نوبت شما فردا ساعت ۱۴ است"});
    let res = send(&fx.svc, post(SEND, &token, &text, &request_id())).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let sent = &requests_to(&fx.kavenegar, "sms/send.json").await[0];
    assert_eq!(field(sent, "receptor").as_deref(), Some("09123456789"));
    assert_eq!(
        field(sent, "message").as_deref(),
        Some("نوبت شما فردا ساعت ۱۴ است")
    );
    assert_eq!(field(sent, "sender").as_deref(), Some("10004346"));
    assert_eq!(
        field(sent, "localid"),
        Some(
            shared::providers::kavenegar::local_id(res.json()["message_id"].as_str().unwrap())
                .to_string()
        )
    );
}

#[tokio::test]
async fn persian_and_arabic_digits_are_normalised_and_bad_numbers_are_400_naming_receptor() {
    let fx = fixture(Opts {
        kavenegar: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_ok(vec![kav_entry(21, "09123456789", 1)]))
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    for receptor in ["۰۹۱۲۳۴۵۶۷۸۹", "٠٩١٢٣٤٥٦٧٨٩", "00989123456789"] {
        let body = json!({"receptor": receptor, "message_type": "otp", "token": "12345"});
        let res = send(&fx.svc, post(SEND, &token, &body, &request_id())).await;
        assert_eq!(
            res.status,
            200,
            "{receptor}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_eq!(res.json()["receptor"], "+989123456789");
    }
    for r in requests_to(&fx.kavenegar, "verify/lookup.json").await {
        assert_eq!(field(&r, "receptor").as_deref(), Some("09123456789"));
    }
    for receptor in ["0912345", "hello", "+98 21 1234 5678", ""] {
        let body = json!({"receptor": receptor, "message_type": "otp", "token": "12345"});
        let res = send(&fx.svc, post(SEND, &token, &body, &request_id())).await;
        let p = res.assert_problem(400, "invalid_field");
        assert_eq!(p["errors"][0]["field"], "receptor", "{receptor:?}");
    }
    // Other field errors name their field too.
    let res = send(
        &fx.svc,
        post(
            SEND,
            &token,
            &json!({"receptor": "09123456789", "message_type": "otp"}),
            &request_id(),
        ),
    )
    .await;
    assert_eq!(
        res.assert_problem(400, "invalid_field")["errors"][0]["field"],
        "token"
    );
    let res = send(
        &fx.svc,
        post(
            SEND,
            &token,
            &json!({"receptor": "09123456789", "message_type": "text"}),
            &request_id(),
        ),
    )
    .await;
    assert_eq!(
        res.assert_problem(400, "invalid_field")["errors"][0]["field"],
        "message"
    );
    let res = send(
        &fx.svc,
        post(
            SEND,
            &token,
            &json!({"receptor": "09123456789", "message_type": "fax"}),
            &request_id(),
        ),
    )
    .await;
    assert_eq!(res.status, 422);
}

#[tokio::test]
async fn other_countries_go_to_twilio_with_a_locally_rendered_body() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created(
            "SM00000000000000000000000000000001",
            "+5511999999999",
        ))
        .expect(1)
        .mount(&fx.twilio)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let rid = request_id();
    let body = json!({"receptor": "+55 11 99999-9999", "message_type": "otp", "token": "4321", "template": "verify"});
    let res = send(&fx.svc, post(SEND, &token, &body, &rid)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["provider"], "twilio");
    assert_eq!(res.json()["status"], "queued");
    assert_eq!(
        res.json()["provider_message_id"],
        "SM00000000000000000000000000000001"
    );
    let req = &requests_to(&fx.twilio, "Messages.json").await[0];
    assert_eq!(field(req, "To").as_deref(), Some("+5511999999999"));
    assert_eq!(field(req, "From").as_deref(), Some(TWILIO_FROM));
    assert_eq!(
        field(req, "Body").as_deref(),
        Some("Your verification code is 4321")
    );
    let auth = req.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(auth.starts_with("Basic "));
    assert!(requests_to(&fx.kavenegar, "").await.is_empty());
    let log = log_entries(&fx.hub, "twilio", &rid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].target.as_deref(), Some("+55119******99"));
}

#[tokio::test]
async fn no_credit_at_kavenegar_fails_over_to_twilio() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_err(418))
        .expect(1)
        .mount(&fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created(
            "SM00000000000000000000000000000002",
            "+989123456789",
        ))
        .expect(1)
        .mount(&fx.twilio)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let rid = request_id();
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &rid)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["provider"], "twilio");
    let req = &requests_to(&fx.twilio, "Messages.json").await[0];
    assert_eq!(field(req, "To").as_deref(), Some("+989123456789"));
    // No credit is not retried: one Kavenegar call, logged as a failure with its code.
    let log = log_entries(&fx.hub, "kavenegar", &rid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, Outcome::Failure);
    assert_eq!(log[0].error_code.as_deref(), Some("kavenegar_418"));
}

#[tokio::test]
async fn invalid_key_fails_over_and_twilio_throttling_is_retried() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_err(403))
        .mount(&fx.kavenegar)
        .await;
    let twilio_path = format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json");
    Mock::given(method("POST"))
        .and(path(twilio_path.clone()))
        .respond_with(twilio_err(429, 20429))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fx.twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(twilio_path))
        .respond_with(twilio_created(
            "SM00000000000000000000000000000003",
            "+989123456789",
        ))
        .with_priority(2)
        .mount(&fx.twilio)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let rid = request_id();
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &rid)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["provider"], "twilio");
    // 403 is a credential rejection: the secret is read again, the same key is refused again
    // (not retried with backoff), then Twilio; Twilio's 20429 is retried once.
    assert_eq!(
        requests_to(&fx.kavenegar, "verify/lookup.json").await.len(),
        1
    );
    assert_eq!(requests_to(&fx.twilio, "Messages.json").await.len(), 2);
    let log = log_entries(&fx.hub, "twilio", &rid).await;
    assert_eq!(
        log.iter()
            .filter(|e| e.error_code.as_deref() == Some("twilio_20429"))
            .count(),
        1
    );
}

#[tokio::test]
async fn kavenegar_rate_limit_is_retried_then_succeeds() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    let p = format!("/{KEY}/verify/lookup.json");
    Mock::given(method("POST"))
        .and(path(p.clone()))
        .respond_with(kav_err(451))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(p))
        .respond_with(kav_ok(vec![kav_entry(31, "09123456789", 1)]))
        .with_priority(2)
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &request_id())).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["provider"], "kavenegar");
    assert_eq!(
        requests_to(&fx.kavenegar, "verify/lookup.json").await.len(),
        2
    );
    assert!(requests_to(&fx.twilio, "").await.is_empty());
}

#[tokio::test]
async fn invalid_receptor_at_the_provider_is_422_without_failover() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_err(411))
        .expect(1)
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &request_id())).await;
    let p = res.assert_problem(422, "provider_rejected");
    assert!(
        p["detail"].as_str().unwrap().contains("invalid receptor"),
        "{p}"
    );
    assert!(
        !p["detail"].as_str().unwrap().contains("0912345"),
        "no number in the problem"
    );
    assert!(
        requests_to(&fx.twilio, "").await.is_empty(),
        "an invalid request is not failed over"
    );
}

#[tokio::test]
async fn every_provider_down_is_502_after_retries() {
    let fx = fixture(Opts {
        kavenegar: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let body = json!({"receptor": "09123456789", "message_type": "text", "message": "hello"});
    let res = send(&fx.svc, post(SEND, &token, &body, &request_id())).await;
    res.assert_problem(502, "provider_failed");
    assert_eq!(
        requests_to(&fx.kavenegar, "sms/send.json").await.len(),
        3,
        "SMS_MAX_ATTEMPTS=3"
    );
}

#[tokio::test]
async fn console_fallback_when_no_provider_is_configured() {
    let fx = fixture(Opts::default()).await;
    let token = fx.hub.token("svc-1", Role::Service);
    let rid = request_id();
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &rid)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["provider"], "console");
    // Logged, not sent: the answer never says `sent` (issue 13).
    assert_eq!(res.json()["status"], "fallback");
    assert!(requests_to(&fx.kavenegar, "").await.is_empty());
    assert!(requests_to(&fx.twilio, "").await.is_empty());
    let log = log_entries(&fx.hub, "console", &rid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, Outcome::Fallback);
    assert_eq!(log[0].target.as_deref(), Some("+98912*****89"));
}

#[tokio::test]
async fn without_a_provider_and_without_the_fallback_nothing_is_reported_sent() {
    let fx = fixture(Opts {
        sms_fallback: Some("none"),
        ..Default::default()
    })
    .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &request_id())).await;
    let p = res.assert_problem(503, "sms_not_configured");
    assert!(
        p["detail"].as_str().unwrap().contains("SMS_FALLBACK"),
        "{p}"
    );
    assert!(requests_to(&fx.kavenegar, "").await.is_empty());
    assert!(requests_to(&fx.twilio, "").await.is_empty());
    // Nothing went out: the attempt did not use up the quota.
    let again = send(&fx.svc, post(SEND, &token, &helsa_otp(), &request_id())).await;
    again.assert_problem(503, "sms_not_configured");
}

#[tokio::test]
async fn users_cannot_send_and_the_otp_receptor_limit_applies() {
    let fx = fixture(Opts::default()).await;
    let end_user = format!("user-{}", uuid::Uuid::new_v4().simple());
    let user = fx.hub.token(&end_user, Role::User);
    // Issue 15: user tokens use the OTP verification service; no content of their own
    // (text, or an otp/pattern token they choose) goes out through `send` or `bulk`.
    for body in [
        json!({"receptor": "09123456789", "message_type": "text", "message": "hi"}),
        json!({"receptor": "09123456789", "message_type": "otp", "token": "1111"}),
        json!({"receptor": "09123456789", "message_type": "pattern", "template": "t", "token": "x"}),
    ] {
        send(&fx.svc, post(SEND, &user, &body, &request_id()))
            .await
            .assert_problem(403, "forbidden");
    }
    let bulk = json!({"receptors": ["09123456789"], "message": "hi"});
    send(&fx.svc, post(BULK, &user, &bulk, &request_id()))
        .await
        .assert_problem(403, "forbidden");
    // A service sending OTP for an end user: default rule, 5 OTP per receiving number per
    // hour (SMS pumping).
    let service = fx.hub.token("svc-otp-limit", Role::Service);
    let otp = |receptor: &str| json!({"receptor": receptor, "message_type": "otp", "token": "1111", "user_id": end_user});
    let receptor = iranian_numbers(1).remove(0);
    for i in 0..5 {
        let res = send(
            &fx.svc,
            post(SEND, &service, &otp(&receptor), &request_id()),
        )
        .await;
        assert_eq!(
            res.status,
            200,
            "send {i}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_eq!(res.headers["ratelimit-remaining"], (4 - i).to_string());
    }
    let res = send(
        &fx.svc,
        post(SEND, &service, &otp(&receptor), &request_id()),
    )
    .await;
    res.assert_problem(429, "rate_limited");
    assert!(res.headers.contains_key("retry-after"));
    // The per-user SMS limit (10/h) counts the sends made for a user to any number.
    for i in 0..5 {
        assert_eq!(
            send(
                &fx.svc,
                post(SEND, &service, &otp(&iranian_numbers(1)[0]), &request_id())
            )
            .await
            .status,
            200,
            "send {i}"
        );
    }
    send(
        &fx.svc,
        post(SEND, &service, &otp(&iranian_numbers(1)[0]), &request_id()),
    )
    .await
    .assert_problem(429, "rate_limited");
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_without_a_second_sms() {
    let fx = fixture(Opts {
        kavenegar: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_ok(vec![kav_entry(41, "09123456789", 1)]))
        .expect(1)
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let key = format!("idem-{}", uuid::Uuid::new_v4());
    let mut first_id = None;
    for round in 0..2 {
        let mut req = post(SEND, &token, &helsa_otp(), &request_id());
        req.headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
        let res = send(&fx.svc, req).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let id = res.json()["message_id"].clone();
        match round {
            0 => first_id = Some(id),
            _ => {
                assert_eq!(Some(id), first_id);
                assert_eq!(res.headers["idempotent-replayed"], "true");
            }
        }
    }
    assert_eq!(
        requests_to(&fx.kavenegar, "verify/lookup.json").await.len(),
        1
    );
}

#[tokio::test]
async fn status_refresh_asks_kavenegar_and_twilio() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_ok(vec![kav_entry(51, "09123456789", 1)]))
        .mount(&fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/status.json")))
        .respond_with(kav_ok(vec![
            json!({"messageid": 51, "status": 10, "statustext": "رسیده به گیرنده"}),
        ]))
        .expect(1)
        .mount(&fx.kavenegar)
        .await;
    let sid = "SM00000000000000000000000000000061";
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created(sid, "+5511999999999"))
        .mount(&fx.twilio)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json"
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sid": sid, "status": "undelivered", "error_code": 30003})),
        )
        .expect(1)
        .mount(&fx.twilio)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);

    let kav = send(&fx.svc, post(SEND, &token, &helsa_otp(), &request_id()))
        .await
        .json();
    let res = send(
        &fx.svc,
        get(
            &format!(
                "/api/integrations/sms/{}?refresh=true",
                kav["message_id"].as_str().unwrap()
            ),
            Some(&token),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["status"], "delivered");
    // A refresh is a provider call: metered per caller (default-sms-refresh-user).
    let remaining = |res: &hub_tests::TestResponse| -> u64 {
        res.headers["ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = remaining(&res);
    assert!(first < 120, "{first}");
    assert_eq!(res.json()["provider_status"], "10");
    assert_eq!(
        field(
            &requests_to(&fx.kavenegar, "sms/status.json").await[0],
            "messageid"
        )
        .as_deref(),
        Some("51")
    );

    let body = json!({"receptor": "+5511999999999", "message_type": "text", "message": "Lembrete: consulta amanhã"});
    let tw = send(&fx.svc, post(SEND, &token, &body, &request_id()))
        .await
        .json();
    let id = tw["message_id"].as_str().unwrap();
    let res = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/{id}?refresh=true"),
            Some(&token),
        ),
    )
    .await;
    assert_eq!(res.json()["status"], "undelivered");
    assert_eq!(remaining(&res), first - 1);
    // Stored: a plain read now answers the refreshed status.
    let res = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}"), Some(&token)),
    )
    .await;
    assert_eq!(res.json()["status"], "undelivered");

    // Another user cannot read it; unknown ids are 404.
    let other = fx.hub.token("someone-else", Role::User);
    send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}"), Some(&other)),
    )
    .await
    .assert_problem(404, "not_found");
    send(&fx.svc, get("/api/integrations/sms/nope", Some(&token)))
        .await
        .assert_problem(404, "not_found");
    send(&fx.svc, get(&format!("/api/integrations/sms/{id}"), None))
        .await
        .assert_problem(401, "missing_token");
}

#[tokio::test]
async fn a_send_that_times_out_is_unknown_never_retried_nor_failed_over() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        timeout_secs: Some(1),
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(
            kav_ok(vec![kav_entry(71, "09123456789", 1)])
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&fx.kavenegar)
        .await;
    // Kavenegar does not know the localid (yet): the lookup cannot settle it.
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/statuslocalmessageid.json")))
        .respond_with(kav_ok(vec![
            json!({"messageid": 0, "localid": "0", "status": 100, "statustext": "نامعتبر"}),
        ]))
        .mount(&fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created(
            "SM00000000000000000000000000000071",
            "+989123456789",
        ))
        .expect(0)
        .mount(&fx.twilio)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let rid = request_id();
    let res = send(&fx.svc, post(SEND, &token, &helsa_otp(), &rid)).await;
    // It may have gone out at Kavenegar: one attempt only, no Twilio copy, `unknown`.
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(body["provider"], "kavenegar");
    assert_eq!(body["status"], "unknown");
    assert_eq!(body["reason"], "kavenegar_timeout");
    assert_eq!(
        requests_to(&fx.kavenegar, "verify/lookup.json").await.len(),
        1
    );
    assert!(requests_to(&fx.twilio, "").await.is_empty());
    let lookup = &requests_to(&fx.kavenegar, "sms/statuslocalmessageid.json").await[0];
    let id = body["message_id"].as_str().unwrap();
    let local_id = shared::providers::kavenegar::local_id(id).to_string();
    assert_eq!(field(lookup, "localid").as_deref(), Some(local_id.as_str()));
    let log = log_entries(&fx.hub, "kavenegar", &rid).await;
    assert_eq!(
        log.iter()
            .filter(|e| e.error_code.as_deref() == Some("kavenegar_timeout"))
            .count(),
        1
    );
    let stored = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}"), Some(&token)),
    )
    .await
    .json();
    assert_eq!(stored["status"], "unknown");
    assert_eq!(stored["error_code"], "kavenegar_timeout");
}
