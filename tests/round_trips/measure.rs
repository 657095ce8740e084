//! Round trips per route: every route of every HTTP function, the WebSocket routes and each
//! SQS worker's message handler, called in-process against the moto server, with each call's
//! AWS requests counted per operation by [`hub_tests::faults::Faults`] (no rules injected: a
//! pure counter under the SDK) and provider requests counted by the wiremock fake.
//!
//! For each route: a fresh context of the function (its own role, what a cold start builds,
//! then the state its `main.rs` builds) answers one request (the *cold* call: everything from
//! the cold start to the first answer), then the same context answers a second, equivalent
//! request (the *warm* call). Setup (data a route needs: a message, a job, an event) is made
//! beforehand with other contexts and is not counted.
//!
//! Shared by the round-trips test (`tests/round_trips/main.rs`, checks counts against
//! `tests/round_trips.json`) and the bench that prints the table (`tests/benches/round_trips.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use http::Request;
use hub_tests::faults::Faults;
use hub_tests::{TestHub, create_queue, get, json_req, req, send};
use serde_json::{Value, json};
use shared::HubContext;
use shared::auth::Role;
use shared::http::HubService;
use shared::queue::QueueMessage;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

#[allow(dead_code)]
#[path = "../uploads/support.rs"]
mod uploads_support;

/// One route's counts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RouteCount {
    /// AWS requests from the cold start to the first answer.
    pub cold: u32,
    /// AWS requests of the second call on the same context.
    pub warm: u32,
    /// Provider (fake) requests of the cold and the warm call.
    #[serde(default)]
    pub provider_cold: u32,
    #[serde(default)]
    pub provider_warm: u32,
    /// Of the warm call's requests, those made after the answer: the integration log and its
    /// counters, which an HTTP function writes after posting its answer (`shared::deferred`).
    /// `warm - warm_after_answer` is the warm call's critical path.
    #[serde(default)]
    pub warm_after_answer: u32,
    /// The warm call's operations in order of first use (`GetItem x2, PutItem`).
    pub warm_ops: String,
    /// The cold call's operations.
    pub cold_ops: String,
}

/// Operations in order of first use with their counts: `GetSecretValue, GetItem x2`.
fn summarize(log: &[String]) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for op in log {
        let c = counts.entry(op.as_str()).or_insert(0);
        if *c == 0 {
            order.push(op.as_str());
        }
        *c += 1;
    }
    order
        .iter()
        .map(|op| match counts[op] {
            1 => op.to_string(),
            n => format!("{op} x{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Kavenegar's `sms/send` answer: one entry per receptor, fresh ids.
struct KavenegarAnswer(std::sync::atomic::AtomicU64);

impl Respond for KavenegarAnswer {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let form: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&request.body).unwrap_or_default();
        let raw = form
            .iter()
            .find(|(k, _)| k == "receptor")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let receptors: Vec<String> = if raw.starts_with('[') {
            serde_json::from_str(&raw).unwrap_or_default()
        } else {
            raw.split(',').map(str::to_string).collect()
        };
        let entries: Vec<Value> = receptors
            .iter()
            .map(|r| {
                let id = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                json!({"messageid": id, "message": "…", "status": 1, "statustext": "queued", "sender": "10004346",
                       "receptor": r, "date": 1_356_619_709, "cost": 120})
            })
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"return": {"status": 200, "message": "ok"}, "entries": entries}))
    }
}

const KAVENEGAR_CALLBACK_TOKEN: &str = "rt-callback-token-0123456789";

/// The hub under measurement: one deployment (secrets prefix, test queues), one fake for
/// every provider, and the rows measured so far.
pub struct RoundTrips {
    pub hub: TestHub,
    pub provider: MockServer,
    overrides: Vec<(&'static str, String)>,
    /// Measured routes in the order measured.
    pub rows: Vec<(String, RouteCount)>,
    /// Routes whose counts depend on data other tests share (the deep health check probes
    /// every provider of the shared catalog): in the table, not checked against the baseline.
    pub unchecked: Vec<String>,
}

impl RoundTrips {
    pub async fn new() -> Self {
        // As `shared::http::run` does in every HTTP function: writes that can wait are queued
        // during the call and flushed after the answer (`measure_with` plays the runtime layer).
        shared::deferred::activate();
        let provider = MockServer::start().await;
        Mock::given(path_regex(r"^/[^/]+/sms/send\.json$"))
            .respond_with(KavenegarAnswer(std::sync::atomic::AtomicU64::new(
                (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64 * 1_000 + 1,
            )))
            .mount(&provider)
            .await;
        Mock::given(path_regex(r"^/[^/]+/sms/sendarray\.json$"))
            .respond_with(KavenegarAnswer(std::sync::atomic::AtomicU64::new(
                (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64 * 1_000 + 1,
            )))
            .mount(&provider)
            .await;
        Mock::given(path_regex(r"^/[^/]+/verify/lookup\.json$"))
            .respond_with(KavenegarAnswer(std::sync::atomic::AtomicU64::new(
                (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64 * 1_000 + 1,
            )))
            .mount(&provider)
            .await;
        Mock::given(method("POST"))
            .and(path("/openai/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "chatcmpl-rt", "object": "chat.completion", "created": 1_763_800_000, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"answer\": \"ok\"}"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}
            })))
            .mount(&provider)
            .await;
        let mut overrides: Vec<(&'static str, String)> = vec![
            ("KAVENEGAR_BASE_URL", provider.uri()),
            ("OPENAI_BASE_URL", format!("{}/openai/v1", provider.uri())),
            ("SMS_CALLBACK_BASE_URL", String::new()),
        ];
        let hub = TestHub::with_env(&overrides).await;
        for var in [
            "SMS_BULK_QUEUE_URL",
            "AI_JOBS_QUEUE_URL",
            "WEBHOOK_EVENTS_QUEUE_URL",
            "NOTIFICATIONS_QUEUE_URL",
        ] {
            overrides.push((var, create_queue(&hub, var).await));
        }
        hub.put_secret(
            "kavenegar",
            json!({"api_key": "rt-key", "sender": "10004346", "callback_token": KAVENEGAR_CALLBACK_TOKEN}),
        )
        .await;
        hub.put_secret("openai", json!({"api_key": "rt-openai-key"}))
            .await;
        hub.ctx
            .aws
            .secrets
            .create_secret()
            .name(format!("{}/otp", hub.prefix))
            .secret_string(format!("otp-key-{}", uuid::Uuid::new_v4()))
            .send()
            .await
            .expect("create the OTP key secret");
        Self {
            hub,
            provider,
            overrides,
            rows: Vec::new(),
            unchecked: Vec::new(),
        }
    }

    fn overrides(&self) -> Vec<(&'static str, String)> {
        self.overrides.clone()
    }

    /// A context of `function` in this deployment for setup (not counted).
    async fn setup_ctx(&self, function: &str) -> Arc<HubContext> {
        self.hub
            .another_ctx_of(function, &self.overrides.clone())
            .await
    }

    fn admin(&self) -> String {
        self.hub.admin()
    }

    fn service(&self, user: &str) -> String {
        self.hub.token(user, Role::Service)
    }

    async fn provider_calls(&self) -> u32 {
        self.provider
            .received_requests()
            .await
            .map(|r| r.len() as u32)
            .unwrap_or(0)
    }

    /// Measures one route: a fresh context of `function` under its role, `build` (what the
    /// function's `main.rs` builds over it), then `call` with the cold input and the warm one.
    /// For a worker's handler: everything it does counts as its critical path.
    pub async fn measure<S, I, F, Fut>(
        &mut self,
        function: &str,
        route: &str,
        build: impl FnOnce(Arc<HubContext>) -> S,
        inputs: [I; 2],
        call: F,
    ) where
        S: Clone,
        F: Fn(S, I) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        self.measure_with(function, route, build, inputs, call, false)
            .await
    }

    /// [`Self::measure`]; with `answers` (an HTTP function, run by `shared::http::run`), the
    /// writes deferred past the answer are flushed after each call, as the runtime layer does,
    /// and the warm call's are counted apart (`warm_after_answer`).
    async fn measure_with<S, I, F, Fut>(
        &mut self,
        function: &str,
        route: &str,
        build: impl FnOnce(Arc<HubContext>) -> S,
        inputs: [I; 2],
        call: F,
        answers: bool,
    ) where
        S: Clone,
        F: Fn(S, I) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let faults = Faults::new();
        let ctx = self
            .hub
            .faulty_ctx_with(function, &faults, &self.overrides())
            .await;
        let state = build(ctx);
        let [cold_input, warm_input] = inputs;
        let p0 = self.provider_calls().await;
        if let Err(e) = call(state.clone(), cold_input).await {
            panic!("{route} (cold): {e}");
        }
        shared::deferred::flush().await;
        let cold_log = faults.log();
        let p1 = self.provider_calls().await;
        if let Err(e) = call(state, warm_input).await {
            panic!("{route} (warm): {e}");
        }
        let at_answer = faults.log().len();
        shared::deferred::flush().await;
        let log = faults.log();
        let p2 = self.provider_calls().await;
        let warm_log = &log[cold_log.len()..];
        self.rows.push((
            route.to_string(),
            RouteCount {
                cold: cold_log.len() as u32,
                warm: warm_log.len() as u32,
                provider_cold: p1 - p0,
                provider_warm: p2 - p1,
                warm_after_answer: if answers {
                    (log.len() - at_answer) as u32
                } else {
                    0
                },
                warm_ops: summarize(warm_log),
                cold_ops: summarize(&cold_log),
            },
        ));
    }

    /// [`Self::measure`] for an HTTP route: both requests must succeed (2xx, or a redirect
    /// to a presigned URL).
    pub async fn http(
        &mut self,
        function: &str,
        route: &str,
        build: impl FnOnce(Arc<HubContext>) -> HubService,
        requests: [Request<Body>; 2],
    ) {
        self.measure_with(
            function,
            route,
            build,
            requests,
            |svc, request| async move {
                let res = send(&svc, request).await;
                if res.status.is_success() || res.status.is_redirection() {
                    Ok(())
                } else {
                    Err(format!(
                        "answered {}: {}",
                        res.status,
                        String::from_utf8_lossy(&res.body)
                    ))
                }
            },
            true,
        )
        .await;
    }

    /// The next message of a test queue (received and deleted), as a worker gets it.
    async fn next_message(&self, queue_var: &str) -> QueueMessage {
        let queue = self
            .overrides
            .iter()
            .find(|(k, _)| *k == queue_var)
            .map(|(_, v)| v.clone())
            .expect("test queue");
        let sqs = self.hub.ctx.aws.sqs();
        for _ in 0..20 {
            let out = sqs
                .receive_message()
                .queue_url(&queue)
                .max_number_of_messages(1)
                .wait_time_seconds(1)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await
                .expect("receive");
            if let Some(m) = out.messages.unwrap_or_default().into_iter().next() {
                sqs.delete_message()
                    .queue_url(&queue)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
                return QueueMessage {
                    message_id: m.message_id.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    receive_count: 1,
                };
            }
        }
        panic!("{queue_var}: no message");
    }

    /// Every route of every function.
    pub async fn all(&mut self) {
        self.health().await;
        self.docs().await;
        self.providers().await;
        self.rate_limits().await;
        self.sms().await;
        self.email().await;
        self.ai().await;
        self.webhooks().await;
        self.uploads().await;
        self.notifications().await;
        self.websocket().await;
    }

    async fn health(&mut self) {
        let health =
            |ctx| shared::http::app(health::router(Arc::new(health::HealthState::new(ctx))));
        self.http(
            "health",
            "GET /health",
            health,
            [get("/health", None), get("/health", None)],
        )
        .await;
        let a = self.admin();
        self.unchecked.push("GET /health?deep=true".into());
        self.http(
            "health",
            "GET /health?deep=true",
            health,
            [
                get("/health?deep=true", Some(&a)),
                get("/health?deep=true", Some(&a)),
            ],
        )
        .await;
    }

    async fn docs(&mut self) {
        for path in [
            "/api/openapi.json",
            "/api/docs/",
            "/api/docs/swagger-ui.css",
            "/api/redoc/",
            "/api/redoc/redoc.standalone.js",
            "/admin/",
            "/admin/app.js",
        ] {
            // The docs function builds no AWS client: its routes are measured for the table.
            self.http(
                "docs",
                &format!("GET {path}"),
                |_| shared::http::app(docs::router()),
                [get(path, None), get(path, None)],
            )
            .await;
        }
    }

    async fn providers(&mut self) {
        let a = self.admin();
        let build = |ctx| shared::http::app(providers::router(ctx));
        let both = |m: &str, p: &str, body: Option<Value>| {
            [0, 1].map(|_| match &body {
                Some(b) => json_req(m, p, Some(&a), b),
                None => req(m, p, Some(&a)).body(Body::empty()).unwrap(),
            })
        };
        self.http(
            "providers",
            "GET /api/integrations/providers",
            build,
            both("GET", "/api/integrations/providers", None),
        )
        .await;
        self.http(
            "providers",
            "GET /api/integrations/providers/{slug}",
            build,
            both("GET", "/api/integrations/providers/kavenegar", None),
        )
        .await;
        self.http(
            "providers",
            "GET /api/integrations/providers/{slug}/health-check",
            build,
            both(
                "GET",
                "/api/integrations/providers/kavenegar/health-check",
                None,
            ),
        )
        .await;
        self.http(
            "providers",
            "GET /api/integrations/providers/{slug}/statistics",
            build,
            both(
                "GET",
                "/api/integrations/providers/kavenegar/statistics?window_hours=48",
                None,
            ),
        )
        .await;
        let custom = |i: usize| {
            format!(
                "rt-gateway-{i}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )
        };
        let slugs = [custom(0), custom(1)];
        let patched = custom(2);
        let setup = shared::http::app(providers::router(self.setup_ctx("providers").await));
        let created = send(
            &setup,
            json_req(
                "POST",
                "/api/integrations/providers",
                Some(&a),
                &json!({"slug": patched, "name": "Round trips", "kind": "webhook", "protocol": "none"}),
            ),
        )
        .await;
        assert!(
            created.status.is_success(),
            "create provider: {}",
            created.status
        );
        self.http(
            "providers",
            "POST /api/integrations/providers",
            build,
            [0, 1].map(|i| {
                json_req(
                    "POST",
                    "/api/integrations/providers",
                    Some(&a),
                    &json!({"slug": slugs[i], "name": "Payment Gateway", "kind": "webhook", "protocol": "none", "description": "round trips"}),
                )
            }),
        )
        .await;
        self.http(
            "providers",
            "PATCH /api/integrations/providers/{slug}",
            build,
            both(
                "PATCH",
                &format!("/api/integrations/providers/{patched}"),
                Some(json!({"enabled": true, "priority": 10})),
            ),
        )
        .await;
        self.http(
            "providers",
            "PUT /api/integrations/providers/{slug}/credentials",
            build,
            both(
                "PUT",
                "/api/integrations/providers/huggingface/credentials",
                Some(json!({"api_key": "rt-hf-key"})),
            ),
        )
        .await;
        self.http(
            "providers",
            "DELETE /api/integrations/providers/{slug}",
            build,
            [0, 1].map(|i| {
                req(
                    "DELETE",
                    &format!("/api/integrations/providers/{}", slugs[i]),
                    Some(&a),
                )
                .body(Body::empty())
                .unwrap()
            }),
        )
        .await;
        send(
            &setup,
            req(
                "DELETE",
                &format!("/api/integrations/providers/{patched}"),
                Some(&a),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
        self.http(
            "providers",
            "GET /api/integrations/logs",
            build,
            both(
                "GET",
                "/api/integrations/logs?provider=kavenegar&limit=20",
                None,
            ),
        )
        .await;
    }

    async fn rate_limits(&mut self) {
        let a = self.admin();
        let build = |ctx| shared::http::app(providers::router(ctx));
        self.http(
            "providers",
            "GET /api/integrations/rate-limits",
            build,
            [0, 1].map(|_| get("/api/integrations/rate-limits", Some(&a))),
        )
        .await;
        let mut ids = Vec::new();
        // A target of its own (a route no request takes), so the rules limit nothing else in
        // the shared table; removed at the end.
        let target = format!("/rt-test/{}", uuid::Uuid::new_v4().simple());
        let body = json!({"scope": "user", "target": target, "limit": 3, "window_seconds": 60, "description": "round trips"});
        // Created through the function so the ids are the ones it answers.
        let setup = shared::http::app(providers::router(self.setup_ctx("providers").await));
        for _ in 0..2 {
            let res = send(
                &setup,
                json_req("POST", "/api/integrations/rate-limits", Some(&a), &body),
            )
            .await;
            assert!(res.status.is_success(), "create rule: {}", res.status);
            ids.push(res.json()["id"].as_str().expect("rule id").to_string());
        }
        self.http(
            "providers",
            "POST /api/integrations/rate-limits",
            build,
            [0, 1].map(|_| json_req("POST", "/api/integrations/rate-limits", Some(&a), &body)),
        )
        .await;
        self.http(
            "providers",
            "GET /api/integrations/rate-limits/{id}",
            build,
            [0, 1].map(|_| get("/api/integrations/rate-limits/default-ai-user", Some(&a))),
        )
        .await;
        self.http(
            "providers",
            "PATCH /api/integrations/rate-limits/{id}",
            build,
            [0, 1].map(|i| {
                json_req(
                    "PATCH",
                    &format!("/api/integrations/rate-limits/{}", ids[i]),
                    Some(&a),
                    &json!({"limit": 20}),
                )
            }),
        )
        .await;
        self.http(
            "providers",
            "DELETE /api/integrations/rate-limits/{id}",
            build,
            [0, 1].map(|i| {
                req(
                    "DELETE",
                    &format!("/api/integrations/rate-limits/{}", ids[i]),
                    Some(&a),
                )
                .body(Body::empty())
                .unwrap()
            }),
        )
        .await;
        let rules = send(&setup, get("/api/integrations/rate-limits", Some(&a)))
            .await
            .json();
        let ours: Vec<String> = rules
            .as_array()
            .or_else(|| rules["items"].as_array())
            .or_else(|| rules["rules"].as_array())
            .unwrap_or_else(|| panic!("rules in {rules}"))
            .iter()
            .filter(|r| r["target"] == target.as_str())
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect();
        for id in ours {
            send(
                &setup,
                req(
                    "DELETE",
                    &format!("/api/integrations/rate-limits/{id}"),
                    Some(&a),
                )
                .body(Body::empty())
                .unwrap(),
            )
            .await;
        }
    }

    fn sms_service(ctx: Arc<HubContext>) -> HubService {
        let sms = ctx.sms_service().expect("sms service");
        let otp = ctx.otp_service(&sms.config).expect("otp service");
        shared::http::app(sms::router(sms::SmsState::new(ctx, sms, otp)))
    }

    async fn sms(&mut self) {
        let s = self.service("rt-sms");
        let a = self.admin();
        let send_body =
            json!({"receptor": "09123456789", "message_type": "text", "message": "round trips"});
        self.http(
            "sms",
            "POST /api/integrations/sms/send",
            Self::sms_service,
            [0, 1].map(|_| json_req("POST", "/api/integrations/sms/send", Some(&s), &send_body)),
        )
        .await;
        let bulk = json!({"receptors": ["09121111111", "09122222222", "09123333333"], "message": "round trips"});
        self.http(
            "sms",
            "POST /api/integrations/sms/bulk",
            Self::sms_service,
            [0, 1].map(|_| json_req("POST", "/api/integrations/sms/bulk", Some(&s), &bulk)),
        )
        .await;
        // The worker: the two chunks the bulk requests above queued.
        let chunks = [
            self.next_message("SMS_BULK_QUEUE_URL").await,
            self.next_message("SMS_BULK_QUEUE_URL").await,
        ];
        self.measure(
            "sms-worker",
            "sms-worker: one bulk chunk (3 receptors)",
            |ctx| Arc::new(ctx.sms_service().expect("sms-worker service")),
            chunks,
            |sms, m| async move { sms_worker::handle(&sms, m).await.map_err(|e| e.to_string()) },
        )
        .await;
        // Ids for the read routes, made through a setup context.
        let setup = Self::sms_service(self.setup_ctx("sms").await);
        let sent = send(
            &setup,
            json_req("POST", "/api/integrations/sms/send", Some(&s), &send_body),
        )
        .await;
        assert!(sent.status.is_success(), "setup send: {}", sent.status);
        let sent = sent.json();
        let message_id = sent["message_id"]
            .as_str()
            .or_else(|| sent["id"].as_str())
            .unwrap_or_else(|| panic!("message id in {sent}"))
            .to_string();
        let batch = send(
            &setup,
            json_req("POST", "/api/integrations/sms/bulk", Some(&s), &bulk),
        )
        .await
        .json();
        let batch_id = batch["batch_id"]
            .as_str()
            .unwrap_or_else(|| panic!("batch id in {batch}"))
            .to_string();
        self.http(
            "sms",
            "GET /api/integrations/sms/batches/{batch_id}",
            Self::sms_service,
            [0, 1].map(|_| {
                get(
                    &format!("/api/integrations/sms/batches/{batch_id}"),
                    Some(&s),
                )
            }),
        )
        .await;
        self.http(
            "sms",
            "GET /api/integrations/sms/{message_id}",
            Self::sms_service,
            [0, 1].map(|_| get(&format!("/api/integrations/sms/{message_id}"), Some(&s))),
        )
        .await;
        let provider_id = sent["provider_message_id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| sent["provider_message_id"].as_u64().map(|n| n.to_string()))
            .unwrap_or_else(|| "8792343".to_string());
        let callback =
            format!("/api/integrations/sms/callbacks/kavenegar/{KAVENEGAR_CALLBACK_TOKEN}");
        self.http(
            "sms",
            "GET /api/integrations/sms/callbacks/kavenegar/{token}",
            Self::sms_service,
            [0, 1].map(|_| {
                get(
                    &format!("{callback}?messageid={provider_id}&status=10"),
                    None,
                )
            }),
        )
        .await;
        self.http(
            "sms",
            "POST /api/integrations/sms/callbacks/kavenegar/{token}",
            Self::sms_service,
            [0, 1].map(|_| {
                req("POST", &callback, None)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(format!("messageid={provider_id}&status=10")))
                    .unwrap()
            }),
        )
        .await;
        // OTP: four receptors (no resend cooldown between the calls); the codes to verify
        // are the ones the fake Kavenegar was asked to deliver.
        let receptors: Vec<String> = (0..4)
            .map(|i| {
                format!(
                    "0912{:07}",
                    (uuid::Uuid::new_v4().as_u128() % 1_000_000) as u32 * 10 + i
                )
            })
            .collect();
        self.http(
            "sms",
            "POST /api/integrations/sms/otp/send",
            Self::sms_service,
            [0, 1].map(|i| {
                json_req(
                    "POST",
                    "/api/integrations/sms/otp/send",
                    Some(&s),
                    &json!({"receptor": receptors[i]}),
                )
            }),
        )
        .await;
        let mut verifications = Vec::new();
        for receptor in &receptors[2..] {
            let res = send(
                &setup,
                json_req(
                    "POST",
                    "/api/integrations/sms/otp/send",
                    Some(&s),
                    &json!({"receptor": receptor}),
                ),
            )
            .await;
            assert!(res.status.is_success(), "otp send: {}", res.status);
            let id = res.json()["verification_id"]
                .as_str()
                .expect("verification_id")
                .to_string();
            let code = self.delivered_code(receptor).await;
            verifications.push(json!({"verification_id": id, "code": code}));
        }
        self.http(
            "sms",
            "POST /api/integrations/sms/otp/verify",
            Self::sms_service,
            [0, 1].map(|i| {
                json_req(
                    "POST",
                    "/api/integrations/sms/otp/verify",
                    Some(&s),
                    &verifications[i],
                )
            }),
        )
        .await;
        self.http(
            "sms",
            "GET /api/integrations/sms/otp/statistics",
            Self::sms_service,
            [0, 1].map(|_| get("/api/integrations/sms/otp/statistics?days=30", Some(&a))),
        )
        .await;
    }

    /// The code the fake Kavenegar was last asked to deliver to `receptor` (`verify/lookup`'s `token`).
    async fn delivered_code(&self, receptor: &str) -> String {
        let field = |r: &wiremock::Request, name: &str| {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&r.body)
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
        };
        self.provider
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .rev()
            .filter(|r| r.url.path().ends_with("verify/lookup.json"))
            .find(|r| field(r, "receptor").as_deref() == Some(receptor))
            .and_then(|r| field(r, "token"))
            .expect("a verify/lookup to the receptor")
    }

    async fn email(&mut self) {
        let s = self.service("rt-email");
        let build = |ctx| {
            shared::http::app(email::router(
                email::EmailState::new(ctx).expect("email state"),
            ))
        };
        let body = json!({"to": "patient@email.com", "template": "appointment_reminder", "language": "pt-BR", "data": {"patient_name": "João Silva", "date": "2025-01-20", "time": "14:00"}});
        self.http(
            "email",
            "POST /api/integrations/email/send",
            build,
            [0, 1].map(|_| json_req("POST", "/api/integrations/email/send", Some(&s), &body)),
        )
        .await;
        self.http(
            "email",
            "GET /api/integrations/email/templates",
            build,
            [0, 1].map(|_| get("/api/integrations/email/templates", Some(&s))),
        )
        .await;
    }

    async fn ai(&mut self) {
        let u = self.hub.token(
            &format!("rt-ai-user-{}", uuid::Uuid::new_v4().simple()),
            Role::User,
        );
        let build = |ctx| shared::http::app(ai::router(ai::AiState::new(ctx).expect("ai state")));
        let chat = json!({"message": "Como agendar uma consulta?", "context": "Paciente novo"});
        self.http(
            "ai",
            "POST /api/integrations/ai/chat",
            build,
            [0, 1].map(|_| json_req("POST", "/api/integrations/ai/chat", Some(&u), &chat)),
        )
        .await;
        let generate = json!({"prompt": "Write a short appointment reminder.", "max_tokens": 100});
        self.http(
            "ai",
            "POST /api/integrations/ai/generate",
            build,
            [0, 1].map(|_| json_req("POST", "/api/integrations/ai/generate", Some(&u), &generate)),
        )
        .await;
        let job = json!({"prompt": "Write a short appointment reminder.", "max_tokens": 100, "async": true});
        self.http(
            "ai",
            "POST /api/integrations/ai/generate (async job)",
            build,
            [0, 1].map(|_| json_req("POST", "/api/integrations/ai/generate", Some(&u), &job)),
        )
        .await;
        let jobs = [
            self.next_message("AI_JOBS_QUEUE_URL").await,
            self.next_message("AI_JOBS_QUEUE_URL").await,
        ];
        let job_id: String =
            serde_json::from_str::<Value>(&jobs[0].body).expect("job message")["job_id"]
                .as_str()
                .expect("job_id")
                .to_string();
        self.measure(
            "ai-worker",
            "ai-worker: one generate job",
            |ctx| Arc::new(ctx.ai_job_runner().expect("ai job runner")),
            jobs,
            |runner, m| async move {
                ai_worker::handle(&runner, m)
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        self.http(
            "ai",
            "GET /api/integrations/ai/jobs/{id}",
            build,
            [0, 1].map(|_| get(&format!("/api/integrations/ai/jobs/{job_id}"), Some(&u))),
        )
        .await;
        let upload =
            json!({"upload": {"filename": "visit.m4a", "content_type": "audio/mp4", "size": 1024}});
        self.http(
            "ai",
            "POST /api/integrations/ai/transcriptions (upload ticket)",
            build,
            [0, 1].map(|_| {
                json_req(
                    "POST",
                    "/api/integrations/ai/transcriptions",
                    Some(&u),
                    &upload,
                )
            }),
        )
        .await;
    }

    fn webhooks_service(ctx: Arc<HubContext>) -> HubService {
        let service = ctx.webhook_service().expect("webhook service");
        shared::http::app(webhooks::router(webhooks::WebhooksState::new(ctx, service)))
    }

    async fn webhooks(&mut self) {
        let a = self.admin();
        let slug = |p: &str| {
            format!(
                "rt-{p}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..10]
            )
        };
        let register = |endpoint: &str, scheme: &str| {
            json!({"provider_slug": "kavenegar", "name": "Round trips", "endpoint_url": endpoint,
                   "events": ["payment.success"], "verification": {"scheme": scheme}})
        };
        let registered = [slug("reg"), slug("reg")];
        self.http(
            "webhooks",
            "POST /api/integrations/webhooks",
            Self::webhooks_service,
            [0, 1].map(|i| {
                json_req(
                    "POST",
                    "/api/integrations/webhooks",
                    Some(&a),
                    &register(&registered[i], "standard_webhooks"),
                )
            }),
        )
        .await;
        let setup = Self::webhooks_service(self.setup_ctx("webhooks").await);
        let sw = slug("sw");
        let created = send(
            &setup,
            json_req(
                "POST",
                "/api/integrations/webhooks",
                Some(&a),
                &register(&sw, "standard_webhooks"),
            ),
        )
        .await;
        assert!(created.status.is_success(), "register: {}", created.status);
        let secret = created.json()["secret"]
            .as_str()
            .expect("secret")
            .to_string();
        let pt = slug("pt");
        let created = send(
            &setup,
            json_req(
                "POST",
                "/api/integrations/webhooks",
                Some(&a),
                &register(&pt, "path_token"),
            ),
        )
        .await;
        assert!(created.status.is_success(), "register: {}", created.status);
        let created = created.json();
        let token = created["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("path token in {created}"))
            .to_string();
        let key = shared::webhooks::signature::decode_standard_secret(&secret).expect("secret");
        let signed = |id: &str| {
            let body = format!(r#"{{"type": "payment.success", "data": {{"id": "{id}"}}}}"#);
            let ts = (shared::clock::now_ms() / 1000) as i64;
            let sig = shared::webhooks::signature::standard_sign(&key, id, ts, body.as_bytes());
            req("POST", &format!("/api/integrations/webhook/{sw}"), None)
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(Body::from(body))
                .unwrap()
        };
        self.http(
            "webhooks",
            "POST /api/integrations/webhook/{endpoint_url}",
            Self::webhooks_service,
            [signed("msg_rt_1"), signed("msg_rt_2")],
        )
        .await;
        let events = [
            self.next_message("WEBHOOK_EVENTS_QUEUE_URL").await,
            self.next_message("WEBHOOK_EVENTS_QUEUE_URL").await,
        ];
        let event_id: String = serde_json::from_str::<Value>(&events[0].body)
            .expect("event message")["event_id"]
            .as_str()
            .expect("event_id")
            .to_string();
        self.measure(
            "webhook-worker",
            "webhook-worker: one event",
            |ctx| Arc::new(ctx.webhook_processor().expect("webhook processor")),
            events,
            |p, m| async move {
                webhook_worker::handle(&p, m)
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        let receive = format!("/api/integrations/webhook/{pt}/{token}");
        self.http(
            "webhooks",
            "POST /api/integrations/webhook/{endpoint_url}/{token}",
            Self::webhooks_service,
            [1, 2].map(|i| {
                req("POST", &receive, None)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(format!("messageid=87923{i}&status=10")))
                    .unwrap()
            }),
        )
        .await;
        self.http(
            "webhooks",
            "GET /api/integrations/webhook/{endpoint_url}/{token}",
            Self::webhooks_service,
            [3, 4].map(|i| get(&format!("{receive}?messageid=87923{i}&status=10"), None)),
        )
        .await;
        let admin_both = |m: &str, p: String, body: Option<Value>| {
            [0, 1].map(|_| match &body {
                Some(b) => json_req(m, &p, Some(&a), b),
                None => req(m, &p, Some(&a)).body(Body::empty()).unwrap(),
            })
        };
        self.http(
            "webhooks",
            "GET /api/integrations/webhooks",
            Self::webhooks_service,
            admin_both("GET", "/api/integrations/webhooks".into(), None),
        )
        .await;
        self.http(
            "webhooks",
            "GET /api/integrations/webhooks/{endpoint_url}",
            Self::webhooks_service,
            admin_both("GET", format!("/api/integrations/webhooks/{sw}"), None),
        )
        .await;
        self.http(
            "webhooks",
            "PATCH /api/integrations/webhooks/{endpoint_url}",
            Self::webhooks_service,
            admin_both(
                "PATCH",
                format!("/api/integrations/webhooks/{sw}"),
                Some(json!({"events": ["payment.success", "payment.failed"]})),
            ),
        )
        .await;
        self.http(
            "webhooks",
            "GET /api/integrations/webhooks/{endpoint_url}/events",
            Self::webhooks_service,
            admin_both(
                "GET",
                format!("/api/integrations/webhooks/{sw}/events?limit=20"),
                None,
            ),
        )
        .await;
        self.http(
            "webhooks",
            "GET /api/integrations/webhooks/{endpoint_url}/events/{event_id}",
            Self::webhooks_service,
            admin_both(
                "GET",
                format!("/api/integrations/webhooks/{sw}/events/{event_id}?include_body=true"),
                None,
            ),
        )
        .await;
        self.http(
            "webhooks",
            "POST /api/integrations/webhooks/{endpoint_url}/events/{event_id}/replay",
            Self::webhooks_service,
            admin_both(
                "POST",
                format!("/api/integrations/webhooks/{sw}/events/{event_id}/replay"),
                None,
            ),
        )
        .await;
        self.http(
            "webhooks",
            "POST /api/integrations/webhooks/{endpoint_url}/events/replay",
            Self::webhooks_service,
            admin_both(
                "POST",
                format!("/api/integrations/webhooks/{sw}/events/replay"),
                Some(json!({"from": "2026-01-01T00:00:00Z", "to": "2036-01-01T00:00:00Z", "status": "failed"})),
            ),
        )
        .await;
        self.http(
            "webhooks",
            "POST /api/integrations/webhooks/{endpoint_url}/rotate-secret",
            Self::webhooks_service,
            admin_both(
                "POST",
                format!("/api/integrations/webhooks/{sw}/rotate-secret"),
                Some(json!({"grace_period_seconds": 86400})),
            ),
        )
        .await;
        self.http(
            "webhooks",
            "DELETE /api/integrations/webhooks/{endpoint_url}",
            Self::webhooks_service,
            [0, 1].map(|i| {
                req(
                    "DELETE",
                    &format!("/api/integrations/webhooks/{}", registered[i]),
                    Some(&a),
                )
                .body(Body::empty())
                .unwrap()
            }),
        )
        .await;
    }

    fn uploads_service(ctx: Arc<HubContext>) -> HubService {
        shared::http::app(uploads::router(
            uploads::UploadsState::new(ctx).expect("uploads state"),
        ))
    }

    async fn uploads(&mut self) {
        use uploads_support::{file, files, pdf, png, upload};
        let u = self.hub.token("rt-upload-user", Role::User);
        let image = png(64, 64);
        let document = pdf();
        self.http(
            "uploads",
            "POST /api/v1/upload/avatar",
            Self::uploads_service,
            [0, 1].map(|_| {
                upload(
                    "/api/v1/upload/avatar",
                    &u,
                    &[file("photo.png", "image/png", &image)],
                )
            }),
        )
        .await;
        self.http(
            "uploads",
            "POST /api/v1/upload/attachment",
            Self::uploads_service,
            [0, 1].map(|_| {
                upload(
                    "/api/v1/upload/attachment",
                    &u,
                    &[file("exam.pdf", "application/pdf", &document)],
                )
            }),
        )
        .await;
        self.http(
            "uploads",
            "POST /api/v1/upload/bulk (2 files)",
            Self::uploads_service,
            [0, 1].map(|_| {
                upload(
                    "/api/v1/upload/bulk",
                    &u,
                    &[
                        files("photo.png", "image/png", &image),
                        files("exam.pdf", "application/pdf", &document),
                    ],
                )
            }),
        )
        .await;
        let presign = json!({"kind": "attachment", "filename": "scan.pdf", "content_type": "application/pdf", "size": document.len()});
        self.http(
            "uploads",
            "POST /api/v1/upload/presign",
            Self::uploads_service,
            [0, 1].map(|_| json_req("POST", "/api/v1/upload/presign", Some(&u), &presign)),
        )
        .await;
        // Two presigned uploads, their files posted to S3, for the completion route.
        let setup = Self::uploads_service(self.setup_ctx("uploads").await);
        let mut presigned = Vec::new();
        for _ in 0..2 {
            let res = send(
                &setup,
                json_req("POST", "/api/v1/upload/presign", Some(&u), &presign),
            )
            .await;
            assert!(res.status.is_success(), "presign: {}", res.status);
            let v = res.json();
            let mut form = reqwest::multipart::Form::new();
            for (k, val) in v["upload"]["fields"].as_object().expect("fields") {
                form = form.text(k.clone(), val.as_str().unwrap_or_default().to_string());
            }
            let part = reqwest::multipart::Part::bytes(document.clone())
                .file_name("scan.pdf")
                .mime_str("application/pdf")
                .unwrap();
            let posted = reqwest::Client::new()
                .post(v["upload"]["url"].as_str().expect("upload url"))
                .multipart(form.part("file", part))
                .send()
                .await
                .expect("post to S3");
            assert!(
                posted.status().is_success(),
                "presigned POST: {}",
                posted.status()
            );
            presigned.push(
                v["id"]
                    .as_str()
                    .or_else(|| v["file"]["id"].as_str())
                    .unwrap_or_else(|| panic!("file id in {v}"))
                    .to_string(),
            );
        }
        self.http(
            "uploads",
            "POST /api/v1/upload/{id}/complete",
            Self::uploads_service,
            [0, 1].map(|i| {
                req(
                    "POST",
                    &format!("/api/v1/upload/{}/complete", presigned[i]),
                    Some(&u),
                )
                .body(Body::empty())
                .unwrap()
            }),
        )
        .await;
        let stored = send(
            &setup,
            upload(
                "/api/v1/upload/attachment",
                &u,
                &[file("exam.pdf", "application/pdf", &document)],
            ),
        )
        .await
        .json();
        let id = stored["id"]
            .as_str()
            .unwrap_or_else(|| panic!("file id in {stored}"))
            .to_string();
        for (route, path) in [
            ("GET /api/v1/files", "/api/v1/files?limit=20".to_string()),
            ("GET /api/v1/files/{id}", format!("/api/v1/files/{id}")),
            (
                "GET /api/v1/files/{id}/content",
                format!("/api/v1/files/{id}/content"),
            ),
        ] {
            self.http(
                "uploads",
                route,
                Self::uploads_service,
                [0, 1].map(|_| get(&path, Some(&u))),
            )
            .await;
        }
    }

    fn notifications_service(ctx: Arc<HubContext>) -> HubService {
        shared::http::app(notifications::router(
            notifications::NotificationsState::new(ctx).expect("notifications state"),
        ))
    }

    async fn notifications(&mut self) {
        let s = self.service("rt-notifier");
        let user = format!(
            "rt-user-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let u = self.hub.token(&user, Role::User);
        let body = json!({"user_id": user, "type": "lembrete", "title": "Nova", "message": "Round trips", "channels": ["email"], "email": "u1@example.com"});
        self.http(
            "notifications",
            "POST /api/v1/notifications",
            Self::notifications_service,
            [0, 1].map(|_| json_req("POST", "/api/v1/notifications", Some(&s), &body)),
        )
        .await;
        let messages = [
            self.next_message("NOTIFICATIONS_QUEUE_URL").await,
            self.next_message("NOTIFICATIONS_QUEUE_URL").await,
        ];
        self.measure(
            "notifications-worker",
            "notifications-worker: one email channel message",
            |ctx| notifications_worker::dispatcher(&ctx).expect("dispatcher"),
            messages,
            |d, m| async move {
                notifications_worker::handle(&d, m)
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        let reminder = json!({"user_id": user, "appointment_id": 456, "date": "2025-01-20", "time": "14:00", "patient_name": "João Silva", "email": "patient@email.com"});
        self.http(
            "notifications",
            "POST /api/v1/notifications/appointment-reminder",
            Self::notifications_service,
            [0, 1].map(|_| {
                json_req(
                    "POST",
                    "/api/v1/notifications/appointment-reminder",
                    Some(&s),
                    &reminder,
                )
            }),
        )
        .await;
        let updated = json!({"user_id": user, "appointment": {"id": 456, "status": "confirmado", "date": "2025-01-20"}});
        self.http(
            "notifications",
            "POST /api/v1/notifications/appointment-updated",
            Self::notifications_service,
            [0, 1].map(|_| {
                json_req(
                    "POST",
                    "/api/v1/notifications/appointment-updated",
                    Some(&s),
                    &updated,
                )
            }),
        )
        .await;
        self.http(
            "notifications",
            "GET /api/v1/notifications",
            Self::notifications_service,
            [0, 1].map(|_| get("/api/v1/notifications?unread=true&limit=20", Some(&u))),
        )
        .await;
        let setup = Self::notifications_service(self.setup_ctx("notifications").await);
        let listed = send(&setup, get("/api/v1/notifications?limit=1", Some(&u)))
            .await
            .json();
        let first = listed["items"]
            .as_array()
            .or_else(|| listed["notifications"].as_array())
            .or_else(|| listed.as_array())
            .and_then(|items| items.first())
            .unwrap_or_else(|| panic!("a notification in {listed}"));
        let id = first["id"].as_str().expect("notification id").to_string();
        self.http(
            "notifications",
            "POST /api/v1/notifications/{id}/read",
            Self::notifications_service,
            [0, 1].map(|_| {
                req(
                    "POST",
                    &format!("/api/v1/notifications/{id}/read"),
                    Some(&u),
                )
                .body(Body::empty())
                .unwrap()
            }),
        )
        .await;
        self.http(
            "notifications",
            "POST /api/v1/notifications/read-all",
            Self::notifications_service,
            [0, 1].map(|_| {
                req("POST", "/api/v1/notifications/read-all", Some(&u))
                    .body(Body::empty())
                    .unwrap()
            }),
        )
        .await;
        self.http(
            "notifications",
            "GET /api/v1/notifications/preferences",
            Self::notifications_service,
            [0, 1].map(|_| get("/api/v1/notifications/preferences", Some(&u))),
        )
        .await;
        let prefs = json!({"channels": {"sms": false}, "contact": {"email": "u1@example.com"}});
        self.http(
            "notifications",
            "PUT /api/v1/notifications/preferences",
            Self::notifications_service,
            [0, 1].map(|_| json_req("PUT", "/api/v1/notifications/preferences", Some(&u), &prefs)),
        )
        .await;
    }

    async fn websocket(&mut self) {
        let token = self.hub.token("rt-ws-user", Role::User);
        let event = |route: &str, connection: &str, query: Option<&str>, body: Option<&str>| {
            let mut e = aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest::default();
            e.request_context.route_key = Some(route.to_string());
            e.request_context.connection_id = Some(connection.to_string());
            if let Some(t) = query {
                e.query_string_parameters =
                    std::collections::HashMap::from([("token".to_string(), t.to_string())]).into();
            }
            e.body = body.map(str::to_string);
            e
        };
        let call = |state: Arc<websocket::WebsocketState>, e| async move {
            let res = websocket::handle(&state, e).await;
            if (200..300).contains(&res.status_code) {
                Ok(())
            } else {
                Err(format!("answered {}: {:?}", res.status_code, res.body))
            }
        };
        let build = |ctx| websocket::WebsocketState::new(ctx).expect("websocket state");
        self.measure(
            "websocket",
            "WS $connect",
            build,
            [
                event("$connect", "rt-conn-1", Some(&token), None),
                event("$connect", "rt-conn-2", Some(&token), None),
            ],
            call,
        )
        .await;
        self.measure(
            "websocket",
            "WS $default (ping)",
            build,
            [
                event("$default", "rt-conn-1", None, Some(r#"{"action":"ping"}"#)),
                event("$default", "rt-conn-1", None, Some(r#"{"action":"ping"}"#)),
            ],
            call,
        )
        .await;
        self.measure(
            "websocket",
            "WS $disconnect",
            build,
            [
                event("$disconnect", "rt-conn-1", None, None),
                event("$disconnect", "rt-conn-2", None, None),
            ],
            call,
        )
        .await;
    }
}

/// The table: route, cold calls, warm calls, provider calls, the warm call's operations.
pub fn table(rows: &[(String, RouteCount)]) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|(r, _)| r.len()).max().unwrap_or(5).max(5);
    out.push_str(&format!(
        "{:<width$}  {:>4}  {:>4}  {:>8}  {:>8}  warm operations (cold adds)\n",
        "route", "cold", "warm", "critical", "provider"
    ));
    for (route, c) in rows {
        let extra = cold_extra(&c.cold_ops, &c.warm_ops);
        out.push_str(&format!(
            "{route:<width$}  {:>4}  {:>4}  {:>8}  {:>8}  {}{}\n",
            c.cold,
            c.warm,
            c.warm - c.warm_after_answer,
            format!("{}/{}", c.provider_cold, c.provider_warm),
            if c.warm_ops.is_empty() {
                "-"
            } else {
                &c.warm_ops
            },
            if extra.is_empty() {
                String::new()
            } else {
                format!(" (+ {extra})")
            }
        ));
    }
    out
}

/// The cold call's operations beyond the warm call's (`GetSecretValue`...).
fn cold_extra(cold: &str, warm: &str) -> String {
    let parse = |s: &str| -> BTreeMap<String, i64> {
        s.split(", ")
            .filter(|p| !p.is_empty())
            .map(|p| match p.rsplit_once(" x") {
                Some((op, n)) if n.parse::<i64>().is_ok() => (op.to_string(), n.parse().unwrap()),
                _ => (p.to_string(), 1),
            })
            .collect()
    };
    let (c, w) = (parse(cold), parse(warm));
    c.iter()
        .filter_map(|(op, n)| {
            let d = n - w.get(op).copied().unwrap_or(0);
            (d > 0).then(|| {
                if d == 1 {
                    op.clone()
                } else {
                    format!("{op} x{d}")
                }
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table as markdown, for docs/performance.md.
#[allow(dead_code)]
pub fn markdown(rows: &[(String, RouteCount)]) -> String {
    let mut out = String::from(
        "| route | cold | warm | warm before the answer | provider cold/warm | warm call's AWS operations | cold call adds |\n|---|---:|---:|---:|---:|---|---|\n",
    );
    for (route, c) in rows {
        out.push_str(&format!(
            "| `{route}` | {} | {} | {} | {}/{} | {} | {} |\n",
            c.cold,
            c.warm,
            c.warm - c.warm_after_answer,
            c.provider_cold,
            c.provider_warm,
            if c.warm_ops.is_empty() {
                "-"
            } else {
                &c.warm_ops
            },
            match cold_extra(&c.cold_ops, &c.warm_ops) {
                e if e.is_empty() => "-".to_string(),
                e => e,
            }
        ));
    }
    out
}
