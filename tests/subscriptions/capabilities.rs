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
    Mock::given(method("POST"))
        .and(path(format!("/{KAVENEGAR_KEY}/sms/send.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "return": {"status": 200, "message": "تایید شد"},
            "entries": [{"messageid": pid, "message": "…", "status": 1, "statustext": "در صف ارسال",
                         "sender": "10004346", "receptor": "09123456789", "date": 1_356_619_709, "cost": 120}]
        })))
        .expect(1)
        .mount(&kavenegar)
        .await;

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
    let sqs = &kit.hub.ctx.aws.sqs;
    assert!(run_jobs(sqs, &jobs_queue, &worker).await >= 1);
    // The job's message again (SQS at-least-once): the job is finished, nothing runs, and
    // the announcement it repeats is the same event.
    shared::queue::send_json(
        &kit.hub.ctx.aws.sqs,
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
