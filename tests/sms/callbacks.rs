//! Delivery reports: Kavenegar's callback (secret path token; GET or POST) and Twilio's
//! status callback (X-Twilio-Signature), valid and forged.

use axum::body::Body;
use hub_tests::{get, req, send};
use serde_json::json;
use shared::auth::Role;
use shared::webhooks::signature::twilio_signature;
use wiremock::Mock;
use wiremock::matchers::{method, path};

use crate::support::*;

const KAV_CB: &str = "/api/integrations/sms/callbacks/kavenegar";
const TWILIO_CB: &str = "/api/integrations/sms/callbacks/twilio";

#[tokio::test]
async fn kavenegar_callback_with_the_path_token_updates_the_status() {
    let fx = fixture(Opts {
        kavenegar: true,
        ..Default::default()
    })
    .await;
    let pid = 9_000_000 + (uuid::Uuid::new_v4().as_u128() % 1_000_000) as u64;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(kav_ok(vec![kav_entry(pid, "09123456789", 1)]))
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let body = json!({"receptor": "09123456789", "message_type": "otp", "token": "12345"});
    let sent = send(&fx.svc, post(SEND, &token, &body, &request_id()))
        .await
        .json();
    let id = sent["message_id"].as_str().unwrap().to_string();

    // A wrong token is refused and changes nothing.
    let res = send(
        &fx.svc,
        get(
            &format!("{KAV_CB}/wrong-token?messageid={pid}&status=10"),
            None,
        ),
    )
    .await;
    res.assert_problem(401, "invalid_signature");
    assert_eq!(
        send(
            &fx.svc,
            get(&format!("/api/integrations/sms/{id}"), Some(&token))
        )
        .await
        .json()["status"],
        "queued"
    );

    // GET with the token: sent to the operator (4)...
    let res = send(
        &fx.svc,
        get(
            &format!("{KAV_CB}/{CALLBACK_TOKEN}?messageid={pid}&status=4"),
            None,
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["applied"], true);
    assert_eq!(res.json()["status"], "sent");
    // ...then POST (form): delivered (10).
    let post_req = req("POST", &format!("{KAV_CB}/{CALLBACK_TOKEN}/"), None)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("messageid={pid}&status=10")))
        .unwrap();
    let res = send(&fx.svc, post_req).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["message_id"], id);
    assert_eq!(
        send(
            &fx.svc,
            get(&format!("/api/integrations/sms/{id}"), Some(&token))
        )
        .await
        .json()["status"],
        "delivered"
    );

    // A late "sent" report does not move a delivered message back.
    let res = send(
        &fx.svc,
        get(
            &format!("{KAV_CB}/{CALLBACK_TOKEN}?messageid={pid}&status=4"),
            None,
        ),
    )
    .await;
    assert_eq!(res.json()["applied"], false);
    assert_eq!(
        send(
            &fx.svc,
            get(&format!("/api/integrations/sms/{id}"), Some(&token))
        )
        .await
        .json()["status"],
        "delivered"
    );
    // Missing fields are named.
    let res = send(
        &fx.svc,
        get(&format!("{KAV_CB}/{CALLBACK_TOKEN}?status=10"), None),
    )
    .await;
    assert_eq!(
        res.assert_problem(400, "invalid_field")["errors"][0]["field"],
        "messageid"
    );
}

#[tokio::test]
async fn twilio_status_callback_needs_a_valid_signature() {
    let fx = fixture(Opts {
        twilio: true,
        ..Default::default()
    })
    .await;
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created(&sid, "+14155552671"))
        .mount(&fx.twilio)
        .await;
    let token = fx.hub.token("svc-1", Role::Service);
    let body = json!({"receptor": "+1 415 555 2671", "message_type": "text", "message": "Your appointment is tomorrow"});
    let sent = send(&fx.svc, post(SEND, &token, &body, &request_id()))
        .await
        .json();
    let id = sent["message_id"].as_str().unwrap().to_string();

    let params = vec![
        ("AccountSid".to_string(), TWILIO_SID.to_string()),
        ("ErrorCode".to_string(), "30003".to_string()),
        ("MessageSid".to_string(), sid.clone()),
        ("MessageStatus".to_string(), "undelivered".to_string()),
        ("To".to_string(), "+14155552671".to_string()),
    ];
    let form = serde_urlencoded::to_string(&params).unwrap();
    // API Gateway hands the function the public host in the Host header.
    let url = format!("https://hub.example.com{TWILIO_CB}");
    let callback = |signature: &str| {
        req("POST", TWILIO_CB, None)
            .header("host", "hub.example.com")
            .header("x-forwarded-proto", "https")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(Body::from(form.clone()))
            .unwrap()
    };

    let forged = twilio_signature("not-the-auth-token", &url, &params);
    send(&fx.svc, callback(&forged))
        .await
        .assert_problem(401, "invalid_signature");
    let unsigned = req("POST", TWILIO_CB, None)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.clone()))
        .unwrap();
    send(&fx.svc, unsigned)
        .await
        .assert_problem(401, "missing_signature");
    assert_eq!(
        send(
            &fx.svc,
            get(&format!("/api/integrations/sms/{id}"), Some(&token))
        )
        .await
        .json()["status"],
        "queued"
    );

    let valid = twilio_signature(TWILIO_TOKEN, &url, &params);
    let res = send(&fx.svc, callback(&valid)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["applied"], true);
    let stored = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}"), Some(&token)),
    )
    .await
    .json();
    assert_eq!(stored["status"], "undelivered");
    assert_eq!(stored["error_code"], "twilio_30003");
}

#[tokio::test]
async fn delivery_reports_move_batch_counters() {
    let fx = fixture(Opts {
        kavenegar: true,
        queue: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(KavenegarBulk::new())
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-bulk", Role::Service);
    let res = send(
        &fx.svc,
        post(
            BULK,
            &token,
            &json!({"receptors": iranian_numbers(2), "message": "hi"}),
            &request_id(),
        ),
    )
    .await;
    let batch_id = res.json()["batch_id"].as_str().unwrap().to_string();
    let worker = fx.worker.clone();
    hub_tests::drain_queue(
        fx.hub.ctx_of("sms-worker").aws.sqs(),
        fx.queue_url.as_deref().unwrap(),
        20,
        |event| {
            let worker = worker.clone();
            async move { sms_worker::handle_event(&worker, event).await }
        },
    )
    .await;
    let m0 = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{batch_id}-0"), Some(&token)),
    )
    .await
    .json();
    let pid = m0["provider_message_id"].as_str().unwrap().to_string();
    // The function the webhooks worker calls too.
    let applied = fx
        .hub
        .ctx_of("webhook-worker")
        .sms_store()
        .unwrap()
        .apply_delivery_report("kavenegar", &pid, "10", None)
        .await
        .unwrap();
    assert_eq!(applied.map(|a| a.0), Some(format!("{batch_id}-0")));
    let batch = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/batches/{batch_id}"),
            Some(&token),
        ),
    )
    .await
    .json();
    assert_eq!(batch["delivered"], 1, "{batch}");
}
