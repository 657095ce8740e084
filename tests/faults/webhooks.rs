//! Webhook fault scenarios (issue 13): a `SendMessage` that fails after the event is stored
//! (the sweeper re-drives it), every message delivered twice and two workers on one message,
//! captured HMAC / Twilio deliveries replayed with a fresh `webhook-id`, and a Kavenegar
//! report posted to a non-Kavenegar endpoint. Each test ends with its row of the matrix in
//! docs/reliability.md, counted from what the worker really did: the in-app notifications
//! it created (one per processing), the events' statuses and attempts, and the SMS statuses
//! read back.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use hub_tests::faults::{Fault, Faults, Row};
use hub_tests::{TestHub, TestResponse, create_queue, env_with, json_req, send};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::http::HubService;
use shared::webhooks::process::EventProcessor;
use shared::webhooks::signature::{
    decode_standard_secret, hmac_sha256_hex, standard_sign, twilio_signature,
};
use shared::webhooks::{QUEUE_ENV, WebhookConfig};

/// The webhooks function (its context possibly faulty) and the worker, on a queue of the
/// test's own.
struct Webhooks {
    hub: TestHub,
    svc: HubService,
    config: WebhookConfig,
    queue: String,
    clock: Arc<ManualClock>,
}

impl Webhooks {
    async fn new(faults: &Faults) -> Self {
        Self::with_env(faults, &[]).await
    }

    /// With settings on top of the test environment (e.g. `REDRIVE_AFTER_SECONDS`).
    async fn with_env(faults: &Faults, overrides: &[(&str, String)]) -> Self {
        let hub = TestHub::new().await;
        let queue = create_queue(&hub, QUEUE_ENV).await;
        let mut all = vec![(QUEUE_ENV, queue.clone())];
        all.extend(overrides.iter().cloned());
        let config = WebhookConfig::from_env(&env_with(&all)).expect("webhook config");
        let clock = Arc::new(ManualClock::new(shared::clock::now_ms()));
        let ctx = hub.faulty_ctx_of("webhooks", faults).await;
        let service = ctx.webhook_service_with(config.clone(), clock.clone());
        let state = webhooks::WebhooksState::new(ctx, service);
        let svc = shared::http::app(webhooks::router(state));
        Self {
            hub,
            svc,
            config,
            queue,
            clock,
        }
    }

    fn now(&self) -> i64 {
        (self.clock.now_ms() / 1000) as i64
    }

    /// A worker instance (its own cold start, under its role).
    fn worker(&self) -> Arc<EventProcessor> {
        Arc::new(
            self.hub
                .ctx_of("webhook-worker")
                .webhook_processor_with(&self.config),
        )
    }

    async fn register(&self, body: Value) -> Value {
        let res = send(
            &self.svc,
            json_req(
                "POST",
                "/api/integrations/webhooks",
                Some(&self.hub.admin()),
                &body,
            ),
        )
        .await;
        assert_eq!(
            res.status.as_u16(),
            201,
            "{}",
            String::from_utf8_lossy(&res.body)
        );
        res.json()
    }

    async fn post(&self, path: &str, headers: &[(&str, String)], body: &str) -> TestResponse {
        let mut b = hub_tests::req("POST", path, None);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        send(&self.svc, b.body(Body::from(body.to_string())).unwrap()).await
    }

    /// Plays Lambda's event source mapping with `worker` until the queue stays empty.
    async fn drain_with(&self, worker: Arc<EventProcessor>) -> usize {
        hub_tests::drain_queue(self.hub.ctx.aws.sqs(), &self.queue, 20, move |event| {
            let worker = worker.clone();
            async move { webhook_worker::handle_event(&worker, event).await }
        })
        .await
    }

    async fn drain(&self) -> usize {
        self.drain_with(self.worker()).await
    }

    /// The stored event, as the admin API shows it.
    async fn event(&self, slug: &str, id: &str) -> Value {
        send(
            &self.svc,
            hub_tests::get(
                &format!("/api/integrations/webhooks/{slug}/events/{id}"),
                Some(&self.hub.admin()),
            ),
        )
        .await
        .json()
    }

    /// The scheduled sweeper's run at `now_secs`, re-driving due events to this test's queue.
    async fn sweep(&self, now_secs: i64) -> shared::redrive::SweepReport {
        let urls = [(QUEUE_ENV.to_string(), self.queue.clone())].into();
        shared::redrive::sweep_due(
            &self.hub.ctx.aws.dynamo,
            self.hub.ctx.aws.sqs(),
            &self.hub.ctx.config.hub_table,
            &urls,
            now_secs,
            self.config.redrive_after,
            1000,
        )
        .await
        .expect("sweep")
    }

    /// In-app notifications of `user`: the worker creates one per processing of an event of
    /// an endpoint with `notify_user_id` (a replay reuses it), so this counts processings.
    async fn notifications(&self, user: &str) -> usize {
        self.hub
            .ctx
            .aws
            .dynamo
            .query()
            .table_name(&self.hub.ctx.config.hub_table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(format!("NOTIF#{user}")))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap()
            .count as usize
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A Standard Webhooks endpoint that notifies `user` of each processed event.
async fn standard_endpoint(w: &Webhooks, user: &str) -> (String, String) {
    let slug = unique("sw");
    let created = w
        .register(json!({
            "provider_slug": "payment-gateway", "name": "Payments", "endpoint_url": slug,
            "verification": {"scheme": "standard_webhooks"}, "notify_user_id": user
        }))
        .await;
    (slug, created["secret"].as_str().unwrap().to_string())
}

async fn post_standard(
    w: &Webhooks,
    slug: &str,
    secret: &str,
    id: &str,
    body: &str,
) -> TestResponse {
    let key = decode_standard_secret(secret).unwrap();
    let ts = w.now();
    let sig = standard_sign(&key, id, ts, body.as_bytes());
    w.post(
        &format!("/api/integrations/webhook/{slug}"),
        &[
            ("content-type", "application/json".into()),
            ("webhook-id", id.into()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sig),
        ],
        body,
    )
    .await
}

/// The process stops between store and enqueue: every `SendMessage` of the webhooks function
/// fails (the SDK's retries included) after the event's `PutItem`. The provider is answered
/// `accepted`, its retry `duplicate`, nothing reaches the queue, and the event stays stored
/// with its redrive marker; once due, the sweeper sends its message and the worker processes
/// it, once; a later sweep finds nothing to re-drive (the claim removed the marker).
#[tokio::test]
async fn a_webhook_stored_but_never_enqueued_is_processed_later_by_the_sweeper_once() {
    const EVENTS: usize = 3;
    let _sweeps = crate::WEBHOOK_SWEEPS.lock().await;
    let faults = Faults::new();
    faults.inject(Fault::unavailable("SendMessage").times(1000));
    let w = Webhooks::with_env(&faults, &[("REDRIVE_AFTER_SECONDS", "1".into())]).await;
    let user = unique("user");
    let (slug, secret) = standard_endpoint(&w, &user).await;
    let mut ids = Vec::new();
    let mut wrong_answers = 0;
    for i in 0..EVENTS {
        let id = format!("msg_stops_{i}");
        let body = format!(r#"{{"type":"payment.success","n":{i}}}"#);
        let res = post_standard(&w, &slug, &secret, &id, &body).await;
        assert_eq!(
            res.status.as_u16(),
            200,
            "{}",
            String::from_utf8_lossy(&res.body)
        );
        let answer = res.json();
        wrong_answers +=
            usize::from(answer["status"] != "accepted" || !answer["detail"].is_string());
        ids.push(answer["event_id"].as_str().unwrap().to_string());
        // The provider's retry: acknowledged as a duplicate, the stored event kept.
        let retry = post_standard(&w, &slug, &secret, &id, &body).await;
        wrong_answers += usize::from(retry.json()["status"] != "duplicate");
    }
    assert!(
        faults.injected("SendMessage") as usize >= EVENTS,
        "the sends failed"
    );
    assert_eq!(w.drain().await, 0, "nothing reached the queue");
    for id in &ids {
        assert_eq!(w.event(&slug, id).await["status"], "queued");
    }

    // The sweeper's runs once the markers are due. (The index is shared by every test on the
    // emulator: a sweep in another test binary may take one of ours to its own queue and push
    // its due time by the backoff, so run again past that until ours are done.)
    let mut due = shared::clock::now_secs() + 2;
    for _ in 0..4 {
        w.sweep(due).await;
        w.drain().await;
        let mut done = 0;
        for id in &ids {
            done += usize::from(w.event(&slug, id).await["status"] == "processed");
        }
        if done == EVENTS {
            break;
        }
        due += 2 * w.config.redrive_after.as_secs() as i64 + 120;
    }
    // A later run: the claims removed the markers, so nothing of ours is sent again.
    w.sweep(due + 5).await;
    w.drain().await;

    let processings = w.notifications(&user).await;
    let mut not_processed = 0;
    let mut extra_claims = 0;
    for id in &ids {
        let e = w.event(&slug, id).await;
        not_processed += usize::from(e["status"] != "processed");
        extra_claims += e["attempts"].as_u64().unwrap_or(0).saturating_sub(1) as usize;
    }
    Row {
        scenario: "process stops between store and enqueue (webhook)",
        sends: processings,
        lost: EVENTS.saturating_sub(processings),
        duplicates: processings.saturating_sub(EVENTS).max(extra_claims),
        wrong_statuses: not_processed + wrong_answers,
    }
    .report();
}

/// The queue's visible messages as one Lambda `SqsEvent` (not deleted: they come back after
/// the test queue's one-second visibility timeout unless a worker run deletes them).
async fn receive_batch(w: &Webhooks) -> aws_lambda_events::event::sqs::SqsEvent {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let out = w
        .hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(&w.queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    let mut event = SqsEvent::default();
    for m in out.messages.unwrap_or_default() {
        let mut rec = SqsMessage::default();
        rec.message_id = m.message_id.clone();
        rec.receipt_handle = m.receipt_handle.clone();
        rec.body = m.body.clone();
        rec.event_source = Some("aws:sqs".into());
        for (k, v) in m.attributes.unwrap_or_default() {
            rec.attributes.insert(k.as_str().to_string(), v);
        }
        event.records.push(rec);
    }
    event
}

/// Every message delivered twice (a second copy of each on the queue, as SQS's
/// at-least-once delivery may do) and two worker instances handed the same batch at once:
/// each event is claimed and processed once.
#[tokio::test]
async fn webhook_events_delivered_twice_and_to_two_workers_at_once_are_processed_once() {
    const EVENTS: usize = 6;
    let faults = Faults::new();
    let w = Webhooks::new(&faults).await;
    let user = unique("user");
    let (slug, secret) = standard_endpoint(&w, &user).await;
    let mut ids = Vec::new();
    for i in 0..EVENTS {
        let res = post_standard(
            &w,
            &slug,
            &secret,
            &format!("msg_twice_{i}"),
            &format!(r#"{{"type":"payment.success","n":{i}}}"#),
        )
        .await;
        assert_eq!(res.json()["status"], "accepted", "{}", res.json());
        ids.push(res.json()["event_id"].as_str().unwrap().to_string());
    }
    // Every message twice.
    for id in &ids {
        shared::queue::send_json(
            w.hub.ctx.aws.sqs(),
            &w.queue,
            &shared::webhooks::EventMessage {
                event_id: id.clone(),
            },
        )
        .await
        .unwrap();
    }
    // Two workers on one batch at once.
    let (first, second) = (w.worker(), w.worker());
    let batch = receive_batch(&w).await;
    assert!(!batch.records.is_empty());
    tokio::join!(
        webhook_worker::handle_event(&first, batch.clone()),
        webhook_worker::handle_event(&second, batch.clone())
    );
    // Then everything left (the rest of the copies, the redeliveries), by both workers in turn.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    w.drain_with(first).await;
    w.drain_with(second).await;

    let processings = w.notifications(&user).await;
    let mut not_processed = 0;
    let mut extra_claims = 0;
    for id in &ids {
        let e = w.event(&slug, id).await;
        if e["status"] != "processed" {
            not_processed += 1;
        }
        extra_claims += e["attempts"].as_u64().unwrap_or(0).saturating_sub(1) as usize;
    }
    assert_eq!(extra_claims, 0, "one claim per event");
    Row {
        scenario: "every SQS message delivered twice; two workers on one message at once (webhook events)",
        sends: processings,
        lost: EVENTS.saturating_sub(processings),
        duplicates: processings.saturating_sub(EVENTS).max(extra_claims),
        wrong_statuses: not_processed,
    }
    .report();
}

/// A captured HMAC (with and without a signed timestamp) or Twilio delivery posted again
/// with a fresh `webhook-id` (unsigned under those schemes) is a duplicate: each event is
/// processed once. After the tolerance, the timestamped one is refused as stale.
#[tokio::test]
async fn replayed_hmac_and_twilio_deliveries_with_a_fresh_webhook_id_are_processed_once() {
    let faults = Faults::new();
    let w = Webhooks::new(&faults).await;
    let mut users = Vec::new();
    let mut wrong = 0;
    let mut check = |res: &TestResponse, expected: &str| {
        let status = res.json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status != expected {
            eprintln!("expected {expected}, got {}: {}", res.status, res.json());
            wrong += 1;
        }
    };

    // HMAC with a signed timestamp.
    let user = unique("user");
    let slug = unique("hmac-ts");
    let secret = "gateway-secret-1";
    w.register(json!({
        "provider_slug": "payment-gateway", "name": "Gateway", "endpoint_url": slug, "secret": secret,
        "notify_user_id": user,
        "verification": {"scheme": "hmac_sha256", "signature_header": "x-signature", "timestamp_header": "x-timestamp"}
    }))
    .await;
    let body = r#"{"event":"payment.success","id":"pay_1"}"#;
    let ts = w.now().to_string();
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        (
            "x-signature",
            hmac_sha256_hex(secret.as_bytes(), Some(&ts), body.as_bytes()),
        ),
        ("x-timestamp", ts),
        ("webhook-id", "msg_original".to_string()),
    ];
    let path = format!("/api/integrations/webhook/{slug}");
    check(&w.post(&path, &headers, body).await, "accepted");
    headers[3].1 = "msg_fresh".into();
    check(&w.post(&path, &headers, body).await, "duplicate");
    headers.pop();
    check(&w.post(&path, &headers, body).await, "duplicate");
    users.push(user);
    // Past the tolerance the captured delivery is refused outright.
    w.clock.set((w.now() as u64 + 301) * 1000);
    let stale = w.post(&path, &headers, body).await;
    stale.assert_problem(401, "stale_timestamp");

    // HMAC over the body alone.
    let user = unique("user");
    let slug = unique("hmac");
    w.register(json!({
        "provider_slug": "payment-gateway", "name": "Gateway", "endpoint_url": slug, "secret": secret,
        "notify_user_id": user, "verification": {"scheme": "hmac_sha256"}
    }))
    .await;
    let path = format!("/api/integrations/webhook/{slug}");
    let sig = hmac_sha256_hex(secret.as_bytes(), None, body.as_bytes());
    for (id, expected) in [
        ("msg_a", "accepted"),
        ("msg_b", "duplicate"),
        ("msg_c", "duplicate"),
    ] {
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-signature", sig.clone()),
            ("webhook-id", id.to_string()),
        ];
        check(&w.post(&path, &headers, body).await, expected);
    }
    users.push(user);

    // Twilio: a status callback replayed with a fresh webhook-id and idempotency token, and
    // with its parameters in another order (Twilio signs them sorted).
    let user = unique("user");
    let slug = unique("twilio");
    let token = "twilio-auth-token-for-replays";
    w.register(json!({
        "provider_slug": "twilio", "name": "SMS status", "endpoint_url": slug, "secret": token,
        "notify_user_id": user, "verification": {"scheme": "twilio"}
    }))
    .await;
    let params = [("MessageSid", "SMreplay1"), ("MessageStatus", "delivered")];
    let path = format!("/api/integrations/webhook/{slug}");
    let url = format!("https://hooks.example.com{path}");
    let sig = twilio_signature(token, &url, &params);
    for (i, (form, expected)) in [
        ("MessageSid=SMreplay1&MessageStatus=delivered", "accepted"),
        ("MessageSid=SMreplay1&MessageStatus=delivered", "duplicate"),
        ("MessageStatus=delivered&MessageSid=SMreplay1", "duplicate"),
    ]
    .into_iter()
    .enumerate()
    {
        let headers = vec![
            ("host", "hooks.example.com".to_string()),
            ("x-forwarded-proto", "https".to_string()),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("x-twilio-signature", sig.clone()),
            ("webhook-id", format!("msg_{i}")),
            ("i-twilio-idempotency-token", format!("idem-{i}")),
        ];
        check(&w.post(&path, &headers, form).await, expected);
    }
    users.push(user);

    w.drain().await;
    let mut processings = 0;
    let mut lost = 0;
    let mut duplicates = 0;
    for user in &users {
        let n = w.notifications(user).await;
        processings += n;
        lost += usize::from(n == 0);
        duplicates += n.saturating_sub(1);
    }
    Row {
        scenario: "replayed HMAC / Twilio delivery with a fresh webhook-id",
        sends: processings,
        lost,
        duplicates,
        wrong_statuses: wrong,
    }
    .report();
}

/// A Kavenegar delivery report posted (validly authenticated) to endpoints of other
/// providers is refused with 422 `report_provider_mismatch` and changes no SMS status; the
/// same report through the Kavenegar endpoint applies.
#[tokio::test]
async fn a_kavenegar_report_posted_to_a_non_kavenegar_endpoint_is_refused() {
    use shared::sms::SmsStatus;
    use shared::sms::model::SmsRecord;
    let faults = Faults::new();
    let w = Webhooks::new(&faults).await;
    let store = w.hub.ctx.sms_store().unwrap();
    let provider_id = format!(
        "{}",
        10_000_000 + (uuid::Uuid::new_v4().as_u128() % 80_000_000)
    );
    let sms_id = unique("sms");
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
    // "undeliverable": a forged report would hide a delivered OTP, or fake a failure.
    let form = format!("messageid={provider_id}&status=11");
    let form_type = (
        "content-type",
        "application/x-www-form-urlencoded".to_string(),
    );
    let mut refused = 0;
    let mut posted = 0;

    // An HMAC endpoint of a payment gateway.
    let slug = unique("gateway");
    let secret = "gateway-secret-2";
    w.register(json!({"provider_slug": "payment-gateway", "name": "Gateway", "endpoint_url": slug, "secret": secret,
        "verification": {"scheme": "hmac_sha256"}}))
    .await;
    let sig = hmac_sha256_hex(secret.as_bytes(), None, form.as_bytes());
    let res = w
        .post(
            &format!("/api/integrations/webhook/{slug}"),
            &[form_type.clone(), ("x-signature", sig)],
            &form,
        )
        .await;
    posted += 1;
    let problem = res.assert_problem(422, "report_provider_mismatch");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("payment-gateway"),
        "{problem}"
    );
    refused += 1;

    // A Standard Webhooks endpoint.
    let slug = unique("sw");
    let created = w
        .register(json!({"provider_slug": "crm", "name": "CRM", "endpoint_url": slug}))
        .await;
    let key = decode_standard_secret(created["secret"].as_str().unwrap()).unwrap();
    let ts = w.now();
    let res = w
        .post(
            &format!("/api/integrations/webhook/{slug}"),
            &[
                form_type.clone(),
                ("webhook-id", "msg_forged".into()),
                ("webhook-timestamp", ts.to_string()),
                (
                    "webhook-signature",
                    standard_sign(&key, "msg_forged", ts, form.as_bytes()),
                ),
            ],
            &form,
        )
        .await;
    posted += 1;
    res.assert_problem(422, "report_provider_mismatch");
    refused += 1;

    // A Twilio endpoint (correctly signed by Twilio's token).
    let slug = unique("twilio");
    let token = "twilio-auth-token-mismatch";
    w.register(json!({"provider_slug": "twilio", "name": "SMS status", "endpoint_url": slug, "secret": token,
        "verification": {"scheme": "twilio"}}))
    .await;
    let path = format!("/api/integrations/webhook/{slug}");
    let pid = provider_id.as_str();
    let sig = twilio_signature(
        token,
        &format!("https://hooks.example.com{path}"),
        &[("messageid", pid), ("status", "11")],
    );
    let res = w
        .post(
            &path,
            &[
                ("host", "hooks.example.com".into()),
                ("x-forwarded-proto", "https".into()),
                form_type.clone(),
                ("x-twilio-signature", sig),
            ],
            &form,
        )
        .await;
    posted += 1;
    res.assert_problem(422, "report_provider_mismatch");
    refused += 1;

    w.drain().await;
    let after_refusals = store.get_message(&sms_id).await.unwrap().unwrap().status;

    // The Kavenegar endpoint's own report applies (the control).
    let slug = unique("kavenegar");
    let created = w
        .register(
            json!({"provider_slug": "kavenegar", "name": "Kavenegar delivery", "endpoint_url": slug,
            "verification": {"scheme": "path_token"}}),
        )
        .await;
    let token = created["secret"].as_str().unwrap();
    let res = w
        .post(
            &format!("/api/integrations/webhook/{slug}/{token}"),
            &[form_type],
            &form,
        )
        .await;
    posted += 1;
    assert_eq!(res.json()["status"], "accepted", "{}", res.json());
    w.drain().await;
    let after_control = store.get_message(&sms_id).await.unwrap().unwrap().status;

    Row {
        scenario: "Kavenegar report posted to a non-Kavenegar endpoint",
        sends: posted,
        lost: usize::from(after_control != SmsStatus::Undelivered),
        duplicates: 0,
        wrong_statuses: usize::from(after_refusals != SmsStatus::Sent) + (3 - refused),
    }
    .report();
}

/// Secrets Manager or DynamoDB failing while a delivery is received: 503
/// `dependency_unavailable` with `Retry-After` (never a 500, never "not configured"), nothing
/// stored; the provider's retry is accepted and processed once.
#[tokio::test]
async fn a_dependency_error_while_receiving_is_a_503_and_the_retry_is_processed_once() {
    // Its events sit in the shared redrive index until the worker claims them: keep the sweep
    // scenario from taking them meanwhile.
    let _sweeps = crate::WEBHOOK_SWEEPS.lock().await;
    let faults = Faults::new();
    let w = Webhooks::new(&faults).await;
    let user = unique("user");
    let (slug, secret) = standard_endpoint(&w, &user).await;
    let mut wrong = 0;
    let mut ids = Vec::new();
    for (i, (operation, unavailable)) in [("GetSecretValue", true), ("PutItem", false)]
        .into_iter()
        .enumerate()
    {
        // Every attempt (the SDK's retries included) of the next call fails.
        let next = faults.calls(operation) + 1;
        faults.clear();
        faults.inject(if unavailable {
            Fault::unavailable(operation).nth(next).times(3)
        } else {
            Fault::throttle(operation).nth(next).times(3)
        });
        let id = format!("msg_dependency_{i}");
        let body = format!(r#"{{"type":"payment.success","n":{i}}}"#);
        let res = post_standard(&w, &slug, &secret, &id, &body).await;
        let problem = res.assert_problem(503, "dependency_unavailable");
        assert!(res.headers.contains_key("retry-after"), "{problem}");
        // The provider retries as providers do: after the Retry-After it was given, again while
        // it is still told to wait (a credential read that just failed may be remembered for a
        // few seconds).
        let mut retry = post_standard(&w, &slug, &secret, &id, &body).await;
        for _ in 0..3 {
            if retry.status != 503 {
                break;
            }
            let wait = retry
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .min(6);
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            retry = post_standard(&w, &slug, &secret, &id, &body).await;
        }
        wrong += usize::from(retry.json()["status"] != "accepted");
        ids.push(
            retry.json()["event_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert!(faults.injected("PutItem") >= 3);
    w.drain().await;
    let processings = w.notifications(&user).await;
    for id in &ids {
        wrong += usize::from(w.event(&slug, id).await["status"] != "processed");
    }
    Row {
        scenario: "Secrets Manager / DynamoDB error while receiving a webhook",
        sends: processings,
        lost: ids.len().saturating_sub(processings),
        duplicates: processings.saturating_sub(ids.len()),
        wrong_statuses: wrong,
    }
    .report();
}
