//! Processing through the emulator's SQS and the worker in-process; replay; notifications;
//! secret rotation with a grace period.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use crate::{Fixture, post_standard, slug, standard_endpoint};

#[tokio::test]
async fn events_are_processed_by_the_worker_and_replay_reprocesses_them() {
    let f = Fixture::new().await;
    let (slug, secret) = standard_endpoint(&f, json!([])).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let res = post_standard(
            &f,
            &slug,
            &secret,
            &format!("msg_{i}"),
            &format!(r#"{{"type":"order.updated","n":{i}}}"#),
        )
        .await;
        ids.push(res.json()["event_id"].as_str().unwrap().to_string());
    }
    // The queue carries ids only, never the payload.
    let peek = f
        .hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(&f.queue)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    for m in peek.messages.unwrap_or_default() {
        let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
        assert_eq!(
            body.as_object().unwrap().keys().collect::<Vec<_>>(),
            vec!["event_id"]
        );
    }

    assert!(f.drain().await >= 1);
    for id in &ids {
        let e = f
            .admin_get(&format!("/api/integrations/webhooks/{slug}/events/{id}"))
            .await
            .json();
        assert_eq!(e["status"], "processed", "{e}");
        assert_eq!(e["attempts"], 1);
        assert!(e["processed_at"].is_string());
    }
    // A redelivered message for a processed event is not processed again.
    let mut event = SqsEvent::default();
    let mut rec = SqsMessage::default();
    rec.message_id = Some("redelivery".into());
    rec.body = Some(json!({"event_id": ids[0]}).to_string());
    event.records.push(rec);
    let out = webhook_worker::handle_event(&f.worker, event).await;
    assert!(out.batch_item_failures.is_empty());
    let e = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events/{}",
            ids[0]
        ))
        .await
        .json();
    assert_eq!(e["attempts"], 1);

    // Replay one: back to queued, then processed again.
    let res = f
        .admin_post(
            &format!("/api/integrations/webhooks/{slug}/events/{}/replay", ids[0]),
            &json!({}),
        )
        .await;
    assert_eq!(
        res.status.as_u16(),
        202,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    let e = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events/{}",
            ids[0]
        ))
        .await
        .json();
    assert_eq!(e["status"], "queued");
    f.drain().await;
    let e = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events/{}",
            ids[0]
        ))
        .await
        .json();
    assert_eq!(
        (
            e["status"].as_str(),
            e["attempts"].as_u64(),
            e["replays"].as_u64()
        ),
        (Some("processed"), Some(2), Some(1))
    );

    // Replay a time range covering all three.
    let from = "2000-01-01T00:00:00Z";
    let to = "2100-01-01T00:00:00Z";
    let res = f
        .admin_post(
            &format!("/api/integrations/webhooks/{slug}/events/replay"),
            &json!({"from": from, "to": to}),
        )
        .await;
    assert_eq!(res.status.as_u16(), 202);
    assert_eq!(res.json()["replayed"], 3);
    f.drain().await;
    for id in &ids {
        let e = f
            .admin_get(&format!("/api/integrations/webhooks/{slug}/events/{id}"))
            .await
            .json();
        assert_eq!(e["status"], "processed");
        assert!(e["attempts"].as_u64().unwrap() >= 2);
    }
    // An empty range replays nothing; a bad date is a field error.
    let res = f
        .admin_post(
            &format!("/api/integrations/webhooks/{slug}/events/replay"),
            &json!({"from": from, "to": "2000-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.json()["replayed"], 0);
    let p = f
        .admin_post(
            &format!("/api/integrations/webhooks/{slug}/events/replay"),
            &json!({"from": "yesterday", "to": to}),
        )
        .await
        .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "from");
    f.admin_get(&format!(
        "/api/integrations/webhooks/{slug}/events/0000/replay"
    ))
    .await
    .assert_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn events_list_by_status_and_time_with_paging() {
    let f = Fixture::new().await;
    let (slug, secret) = standard_endpoint(&f, json!(["keep"])).await;
    for i in 0..5 {
        let ty = if i % 2 == 0 { "keep" } else { "drop" };
        post_standard(
            &f,
            &slug,
            &secret,
            &format!("msg_page_{i}"),
            &format!(r#"{{"type":"{ty}","n":{i}}}"#),
        )
        .await;
    }
    let page1 = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events?limit=2"))
        .await
        .json();
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events?limit=10&cursor={cursor}"
        ))
        .await
        .json();
    assert_eq!(page2["items"].as_array().unwrap().len(), 3);
    // Newest first.
    let first = page1["items"][0]["received_at"]
        .as_str()
        .unwrap()
        .to_string();
    let last = page2["items"][2]["received_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(first >= last);
    let ignored = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events?status=ignored&limit=100"
        ))
        .await
        .json();
    assert_eq!(ignored["items"].as_array().unwrap().len(), 2);
    let future = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events?from=2100-01-01T00:00:00Z"
        ))
        .await
        .json();
    assert!(future["items"].as_array().unwrap().is_empty());
    f.admin_get(&format!(
        "/api/integrations/webhooks/{slug}/events?status=weird"
    ))
    .await
    .assert_problem(400, "invalid_query");
    f.admin_get(&format!(
        "/api/integrations/webhooks/{slug}/events?cursor=garbage"
    ))
    .await
    .assert_problem(400, "invalid_field");
    f.admin_get(&format!(
        "/api/integrations/webhooks/{slug}/events/does-not-exist"
    ))
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn processed_events_become_notifications_when_configured() {
    let f = Fixture::new().await;
    let slug = slug("notify");
    let user = format!("user-{}", uuid::Uuid::new_v4().simple());
    let created = f
        .register(json!({
            "provider_slug": "payment-gateway", "name": "Payments", "endpoint_url": slug,
            "verification": {"scheme": "standard_webhooks"}, "notify_user_id": user, "notification_title": "Payment received"
        }))
        .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = post_standard(
        &f,
        &slug,
        &secret,
        "msg_notify",
        r#"{"type":"payment.success","patient_note":"private"}"#,
    )
    .await
    .json()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    f.drain().await;
    // Replaying does not create a second notification.
    f.admin_post(
        &format!("/api/integrations/webhooks/{slug}/events/{id}/replay"),
        &json!({}),
    )
    .await;
    f.drain().await;
    let items = f
        .hub
        .ctx
        .aws
        .dynamo
        .query()
        .table_name(&f.hub.ctx.config.hub_table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(format!("NOTIF#{user}")))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "one notification, replay included");
    let n = &items[0];
    assert_eq!(n["title"].as_s().unwrap(), "Payment received");
    assert_eq!(n["type"].as_s().unwrap(), "webhook");
    assert_eq!(
        n["data"].as_m().unwrap()["webhook_event_id"]
            .as_s()
            .unwrap(),
        &id
    );
    assert_eq!(n["read"].as_bool().unwrap(), &false);
    assert!(
        !format!("{n:?}").contains("private"),
        "the payload is not copied into the notification"
    );
    let notification_id = n["id"].as_s().unwrap().clone();
    let e = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events/{id}"))
        .await
        .json();
    assert_eq!(e["result"]["notification_id"], notification_id.as_str());
}

/// After a rotation the new secret verifies at once, the old one until the grace period ends.
#[tokio::test]
async fn rotated_secret_keeps_verifying_during_the_grace_period_only() {
    let f = Fixture::new().await;
    let (slug, old) = standard_endpoint(&f, json!([])).await;
    let res = f
        .admin_post(
            &format!("/api/integrations/webhooks/{slug}/rotate-secret"),
            &json!({"grace_period_seconds": 3600}),
        )
        .await;
    assert_eq!(
        res.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    let rotated = res.json();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_valid_until"].is_string());

    assert_eq!(
        post_standard(&f, &slug, &new, "msg_new_1", r#"{"type":"a"}"#)
            .await
            .json()["status"],
        "accepted"
    );
    assert_eq!(
        post_standard(&f, &slug, &old, "msg_old_1", r#"{"type":"a"}"#)
            .await
            .json()["status"],
        "accepted"
    );

    // An hour and a second later (signatures made at that time too): only the new one.
    f.set_now(f.now() + 3601);
    post_standard(&f, &slug, &old, "msg_old_2", r#"{"type":"a"}"#)
        .await
        .assert_problem(401, "invalid_signature");
    assert_eq!(
        post_standard(&f, &slug, &new, "msg_new_2", r#"{"type":"a"}"#)
            .await
            .json()["status"],
        "accepted"
    );

    // Rotation validates its input; an empty body uses the default grace.
    f.admin_post(
        &format!("/api/integrations/webhooks/{slug}/rotate-secret"),
        &json!({"grace_period_seconds": -1}),
    )
    .await
    .assert_problem(400, "invalid_field");
    let res = hub_tests::send(
        &f.svc,
        hub_tests::req(
            "POST",
            &format!("/api/integrations/webhooks/{slug}/rotate-secret"),
            Some(&f.hub.admin()),
        )
        .body(axum::body::Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(res.status.as_u16(), 200);
    let valid_until = res.json()["previous_secret_valid_until"]
        .as_str()
        .unwrap()
        .to_string();
    let expected = shared::clock::rfc3339_millis(
        time::OffsetDateTime::from_unix_timestamp(f.now() + 86_400).unwrap(),
    );
    assert_eq!(valid_until, expected);
}

#[tokio::test]
async fn unknown_event_ids_on_the_queue_are_dropped_not_retried() {
    let f = Fixture::new().await;
    let mut event = SqsEvent::default();
    for (id, body) in [
        ("m1", json!({"event_id": "does-not-exist"}).to_string()),
        ("m2", "not json".to_string()),
    ] {
        let mut rec = SqsMessage::default();
        rec.message_id = Some(id.into());
        rec.body = Some(body);
        event.records.push(rec);
    }
    let out = webhook_worker::handle_event(&f.worker, event).await;
    assert!(out.batch_item_failures.is_empty());
}

/// A Kavenegar delivery callback reaching a webhook endpoint updates the stored SMS message
/// through the SMS capability (`shared::sms::apply_delivery_report`).
#[tokio::test]
async fn delivery_reports_update_the_sms_message_status() {
    use shared::sms::SmsStatus;
    use shared::sms::model::SmsRecord;
    let f = Fixture::new().await;
    let store = f.hub.ctx.sms_store().unwrap();
    let provider_id = format!(
        "{}",
        10_000_000 + (uuid::Uuid::new_v4().as_u128() % 80_000_000)
    );
    let sms_id = format!("sms-{}", uuid::Uuid::new_v4().simple());
    let now = shared::clock::now_rfc3339_millis();
    store
        .put_message(&SmsRecord {
            id: sms_id.clone(),
            receptor: "+989121234567".into(),
            message_type: shared::sms::MessageType::Text,
            provider: "kavenegar".into(),
            provider_message_id: Some(provider_id.clone()),
            status: SmsStatus::Sent,
            provider_status: Some("4".into()),
            error_code: None,
            batch_id: None,
            user_id: "u1".into(),
            created_at: now.clone(),
            updated_at: now,
        })
        .await
        .unwrap();

    let slug = slug("kavenegar-sms");
    let created = f
        .register(json!({"provider_slug": "kavenegar", "name": "Kavenegar delivery", "endpoint_url": slug, "verification": {"scheme": "path_token"}}))
        .await;
    let token = created["secret"].as_str().unwrap();
    let res = f
        .post(
            &format!("/api/integrations/webhook/{slug}/{token}"),
            &[("content-type", "application/x-www-form-urlencoded".into())],
            format!("messageid={provider_id}&status=10"),
        )
        .await;
    let event_id = res.json()["event_id"].as_str().unwrap().to_string();
    f.drain().await;

    let message = store.get_message(&sms_id).await.unwrap().unwrap();
    assert_eq!(message.status, SmsStatus::Delivered);
    assert_eq!(message.provider_status.as_deref(), Some("10"));
    let e = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events/{event_id}"
        ))
        .await
        .json();
    assert_eq!(e["status"], "processed");
    assert_eq!(e["result"]["sms_status_applied"], true);
    assert_eq!(e["result"]["sms_message_id"], sms_id.as_str());
    assert_eq!(e["result"]["sms_status"], "delivered");
}

/// A processing failure is retried by SQS; after `WEBHOOK_MAX_ATTEMPTS` deliveries the event
/// is marked `failed` with its last error (the message then goes to the DLQ).
#[tokio::test]
async fn failing_events_are_retried_then_marked_failed() {
    let f = Fixture::with_env(&[
        ("WEBHOOK_INLINE_BODY_BYTES", "100".into()),
        ("WEBHOOK_MAX_ATTEMPTS", "2".into()),
    ])
    .await;
    let (slug, secret) = standard_endpoint(&f, json!([])).await;
    let body = format!(r#"{{"type":"report.ready","data":"{}"}}"#, "z".repeat(300));
    let id = post_standard(&f, &slug, &secret, "msg_fails", &body)
        .await
        .json()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Lose the body in S3: every processing attempt now fails.
    let bucket = f.state.service.config.bodies_bucket.clone().unwrap();
    f.hub
        .ctx
        .aws
        .s3()
        .delete_object()
        .bucket(bucket)
        .key(format!("webhooks/{slug}/{id}"))
        .send()
        .await
        .unwrap();

    // Play SQS redelivery: the failed message becomes visible again after the test queue's
    // one-second visibility timeout.
    let mut invocations = 0;
    for _ in 0..8 {
        let worker = f.worker.clone();
        invocations += hub_tests::drain_queue(f.hub.ctx.aws.sqs(), &f.queue, 3, move |event| {
            let worker = worker.clone();
            async move {
                let out = webhook_worker::handle_event(&worker, event).await;
                assert_eq!(
                    out.batch_item_failures.len(),
                    1,
                    "the failure is reported so SQS redelivers"
                );
                out
            }
        })
        .await;
        let e = f
            .admin_get(&format!("/api/integrations/webhooks/{slug}/events/{id}"))
            .await
            .json();
        if e["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    assert!(
        invocations >= 2,
        "redelivered at least once ({invocations})"
    );
    let e = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events/{id}"))
        .await
        .json();
    assert_eq!(e["status"], "failed", "{e}");
    assert!(e["attempts"].as_u64().unwrap() >= 2);
    assert!(e["last_error"].is_string());

    // After fixing the cause, a replay of failed events in the range processes it.
    let bucket = f.state.service.config.bodies_bucket.clone().unwrap();
    f.hub
        .ctx
        .aws
        .s3()
        .put_object()
        .bucket(bucket)
        .key(format!("webhooks/{slug}/{id}"))
        .body(body.into_bytes().into())
        .send()
        .await
        .unwrap();
    let res = f
        .admin_post(
            &format!("/api/integrations/webhooks/{slug}/events/replay"),
            &json!({"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "status": "failed"}),
        )
        .await;
    assert_eq!(res.json()["replayed"], 1);
    // Drain the earlier message (still redelivering in this DLQ-less test queue) and the replay.
    f.drain().await;
    let e = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/events/{id}"))
        .await
        .json();
    assert_eq!(e["status"], "processed", "{e}");
}

/// The worker applies a delivery report only for the provider stored with the event (its
/// endpoint's `provider_slug`), never the one the body looks like: an event of another
/// provider (stored before the receive path refused those, or replayed) is processed without
/// touching the SMS message, and its result says why.
#[tokio::test]
async fn the_worker_applies_reports_only_for_the_events_own_provider() {
    use shared::sms::SmsStatus;
    use shared::sms::model::SmsRecord;
    let f = Fixture::new().await;
    let store = f.hub.ctx.sms_store().unwrap();
    let provider_id = format!(
        "{}",
        10_000_000 + (uuid::Uuid::new_v4().as_u128() % 80_000_000)
    );
    let sms_id = format!("sms-{}", uuid::Uuid::new_v4().simple());
    let now = shared::clock::now_rfc3339_millis();
    store
        .put_message(&SmsRecord {
            id: sms_id.clone(),
            receptor: "+989121234567".into(),
            message_type: shared::sms::MessageType::Text,
            provider: "kavenegar".into(),
            provider_message_id: Some(provider_id.clone()),
            status: SmsStatus::Sent,
            provider_status: Some("4".into()),
            error_code: None,
            batch_id: None,
            user_id: "u1".into(),
            created_at: now.clone(),
            updated_at: now,
        })
        .await
        .unwrap();
    let slug = slug("kavenegar-sms");
    let created = f
        .register(json!({"provider_slug": "kavenegar", "name": "Kavenegar delivery", "endpoint_url": slug, "verification": {"scheme": "path_token"}}))
        .await;
    let token = created["secret"].as_str().unwrap();
    let res = f
        .post(
            &format!("/api/integrations/webhook/{slug}/{token}"),
            &[("content-type", "application/x-www-form-urlencoded".into())],
            format!("messageid={provider_id}&status=11"),
        )
        .await;
    let event_id = res.json()["event_id"].as_str().unwrap().to_string();
    // The event as an older deployment could have stored it: from another provider's endpoint.
    f.hub
        .ctx
        .aws
        .dynamo
        .update_item()
        .table_name(&f.hub.ctx.config.hub_table)
        .key("pk", AttributeValue::S(format!("WH#EV#{event_id}")))
        .key("sk", AttributeValue::S("#EVENT".into()))
        .update_expression("SET provider_slug = :p")
        .expression_attribute_values(":p", AttributeValue::S("payment-gateway".into()))
        .send()
        .await
        .unwrap();
    f.drain().await;

    let message = store.get_message(&sms_id).await.unwrap().unwrap();
    assert_eq!(message.status, SmsStatus::Sent, "no status change");
    let e = f
        .admin_get(&format!(
            "/api/integrations/webhooks/{slug}/events/{event_id}"
        ))
        .await
        .json();
    assert_eq!(e["status"], "processed");
    assert_eq!(e["result"]["sms_status_applied"], false);
    assert!(
        e["result"]["reason"]
            .as_str()
            .unwrap()
            .contains("provider_slug is \"kavenegar\""),
        "{e}"
    );
}
