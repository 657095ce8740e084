//! Test support: builds the hub's real state against the local AWS emulator (moto server)
//! started by `make test`, and calls functions' routers in-process.
//!
//! Each [`TestHub`] gets its own Secrets Manager prefix (its own JWT secret and provider
//! credentials), so tests running in parallel cannot see each other's credentials.
//!
//! The emulator enforces IAM (scripts/moto_server.py): `hub.ctx` signs as the local admin and
//! is for test setup and assertions; a function's state is built from
//! [`TestHub::ctx_of`]`("<binary>")`, which signs with that function's role from template.yaml.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::HubContext;
use shared::auth::Role;
use shared::aws::AwsClients;
use shared::config::Env;
use shared::http::HubService;
use tower::ServiceExt;

pub mod faults;

pub struct TestHub {
    /// Signed as the local admin: for setting tests up and checking what functions did.
    pub ctx: Arc<HubContext>,
    pub jwt_secret: String,
    pub prefix: String,
    /// binary -> its cold-start context under its own role (or why that failed).
    functions: HashMap<String, Result<Arc<HubContext>, String>>,
}

/// Every function's role credentials, written by `localstack.py create` to the file named by
/// `LOCAL_ROLE_CREDENTIALS` (binary -> {access_key_id, secret_access_key, session_token}).
fn role_credentials() -> &'static HashMap<String, aws_sdk_sqs::config::Credentials> {
    static CREDENTIALS: OnceLock<HashMap<String, aws_sdk_sqs::config::Credentials>> =
        OnceLock::new();
    CREDENTIALS.get_or_init(|| {
        let path = std::env::var("LOCAL_ROLE_CREDENTIALS")
            .expect("LOCAL_ROLE_CREDENTIALS: run the integration tests with `make test`");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let all: HashMap<String, Value> = serde_json::from_str(&text).expect("role credentials");
        all.into_iter()
            .map(|(binary, c)| {
                let field = |k: &str| c[k].as_str().expect("credential field").to_string();
                let creds = aws_sdk_sqs::config::Credentials::new(
                    field("access_key_id"),
                    field("secret_access_key"),
                    Some(field("session_token")),
                    None,
                    "template-role",
                );
                (binary, creds)
            })
            .collect()
    })
}

/// `admin`'s SDK configuration with a function role's credentials instead.
fn clients_as(admin: &AwsClients, credentials: &aws_sdk_sqs::config::Credentials) -> AwsClients {
    let sdk_config = admin
        .sdk_config
        .to_builder()
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            credentials.clone(),
        ))
        .build();
    AwsClients::from_sdk_config(sdk_config, true)
}

/// The process environment (as exported by `make test`) plus overrides.
pub fn env_with(overrides: &[(&str, String)]) -> Env {
    let mut pairs: Vec<(String, String)> = std::env::vars().collect();
    for (k, v) in overrides {
        pairs.push((k.to_string(), v.clone()));
    }
    Env::from_pairs(pairs)
}

impl TestHub {
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// A hub whose environment has `overrides` on top of the test environment
    /// (e.g. `KAVENEGAR_BASE_URL` pointing at a wiremock server).
    pub async fn with_env(overrides: &[(&str, String)]) -> Self {
        assert!(
            std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "integration tests need the local AWS emulator: run them with `make test`"
        );
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        let jwt_secret = format!("jwt-{}", uuid::Uuid::new_v4());
        let mut all: Vec<(&str, String)> = vec![("SECRETS_PREFIX", prefix.clone())];
        all.extend(overrides.iter().cloned());
        let env = env_with(&all);
        let aws = AwsClients::from_env(&env)
            .await
            .expect("AWS configuration from the test environment");
        aws.secrets
            .create_secret()
            .name(format!("{prefix}/jwt"))
            .secret_string(&jwt_secret)
            .send()
            .await
            .expect("create the test JWT secret in the emulator");
        let functions =
            futures::future::join_all(role_credentials().iter().map(|(binary, credentials)| {
                let (env, aws) = (env.clone(), clients_as(&aws, credentials));
                async move {
                    let ctx = HubContext::build(env, aws)
                        .await
                        .map_err(|e| format!("{e:#}"));
                    (binary.clone(), ctx)
                }
            }))
            .await
            .into_iter()
            .collect();
        let ctx = HubContext::build(env, aws)
            .await
            .expect("build the hub context");
        Self {
            ctx,
            jwt_secret,
            prefix,
            functions,
        }
    }

    /// The context `function` (its binary name in template.yaml) builds at cold start, with
    /// this hub's environment, every AWS call signed with the function's own role: a call
    /// outside its template policies fails here as it would on AWS.
    pub fn ctx_of(&self, function: &str) -> Arc<HubContext> {
        match self.functions.get(function) {
            Some(Ok(ctx)) => ctx.clone(),
            Some(Err(e)) => panic!("{function} cannot build its context under its role: {e}"),
            None => panic!("{function}: no such function in template.yaml"),
        }
    }

    /// A second cold start of `function` in this hub's deployment (same secrets prefix, its own
    /// role, its own caches), with `overrides` on top of the test environment: what another
    /// Lambda instance of the function would build.
    pub async fn another_ctx_of(
        &self,
        function: &str,
        overrides: &[(&str, String)],
    ) -> Arc<HubContext> {
        let mut all: Vec<(&str, String)> = vec![("SECRETS_PREFIX", self.prefix.clone())];
        all.extend(overrides.iter().cloned());
        let env = env_with(&all);
        let credentials = role_credentials()
            .get(function)
            .unwrap_or_else(|| panic!("{function}: no role credentials"));
        let aws = clients_as(
            &AwsClients::from_env(&env)
                .await
                .expect("AWS configuration from the test environment"),
            credentials,
        );
        HubContext::build(env, aws)
            .await
            .unwrap_or_else(|e| panic!("{function}: second context: {e}"))
    }

    /// Another cold start of `function` (its own role, this hub's environment plus
    /// `overrides`) whose AWS calls go through `faults` (see [`faults`]).
    pub async fn faulty_ctx_with(
        &self,
        function: &str,
        faults: &faults::Faults,
        overrides: &[(&str, String)],
    ) -> Arc<HubContext> {
        let mut all: Vec<(&str, String)> = vec![("SECRETS_PREFIX", self.prefix.clone())];
        all.extend(overrides.iter().cloned());
        let env = env_with(&all);
        let credentials = role_credentials()
            .get(function)
            .unwrap_or_else(|| panic!("{function}: no role credentials"));
        let admin = AwsClients::from_env(&env)
            .await
            .expect("AWS configuration from the test environment");
        let sdk_config = admin
            .sdk_config
            .to_builder()
            .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
                credentials.clone(),
            ))
            .http_client(faults::FaultyHttpClient::new(faults.clone()).shared())
            .build();
        HubContext::build(env, AwsClients::from_sdk_config(sdk_config, true))
            .await
            .unwrap_or_else(|e| panic!("{function}: faulty context: {e}"))
    }

    /// [`Self::faulty_ctx_with`] with no overrides.
    pub async fn faulty_ctx_of(&self, function: &str, faults: &faults::Faults) -> Arc<HubContext> {
        self.faulty_ctx_with(function, faults, &[]).await
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        shared::auth::issue_token(self.jwt_secret.as_bytes(), user, role, 600)
    }

    pub fn admin(&self) -> String {
        self.token("admin-1", Role::Admin)
    }

    /// Stores a provider's credentials directly in Secrets Manager (as an operator would).
    pub async fn put_secret(&self, slug: &str, value: Value) {
        self.ctx
            .credentials
            .put(slug, value.as_object().expect("an object"))
            .await
            .expect("put secret");
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status (showing the body when it differs); returns the JSON body.
    pub fn assert_status(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts a problem+json answer with this status and code; returns the body.
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type(), "application/problem+json");
        let v = self.json();
        assert_eq!(v["code"], code, "problem: {v}");
        assert_eq!(v["status"], status);
        v
    }
}

/// Sends one request through a function's service, in-process.
pub async fn send(svc: &HubService, req: Request<Body>) -> TestResponse {
    let res = svc.clone().oneshot(req).await.expect("infallible service");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    TestResponse {
        status,
        headers,
        body,
    }
}

/// A request builder with the usual bits.
pub fn req(method: &str, path: &str, token: Option<&str>) -> http::request::Builder {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    req("GET", path, token).body(Body::empty()).unwrap()
}

pub fn json_req(method: &str, path: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    req(method, path, token)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// Creates a queue of the test's own in the emulator (so parallel tests do not consume each
/// other's messages) and returns its URL. It is named after the stack queue in `queue_url_var`
/// (`<stack queue>-<suffix>`), which the functions' roles reach in test mode
/// (`localstack.py create --test-instances`).
pub async fn create_queue(hub: &TestHub, queue_url_var: &str) -> String {
    let stack_queue = std::env::var(queue_url_var)
        .unwrap_or_else(|_| panic!("{queue_url_var} is not set: run with `make test`"));
    let name = format!(
        "{}-{}",
        stack_queue.rsplit('/').next().unwrap_or_default(),
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    hub.ctx
        .aws
        .sqs()
        .create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .expect("create test queue")
        .queue_url
        .expect("queue url")
}

/// Plays the part of Lambda's SQS event source mapping: receives messages from the emulator's
/// queue, hands them to `worker` as a real `SqsEvent`, deletes the ones not reported in
/// `batchItemFailures`, and stops when the queue stays empty (or after `max_rounds`).
/// Returns how many worker invocations ran.
pub async fn drain_queue<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    max_rounds: usize,
    worker: F,
) -> usize
where
    F: Fn(aws_lambda_events::event::sqs::SqsEvent) -> Fut,
    Fut: std::future::Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse>,
{
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let mut invocations = 0;
    let mut empty_polls = 0;
    for _ in 0..max_rounds {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(if empty_polls == 0 { 0 } else { 1 })
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty_polls += 1;
            if empty_polls >= 2 {
                break;
            }
            continue;
        }
        empty_polls = 0;
        let mut event = SqsEvent::default();
        for m in &messages {
            let mut rec = SqsMessage::default();
            rec.message_id = m.message_id.clone();
            rec.receipt_handle = m.receipt_handle.clone();
            rec.body = m.body.clone();
            rec.event_source = Some("aws:sqs".into());
            if let Some(attrs) = &m.attributes {
                for (k, v) in attrs {
                    rec.attributes.insert(k.as_str().to_string(), v.clone());
                }
            }
            event.records.push(rec);
        }
        let response = worker(event).await;
        invocations += 1;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &messages {
            if !failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    invocations
}

/// Timing summaries for the benches (`tests/benches/*`).
pub mod bench {
    use std::time::Duration;

    /// The `p` quantile (0..=1) of sorted samples, nearest-rank.
    pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
        sorted[((sorted.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(sorted.len() - 1)]
    }

    /// Prints one line: count, p50, p99 and mean in milliseconds.
    pub fn report(name: &str, mut times: Vec<Duration>) {
        times.sort();
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        println!(
            "{name:<52} n {:>4}  p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms",
            times.len(),
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            mean.as_secs_f64() * 1e3
        );
    }
}

/// Authorization before validation on a role-restricted route: `body` (of the wrong shape)
/// posted with `refused` (a token without the role) answers 403 problem+json that says
/// nothing about the body, and the same body with `allowed` answers the validation problem
/// (`status`, `code`) naming `field`. Returns the allowed caller's problem.
pub async fn assert_role_checked_before_body(
    svc: &HubService,
    path: &str,
    refused: &str,
    allowed: &str,
    body: &Value,
    (status, code, field): (u16, &str, &str),
) -> Value {
    let denied = send(svc, json_req("POST", path, Some(refused), body))
        .await
        .assert_problem(403, "forbidden");
    assert!(
        denied.get("errors").is_none(),
        "{path}: a caller without the role learns nothing about the body: {denied}"
    );
    let invalid = send(svc, json_req("POST", path, Some(allowed), body))
        .await
        .assert_problem(status, code);
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields.contains(&field),
        "{path}: the problem names {field}: {invalid}"
    );
    invalid
}
