//! Event subscriptions end to end: the admin API and subscriptions-worker in-process, the
//! moto server's DynamoDB and SQS (each test on a queue of its own, driven like Lambda's event
//! source mapping, retries rescheduled with ChangeMessageVisibility), and local receivers that
//! verify every delivery with a Standard Webhooks verifier written from the spec.
//! Run through `make test` (or with `.local/test.env` loaded).

mod capabilities;
mod support;

use std::time::Duration;

use hub_tests::{get, json_req, send};
use serde_json::json;
use shared::auth::Role;
use shared::subscriptions::{RetrySchedule, Subscription};
use support::*;

#[tokio::test]
async fn a_published_event_is_delivered_signed_once_and_recorded() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (id, secret) = kit.subscribe(&receiver.url, &["sms.delivered"]).await;
    assert!(secret.starts_with("whsec_"));
    receiver.know(&[&secret]);

    // Nobody wants sms.failed: nothing is stored or queued.
    assert_eq!(
        kit.publisher
            .publish("sms.failed", json!({}))
            .await
            .unwrap(),
        None
    );
    let data =
        json!({"message_id": "msg_1", "receptor": shared::mask::mask_phone("+989123456789")});
    let event_id = kit
        .publisher
        .publish("sms.delivered", data.clone())
        .await
        .unwrap()
        .expect("a subscription wants it");
    kit.pump(Duration::from_secs(2)).await;

    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].webhook_id, event_id);
    assert_eq!(got[0].verified, vec![true]);
    assert_eq!(got[0].body["type"], "sms.delivered");
    assert_eq!(got[0].body["data"], data);
    assert!(got[0].body["timestamp"].as_str().unwrap().ends_with('Z'));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now - got[0].timestamp).abs() < 30,
        "webhook-timestamp {}",
        got[0].timestamp
    );

    let messages = kit.get(&format!("{BASE}/{id}/messages")).await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 1, "{messages}");
    assert_eq!(messages["items"][0]["status"], "succeeded");
    let attempts = kit.attempts(&id, &event_id).await;
    assert_eq!(attempts["items"].as_array().unwrap().len(), 1);
    assert_eq!(attempts["items"][0]["status_code"], 200);
    assert_eq!(attempts["items"][0]["response"], "ok, thanks");
    assert_eq!(attempts["items"][0]["number"], 1);

    // The same delivery message again (SQS at-least-once, a sweeper re-drive): nothing sent.
    let again = json!({"kind": "deliver", "subscription_id": id, "event_id": event_id});
    shared::queue::send_json(kit.hub.ctx.aws.sqs(), &kit.queue_url, &again)
        .await
        .unwrap();
    // And the fan-out again: the event is marked fanned out.
    let fanout = json!({"kind": "fanout", "event_id": event_id});
    shared::queue::send_json(kit.hub.ctx.aws.sqs(), &kit.queue_url, &fanout)
        .await
        .unwrap();
    kit.pump(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_500_is_retried_after_the_schedule_delay_with_the_same_id() {
    let kit =
        kit(|c| c.schedule = RetrySchedule(vec![Duration::ZERO, Duration::from_secs(3)])).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 200]);
    let (id, secret) = kit.subscribe(&receiver.url, &["*"]).await;
    receiver.know(&[&secret]);
    let event_id = kit
        .publisher
        .publish("ai.job.succeeded", json!({"job_id": "job_1"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(5)).await;

    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .all(|r| r.webhook_id == event_id && r.verified == vec![true])
    );
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(2500),
        "retried after {gap:?}, scheduled 3 s"
    );
    let attempts = kit.attempts(&id, &event_id).await;
    assert_eq!(attempts["status"], "succeeded");
    let codes: Vec<_> = attempts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 200]);
    assert_eq!(attempts["items"][0]["response"], "not now");
    // The failing streak ended with the success.
    let sub = kit.get(&format!("{BASE}/{id}")).await;
    assert!(sub.get("failing_since").is_none(), "{sub}");
}

#[tokio::test]
async fn a_410_disables_the_subscription() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[410]);
    let (id, _) = kit.subscribe(&receiver.url, &["email.sent"]).await;
    let event_id = kit
        .publisher
        .publish("email.sent", json!({"email_id": "e1"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(4)).await;
    assert_eq!(receiver.received().len(), 1, "no retry after a 410");
    let sub = kit.get(&format!("{BASE}/{id}")).await;
    assert_eq!(sub["disabled"], true);
    assert_eq!(sub["disabled_reason"], "gone");
    assert_eq!(kit.attempts(&id, &event_id).await["status"], "failed");
    // A disabled subscription is not tested until re-enabled.
    kit.post(&format!("{BASE}/{id}/test"), &json!({}))
        .await
        .assert_problem(409, "subscription_disabled");
}

#[tokio::test]
async fn failing_past_the_limit_disables_and_stops_retrying() {
    // "5 days" is 0 s here: the second failure is past the limit.
    let kit = kit(|c| {
        c.disable_after = Duration::ZERO;
        c.schedule = RetrySchedule(vec![
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ]);
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer(&[503, 503, 503]);
    let (id, _) = kit.subscribe(&receiver.url, &["*"]).await;
    let event_id = kit
        .publisher
        .publish("upload.completed", json!({"file_id": "f1"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(4)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "disabled after the second failure"
    );
    let sub = kit.get(&format!("{BASE}/{id}")).await;
    assert_eq!(sub["disabled_reason"], "failing", "{sub}");
    assert_eq!(kit.attempts(&id, &event_id).await["status"], "failed");
}

#[tokio::test]
async fn during_a_rotation_grace_deliveries_verify_under_both_secrets() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (id, old) = kit.subscribe(&receiver.url, &["notification.read"]).await;
    let res = kit
        .post(
            &format!("{BASE}/{id}/rotate"),
            &json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let new = res.json()["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    receiver.know(&[&old, &new]);
    kit.publisher
        .publish("notification.read", json!({"notification_id": "n1"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].signatures.len(), 2, "{:?}", got[0].signatures);
    assert_eq!(got[0].verified, vec![true, true]);

    // A rotation without grace: only the newest secret signs.
    let newest = kit
        .post(&format!("{BASE}/{id}/rotate"), &json!({"grace_seconds": 0}))
        .await
        .json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    receiver.know(&[&new, &newest]);
    kit.post(&format!("{BASE}/{id}/test"), &json!({})).await;
    kit.pump(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body["type"], "ping");
    assert_eq!(got[1].body["data"]["subscription_id"], id.as_str());
    assert_eq!(got[1].verified, vec![false, true]);
    // Reads never show a secret.
    let listed = send(&kit.svc, get(BASE, Some(&kit.admin))).await;
    assert!(!String::from_utf8_lossy(&listed.body).contains("whsec_"));
}

#[tokio::test]
async fn internal_targets_are_refused_at_create_and_at_send() {
    let kit = kit(|c| c.allow_loopback = false).await;
    for url in [
        "http://hooks.example.com/x",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/",
        "http://127.0.0.1:9170/hook",
        "https://localhost/hook",
    ] {
        let res = kit
            .post(BASE, &json!({"url": url, "event_types": ["*"]}))
            .await;
        let problem = res.assert_problem(422, "invalid_field");
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
    }
    let bad_type = kit
        .post(
            BASE,
            &json!({"url": "https://hooks.example.com/x", "event_types": ["sms.exploded"]}),
        )
        .await;
    assert_eq!(
        bad_type.assert_problem(422, "invalid_field")["errors"][0]["field"],
        "event_types"
    );
    let user = kit.hub.token("u1", Role::User);
    send(
        &kit.svc,
        json_req(
            "POST",
            BASE,
            Some(&user),
            &json!({"url": "https://a.example/", "event_types": ["*"]}),
        ),
    )
    .await
    .assert_problem(403, "forbidden");

    // A name that resolved publicly when stored and resolves to loopback now (DNS
    // rebinding): the guarded resolver refuses it at connection time.
    let receiver = Receiver::start().await;
    let store = kit
        .hub
        .ctx_of("subscriptions")
        .subscription_store(&kit.config);
    let sub = Subscription {
        id: shared::subscriptions::new_subscription_id(),
        url: format!("https://localhost:{}/hook", receiver.port()),
        event_types: vec!["*".into()],
        description: String::new(),
        disabled: false,
        disabled_reason: None,
        secret: shared::subscriptions::signing::new_secret(),
        previous_secret: None,
        previous_expires_at: None,
        failing_since: None,
        created_at: shared::clock::now_rfc3339(),
        updated_at: shared::clock::now_rfc3339(),
    };
    store.put(&sub, true).await.unwrap();
    let event_id = kit
        .publisher
        .publish("sms.sent", json!({"message_id": "m1"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(4)).await;
    assert!(receiver.received().is_empty());
    let attempts = kit.attempts(&sub.id, &event_id).await;
    let error = attempts["items"][0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("refused address"), "{attempts}");
    assert!(attempts["items"][0].get("status_code").is_none());
}

#[tokio::test]
async fn a_failed_message_is_retried_by_hand_and_a_time_range_replayed() {
    // One attempt per round: the first failure is final.
    let kit = kit(|c| c.schedule = RetrySchedule(vec![Duration::ZERO])).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500]);
    let (id, secret) = kit.subscribe(&receiver.url, &["sms.batch.completed"]).await;
    receiver.know(&[&secret]);
    let since = shared::clock::now_rfc3339_millis();
    let first = kit
        .publisher
        .publish("sms.batch.completed", json!({"batch_id": "b1"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(2)).await;
    assert_eq!(kit.attempts(&id, &first).await["status"], "failed");

    let res = kit
        .post(&format!("{BASE}/{id}/messages/{first}/retry"), &json!({}))
        .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    kit.pump(Duration::from_secs(2)).await;
    let attempts = kit.attempts(&id, &first).await;
    assert_eq!(attempts["status"], "succeeded");
    assert_eq!(attempts["items"][1]["trigger"], "manual");
    assert_eq!(receiver.received().len(), 2);

    let second = kit
        .publisher
        .publish("sms.batch.completed", json!({"batch_id": "b2"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 3);

    // Replay of the range: both events again, with their own ids.
    let res = kit
        .post(&format!("{BASE}/{id}/replay"), &json!({"since": since}))
        .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["queued"], 2);
    kit.pump(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 5);
    let mut replayed: Vec<_> = got[3..].iter().map(|r| r.webhook_id.clone()).collect();
    replayed.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(replayed, expected);
    assert!(got.iter().all(|r| r.verified == vec![true]));
    // A range that ends before it starts names the field.
    kit.post(
        &format!("{BASE}/{id}/replay"),
        &json!({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
    )
    .await
    .assert_problem(422, "invalid_field");
    // Unknown message.
    kit.post(&format!("{BASE}/{id}/messages/evt_nope/retry"), &json!({}))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn one_event_reaches_every_matching_subscription_once() {
    let kit = kit(|_| {}).await;
    let receivers = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    let mut ids = Vec::new();
    for (r, types) in receivers
        .iter()
        .zip([&["*"][..], &["sms.failed"], &["email.failed"]])
    {
        let (id, secret) = kit.subscribe(&r.url, types).await;
        r.know(&[&secret]);
        ids.push(id);
    }
    // Patch the third to want the event too, then delete it: it gets nothing.
    let res = send(
        &kit.svc,
        json_req(
            "PATCH",
            &format!("{BASE}/{}", ids[2]),
            Some(&kit.admin),
            &json!({"event_types": ["sms.failed"]}),
        ),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["event_types"], json!(["sms.failed"]));
    let del = send(
        &kit.svc,
        hub_tests::req("DELETE", &format!("{BASE}/{}", ids[2]), Some(&kit.admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(del.status, 204);
    kit.publisher
        .publish("sms.failed", json!({"message_id": "m9"}))
        .await
        .unwrap()
        .unwrap();
    kit.pump(Duration::from_secs(2)).await;
    assert_eq!(receivers[0].received().len(), 1);
    assert_eq!(receivers[1].received().len(), 1);
    assert_eq!(receivers[2].received().len(), 0);
    assert!(
        receivers[..2]
            .iter()
            .all(|r| r.received()[0].verified == vec![true])
    );
}

#[tokio::test]
async fn admin_changes_to_subscriptions_are_audited_without_values() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (id, secret) = kit.subscribe(&receiver.url, &["sms.delivered"]).await;
    let path = format!("{BASE}/{id}");
    let patch = send(
        &kit.svc,
        json_req(
            "PATCH",
            &path,
            Some(&kit.admin),
            &json!({"description": "clinic app", "event_types": ["*"]}),
        ),
    )
    .await;
    assert_eq!(
        patch.status,
        200,
        "{}",
        String::from_utf8_lossy(&patch.body)
    );
    let rotated = kit
        .post(&format!("{path}/rotate"), &json!({"grace_seconds": 60}))
        .await;
    assert_eq!(rotated.status, 200);
    let new_secret = rotated.json()["secret"].as_str().unwrap().to_string();
    let deleted = send(
        &kit.svc,
        hub_tests::req("DELETE", &path, Some(&kit.admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, 204);

    let q = shared::audit::AuditQuery {
        action: Some("subscription.".into()),
        limit: Some(100),
        ..Default::default()
    };
    let page = kit.hub.ctx.audit.list(&q).await.unwrap();
    let target = format!("subscription:{id}");
    let mine: Vec<_> = page.items.iter().filter(|e| e.target == target).collect();
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "subscription.deleted",
            "subscription.rotated",
            "subscription.updated",
            "subscription.created"
        ],
        "newest first: {mine:?}"
    );
    assert!(
        mine.iter()
            .all(|e| e.actor == "admin-1" && e.role == "admin")
    );
    assert_eq!(mine[1].fields, ["grace_seconds"]);
    assert_eq!(mine[2].fields, ["description", "event_types"]);
    assert_eq!(mine[3].fields, ["event_types", "url"]);
    // Names only: never the URL or a secret.
    let all = serde_json::to_string(&mine).unwrap();
    for value in [
        receiver.url.as_str(),
        secret.as_str(),
        new_secret.as_str(),
        "clinic app",
    ] {
        assert!(!all.contains(value), "{value} leaked into {all}");
    }
}
