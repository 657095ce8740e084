//! Bulk SMS under faults: the `sms` function (`POST /bulk`) and the `sms-worker` under their
//! own roles, Kavenegar faked with wiremock, faults injected under the AWS SDK.
//!
//! Each test gets a hub table of its own (a copy of the stack's, with its indexes): the
//! `redrive` index is one partition shared by every pending unit, so a sweep of the shared
//! table would re-send (and push back) other tests' units. The sweep is
//! `shared::redrive::sweep_due`, what the scheduled sweeper runs, at a chosen time.
//!
//! Every row is computed from what happened: Kavenegar's received requests (receptors per
//! `sms/send` call) and the message statuses read back from the table.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use hub_tests::faults::{Fault, Faults, Row};
use hub_tests::{TestHub, TestResponse, create_queue, drain_queue, get, json_req, send};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::http::HubService;
use shared::queue::QueueMessage;
use shared::redrive::{self, SweepReport};
use shared::sms::SmsService;
use shared::store::s;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request as WireRequest, Respond, ResponseTemplate};

const KEY: &str = "fault-bulk-kavenegar-key";
const BULK: &str = "/api/integrations/sms/bulk";

/// Kavenegar's `sms/send`: one entry per receptor of the comma-separated list, fresh ids,
/// answered after `delay` (longer than the client's timeout: accepted, answer lost).
struct KavenegarSend {
    next_id: AtomicU64,
    delay: Duration,
}

fn receptors_of(req: &WireRequest) -> Vec<String> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    form.into_iter()
        .find(|(k, _)| k == "receptor")
        .map(|(_, v)| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

impl Respond for KavenegarSend {
    fn respond(&self, req: &WireRequest) -> ResponseTemplate {
        let entries: Vec<Value> = receptors_of(req)
            .iter()
            .map(|r| {
                json!({"messageid": self.next_id.fetch_add(1, Ordering::SeqCst), "message": "…", "status": 1,
                       "statustext": "در صف ارسال", "sender": "10004346", "receptor": r, "date": 1_356_619_709, "cost": 120})
            })
            .collect();
        let status = if entries.len() > 200 { 414 } else { 200 };
        ResponseTemplate::new(status)
            .set_body_json(
                json!({"return": {"status": status, "message": "تایید شد"}, "entries": entries}),
            )
            .set_delay(self.delay)
    }
}

/// `n` distinct Iranian mobile numbers in national form (what Kavenegar receives).
fn numbers(n: usize) -> Vec<String> {
    let base = (uuid::Uuid::new_v4().as_u128() % 900) as usize * 10_000;
    (0..n).map(|i| format!("0912{:07}", base + i)).collect()
}

/// One test's deployment: a hub (secrets prefix), Kavenegar, a table and a queue of its own.
struct Stack {
    hub: TestHub,
    kavenegar: MockServer,
    table: String,
    queue: String,
    /// What the sms and sms-worker functions of this deployment read from the environment.
    env: Vec<(&'static str, String)>,
    token: String,
}

impl Stack {
    async fn new(provider_delay: Duration, extra: &[(&'static str, String)]) -> Self {
        let kavenegar = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"/sms/send\.json$"))
            .respond_with(KavenegarSend {
                next_id: AtomicU64::new(
                    (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64 * 100_000 + 1,
                ),
                delay: provider_delay,
            })
            .mount(&kavenegar)
            .await;
        let mut env: Vec<(&'static str, String)> = vec![
            ("KAVENEGAR_BASE_URL", kavenegar.uri()),
            ("SMS_RETRY_BASE_MS", "5".into()),
            ("SMS_RETRY_MAX_MS", "50".into()),
            ("SMS_CALLBACK_BASE_URL", String::new()),
        ];
        env.extend(extra.iter().cloned());
        let hub = TestHub::with_env(&env).await;
        hub.put_secret(
            "kavenegar",
            json!({"api_key": KEY, "sender": "10004346", "callback_token": "cb-token-0123456789"}),
        )
        .await;
        let table = crate::redrive::hub_table_copy(&hub).await;
        let queue = create_queue(&hub, "SMS_BULK_QUEUE_URL").await;
        env.push(("HUB_TABLE", table.clone()));
        env.push(("SMS_BULK_QUEUE_URL", queue.clone()));
        let token = hub.token("svc-bulk-faults", Role::Service);
        Self {
            hub,
            kavenegar,
            table,
            queue,
            env,
            token,
        }
    }

    /// The sms function (a cold start under its role) whose AWS calls go through `faults`.
    async fn api(&self, faults: &Faults) -> HubService {
        let ctx = self.hub.faulty_ctx_with("sms", faults, &self.env).await;
        let sms_service = ctx.sms_service().expect("sms service");
        let otp = ctx.otp_service(&sms_service.config).expect("otp service");
        shared::http::app(sms::router(sms::SmsState::new(ctx, sms_service, otp)))
    }

    /// A cold start of the sms-worker whose AWS calls go through `faults`.
    async fn worker(&self, faults: &Faults) -> Arc<SmsService> {
        let ctx = self
            .hub
            .faulty_ctx_with("sms-worker", faults, &self.env)
            .await;
        Arc::new(ctx.sms_service().expect("sms-worker service"))
    }

    async fn post_bulk(&self, api: &HubService, numbers: &[String], key: &str) -> TestResponse {
        let mut req = json_req(
            "POST",
            BULK,
            Some(&self.token),
            &json!({"receptors": numbers, "message": "یادآوری نوبت"}),
        );
        req.headers_mut()
            .insert("idempotency-key", key.parse().expect("key header"));
        send(api, req).await
    }

    /// Plays Lambda's event source mapping on the test's queue (at most `rounds` receives).
    async fn drain(&self, worker: &Arc<SmsService>, rounds: usize) -> usize {
        drain_queue(self.hub.ctx.aws.sqs(), &self.queue, rounds, |event| {
            let worker = worker.clone();
            async move { sms_worker::handle_event(&worker, event).await }
        })
        .await
    }

    /// One sweep of this test's table as the scheduled sweeper would run it at `now_secs`.
    async fn sweep(&self, now_secs: i64) -> SweepReport {
        let urls = HashMap::from([("SMS_BULK_QUEUE_URL".to_string(), self.queue.clone())]);
        redrive::sweep_due(
            &self.hub.ctx.aws.dynamo,
            self.hub.ctx.aws.sqs(),
            &self.table,
            &urls,
            now_secs,
            redrive::DEFAULT_AFTER,
            1000,
        )
        .await
        .expect("sweep")
    }

    /// How many times Kavenegar was asked to send to each receptor.
    async fn provider_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for req in self.kavenegar.received_requests().await.unwrap_or_default() {
            if req.url.path().ends_with("sms/send.json") {
                for r in receptors_of(&req) {
                    *counts.entry(r).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// The stored status of each message `{batch_id}-{position}` (None: no record).
    async fn statuses(&self, batch_id: &str, n: usize) -> Vec<Option<String>> {
        let dynamo = &self.hub.ctx.aws.dynamo;
        let mut found: HashMap<String, String> = HashMap::new();
        let ids: Vec<String> = (0..n).map(|i| format!("{batch_id}-{i}")).collect();
        for part in ids.chunks(100) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for id in part {
                keys = keys.keys(HashMap::from([
                    ("pk".to_string(), s(format!("SMS#{id}"))),
                    ("sk".to_string(), s("SMS")),
                ]));
            }
            let mut request = Some(HashMap::from([(
                self.table.clone(),
                keys.build().expect("keys"),
            )]));
            while let Some(items) = request.take().filter(|r| !r.is_empty()) {
                let out = dynamo
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .expect("read the message records");
                let items = out.responses().and_then(|r| r.get(&self.table));
                for item in items.into_iter().flatten() {
                    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                    if let (Some(id), Some(status)) = (text("id"), text("status")) {
                        found.insert(id, status);
                    }
                }
                request = out.unprocessed_keys;
            }
        }
        ids.iter().map(|id| found.get(id).cloned()).collect()
    }

    /// The batch as its client reads it.
    async fn batch(&self, api: &HubService, batch_id: &str) -> Value {
        let res = send(
            api,
            get(
                &format!("/api/integrations/sms/batches/{batch_id}"),
                Some(&self.token),
            ),
        )
        .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        res.json()
    }

    /// Every chunk item in the table: (batch id, state).
    async fn chunk_states(&self) -> Vec<(String, String)> {
        let out = self
            .hub
            .ctx
            .aws
            .dynamo
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :p) AND begins_with(sk, :c)")
            .expression_attribute_values(":p", s("SMSBATCH#"))
            .expression_attribute_values(":c", s("CHUNK#"))
            .consistent_read(true)
            .send()
            .await
            .expect("scan chunks");
        out.items()
            .iter()
            .map(|i| {
                let text = |k: &str| {
                    i.get(k)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                (text("batch_id"), text("state"))
            })
            .collect()
    }

    /// The batch items in the table.
    async fn batch_count(&self) -> usize {
        let out = self
            .hub
            .ctx
            .aws
            .dynamo
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :p) AND sk = :b")
            .expression_attribute_values(":p", s("SMSBATCH#"))
            .expression_attribute_values(":b", s("BATCH"))
            .consistent_read(true)
            .send()
            .await
            .expect("scan batches");
        out.items().len()
    }
}

/// What a message's stored status may say, given whether Kavenegar received it.
#[derive(Clone, Copy)]
enum Expect {
    /// Accepted by the provider: `queued`/`sent`/... when received, never `failed`.
    Accepted,
    /// The answer was lost: `unknown`, or a provider status if reconciled; never `failed`.
    UnknownOrReconciled,
}

/// The matrix row: sends and duplicates from Kavenegar's requests, lost receptors (asked
/// for, never received by the provider), and statuses that say something that did not
/// happen (no record, `sent` for a message the provider never got, `failed` or `fallback`
/// for one it got, `unknown` where every answer arrived).
fn row(
    scenario: &'static str,
    numbers: &[String],
    counts: &HashMap<String, usize>,
    statuses: &[Option<String>],
    expect: Expect,
) -> Row {
    let sends = counts.values().sum();
    let lost = numbers
        .iter()
        .filter(|n| counts.get(*n).copied().unwrap_or(0) == 0)
        .count();
    let asked: std::collections::HashSet<&String> = numbers.iter().collect();
    let duplicates = counts
        .iter()
        .map(|(r, c)| if asked.contains(r) { c - 1 } else { *c })
        .sum();
    let wrong_statuses = numbers
        .iter()
        .zip(statuses)
        .filter(|(n, status)| {
            let received = counts.get(*n).copied().unwrap_or(0) > 0;
            match (status.as_deref(), expect) {
                (None, _) | (Some("fallback"), _) => true,
                (Some("failed"), _) => received,
                (Some("unknown"), Expect::Accepted) => true,
                (Some("unknown"), Expect::UnknownOrReconciled) => false,
                (Some(_), _) => !received,
            }
        })
        .count();
    Row {
        scenario,
        sends,
        lost,
        duplicates,
        wrong_statuses,
    }
}

fn batch_id_of(res: &TestResponse) -> String {
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    res.json()["batch_id"]
        .as_str()
        .expect("batch_id")
        .to_string()
}

#[tokio::test]
async fn bulk_secrets_manager_error_during_a_chunk_is_retried_and_nothing_reported_sent() {
    let stack = Stack::new(Duration::ZERO, &[]).await;
    let api = stack.api(&Faults::new()).await;
    let numbers = numbers(450);
    let batch_id = batch_id_of(&stack.post_bulk(&api, &numbers, "sm-error").await);

    let worker_faults = Faults::new();
    let worker = stack.worker(&worker_faults).await;
    // Secrets Manager fails every call from the worker's first chunk on.
    worker_faults.inject(Fault::unavailable("GetSecretValue"));
    stack.drain(&worker, 3).await;
    assert!(worker_faults.injected("GetSecretValue") >= 3);
    assert!(
        stack.provider_counts().await.is_empty(),
        "nothing sent while the credentials cannot be read (and no console fallback)"
    );
    let during = stack.statuses(&batch_id, numbers.len()).await;
    assert!(
        during.iter().all(Option::is_none),
        "no message recorded sent, failed or fallback: {:?}",
        during.iter().flatten().next()
    );
    let batch = stack.batch(&api, &batch_id).await;
    assert_eq!(
        (
            &batch["sent"],
            &batch["failed"],
            &batch["unknown"],
            &batch["fallback"]
        ),
        (&json!(0), &json!(0), &json!(0), &json!(0)),
        "{batch}"
    );
    assert_eq!(batch["queued"], 450, "{batch}");
    assert!(
        stack
            .chunk_states()
            .await
            .iter()
            .all(|(_, state)| state == "pending"),
        "every chunk given back for a retry"
    );

    // Secrets Manager recovers: SQS's redeliveries send each receptor once.
    worker_faults.clear();
    stack.drain(&worker, 50).await;
    let counts = stack.provider_counts().await;
    let statuses = stack.statuses(&batch_id, numbers.len()).await;
    let batch = stack.batch(&api, &batch_id).await;
    assert_eq!(batch["status"], "completed", "{batch}");
    assert_eq!(batch["sent"], 450, "{batch}");
    row(
        "Secrets Manager error during a bulk chunk",
        &numbers,
        &counts,
        &statuses,
        Expect::Accepted,
    )
    .report();
}

#[tokio::test]
async fn bulk_provider_accepts_then_the_connection_times_out() {
    // Kavenegar takes every request and answers after the worker stopped waiting.
    let stack = Stack::new(
        Duration::from_millis(2_500),
        &[("PROVIDER_TIMEOUT_SECONDS", "1".into())],
    )
    .await;
    let api = stack.api(&Faults::new()).await;
    let numbers = numbers(300);
    let batch_id = batch_id_of(&stack.post_bulk(&api, &numbers, "timeout").await);
    let worker = stack.worker(&Faults::new()).await;
    stack.drain(&worker, 20).await;
    let batch = stack.batch(&api, &batch_id).await;
    assert_eq!(batch["unknown"], 300, "{batch}");
    assert_eq!((&batch["sent"], &batch["failed"]), (&json!(0), &json!(0)));
    assert_eq!(batch["status"], "completed", "not released for redelivery");

    // SQS delivers both chunk messages again, and the sweeper runs: nothing is sent again.
    for chunk in 0..2 {
        stack
            .hub
            .ctx
            .aws
            .sqs()
            .send_message()
            .queue_url(&stack.queue)
            .message_body(json!({"batch_id": batch_id, "chunk": chunk}).to_string())
            .send()
            .await
            .expect("redeliver");
    }
    let report = stack.sweep(shared::clock::now_secs() + 3_600).await;
    assert_eq!(report.redriven, 0, "claimed chunks are out of the index");
    stack.drain(&worker, 20).await;

    let statuses = stack.statuses(&batch_id, numbers.len()).await;
    assert!(
        statuses.iter().all(|s| s.as_deref() == Some("unknown")),
        "{statuses:?}"
    );

    // Every send carried one `localid` per receptor, derived from its message id, so a
    // status lookup by our own reference settles an `unknown` message (and sends nothing).
    let sends: Vec<WireRequest> = stack
        .kavenegar
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path().ends_with("sms/send.json"))
        .collect();
    let first_local_id = shared::providers::kavenegar::local_id(&format!("{batch_id}-0"));
    let mut local_ids = 0;
    for req in &sends {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap();
        let ids = form
            .iter()
            .find(|(k, _)| k == "localid")
            .map(|(_, v)| v.split(',').count())
            .unwrap_or(0);
        assert_eq!(ids, receptors_of(req).len(), "one localid per receptor");
        local_ids += ids;
        if receptors_of(req).first() == Some(&numbers[0]) {
            assert!(
                form.iter().any(|(k, v)| k == "localid"
                    && v.split(',').next() == Some(&first_local_id.to_string()))
            );
        }
    }
    assert_eq!(local_ids, 300);
    Mock::given(method("POST"))
        .and(path_regex(r"/sms/statuslocalmessageid\.json$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "return": {"status": 200, "message": "تایید شد"},
            "entries": [{"messageid": 990_000_001, "localid": first_local_id.to_string(), "status": 4,
                         "statustext": "رسیده به مخابرات", "receptor": numbers[0], "date": 1_356_619_709, "cost": 120}]
        })))
        .mount(&stack.kavenegar)
        .await;
    let refreshed = send(
        &api,
        get(
            &format!("/api/integrations/sms/{batch_id}-0?refresh=true"),
            Some(&stack.token),
        ),
    )
    .await;
    assert_eq!(
        refreshed.status,
        200,
        "{}",
        String::from_utf8_lossy(&refreshed.body)
    );
    let record = refreshed.json();
    assert_eq!(record["status"], "sent", "reconciled: {record}");
    assert_eq!(record["provider_message_id"], "990000001");

    let counts = stack.provider_counts().await;
    let statuses = stack.statuses(&batch_id, numbers.len()).await;
    assert_eq!(statuses[0].as_deref(), Some("sent"));
    row(
        "provider accepts, then the connection times out (bulk)",
        &numbers,
        &counts,
        &statuses,
        Expect::UnknownOrReconciled,
    )
    .report();
}

#[tokio::test]
async fn bulk_send_message_batch_fails_on_chunk_k_of_n() {
    let stack = Stack::new(Duration::ZERO, &[]).await;
    // 2,200 receptors: 11 chunks, two SendMessageBatch calls; the second (chunk 11) fails
    // past the SDK's retries.
    let api_faults = Faults::new();
    api_faults.inject(Fault::unavailable("SendMessageBatch").nth(2).times(3));
    let api = stack.api(&api_faults).await;
    let numbers = numbers(2_200);
    let first = stack.post_bulk(&api, &numbers, "chunk-k-of-n").await;
    let batch_id = batch_id_of(&first);
    assert_eq!(first.json()["chunks"], 11);
    assert_eq!(api_faults.injected("SendMessageBatch"), 3);
    // The client retries with its key: the same batch, not a second one.
    let again = stack.post_bulk(&api, &numbers, "chunk-k-of-n").await;
    assert_eq!(batch_id_of(&again), batch_id);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(stack.batch_count().await, 1);
    assert_eq!(api_faults.calls("SendMessageBatch"), 4, "no second enqueue");

    // The worker takes what was queued; the sweeper re-drives what was not.
    let worker = stack.worker(&Faults::new()).await;
    stack.drain(&worker, 50).await;
    assert_eq!(stack.provider_counts().await.len(), 2_000);
    assert_eq!(
        stack.sweep(shared::clock::now_secs()).await.redriven,
        0,
        "not due yet"
    );
    let report = stack.sweep(shared::clock::now_secs() + 120).await;
    assert_eq!(
        report.redriven, 1,
        "only the chunk never queued: {report:?}"
    );
    stack.drain(&worker, 50).await;

    let counts = stack.provider_counts().await;
    let statuses = stack.statuses(&batch_id, numbers.len()).await;
    let batch = stack.batch(&api, &batch_id).await;
    assert_eq!(batch["status"], "completed", "{batch}");
    assert_eq!(batch["sent"], 2_200, "{batch}");
    row(
        "SendMessageBatch fails on chunk k of n",
        &numbers,
        &counts,
        &statuses,
        Expect::Accepted,
    )
    .report();
}

#[tokio::test]
async fn bulk_process_stops_between_store_and_enqueue() {
    let stack = Stack::new(Duration::ZERO, &[]).await;
    // The chunks are stored, then nothing reaches the queue (as if the process stopped).
    let api_faults = Faults::new();
    api_faults.inject(Fault::reset("SendMessageBatch"));
    let api = stack.api(&api_faults).await;
    let numbers = numbers(500);
    let batch_id = batch_id_of(&stack.post_bulk(&api, &numbers, "stops").await);
    let worker = stack.worker(&Faults::new()).await;
    stack.drain(&worker, 3).await;
    assert!(stack.provider_counts().await.is_empty(), "nothing queued");
    assert_eq!(stack.batch(&api, &batch_id).await["status"], "queued");

    // Once due, the sweeper sends each chunk's message; a second sweep is harmless.
    let at = shared::clock::now_secs() + 120;
    assert_eq!(stack.sweep(at).await.redriven, 3);
    stack.drain(&worker, 50).await;
    assert_eq!(stack.sweep(at + 3_600).await.redriven, 0);
    stack.drain(&worker, 5).await;

    let counts = stack.provider_counts().await;
    let statuses = stack.statuses(&batch_id, numbers.len()).await;
    assert_eq!(stack.batch(&api, &batch_id).await["sent"], 500);
    row(
        "process stops between store and enqueue (bulk)",
        &numbers,
        &counts,
        &statuses,
        Expect::Accepted,
    )
    .report();
}

#[tokio::test]
async fn bulk_every_message_twice_and_two_workers_on_one_message() {
    let stack = Stack::new(Duration::from_millis(300), &[]).await;
    let api = stack.api(&Faults::new()).await;
    let numbers = numbers(600);
    let batch_id = batch_id_of(&stack.post_bulk(&api, &numbers, "twice").await);
    // Two cold starts of the worker.
    let (a, b) = (
        stack.worker(&Faults::new()).await,
        stack.worker(&Faults::new()).await,
    );
    let received = stack
        .hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(&stack.queue)
        .max_number_of_messages(10)
        .visibility_timeout(60)
        .send()
        .await
        .expect("receive");
    let messages: Vec<QueueMessage> = received
        .messages()
        .iter()
        .map(|m| QueueMessage {
            message_id: m.message_id().unwrap_or_default().to_string(),
            body: m.body().unwrap_or_default().to_string(),
            receive_count: 1,
        })
        .collect();
    assert_eq!(messages.len(), 3);
    // Both workers get each message at the same moment.
    for m in &messages {
        let (ra, rb) = tokio::join!(
            sms_worker::handle(&a, m.clone()),
            sms_worker::handle(&b, m.clone())
        );
        assert!(ra.is_ok() || rb.is_ok(), "one of them sends: {ra:?} {rb:?}");
    }
    // And SQS delivers every message a second time (same id, and as a new message).
    for m in &messages {
        sms_worker::handle(
            &b,
            QueueMessage {
                receive_count: 2,
                ..m.clone()
            },
        )
        .await
        .expect("a redelivery of a sent chunk is acknowledged");
        stack
            .hub
            .ctx
            .aws
            .sqs()
            .send_message()
            .queue_url(&stack.queue)
            .message_body(&m.body)
            .send()
            .await
            .expect("duplicate");
    }
    stack.drain(&a, 20).await;

    let counts = stack.provider_counts().await;
    let statuses = stack.statuses(&batch_id, numbers.len()).await;
    let batch = stack.batch(&api, &batch_id).await;
    assert_eq!(batch["sent"], 600, "{batch}");
    assert_eq!(batch["queued"], 0, "{batch}");
    row(
        "every SQS message delivered twice; two workers on one message at once (bulk)",
        &numbers,
        &counts,
        &statuses,
        Expect::Accepted,
    )
    .report();
}

#[tokio::test]
async fn bulk_durable_write_fails_answers_503_and_frees_the_key() {
    let stack = Stack::new(Duration::ZERO, &[]).await;
    // The chunks are written, then the batch item (the commit) is throttled past the SDK's
    // retries: PutItem 1 is the Idempotency-Key claim, 2-4 the commit.
    let api_faults = Faults::new();
    api_faults.inject(Fault::throttle("PutItem").nth(2).times(3));
    let api = stack.api(&api_faults).await;
    let numbers = numbers(400);
    let failed = stack.post_bulk(&api, &numbers, "durable").await;
    failed.assert_problem(503, "dependency_unavailable");
    assert!(failed.headers.contains_key("retry-after"));
    assert_eq!(stack.batch_count().await, 0, "nothing accepted");
    assert_eq!(api_faults.injected("PutItem"), 3);

    // The client retries with the same key: accepted now, one batch.
    let batch_id = batch_id_of(&stack.post_bulk(&api, &numbers, "durable").await);
    assert_eq!(stack.batch_count().await, 1);
    // The first attempt's chunks are re-driven with the second's; they are abandoned.
    let report = stack.sweep(shared::clock::now_secs() + 120).await;
    assert_eq!(report.redriven, 4, "{report:?}");
    let worker = stack.worker(&Faults::new()).await;
    stack.drain(&worker, 50).await;
    let states = stack.chunk_states().await;
    assert_eq!(states.len(), 4);
    for (batch, state) in &states {
        let expected = if *batch == batch_id {
            "done"
        } else {
            "abandoned"
        };
        assert_eq!(state, expected, "{states:?}");
    }

    let counts = stack.provider_counts().await;
    let statuses = stack.statuses(&batch_id, numbers.len()).await;
    assert_eq!(stack.batch(&api, &batch_id).await["sent"], 400);
    row(
        "bulk durable write fails (503, key freed, retried)",
        &numbers,
        &counts,
        &statuses,
        Expect::Accepted,
    )
    .report();
}
