//! The receive route: published reference vectors end to end, tampered, replayed, stale,
//! future-dated and missing-header deliveries, concurrency, subscriptions, size limits and
//! every scheme.

use axum::body::Body;
use hub_tests::send;
use lambda_http::RequestExt;
use serde_json::json;
use shared::webhooks::signature::{self, hmac_sha256_hex, standard_sign, twilio_signature};

use crate::{Fixture, post_standard, slug, standard_endpoint, sw_headers};

// Standard Webhooks reference vector (standard-webhooks and svix-webhooks library tests).
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TS: i64 = 1614265330;
const SW_BODY: &str = r#"{"test": 2432232314}"#;
const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn published_reference_vectors() {
    let key = signature::decode_standard_secret(SW_SECRET).unwrap();
    assert_eq!(
        standard_sign(&key, SW_ID, SW_TS, SW_BODY.as_bytes()),
        SW_SIG
    );
    // Twilio's documented example (twilio.com/docs/usage/security).
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    assert_eq!(
        twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params
        ),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
}

/// The Standard Webhooks vector, as a real delivery at its own timestamp: accepted, then a
/// replay of the same id is a duplicate; tampering, staleness, future dates and missing
/// headers each get their own 401 code.
#[tokio::test]
async fn standard_webhooks_reference_delivery_and_its_failures() {
    let f = Fixture::new().await;
    let slug = slug("svix");
    let created = f
        .register(json!({
            "provider_slug": "svix", "name": "Svix test", "endpoint_url": slug,
            "verification": {"scheme": "standard_webhooks"}, "secret": SW_SECRET, "event_type_field": "/test"
        }))
        .await;
    assert!(
        created.get("secret").is_none(),
        "a provider-issued secret is not echoed"
    );
    assert_eq!(created["secret_origin"], "provided");
    let path = format!("/api/integrations/webhook/{slug}/");
    f.set_now(SW_TS + 10);

    let res = f
        .post(&path, &sw_headers(SW_ID, SW_TS, SW_SIG), SW_BODY)
        .await;
    assert_eq!(
        res.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    let accepted = res.json();
    assert_eq!(accepted["status"], "accepted");
    let event_id = accepted["event_id"].as_str().unwrap().to_string();

    // Replayed (same webhook-id): 200, not stored or enqueued again.
    let res = f
        .post(&path, &sw_headers(SW_ID, SW_TS, SW_SIG), SW_BODY)
        .await;
    assert_eq!(res.status.as_u16(), 200);
    assert_eq!(res.json()["status"], "duplicate");
    assert_eq!(res.json()["event_id"], event_id.as_str());
    assert_eq!(f.queued_messages().await, 1);

    // Tampered body, id and timestamp.
    f.post(
        &path,
        &sw_headers(SW_ID, SW_TS, SW_SIG),
        r#"{"test": 2432232315}"#,
    )
    .await
    .assert_problem(401, "invalid_signature");
    f.post(&path, &sw_headers("msg_other", SW_TS, SW_SIG), SW_BODY)
        .await
        .assert_problem(401, "invalid_signature");
    f.post(&path, &sw_headers(SW_ID, SW_TS + 1, SW_SIG), SW_BODY)
        .await
        .assert_problem(401, "invalid_signature");
    // Several signatures, one valid (rotation on the sender's side).
    let several = format!("v1,bm9wZQ== {SW_SIG}");
    let res = f
        .post(&path, &sw_headers(SW_ID, SW_TS, &several), SW_BODY)
        .await;
    assert_eq!(res.json()["status"], "duplicate");

    // Stale and future-dated: the same valid signature, judged at another time.
    f.set_now(SW_TS + 301);
    let p = f
        .post(&path, &sw_headers(SW_ID, SW_TS, SW_SIG), SW_BODY)
        .await
        .assert_problem(401, "stale_timestamp");
    assert!(p["detail"].as_str().unwrap().contains("301s old"), "{p}");
    f.set_now(SW_TS - 301);
    f.post(&path, &sw_headers(SW_ID, SW_TS, SW_SIG), SW_BODY)
        .await
        .assert_problem(401, "future_timestamp");
    f.set_now(SW_TS);

    // Each missing header, and no signature at all.
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let headers: Vec<_> = sw_headers(SW_ID, SW_TS, SW_SIG)
            .into_iter()
            .filter(|(k, _)| *k != missing)
            .collect();
        let p = f
            .post(&path, &headers, SW_BODY)
            .await
            .assert_problem(401, "missing_signature");
        assert!(p["detail"].as_str().unwrap().contains(missing));
    }
    // No WWW-Authenticate: Bearer on webhook 401s (a JWT would not help).
    let res = f.post(&path, &[], SW_BODY).await;
    assert!(res.headers.get("www-authenticate").is_none());

    // Exactly one event stored for all of the above.
    let list = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events"))
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let event = &list["items"][0];
    assert_eq!(event["provider_event_id"], SW_ID);
    assert_eq!(event["dedupe_source"], "webhook-id");
    assert_eq!(event["headers"]["webhook-id"], SW_ID);
    assert_eq!(event["status"], "queued");

    // Unknown endpoint.
    f.post(
        "/api/integrations/webhook/no-such-endpoint",
        &sw_headers(SW_ID, SW_TS, SW_SIG),
        SW_BODY,
    )
    .await
    .assert_problem(404, "unknown_endpoint");
}

/// Twenty identical deliveries at once store one event and enqueue one message.
#[tokio::test]
async fn concurrent_duplicates_store_exactly_one_event() {
    let f = Fixture::new().await;
    let (slug, secret) = standard_endpoint(&f, json!([])).await;
    let body = r#"{"type":"payment.success","amount":1200}"#;
    let posts = (0..20).map(|_| post_standard(&f, &slug, &secret, "msg_concurrent", body));
    let answers = futures::future::join_all(posts).await;
    let mut accepted = 0;
    let mut duplicates = 0;
    for a in &answers {
        assert_eq!(
            a.status.as_u16(),
            200,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        match a.json()["status"].as_str().unwrap() {
            "accepted" => accepted += 1,
            "duplicate" => duplicates += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((accepted, duplicates), (1, 19));
    let list = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events"))
        .await
        .json();
    assert_eq!(
        list["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .len(),
        1
    );
    assert_eq!(f.queued_messages().await, 1);
}

#[tokio::test]
async fn unsubscribed_event_types_are_recorded_and_ignored() {
    let f = Fixture::new().await;
    let (slug, secret) = standard_endpoint(&f, json!(["payment.success", "invoice.*"])).await;
    let res = post_standard(
        &f,
        &slug,
        &secret,
        "msg_refund",
        r#"{"type":"payment.refunded"}"#,
    )
    .await;
    assert_eq!(res.status.as_u16(), 200);
    let answer = res.json();
    assert_eq!(answer["status"], "ignored");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("not subscribed")
    );
    let res = post_standard(
        &f,
        &slug,
        &secret,
        "msg_invoice",
        r#"{"type":"invoice.paid"}"#,
    )
    .await;
    assert_eq!(res.json()["status"], "accepted");
    assert_eq!(
        f.queued_messages().await,
        1,
        "only the subscribed event is enqueued"
    );
    let ignored = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events?status=ignored"
        ))
        .await
        .json();
    assert_eq!(ignored["items"].as_array().unwrap().len(), 1);
    assert_eq!(ignored["items"][0]["event_type"], "payment.refunded");
}

/// Bodies above the inline limit go to S3 and come back intact; above the maximum, 413.
#[tokio::test]
async fn large_bodies_go_to_s3_and_oversize_is_413() {
    let f = Fixture::with_env(&[
        ("WEBHOOK_INLINE_BODY_BYTES", "1000".into()),
        ("WEBHOOK_MAX_BODY_BYTES", "20000".into()),
    ])
    .await;
    let (slug, secret) = standard_endpoint(&f, json!([])).await;
    let big = format!(r#"{{"type":"report.ready","data":"{}"}}"#, "x".repeat(5000));
    let res = post_standard(&f, &slug, &secret, "msg_big", &big).await;
    assert_eq!(res.json()["status"], "accepted");
    let id = res.json()["event_id"].as_str().unwrap().to_string();
    let detail = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events/{id}?include_body=true"
        ))
        .await
        .json();
    assert_eq!(detail["body_s3_key"], format!("webhooks/{slug}/{id}"));
    assert_eq!(detail["body_text"], big.as_str());
    assert_eq!(detail["body_size"], big.len());
    // The worker reads it back from S3 too.
    f.drain().await;
    let detail = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events/{id}"))
        .await
        .json();
    assert_eq!(detail["status"], "processed");

    let huge = "y".repeat(20001);
    post_standard(&f, &slug, &secret, "msg_huge", &huge)
        .await
        .assert_problem(413, "payload_too_large");
}

/// Twilio status callback, signed over the public URL rebuilt from Host/X-Forwarded-Proto and
/// the raw path (trailing slash kept), with the auth token from the twilio provider credentials.
#[tokio::test]
async fn twilio_signed_status_callback() {
    let f = Fixture::new().await;
    let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    f.hub
        .put_secret(
            "twilio",
            json!({"account_sid": "AC123", "auth_token": token, "from_number": "+15005550006"}),
        )
        .await;
    let slug = slug("twilio-status");
    let created = f
        .register(json!({"provider_slug": "twilio", "name": "SMS status", "endpoint_url": slug, "verification": {"scheme": "twilio"}}))
        .await;
    assert_eq!(created["secret_origin"], "provider_credentials");
    assert!(created.get("secret").is_none());

    let params = [
        ("MessageSid", "SM0123456789abcdef"),
        ("MessageStatus", "delivered"),
        ("To", "+15558675310"),
        ("From", "+15005550006"),
        ("AccountSid", "AC123"),
    ];
    let form = serde_urlencoded::to_string(params).unwrap();
    let raw_path = format!("/api/integrations/webhook/{slug}/");
    let url = format!("https://hooks.example.com{raw_path}?src=sms");
    let post = |sig: String, form: String| {
        let req = hub_tests::req("POST", &format!("{raw_path}?src=sms"), None)
            .header("host", "hooks.example.com")
            .header("x-forwarded-proto", "https")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(Body::from(form))
            .unwrap()
            // What lambda_http records from API Gateway's rawPath, before routing trims the slash.
            .with_raw_http_path(raw_path.clone());
        send(&f.svc, req)
    };
    let good = twilio_signature(token, &url, &params);
    let res = post(good.clone(), form.clone()).await;
    assert_eq!(
        res.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    assert_eq!(res.json()["event_type"], "sms.delivery_report");
    assert_eq!(res.json()["status"], "accepted");
    // Same callback again: duplicate. Tampered status: invalid.
    assert_eq!(
        post(good.clone(), form.clone()).await.json()["status"],
        "duplicate"
    );
    let tampered = form.replace("delivered", "failed");
    post(good.clone(), tampered)
        .await
        .assert_problem(401, "invalid_signature");
    // Signed for the URL without the slash: not what Twilio called.
    let wrong_url = twilio_signature(
        token,
        &format!("https://hooks.example.com/api/integrations/webhook/{slug}?src=sms"),
        &params,
    );
    post(wrong_url, form.clone())
        .await
        .assert_problem(401, "invalid_signature");

    // Processing records the parsed report (no phone numbers in it).
    f.drain().await;
    let list = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events"))
        .await
        .json();
    let event = &list["items"][0];
    assert_eq!(event["status"], "processed");
    assert_eq!(event["provider_event_id"], "SM0123456789abcdef:delivered");
    let report = &event["result"]["delivery_report"];
    assert_eq!(report["provider"], "twilio");
    assert_eq!(report["provider_message_id"], "SM0123456789abcdef");
    assert_eq!(report["status"], "delivered");
    assert!(!event["result"].to_string().contains("5558675310"));
}

/// Kavenegar delivery callbacks: unsigned, authenticated by the path token; GET or POST; one
/// event per (messageid, status).
#[tokio::test]
async fn kavenegar_path_token_callbacks() {
    let f = Fixture::new().await;
    let slug = slug("kavenegar-dlr");
    let created = f
        .register(json!({"provider_slug": "kavenegar", "name": "Kavenegar delivery", "endpoint_url": slug, "verification": {"scheme": "path_token"}}))
        .await;
    let token = created["secret"].as_str().unwrap().to_string();
    assert_eq!(
        created["public_url"],
        format!("https://localhost/api/integrations/webhook/{slug}/{token}")
    );

    let get = |path: String| send(&f.svc, hub_tests::get(&path, None));
    let res = get(format!(
        "/api/integrations/webhook/{slug}/{token}?messageid=8792343&status=4"
    ))
    .await;
    assert_eq!(
        res.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    assert_eq!(res.json()["status"], "accepted");
    assert_eq!(
        get(format!(
            "/api/integrations/webhook/{slug}/{token}?messageid=8792343&status=4"
        ))
        .await
        .json()["status"],
        "duplicate"
    );
    // The later "delivered" report for the same message is its own event.
    let res = f
        .post(
            &format!("/api/integrations/webhook/{slug}/{token}/"),
            &[("content-type", "application/x-www-form-urlencoded".into())],
            "messageid=8792343&status=10",
        )
        .await;
    assert_eq!(res.json()["status"], "accepted");

    get(format!(
        "/api/integrations/webhook/{slug}/wrong-token?messageid=1&status=10"
    ))
    .await
    .assert_problem(401, "invalid_signature");
    f.post(
        &format!("/api/integrations/webhook/{slug}"),
        &[],
        "messageid=1&status=10",
    )
    .await
    .assert_problem(401, "missing_signature");

    f.drain().await;
    let list = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events?status=processed"
        ))
        .await
        .json();
    let mut statuses: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["result"]["delivery_report"]["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, vec!["delivered", "sent"]);
}

/// HMAC-SHA256 hex of `{timestamp}.{body}` in configured headers, with a `sha256=` prefix.
#[tokio::test]
async fn hmac_hex_scheme_with_timestamp() {
    let f = Fixture::new().await;
    let slug = slug("hmac");
    let secret = "gateway-issued-secret-123";
    f.register(json!({
        "provider_slug": "payment-gateway", "name": "Gateway", "endpoint_url": slug, "secret": secret, "event_type_field": "event",
        "verification": {"scheme": "hmac_sha256", "signature_header": "X-Gateway-Signature", "signature_prefix": "sha256=", "timestamp_header": "X-Gateway-Timestamp"}
    }))
    .await;
    let path = format!("/api/integrations/webhook/{slug}");
    let body = r#"{"event":"payment.success","id":"pay_1"}"#;
    let ts = f.now().to_string();
    let sig = format!(
        "sha256={}",
        hmac_sha256_hex(secret.as_bytes(), Some(&ts), body.as_bytes())
    );
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("x-gateway-signature", sig.clone()),
        ("x-gateway-timestamp", ts.clone()),
    ];
    let res = f.post(&path, &headers, body).await;
    assert_eq!(
        res.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    assert_eq!(res.json()["event_type"], "payment.success");
    // No provider id: deduplicated on the body hash.
    assert_eq!(
        f.post(&path, &headers, body).await.json()["status"],
        "duplicate"
    );
    f.post(
        &path,
        &headers,
        r#"{"event":"payment.success","id":"pay_2"}"#,
    )
    .await
    .assert_problem(401, "invalid_signature");
    f.post(&path, &headers[..2], body)
        .await
        .assert_problem(401, "missing_signature");
    f.set_now(f.now() + 600);
    f.post(&path, &headers, body)
        .await
        .assert_problem(401, "stale_timestamp");
}

/// The receive path's cost once the endpoint and its secret are cached: one conditional
/// `PutItem` and one `SendMessage` per delivery, no Secrets Manager or endpoint read.
/// Prints the latency (in-process, against the local moto server):
/// `cargo test -p hub-tests --test webhooks receive_latency -- --nocapture`.
#[tokio::test]
async fn receive_latency_with_cached_endpoint_and_secret() {
    let f = Fixture::new().await;
    let (slug, secret) = standard_endpoint(&f, json!([])).await;
    assert_eq!(
        post_standard(&f, &slug, &secret, "msg_warm", r#"{"type":"warm"}"#)
            .await
            .json()["status"],
        "accepted"
    );
    let mut times = Vec::new();
    for i in 0..50 {
        let started = std::time::Instant::now();
        let res = post_standard(
            &f,
            &slug,
            &secret,
            &format!("msg_latency_{i}"),
            r#"{"type":"order.updated"}"#,
        )
        .await;
        times.push(started.elapsed());
        assert_eq!(res.json()["status"], "accepted");
    }
    times.sort();
    println!(
        "webhook receive path (moto, in-process, 50 deliveries): p50 {:?}, p95 {:?}, max {:?}",
        times[25], times[47], times[49]
    );
    assert_eq!(f.queued_messages().await, 51);
}

/// The Twilio auth token rotated elsewhere (another instance, the console): the first
/// callback signed with the new token makes the hub re-read the credentials once.
#[tokio::test]
async fn twilio_token_rotated_elsewhere_is_picked_up() {
    let f = Fixture::new().await;
    f.hub
        .put_secret(
            "twilio",
            json!({"account_sid": "AC1", "auth_token": "old-token-0123456789abcdef0123456"}),
        )
        .await;
    let slug = slug("twilio-rot");
    f.register(json!({"provider_slug": "twilio", "name": "SMS status", "endpoint_url": slug, "verification": {"scheme": "twilio"}})).await;
    let path = format!("/api/integrations/webhook/{slug}");
    let url = format!("https://localhost{path}");
    let post = |token: &'static str, status: &'static str| {
        let params = [("MessageSid", "SM42"), ("MessageStatus", status)];
        let headers = vec![
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("x-twilio-signature", twilio_signature(token, &url, &params)),
        ];
        let body = serde_urlencoded::to_string(params).unwrap();
        let (f, path) = (&f, &path);
        async move { f.post(path, &headers, body).await }
    };
    assert_eq!(
        post("old-token-0123456789abcdef0123456", "sent")
            .await
            .json()["status"],
        "accepted"
    );
    // Rotated straight in Secrets Manager: this instance's credential cache still holds the old one.
    f.hub
        .ctx
        .aws
        .secrets
        .put_secret_value()
        .secret_id(format!("{}/providers/twilio", f.hub.prefix))
        .secret_string(
            json!({"account_sid": "AC1", "auth_token": "new-token-0123456789abcdef0123456"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        post("new-token-0123456789abcdef0123456", "delivered")
            .await
            .json()["status"],
        "accepted"
    );
    post("old-token-0123456789abcdef0123456", "failed")
        .await
        .assert_problem(401, "invalid_signature");
}
