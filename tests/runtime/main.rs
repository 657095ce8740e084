//! A function as Lambda runs it: `shared::http::run` (the function's `main.rs` path) under a
//! Runtime API that this test plays on loopback, the AWS side on the moto server under the
//! function's own IAM role, the provider faked with wiremock.
//!
//! What it proves (issue 18): the integration log and its counters leave the critical path and
//! are never lost. At the moment the runtime posts an invocation's answer, that invocation's
//! log entry is not written yet (the client has its answer without waiting for it); by the
//! time the runtime asks for its next event, the entry is in DynamoDB (Lambda freezes the
//! environment only once the runtime has asked for the next event, so no write is left pending
//! across a freeze).
//!
//! And the rate limiter's leases, which exist only where deferred writes run: a busy rule's
//! warm checks make no DynamoDB round trip before the answer (refills run after it), and
//! several instances with leases never admit more than the limit.
//!
//! Its own test binary: the runtime reads its configuration from the process environment, and
//! deferring, once activated, holds for the whole process. The tests take turns (`SERIAL`):
//! each flushes the process's one queue of deferred writes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hub_tests::TestHub;
use serde_json::{Value, json};
use shared::auth::Role;
use shared::integration_log::{IntegrationLog, LogQuery};
use tokio::sync::mpsc;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the played Runtime API saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    /// The answer to `request_id` was posted; `logged` = its log entries in DynamoDB then.
    Answer {
        request_id: String,
        status: u64,
        logged: usize,
    },
    /// The runtime asked for its next event; `logged` = entries of the previous invocation then.
    Next { after: String, logged: usize },
}

struct RuntimeApi {
    events: Mutex<VecDeque<(String, Value)>>,
    last: Mutex<Option<String>>,
    log: IntegrationLog,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn logged(log: &IntegrationLog, request_id: &str) -> usize {
    let q = LogQuery {
        provider: Some("openai".into()),
        limit: Some(100),
        ..Default::default()
    };
    log.list(&q)
        .await
        .expect("list the integration log")
        .items
        .into_iter()
        .filter(|e| e.request_id == request_id)
        .count()
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> axum::response::Response {
    let previous = api.last.lock().unwrap().clone();
    if let Some(after) = previous {
        let logged = logged(&api.log, &after).await;
        let _ = api.seen.send(Seen::Next { after, logged });
    }
    let event = api.events.lock().unwrap().pop_front();
    let Some((request_id, event)) = event else {
        // No more events: hold the runtime here, as Lambda holds a frozen environment.
        std::future::pending::<()>().await;
        unreachable!()
    };
    *api.last.lock().unwrap() = Some(request_id.clone());
    let deadline = shared::clock::now_ms() + 30_000;
    (
        [
            ("lambda-runtime-aws-request-id", request_id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:ai".to_string(),
            ),
            ("content-type", "application/json".to_string()),
        ],
        event.to_string(),
    )
        .into_response()
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    Path(request_id): Path<String>,
    _headers: HeaderMap,
    body: String,
) -> StatusCode {
    let answer: Value = serde_json::from_str(&body).expect("the runtime posts JSON");
    let logged = logged(&api.log, &request_id).await;
    let _ = api.seen.send(Seen::Answer {
        request_id,
        status: answer["statusCode"].as_u64().unwrap_or(0),
        logged,
    });
    StatusCode::ACCEPTED
}

async fn error(Path(request_id): Path<String>, body: String) -> StatusCode {
    panic!("the runtime reported an error for {request_id}: {body}");
}

/// An API Gateway HTTP API (payload 2.0) event for the AI chat.
fn chat_event(request_id: &str, token: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "POST /api/integrations/ai/chat",
        "rawPath": "/api/integrations/ai/chat",
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "host": "api.example.com",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": "POST", "path": "/api/integrations/ai/chat", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "runtime-test"},
            "requestId": request_id,
            "routeKey": "POST /api/integrations/ai/chat",
            "stage": "$default",
            "time": "05/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1_796_486_400_000u64
        },
        "body": json!({"message": "Como agendar uma consulta?"}).to_string(),
        "isBase64Encoded": false
    })
}

/// One test at a time: they share the process's queue of deferred writes.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_written_after_the_answer_and_before_the_next_event() {
    let _turn = SERIAL.lock().await;
    let fake = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-runtime", "object": "chat.completion", "created": 1_763_800_000, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Pelo aplicativo."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        })))
        .mount(&fake)
        .await;
    let hub = TestHub::with_env(&[("OPENAI_BASE_URL", format!("{}/v1", fake.uri()))]).await;
    hub.put_secret("openai", json!({"api_key": "runtime-key"}))
        .await;
    let token = hub.token("runtime-user", Role::User);
    // Built as functions/ai/src/main.rs builds it, under the ai function's role.
    let state = ai::AiState::new(hub.ctx_of("ai")).expect("AI config");
    let service = shared::http::app(ai::router(state));

    let ids: Vec<String> = (0..2)
        .map(|i| format!("runtime-{i}-{}", uuid::Uuid::new_v4()))
        .collect();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi {
        events: Mutex::new(
            ids.iter()
                .map(|id| (id.clone(), chat_event(id, &token)))
                .collect(),
        ),
        last: Mutex::new(None),
        log: hub.ctx.log.clone(),
        seen: seen_tx,
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // SAFETY: this test binary has this one test; nothing else reads or writes the environment
    // concurrently (the hub's configuration was read above, before the runtime starts).
    unsafe {
        std::env::set_var("AWS_LAMBDA_RUNTIME_API", address.to_string());
        std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "ai");
        std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256");
        std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    }
    // The runtime loops forever; it runs beside the observation until four steps are seen.
    // (Its future is not `Send`, as on Lambda where `main` awaits it: no spawn.)
    let observed = async {
        let mut log = Vec::new();
        while log.len() < 4 {
            let next = tokio::time::timeout(Duration::from_secs(30), seen.recv())
                .await
                .expect("the runtime went quiet")
                .expect("the Runtime API stopped");
            log.push(next);
        }
        log
    };
    let log = tokio::select! {
        log = observed => log,
        ended = shared::http::run(service) => panic!("the runtime stopped: {ended:?}"),
    };
    let expected: Vec<Seen> = ids
        .iter()
        .flat_map(|id| {
            [
                Seen::Answer {
                    request_id: id.clone(),
                    status: 200,
                    logged: 0,
                },
                Seen::Next {
                    after: id.clone(),
                    logged: 1,
                },
            ]
        })
        .collect();
    assert_eq!(
        log, expected,
        "each answer is posted before its log entry is written, and the entry is in DynamoDB before the next event is asked for"
    );
}

/// A rule on a route of its own (no other test matches it), through the store.
async fn lease_rule(hub: &TestHub, limit: u64) -> (String, shared::rate_limit::RateLimitRule) {
    let route = format!("/rl-lease/{}", uuid::Uuid::new_v4().simple());
    let rule = hub
        .ctx
        .rate_limiter
        .rules()
        .create(shared::rate_limit::NewRateLimitRule {
            id: None,
            scope: shared::rate_limit::Scope::User,
            target: route.clone(),
            limit,
            window_seconds: 3600,
            enabled: true,
            description: Some("lease test rule".into()),
        })
        .await
        .expect("create rule");
    (route, rule)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_rules_warm_checks_make_no_round_trip_before_the_answer() {
    let _turn = SERIAL.lock().await;
    shared::deferred::activate();
    let hub = TestHub::new().await;
    // 1000 an hour: leases of 20 units (2 %).
    let (route, _) = lease_rule(&hub, 1000).await;
    let faults = hub_tests::faults::Faults::new();
    let ctx = hub.faulty_ctx_of("ai", &faults).await;
    // The ai function's limiter (its role, its counting client) on a clock that stays inside
    // one window, so the figures below do not depend on when the test runs.
    let clock = Arc::new(shared::rate_limit::ManualClock::at_hour_start());
    let limiter = shared::rate_limit::RateLimiter::new(
        ctx.aws.dynamo.clone(),
        ctx.rate_limiter.config().clone(),
    )
    .with_clock(clock.clone() as Arc<dyn shared::rate_limit::Clock>);
    let subject = shared::rate_limit::Subject::route(&route).user("lease-user");
    let (mut before_answer, mut after_answer) = (Vec::new(), Vec::new());
    let mut remaining = Vec::new();
    for _ in 0..100 {
        let n0 = faults.log().len();
        let decision = limiter.check(&subject).await.expect("admitted");
        remaining.push(decision.quota.expect("a rule applied").remaining);
        let n1 = faults.log().len();
        // The runtime layer's part, after the answer.
        shared::deferred::flush().await;
        before_answer.push(n1 - n0);
        after_answer.push(faults.log().len() - n1);
    }
    assert_eq!(
        before_answer[0], 2,
        "the first check reads the rules and takes its units with a lease: {before_answer:?}"
    );
    assert_eq!(
        before_answer[1..].iter().sum::<usize>(),
        0,
        "no later check goes to DynamoDB before its answer: {before_answer:?}"
    );
    let refills: usize = after_answer.iter().sum();
    assert!(
        (4..=6).contains(&refills),
        "refills of 20 units after the answers, one per 20 checks or so: {refills} ({after_answer:?})"
    );
    assert!(
        faults
            .log()
            .iter()
            .all(|op| op == "UpdateItem" || op == "Query"),
        "{:?}",
        faults.log()
    );
    // The headers still count down: every check sees fewer remaining than the one before.
    assert!(
        remaining.windows(2).all(|w| w[1] < w[0]),
        "RateLimit-Remaining decreases: {remaining:?}"
    );
    assert_eq!(remaining[99], 900, "100 of 1000 used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_leases_never_admit_more_than_the_limit() {
    let _turn = SERIAL.lock().await;
    shared::deferred::activate();
    let hub = TestHub::new().await;
    // 100 an hour: leases of 2 units; three instances, each with its own leases.
    let (route, _) = lease_rule(&hub, 100).await;
    // Both rules exist before the instances read (and cache) the rules.
    let route2 = lease_rule(&hub, 100).await.0;
    let instances: Vec<_> =
        futures::future::join_all((0..3).map(|_| hub.another_ctx_of("ai", &[]))).await;
    let subject = shared::rate_limit::Subject::route(&route).user("lease-many");
    let mut admitted = 0;
    for i in 0..150 {
        let limiter = &instances[i % 3].rate_limiter;
        if limiter.check(&subject).await.is_ok() {
            admitted += 1;
        }
        shared::deferred::flush().await;
    }
    assert!(
        admitted <= 100,
        "never more than the limit across instances: {admitted}"
    );
    assert!(
        admitted >= 100 - 3,
        "at most one unused leased unit per instance is lost to the others: {admitted}"
    );
    // Concurrent checks on the instances too: the total stays capped.
    let subject2 = shared::rate_limit::Subject::route(&route2).user("lease-many");
    let results =
        futures::future::join_all((0..150).map(|i| instances[i % 3].rate_limiter.check(&subject2)))
            .await;
    shared::deferred::flush().await;
    let passed = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        passed <= 100,
        "never more than the limit, concurrently: {passed}"
    );
}
