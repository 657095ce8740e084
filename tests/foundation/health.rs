//! `GET /health` against the emulator.

use std::sync::Arc;

use hub_tests::{TestHub, get, json_req, send};
use serde_json::json;
use shared::auth::Role;

fn svc(hub: &TestHub) -> shared::http::HubService {
    shared::http::app(health::router(Arc::new(health::HealthState::new(
        hub.ctx_of("health"),
    ))))
}

#[tokio::test]
async fn reports_aws_services_integrations_and_fallbacks() {
    let hub = TestHub::with_env(&[("SMTP_HOST", String::new())]).await;
    let res = send(&svc(&hub), get("/health", None)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["status"], "ok");
    for s in ["dynamodb", "s3", "sqs", "secrets_manager"] {
        assert_eq!(v["aws"][s]["ok"], true, "{s}: {}", v["aws"][s]);
    }
    let slugs: Vec<&str> = v["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["slug"].as_str().unwrap())
        .collect();
    for slug in [
        "kavenegar",
        "twilio",
        "smtp",
        "openai",
        "huggingface",
        "talkbot",
    ] {
        assert!(slugs.contains(&slug), "{slug} missing from {slugs:?}");
    }
    // Nothing configured in this hub's fresh secret prefix: every channel is on its fallback.
    let channel = |name: &str| {
        v["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(channel("sms")["served_by"], "console");
    assert_eq!(channel("sms")["fallback"], true);
    assert_eq!(channel("email")["served_by"], "console");
    assert_eq!(channel("ai")["served_by"], "rules");
    assert_eq!(channel("storage")["served_by"], "s3");
}

#[tokio::test]
async fn configured_provider_serves_its_channel() {
    let hub = TestHub::new().await;
    hub.put_secret("kavenegar", json!({"api_key": "k", "sender": "10004346"}))
        .await;
    let v = send(&svc(&hub), get("/health/", None)).await.json();
    let sms = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "sms")
        .unwrap();
    assert_eq!(sms["served_by"], "kavenegar");
    assert_eq!(sms["fallback"], false);
    let kav = v["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["slug"] == "kavenegar")
        .unwrap();
    assert_eq!(kav["configured"], true);
}

#[tokio::test]
async fn missing_aws_resource_degrades_with_503() {
    let hub = TestHub::with_env(&[
        ("UPLOADS_BUCKET", "no-such-bucket-here".into()),
        ("STORAGE_TYPE", "s3".into()),
    ])
    .await;
    let res = send(&svc(&hub), get("/health", None)).await;
    assert_eq!(res.status, 503);
    let v = res.json();
    assert_eq!(v["status"], "degraded");
    assert_eq!(v["aws"]["s3"]["ok"], false);
    assert_eq!(v["aws"]["dynamodb"]["ok"], true);
}

#[tokio::test]
async fn deep_check_needs_an_admin() {
    let hub = TestHub::new().await;
    send(&svc(&hub), get("/health?deep=true", None))
        .await
        .assert_problem(401, "missing_token");
    send(
        &svc(&hub),
        get("/health?deep=true", Some(&hub.token("u", Role::User))),
    )
    .await
    .assert_problem(403, "forbidden");
    let res = send(&svc(&hub), get("/health?deep=true", Some(&hub.admin()))).await;
    assert_eq!(res.status, 200);
}

/// `/health` is behind the per-client-IP limit, whose counter is an `UpdateItem` on the rate
/// limit table: the health role must be allowed to write it, or every request from a known IP
/// (all of them behind API Gateway) fails closed.
#[tokio::test]
async fn a_client_ip_is_counted_and_still_answered() {
    let hub = TestHub::with_env(&[("SMTP_HOST", String::new())]).await;
    let res = send(
        &svc(&hub),
        hub_tests::req("GET", "/health", None)
            .header("x-forwarded-for", "203.0.113.77")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(
        res.headers.get("ratelimit-remaining").is_some(),
        "{:?}",
        res.headers
    );
}

/// `?deep=true` saves each probe's outcome on the provider's catalog entry (and logs it).
#[tokio::test]
async fn deep_check_saves_each_probe_result() {
    let hub = TestHub::new().await;
    let providers = shared::http::app(providers::router(hub.ctx_of("providers")));
    let admin = hub.admin();
    let slug = format!("hc-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let body = json!({"slug": slug, "name": "Probe target", "kind": "webhook", "protocol": "none"});
    let created = send(
        &providers,
        json_req("POST", "/api/integrations/providers", Some(&admin), &body),
    )
    .await;
    assert_eq!(created.status, 201);
    let res = send(&svc(&hub), get("/health?deep=true", Some(&admin))).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let one = send(
        &providers,
        get(&format!("/api/integrations/providers/{slug}"), Some(&admin)),
    )
    .await
    .json();
    assert_eq!(one["last_check"]["reachable"], true, "{one}");
}

/// The seed's "status of all integrations" covers the real-time channel and the queues: each
/// work queue's backlog and dead letters (for an admin, `?deep=true`: an anonymous caller
/// gets SQS reachability only), and the WebSocket management API (reachable when it answers
/// for a connection that does not exist).
#[tokio::test]
async fn reports_queue_backlogs_and_the_websocket_management_api() {
    let hub = TestHub::new().await;
    // A local WebSocket gateway (the same one `make dev` runs) for its management API.
    let client = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let management = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let management_url = format!("http://{}", management.local_addr().unwrap());
    let gw = ws_gateway::Gateway::new(
        Arc::new(ws_gateway::HttpInvoker::new(
            "http://127.0.0.1:9",
            "websocket",
        )),
        "127.0.0.1",
    );
    tokio::spawn(ws_gateway::serve(gw, client, management));
    let ctx = hub
        .another_ctx_of(
            "health",
            &[("WEBSOCKET_MANAGEMENT_ENDPOINT", management_url.clone())],
        )
        .await;
    // A message parked in the bulk queue's dead-letter queue shows up as a dead letter.
    let dlq = std::env::var("SMS_BULK_DLQ_URL").expect("SMS_BULK_DLQ_URL in the test env");
    let before = {
        let svc = shared::http::app(health::router(Arc::new(health::HealthState::new(
            ctx.clone(),
        ))));
        send(&svc, get("/health?deep=true", Some(&hub.admin())))
            .await
            .json()
    };
    let dead_before = before["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "sms_bulk")
        .expect("sms_bulk queue reported")["dead_letters"]
        .as_u64()
        .expect("dead_letters");
    hub.ctx
        .aws
        .sqs()
        .send_message()
        .queue_url(&dlq)
        .message_body("{\"probe\":\"health\"}")
        .send()
        .await
        .expect("park a dead letter");

    let svc = shared::http::app(health::router(Arc::new(health::HealthState::new(ctx))));
    // Anonymous: SQS answers, and no backlog is published.
    let public = send(&svc, get("/health", None)).await;
    assert_eq!(
        public.status,
        200,
        "{}",
        String::from_utf8_lossy(&public.body)
    );
    let public = public.json();
    assert_eq!(public["aws"]["sqs"]["ok"], true, "{public}");
    assert!(public.get("queues").is_none(), "{public}");
    let res = send(&svc, get("/health?deep=true", Some(&hub.admin()))).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    let names: Vec<&str> = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sms_bulk",
            "ai_jobs",
            "webhook_events",
            "notifications",
            "subscriptions"
        ]
    );
    for q in v["queues"].as_array().unwrap() {
        assert_eq!(q["ok"], true, "{q}");
        assert!(q["waiting"].is_u64() && q["in_flight"].is_u64(), "{q}");
    }
    let bulk = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "sms_bulk")
        .unwrap();
    assert!(
        bulk["dead_letters"].as_u64().unwrap() > dead_before,
        "{bulk}"
    );
    assert_eq!(v["aws"]["sqs"]["ok"], true);
    assert_eq!(v["realtime"]["configured"], true);
    assert_eq!(v["realtime"]["websocket"]["ok"], true, "{}", v["realtime"]);

    // The management API down: reported, and /health still answers 200 (email and SMS
    // notifications do not need it).
    let down = hub
        .another_ctx_of(
            "health",
            &[(
                "WEBSOCKET_MANAGEMENT_ENDPOINT",
                "http://127.0.0.1:9".to_string(),
            )],
        )
        .await;
    let svc = shared::http::app(health::router(Arc::new(health::HealthState::new(down))));
    let res = send(&svc, get("/health", None)).await;
    assert_eq!(res.status, 200);
    let v = res.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["realtime"]["websocket"]["ok"], false, "{}", v["realtime"]);
    // Drain our probe so other runs start from the same count.
    let _ = purge_probe(&hub, &dlq).await;
}

async fn purge_probe(hub: &TestHub, dlq: &str) -> usize {
    let got = hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(dlq)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let mut n = 0;
    for m in got.messages() {
        if m.body()
            .unwrap_or_default()
            .contains("\"probe\":\"health\"")
            && let Some(h) = m.receipt_handle()
        {
            let _ = hub
                .ctx
                .aws
                .sqs()
                .delete_message()
                .queue_url(dlq)
                .receipt_handle(h)
                .send()
                .await;
            n += 1;
        }
    }
    n
}
