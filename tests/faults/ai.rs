//! AI under faults: a job stored but never queued is re-driven by the sweep and run once; two
//! deliveries of a job (and two workers on one message at once) make one provider call; a
//! provider that answers after the worker's timeout is one call and an honest `failed`
//! (`provider_timeout`), never a second paid run; Secrets Manager failing is a 503
//! `dependency_unavailable` (and a job retry), never the rules fallback.

use std::sync::Arc;
use std::time::Duration;

use hub_tests::faults::{Fault, Faults, Row};
use hub_tests::{TestHub, create_queue, drain_queue, get, json_req, send};
use serde_json::{Value, json};
use shared::ai::jobs::JobRunner;
use shared::auth::Role;
use shared::http::HubService;
use shared::queue::QueueMessage;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const GENERATE: &str = "/api/integrations/ai/generate";
const CHAT: &str = "/api/integrations/ai/chat";

/// An OpenAI chat completion answer.
fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-fault", "object": "chat.completion", "created": 1_763_800_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    }))
}

/// One test's AI deployment: OpenAI (and optionally HuggingFace) faked by wiremock with a
/// stored key, its own jobs queue, and the environment every context of it is built with.
struct AiSetup {
    hub: TestHub,
    queue: String,
    env: Vec<(&'static str, String)>,
}

impl AiSetup {
    async fn new(fakes: &[(&str, &MockServer)], extra: &[(&'static str, String)]) -> Self {
        let probe = TestHub::new().await;
        let queue = create_queue(&probe, "AI_JOBS_QUEUE_URL").await;
        let mut env: Vec<(&'static str, String)> = vec![
            ("AI_JOBS_QUEUE_URL", queue.clone()),
            ("AI_RETRY_BASE_MS", "10".into()),
        ];
        for (slug, fake) in fakes {
            let name: &'static str = match *slug {
                "openai" => "OPENAI_BASE_URL",
                "huggingface" => "HUGGINGFACE_BASE_URL",
                other => panic!("no fake for {other}"),
            };
            env.push((name, format!("{}/v1", fake.uri())));
        }
        env.extend(extra.iter().cloned());
        let hub = TestHub::with_env(&env).await;
        for (slug, _) in fakes {
            hub.put_secret(slug, json!({"api_key": format!("key-{slug}")}))
                .await;
        }
        Self { hub, queue, env }
    }

    fn api(&self, ctx: Arc<shared::HubContext>) -> HubService {
        shared::http::app(ai::router(ai::AiState::new(ctx).expect("AI config")))
    }

    /// Another worker instance (its own cold start and caches).
    async fn worker(&self) -> Arc<JobRunner> {
        let ctx = self.hub.another_ctx_of("ai-worker", &self.env).await;
        Arc::new(ctx.ai_job_runner().expect("worker config"))
    }

    async fn drain(&self, runner: &Arc<JobRunner>) {
        for _ in 0..4 {
            drain_queue(
                self.hub.ctx_of("ai-worker").aws.sqs(),
                &self.queue,
                10,
                |event| {
                    let r = runner.clone();
                    async move { ai_worker::handle_event(&r, event).await }
                },
            )
            .await;
            if self.queue_is_empty().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }

    async fn queue_is_empty(&self) -> bool {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = self
            .hub
            .ctx
            .aws
            .sqs()
            .get_queue_attributes()
            .queue_url(&self.queue)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let n = |a: A| {
            attrs
                .attributes()
                .and_then(|m| m.get(&a))
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        };
        n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible) == 0
    }

    /// The job as its owner reads it through the API.
    async fn job(&self, svc: &HubService, owner: &str, id: &str) -> Value {
        let token = self.hub.token(owner, Role::User);
        let res = send(
            svc,
            get(&format!("/api/integrations/ai/jobs/{id}"), Some(&token)),
        )
        .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        res.json()
    }

    /// Sends the sweep the sweeper runs (every due item of the redrive index to its queue),
    /// with only this test's jobs queue routable.
    async fn sweep(&self) -> shared::redrive::SweepReport {
        let urls = [("AI_JOBS_QUEUE_URL".to_string(), self.queue.clone())].into();
        shared::redrive::sweep_due(
            &self.hub.ctx.aws.dynamo,
            self.hub.ctx.aws.sqs(),
            &self.hub.ctx.config.hub_table,
            &urls,
            shared::clock::now_secs(),
            Duration::from_secs(1),
            100,
        )
        .await
        .expect("sweep")
    }
}

/// Provider calls whose prompt carries `marker` (the emulator's table outlives test runs: a
/// sweep may re-drive other runs' leftovers, which must not count here).
async fn calls_with(fake: &MockServer, marker: &str) -> usize {
    fake.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r: &&Request| String::from_utf8_lossy(&r.body).contains(marker))
        .count()
}

fn marker() -> String {
    format!("fault-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

async fn submit(svc: &HubService, token: &str, prompt: &str) -> hub_tests::TestResponse {
    send(
        svc,
        json_req(
            "POST",
            GENERATE,
            Some(token),
            &json!({"prompt": prompt, "async": true}),
        ),
    )
    .await
}

#[tokio::test]
async fn an_ai_job_stored_but_never_queued_is_redriven_and_run_once() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("a care plan"))
        .mount(&openai)
        .await;
    let s = AiSetup::new(
        &[("openai", &openai)],
        &[("REDRIVE_AFTER_SECONDS", "1".into())],
    )
    .await;
    // The process "stops" after the durable write: SendMessage never succeeds.
    let faults = Faults::new();
    let api_ctx = s.hub.faulty_ctx_with("ai", &faults, &s.env).await;
    faults.inject(Fault::unavailable("SendMessage").times(100));
    let svc = s.api(api_ctx);
    let owner = format!("owner-{}", marker());
    let m = marker();
    let res = submit(&svc, &s.hub.token(&owner, Role::User), &m).await;
    let mut wrong = usize::from(res.status != 202);
    let id = res.json()["id"].as_str().expect("job id").to_string();
    assert!(faults.injected("SendMessage") >= 3, "{:?}", faults.log());

    let runner = s.worker().await;
    s.drain(&runner).await;
    assert_eq!(calls_with(&openai, &m).await, 0, "nothing was queued yet");
    wrong += usize::from(s.job(&svc, &owner, &id).await["status"] != "queued");

    // Past REDRIVE_AFTER_SECONDS the sweep sends the stored message; the worker runs it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = s.sweep().await;
    assert!(report.redriven >= 1, "{report:?}");
    s.drain(&runner).await;
    // A later sweep finds nothing of ours (the claim took the job out of the index), and a
    // stray copy of the message changes nothing.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.sweep().await;
    shared::queue::send_json(s.hub.ctx.aws.sqs(), &s.queue, &json!({"job_id": id}))
        .await
        .unwrap();
    s.drain(&runner).await;

    let job = s.job(&svc, &owner, &id).await;
    let sends = calls_with(&openai, &m).await;
    let lost = usize::from(job["status"] != "succeeded");
    wrong += usize::from(job["status"] != "succeeded" || job["result"]["text"] != "a care plan");
    Row {
        scenario: "process stops between store and enqueue (AI job)",
        sends,
        lost,
        duplicates: sends.saturating_sub(1),
        wrong_statuses: wrong,
    }
    .report();
}

#[tokio::test]
async fn an_ai_job_delivered_twice_and_run_by_two_workers_at_once_calls_the_provider_once() {
    let openai = MockServer::start().await;
    // Slow enough for the two workers to overlap.
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("one answer").set_delay(Duration::from_millis(700)))
        .mount(&openai)
        .await;
    let s = AiSetup::new(&[("openai", &openai)], &[]).await;
    let svc = s.api(s.hub.ctx_of("ai"));
    let owner = format!("owner-{}", marker());
    let m = marker();
    let res = submit(&svc, &s.hub.token(&owner, Role::User), &m).await;
    let mut wrong = usize::from(res.status != 202);
    let id = res.json()["id"].as_str().expect("job id").to_string();
    let body = json!({"job_id": id}).to_string();

    // Two Lambda instances handed the same message at once.
    let (a, b) = (s.worker().await, s.worker().await);
    let message = |n: &str| QueueMessage {
        message_id: format!("dup-{n}"),
        body: body.clone(),
        receive_count: 1,
    };
    let (ra, rb) = tokio::join!(a.run(message("a")), b.run(message("b")));
    assert!(
        ra.is_ok() != rb.is_ok(),
        "one runs it, the other is told to come back: {ra:?} {rb:?}"
    );
    // SQS delivers the message twice more (the original is still queued): nothing runs.
    shared::queue::send_json(s.hub.ctx.aws.sqs(), &s.queue, &json!({"job_id": id}))
        .await
        .unwrap();
    s.drain(&a).await;

    let job = s.job(&svc, &owner, &id).await;
    let sends = calls_with(&openai, &m).await;
    wrong += usize::from(job["status"] != "succeeded" || job["attempts"] != 1);
    Row {
        scenario: "every SQS message delivered twice; two workers on one message at once (AI job)",
        sends,
        lost: usize::from(job["status"] != "succeeded"),
        duplicates: sends.saturating_sub(1),
        wrong_statuses: wrong,
    }
    .report();
}

/// Counts requests carrying a marker as they arrive (wiremock does not record a request whose
/// delayed answer the client gave up on).
struct Arrivals(String, Arc<std::sync::atomic::AtomicUsize>);

impl wiremock::Match for Arrivals {
    fn matches(&self, request: &Request) -> bool {
        if String::from_utf8_lossy(&request.body).contains(&self.0) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        true
    }
}

#[tokio::test]
async fn a_provider_answering_after_the_worker_timeout_is_one_call_and_an_honest_failure() {
    let (openai, hf) = (MockServer::start().await, MockServer::start().await);
    let m = marker();
    let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Mock::given(path("/v1/chat/completions"))
        .and(Arrivals(m.clone(), arrived.clone()))
        .respond_with(completion("too late").set_delay(Duration::from_secs(8)))
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("a second paid run"))
        .mount(&hf)
        .await;
    // A timeout with room for the request to reach the fake on a loaded CI machine (at 1 s it
    // sometimes expired before the request arrived, and nothing was sent at all).
    let s = AiSetup::new(
        &[("openai", &openai), ("huggingface", &hf)],
        &[
            ("AI_ASYNC_REQUEST_TIMEOUT_SECONDS", "3".into()),
            ("AI_PROVIDER_ORDER", "openai,huggingface".into()),
        ],
    )
    .await;
    let svc = s.api(s.hub.ctx_of("ai"));
    let owner = format!("owner-{}", marker());
    let res = submit(&svc, &s.hub.token(&owner, Role::User), &m).await;
    let id = res.json()["id"].as_str().expect("job id").to_string();
    let runner = s.worker().await;
    s.drain(&runner).await;
    // Redelivered anyway: the finished job is left alone.
    shared::queue::send_json(s.hub.ctx.aws.sqs(), &s.queue, &json!({"job_id": id}))
        .await
        .unwrap();
    s.drain(&runner).await;

    let job = s.job(&svc, &owner, &id).await;
    let sends = arrived.load(std::sync::atomic::Ordering::SeqCst) + calls_with(&hf, &m).await;
    assert_eq!(calls_with(&hf, &m).await, 0, "no failover after a timeout");
    let wrong = usize::from(res.status != 202)
        + usize::from(job["status"] != "failed" || job["error"]["code"] != "provider_timeout");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("may have run"),
        "{job}"
    );
    Row {
        scenario: "provider answers after the timeout (AI job)",
        sends,
        lost: usize::from(sends == 0),
        duplicates: sends.saturating_sub(1),
        wrong_statuses: wrong,
    }
    .report();
}

#[tokio::test]
async fn secrets_manager_failing_during_an_ai_call_is_a_503_never_the_rules() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("from the model"))
        .mount(&openai)
        .await;
    let s = AiSetup::new(&[("openai", &openai)], &[]).await;
    let faults = Faults::new();
    let ctx = s.hub.faulty_ctx_with("ai", &faults, &s.env).await;
    let svc = s.api(ctx);
    let user = format!("u-{}", marker());
    let token = s.hub.token(&user, Role::User);
    // A first request reads the JWT signing key (cached); then Secrets Manager fails.
    let warm = send(
        &svc,
        get(
            &format!("/api/integrations/ai/jobs/{}", uuid::Uuid::new_v4()),
            Some(&token),
        ),
    )
    .await;
    assert_eq!(warm.status, 404);
    faults.inject(Fault::unavailable("GetSecretValue").times(1000));
    let m = marker();
    let mut wrong = 0;
    for (route, body) in [
        (GENERATE, json!({"prompt": m})),
        (
            CHAT,
            json!({"message": format!("How do I book an appointment? {m}")}),
        ),
    ] {
        let res = send(&svc, json_req("POST", route, Some(&token), &body)).await;
        let ok = res.status == 503
            && res.json()["code"] == "dependency_unavailable"
            && res.headers.contains_key("retry-after");
        if !ok {
            eprintln!(
                "{route}: {} {}",
                res.status,
                String::from_utf8_lossy(&res.body)
            );
        }
        wrong += usize::from(!ok);
    }
    // A job meanwhile: its worker cannot read the key either, so it is retried, not failed
    // and not answered by the rules; healed, it runs once.
    let res = submit(&svc, &token, &m).await;
    wrong += usize::from(res.status != 202);
    let id = res.json()["id"].as_str().expect("job id").to_string();
    let worker_faults = Faults::new();
    let worker_ctx = s
        .hub
        .faulty_ctx_with("ai-worker", &worker_faults, &s.env)
        .await;
    let runner = Arc::new(worker_ctx.ai_job_runner().unwrap());
    worker_faults.inject(Fault::unavailable("GetSecretValue").times(1000));
    let first = runner
        .run(QueueMessage {
            message_id: "secrets-down".into(),
            body: json!({"job_id": id}).to_string(),
            receive_count: 1,
        })
        .await;
    wrong += usize::from(!matches!(first, Err(shared::queue::WorkError::Retry(_))));
    let during = s.job(&svc, &user, &id).await;
    wrong += usize::from(during["status"] != "retrying");
    assert_eq!(calls_with(&openai, &m).await, 0, "{during}");
    worker_faults.clear();
    faults.clear();
    s.drain(&runner).await;
    let job = s.job(&svc, &user, &id).await;
    wrong += usize::from(job["status"] != "succeeded" || job["result"]["provider"] != "openai");
    let sends = calls_with(&openai, &m).await;
    Row {
        scenario: "Secrets Manager error during an AI call",
        sends,
        lost: usize::from(job["status"] != "succeeded"),
        duplicates: sends.saturating_sub(1),
        wrong_statuses: wrong,
    }
    .report();
}
