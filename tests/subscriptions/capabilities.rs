//! Events announced by the capabilities themselves, end to end: the function's own router
//! (or worker) built as it is at cold start, under its own role, with the kit's subscriptions
//! queue and namespace; the subscriptions worker pumped like Lambda's event source; a receiver
//! that verifies every delivery with the spec's Standard Webhooks algorithm.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hub_tests::{TestHub, create_queue, drain_queue, get, req, send};
use serde_json::{Value, json};
use shared::auth::Role;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

/// The environment under which a function announces to this kit's subscriptions.
fn announcing(kit: &Kit) -> Vec<(&'static str, String)> {
    vec![
        ("SUBSCRIPTIONS_QUEUE_URL", kit.queue_url.clone()),
        ("SUBSCRIPTIONS_NAMESPACE", kit.config.namespace.clone()),
    ]
}

fn of_type(got: &[Received], event_type: &str) -> Vec<Received> {
    got.iter()
        .filter(|r| r.body["type"] == event_type)
        .cloned()
        .collect()
}

/// A function's second cold start with the kit's subscriptions wiring plus `extra`.
async fn function_ctx(
    hub: &TestHub,
    kit: &Kit,
    function: &str,
    extra: &[(&'static str, String)],
) -> Arc<shared::context::HubContext> {
    let mut env = announcing(kit);
    env.extend(extra.iter().cloned());
    hub.another_ctx_of(function, &env).await
}

/// Plays the AI jobs queue's event source mapping until it is empty.
async fn run_jobs(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    worker: &Arc<shared::ai::jobs::JobRunner>,
) -> usize {
    drain_queue(sqs, queue, 10, |event| {
        let w = worker.clone();
        async move { ai_worker::handle_event(&w, event).await }
    })
    .await
}

const KAVENEGAR_KEY: &str = "subscriptions-test-kavenegar-key";
const CALLBACK_TOKEN: &str = "subscriptions-test-callback-token";

/// Kavenegar's `sms/send.json` on `server`, answering one queued entry per receptor (ids from
/// `first_id`), expected once.
async fn kavenegar_accepts(server: &MockServer, receptors: &[&str], first_id: u64) {
    let entries: Vec<Value> = receptors
        .iter()
        .enumerate()
        .map(|(k, r)| json!({"messageid": first_id + k as u64, "message": "…", "status": 1, "statustext": "در صف ارسال",
                             "sender": "10004346", "receptor": r, "date": 1_356_619_709, "cost": 120}))
        .collect();
    Mock::given(method("POST"))
        .and(path(format!("/{KAVENEGAR_KEY}/sms/send.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"return": {"status": 200, "message": "تایید شد"}, "entries": entries}),
        ))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_sms_send_and_its_delivery_report_arrive_as_events_once() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = kit
        .subscribe(&receiver.url, &["sms.sent", "sms.delivered", "sms.failed"])
        .await;
    receiver.know(&[&secret]);

    let kavenegar = MockServer::start().await;
    kit.hub
        .put_secret(
            "kavenegar",
            json!({"api_key": KAVENEGAR_KEY, "sender": "10004346", "callback_token": CALLBACK_TOKEN}),
        )
        .await;
    let pid = 7_000_000 + (uuid::Uuid::new_v4().as_u128() % 1_000_000) as u64;
    kavenegar_accepts(&kavenegar, &["09123456789"], pid).await;

    // The sms function as it starts: its router, its service, its role.
    let ctx = function_ctx(
        &kit.hub,
        &kit,
        "sms",
        &[
            ("KAVENEGAR_BASE_URL", kavenegar.uri()),
            ("SMS_CALLBACK_BASE_URL", String::new()),
        ],
    )
    .await;
    let config = shared::sms::SmsConfig::from_env(&ctx.env).unwrap();
    let state = sms::SmsState::new(
        ctx.clone(),
        ctx.sms_service().unwrap(),
        ctx.otp_service(&config).unwrap(),
    );
    let svc = shared::http::app(sms::router(state));
    let token = kit.hub.token("clinic-backend", Role::Service);
    let send_req = req("POST", "/api/integrations/sms/send", Some(&token))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"receptor": "09123456789", "message_type": "text", "message": "نوبت شما فردا است"})
                .to_string(),
        ))
        .unwrap();
    let sent = send(&svc, send_req).await;
    assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
    let message_id = sent.json()["message_id"].as_str().unwrap().to_string();

    // Kavenegar reports it delivered (10), twice: providers repeat callbacks.
    for _ in 0..2 {
        let res = send(
            &svc,
            get(
                &format!(
                    "/api/integrations/sms/callbacks/kavenegar/{CALLBACK_TOKEN}?messageid={pid}&status=10"
                ),
                None,
            ),
        )
        .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    }
    kit.pump(Duration::from_secs(2)).await;

    let got = receiver.received();
    let (sent_events, delivered) = (of_type(&got, "sms.sent"), of_type(&got, "sms.delivered"));
    assert_eq!(sent_events.len(), 1, "{got:?}");
    assert_eq!(
        delivered.len(),
        1,
        "one event for two identical reports: {got:?}"
    );
    assert_eq!(got.len(), 2, "{got:?}");
    for r in &got {
        assert_eq!(r.verified, vec![true], "{r:?}");
        assert_eq!(r.body["data"]["message_id"], message_id);
        assert_eq!(r.body["data"]["provider"], "kavenegar");
        // Masked: never the whole number, never the text.
        let data = r.body["data"].to_string();
        assert!(!data.contains("9123456789"), "{data}");
        assert!(!data.contains("نوبت"), "{data}");
    }
    assert_eq!(sent_events[0].body["data"]["status"], "queued");
    assert_eq!(delivered[0].body["data"]["status"], "delivered");
    assert_eq!(
        delivered[0].body["data"]["provider_message_id"],
        pid.to_string()
    );
    assert_ne!(sent_events[0].webhook_id, delivered[0].webhook_id);
}

#[tokio::test]
async fn finished_ai_jobs_arrive_as_events_and_a_redelivered_job_announces_nothing_new() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = kit
        .subscribe(&receiver.url, &["ai.job.succeeded", "ai.job.failed"])
        .await;
    receiver.know(&[&secret]);

    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-sub", "object": "chat.completion", "created": 1_763_800_000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "A care plan.", "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
        })))
        .expect(1)
        .mount(&openai)
        .await;
    kit.hub
        .put_secret("openai", json!({"api_key": "key-openai"}))
        .await;
    let jobs_queue = create_queue(&kit.hub, "AI_JOBS_QUEUE_URL").await;
    let env = [
        ("AI_JOBS_QUEUE_URL", jobs_queue.clone()),
        ("OPENAI_BASE_URL", format!("{}/v1", openai.uri())),
    ];
    let api_ctx = function_ctx(&kit.hub, &kit, "ai", &env).await;
    let svc = shared::http::app(ai::router(ai::AiState::new(api_ctx).unwrap()));
    let worker = Arc::new(
        function_ctx(&kit.hub, &kit, "ai-worker", &env)
            .await
            .ai_job_runner()
            .unwrap(),
    );

    let owner = kit.hub.token("job-owner", Role::User);
    let res = send(
        &svc,
        req("POST", "/api/integrations/ai/generate", Some(&owner))
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"prompt": "Summarise the visit of Maria Souza", "async": true}).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let job_id = res.json()["id"].as_str().unwrap().to_string();
    let sqs = kit.hub.ctx.aws.sqs();
    assert!(run_jobs(sqs, &jobs_queue, &worker).await >= 1);
    // The job's message again (SQS at-least-once): the job is finished, nothing runs, and
    // the announcement it repeats is the same event.
    shared::queue::send_json(
        kit.hub.ctx.aws.sqs(),
        &jobs_queue,
        &json!({ "job_id": job_id }),
    )
    .await
    .unwrap();
    assert!(run_jobs(sqs, &jobs_queue, &worker).await >= 1);
    kit.pump(Duration::from_secs(2)).await;

    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let event = &got[0];
    assert_eq!(event.verified, vec![true]);
    assert_eq!(event.body["type"], "ai.job.succeeded");
    let data: &Value = &event.body["data"];
    assert_eq!(data["job_id"], job_id.as_str());
    assert_eq!(data["kind"], "generate");
    assert_eq!(data["status"], "succeeded");
    assert_eq!(data["user_id"], "job-owner");
    // Never the prompt or the answer.
    let text = data.to_string();
    assert!(
        !text.contains("Maria") && !text.contains("care plan"),
        "{text}"
    );
    assert_eq!(
        event.webhook_id,
        shared::subscriptions::keyed_event_id(&kit.config.namespace, "ai.job.succeeded", &job_id)
    );
}

/// One multipart part named `file`.
fn multipart_file(filename: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----subscriptions-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn an_email_an_upload_and_a_read_notification_arrive_as_events() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = kit
        .subscribe(
            &receiver.url,
            &["email.sent", "upload.completed", "notification.read"],
        )
        .await;
    receiver.know(&[&secret]);
    let service = kit.hub.token("clinic-backend", Role::Service);

    // email: the shared test SMTP sink accepts it.
    let smtp_port = std::env::var("SMTP_TEST_PORT").expect("SMTP_TEST_PORT: run with `make test`");
    let email_ctx = function_ctx(
        &kit.hub,
        &kit,
        "email",
        &[
            ("SMTP_HOST", "127.0.0.1".into()),
            ("SMTP_PORT", smtp_port),
            ("SMTP_USER", String::new()),
            ("FROM_EMAIL", "Clinic <noreply@clinic.example>".into()),
        ],
    )
    .await;
    let email_svc = shared::http::app(email::router(email::EmailState::new(email_ctx).unwrap()));
    let to = format!(
        "patient-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let res = send(
        &email_svc,
        hub_tests::json_req(
            "POST",
            "/api/integrations/email/send",
            Some(&service),
            &json!({"to": to, "template": "generic", "language": "en",
                    "data": {"subject": "Your results are ready", "message": "Line one"}}),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let email_id = res.json()["message_id"].as_str().unwrap().to_string();

    // upload: a direct attachment.
    let uploads_ctx = function_ctx(&kit.hub, &kit, "uploads", &[]).await;
    let uploads_svc = shared::http::app(uploads::router(
        uploads::UploadsState::new(uploads_ctx).unwrap(),
    ));
    let owner = kit.hub.token("patient-7", Role::User);
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let (content_type, body) = multipart_file("lab results.pdf", "application/pdf", pdf);
    let res = send(
        &uploads_svc,
        req("POST", "/api/v1/upload/attachment", Some(&owner))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let file_id = res.json()["id"].as_str().unwrap().to_string();

    // notification.read: sent in-app, read twice by its user.
    let notifications_queue = create_queue(&kit.hub, "NOTIFICATIONS_QUEUE_URL").await;
    let notifications_ctx = function_ctx(
        &kit.hub,
        &kit,
        "notifications",
        &[("NOTIFICATIONS_QUEUE_URL", notifications_queue)],
    )
    .await;
    let notifications_svc = shared::http::app(notifications::router(
        notifications::NotificationsState::new(notifications_ctx).unwrap(),
    ));
    let user = format!("reader-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let res = send(
        &notifications_svc,
        hub_tests::json_req(
            "POST",
            "/api/v1/notifications",
            Some(&service),
            &json!({"user_id": user, "type": "message", "title": "Results", "message": "ready", "channels": ["in_app"]}),
        ),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let notification_id = res.json()["id"].as_str().unwrap().to_string();
    let reader = kit.hub.token(&user, Role::User);
    for _ in 0..2 {
        let res = send(
            &notifications_svc,
            req(
                "POST",
                &format!("/api/v1/notifications/{notification_id}/read"),
                Some(&reader),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    }

    kit.pump(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert_eq!(
        got.len(),
        3,
        "one event each, the second read announces nothing: {got:?}"
    );
    assert!(got.iter().all(|r| r.verified == vec![true]), "{got:?}");
    let email = &of_type(&got, "email.sent")[0].body["data"];
    assert_eq!(email["message_id"], email_id.as_str());
    assert_eq!(email["template"], "generic");
    assert!(!email.to_string().contains(&to), "masked: {email}");
    let upload = &of_type(&got, "upload.completed")[0].body["data"];
    assert_eq!(upload["file_id"], file_id.as_str());
    assert_eq!(upload["kind"], "attachment");
    assert_eq!(upload["content_type"], "application/pdf");
    assert_eq!(upload["user_id"], "patient-7");
    assert!(!upload.to_string().contains("lab results"), "{upload}");
    let read = &of_type(&got, "notification.read")[0].body["data"];
    assert_eq!(read["notification_id"], notification_id.as_str());
    assert_eq!(read["user_id"], user.as_str());
}

#[tokio::test]
async fn a_bulk_batch_completes_and_a_verified_provider_webhook_is_forwarded() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = kit
        .subscribe(&receiver.url, &["sms.batch.completed", "webhook.received"])
        .await;
    receiver.know(&[&secret]);

    // Bulk: three receptors, one Kavenegar call through the sms-worker.
    let kavenegar = MockServer::start().await;
    kit.hub
        .put_secret(
            "kavenegar",
            json!({"api_key": KAVENEGAR_KEY, "sender": "10004346", "callback_token": CALLBACK_TOKEN}),
        )
        .await;
    let receptors = ["09120000001", "09120000002", "09120000003"];
    kavenegar_accepts(&kavenegar, &receptors, 8_100_000).await;
    let bulk_queue = create_queue(&kit.hub, "SMS_BULK_QUEUE_URL").await;
    let env = [
        ("KAVENEGAR_BASE_URL", kavenegar.uri()),
        ("SMS_CALLBACK_BASE_URL", String::new()),
        ("SMS_BULK_QUEUE_URL", bulk_queue.clone()),
    ];
    let sms_ctx = function_ctx(&kit.hub, &kit, "sms", &env).await;
    let config = shared::sms::SmsConfig::from_env(&sms_ctx.env).unwrap();
    let sms_svc = shared::http::app(sms::router(sms::SmsState::new(
        sms_ctx.clone(),
        sms_ctx.sms_service().unwrap(),
        sms_ctx.otp_service(&config).unwrap(),
    )));
    let sms_worker = Arc::new(
        function_ctx(&kit.hub, &kit, "sms-worker", &env)
            .await
            .sms_service()
            .unwrap(),
    );
    let service = kit.hub.token("clinic-backend", Role::Service);
    let res = send(
        &sms_svc,
        hub_tests::json_req(
            "POST",
            "/api/integrations/sms/bulk",
            Some(&service),
            &json!({"receptors": receptors, "message": "یادآوری: واکسن"}),
        ),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let batch_id = res.json()["batch_id"].as_str().unwrap().to_string();
    let runs = drain_queue(kit.hub.ctx.aws.sqs(), &bulk_queue, 10, |event| {
        let w = sms_worker.clone();
        async move { sms_worker::handle_event(&w, event).await }
    })
    .await;
    assert!(runs >= 1);

    // A verified provider webhook (Standard Webhooks), processed by the webhook worker.
    let events_queue = create_queue(&kit.hub, "WEBHOOK_EVENTS_QUEUE_URL").await;
    let wenv = [("WEBHOOK_EVENTS_QUEUE_URL", events_queue.clone())];
    let webhooks_ctx = function_ctx(&kit.hub, &kit, "webhooks", &wenv).await;
    let webhooks_svc = shared::http::app(webhooks::router(webhooks::WebhooksState::new(
        webhooks_ctx.clone(),
        webhooks_ctx.webhook_service().unwrap(),
    )));
    let worker = Arc::new(
        function_ctx(&kit.hub, &kit, "webhook-worker", &wenv)
            .await
            .webhook_processor()
            .unwrap(),
    );
    let slug = format!("sub-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let res = send(
        &webhooks_svc,
        hub_tests::json_req(
            "POST",
            "/api/integrations/webhooks/",
            Some(&kit.admin),
            &json!({"provider_slug": "payment-gateway", "name": "Payment Status", "endpoint_url": slug,
                    "events": ["payment.succeeded"], "verification": {"scheme": "standard_webhooks"}}),
        ),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let key =
        shared::webhooks::signature::decode_standard_secret(res.json()["secret"].as_str().unwrap())
            .unwrap();
    let body =
        json!({"type": "payment.succeeded", "data": {"payer": "Maria Souza", "amount": 120}})
            .to_string();
    let msg_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = shared::webhooks::signature::standard_sign(&key, &msg_id, ts, body.as_bytes());
    // Delivered twice by the provider: stored once, forwarded once.
    for _ in 0..2 {
        let res = send(
            &webhooks_svc,
            req("POST", &format!("/api/integrations/webhook/{slug}"), None)
                .header("content-type", "application/json")
                .header("webhook-id", &msg_id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", &sig)
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert!(
            res.status.is_success(),
            "{}",
            String::from_utf8_lossy(&res.body)
        );
    }
    drain_queue(kit.hub.ctx.aws.sqs(), &events_queue, 10, |event| {
        let w = worker.clone();
        async move { webhook_worker::handle_event(&w, event).await }
    })
    .await;

    kit.pump(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|r| r.verified == vec![true]), "{got:?}");
    let batch = &of_type(&got, "sms.batch.completed")[0].body["data"];
    assert_eq!(batch["batch_id"], batch_id.as_str());
    assert_eq!(batch["total"], 3);
    assert_eq!(batch["sent"], 3);
    assert_eq!(batch["failed"], 0);
    let forwarded = &of_type(&got, "webhook.received")[0].body["data"];
    assert_eq!(forwarded["provider"], "payment-gateway");
    assert_eq!(forwarded["event_type"], "payment.succeeded");
    assert_eq!(forwarded["provider_event_id"], msg_id.as_str());
    assert!(
        !forwarded.to_string().contains("Maria"),
        "no payload: {forwarded}"
    );
}

/// The notifications function under `faults` (a pure counter unless a rule is injected), with
/// the kit's subscriptions wiring, and `count` in-app notifications for a new user.
async fn inbox_of(
    kit: &Kit,
    faults: &hub_tests::faults::Faults,
    count: usize,
) -> (shared::http::HubService, String) {
    let mut env = announcing(kit);
    env.push((
        "NOTIFICATIONS_QUEUE_URL",
        create_queue(&kit.hub, "NOTIFICATIONS_QUEUE_URL").await,
    ));
    let ctx = kit.hub.faulty_ctx_with("notifications", faults, &env).await;
    let svc = shared::http::app(notifications::router(
        notifications::NotificationsState::new(ctx).unwrap(),
    ));
    let service = kit.hub.token("clinic-backend", Role::Service);
    let user = format!("reader-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    for i in 0..count {
        let res = send(
            &svc,
            hub_tests::json_req(
                "POST",
                "/api/v1/notifications",
                Some(&service),
                &json!({"user_id": user, "type": "message", "title": format!("Result {i}"),
                        "message": "ready", "channels": ["in_app"]}),
            ),
        )
        .await;
        assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    }
    (svc, user)
}

async fn read_all(kit: &Kit, svc: &shared::http::HubService, user: &str) -> u64 {
    let res = send(
        svc,
        req(
            "POST",
            "/api/v1/notifications/read-all",
            Some(&kit.hub.token(user, Role::User)),
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()["marked"].as_u64().unwrap()
}

#[tokio::test]
async fn a_read_all_announces_each_read_once_ten_fan_outs_to_a_batch() {
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = kit.subscribe(&receiver.url, &["notification.read"]).await;
    receiver.know(&[&secret]);
    let faults = hub_tests::faults::Faults::new();
    let (svc, user) = inbox_of(&kit, &faults, 12).await;
    // In-app only: nothing was queued for the sends.
    assert_eq!(faults.calls("SendMessage"), 0, "{:?}", faults.log());

    assert_eq!(read_all(&kit, &svc, &user).await, 12);
    // Twelve events stored, their fan-outs queued 10 + 2.
    assert_eq!(faults.calls("SendMessageBatch"), 2, "{:?}", faults.log());
    assert_eq!(faults.calls("SendMessage"), 0, "{:?}", faults.log());
    // Nothing left unread: a second read-all marks, stores and queues nothing.
    assert_eq!(read_all(&kit, &svc, &user).await, 0);
    assert_eq!(faults.calls("SendMessageBatch"), 2, "{:?}", faults.log());

    kit.pump(Duration::from_secs(2)).await;
    let got = of_type(&receiver.received(), "notification.read");
    assert_eq!(got.len(), 12, "one event per notification: {got:?}");
    assert!(got.iter().all(|r| r.verified == vec![true]), "{got:?}");
    let ids: std::collections::HashSet<&str> = got
        .iter()
        .map(|r| r.body["data"]["notification_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 12, "twelve distinct notifications: {got:?}");
    assert!(
        got.iter()
            .all(|r| r.body["data"]["user_id"] == user.as_str())
    );
    // Ids and times only: never the title.
    assert!(got.iter().all(|r| !r.body.to_string().contains("Result")));
}

#[tokio::test]
async fn a_read_all_whose_batch_fails_leaves_every_event_to_the_sweeper() {
    use hub_tests::faults::Fault;
    let kit = kit(|_| {}).await;
    let receiver = Receiver::start().await;
    kit.subscribe(&receiver.url, &["notification.read"]).await;
    let faults = hub_tests::faults::Faults::new();
    let (svc, user) = inbox_of(&kit, &faults, 3).await;
    faults.inject(Fault::unavailable("SendMessageBatch"));

    // The reads stand: the queue's failure is the sweeper's to repair, not the caller's.
    assert_eq!(read_all(&kit, &svc, &user).await, 3);
    assert!(
        faults.injected("SendMessageBatch") >= 1,
        "{:?}",
        faults.log()
    );
    assert_eq!(faults.calls("SendMessage"), 0, "{:?}", faults.log());

    // Each event is stored with its redrive marker: the fan-out message the sweeper sends.
    let inbox = send(
        &svc,
        get(
            "/api/v1/notifications",
            Some(&kit.hub.token(&user, Role::User)),
        ),
    )
    .await;
    assert_eq!(
        inbox.status,
        200,
        "{}",
        String::from_utf8_lossy(&inbox.body)
    );
    let notifications = inbox.json()["items"].as_array().unwrap().clone();
    assert_eq!(notifications.len(), 3, "{notifications:?}");
    for n in notifications {
        let id = shared::subscriptions::keyed_event_id(
            &kit.config.namespace,
            "notification.read",
            n["id"].as_str().unwrap(),
        );
        let item = kit
            .hub
            .ctx
            .aws
            .dynamo
            .get_item()
            .table_name(&kit.hub.ctx.config.hub_table)
            .key("pk", shared::store::s(format!("SUBEVT#{id}")))
            .key("sk", shared::store::s("EVENT"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("event {id} not stored"));
        let body = item
            .get(shared::redrive::BODY_ATTR)
            .and_then(|v| v.as_s().ok())
            .unwrap_or_else(|| panic!("event {id} has no redrive marker: {item:?}"));
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body, json!({"kind": "fanout", "event_id": id}));
        assert_eq!(
            item.get(shared::redrive::QUEUE_ATTR)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str),
            Some("SUBSCRIPTIONS_QUEUE_URL")
        );
    }
    // Nothing reached the receiver: the events wait for the sweeper.
    kit.pump(Duration::from_millis(500)).await;
    assert!(receiver.received().is_empty(), "{:?}", receiver.received());
}
