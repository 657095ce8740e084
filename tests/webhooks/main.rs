//! Webhooks: registry, signature schemes end to end, durable dedupe, processing through the
//! emulator's SQS and the worker, replay and secret rotation.
//! Run through `make test` (moto server environment exported).

mod processing;
mod receive;
mod registry;
mod seed_register;

use std::sync::Arc;

use axum::body::Body;
use hub_tests::{TestHub, TestResponse, create_queue, env_with, json_req, send};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::http::HubService;
use shared::webhooks::WebhookConfig;
use shared::webhooks::process::EventProcessor;
use webhooks::WebhooksState;

pub struct Fixture {
    pub hub: TestHub,
    pub svc: HubService,
    pub state: Arc<WebhooksState>,
    pub worker: Arc<EventProcessor>,
    pub queue: String,
    pub clock: Arc<ManualClock>,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// A hub with its own secrets prefix, its own event queue and a clock the test moves.
    pub async fn with_env(overrides: &[(&str, String)]) -> Self {
        // Failures' logs (e.g. an internal error's cause) show in the test output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let hub = TestHub::new().await;
        let queue = create_queue(&hub, "WEBHOOK_EVENTS_QUEUE_URL").await;
        let mut all = vec![("WEBHOOK_EVENTS_QUEUE_URL", queue.clone())];
        all.extend(overrides.iter().cloned());
        let config = WebhookConfig::from_env(&env_with(&all)).expect("webhook config");
        let clock = Arc::new(ManualClock::new(shared::clock::now_ms()));
        let webhooks_ctx = hub.ctx_of("webhooks");
        let service = webhooks_ctx.webhook_service_with(config.clone(), clock.clone());
        let state = WebhooksState::new(webhooks_ctx, service);
        let svc = shared::http::app(webhooks::router(state.clone()));
        // The worker runs under its own role (as deployed).
        let worker = Arc::new(hub.ctx_of("webhook-worker").webhook_processor_with(&config));
        Self {
            hub,
            svc,
            state,
            worker,
            queue,
            clock,
        }
    }

    /// Unix seconds by the service's clock.
    pub fn now(&self) -> i64 {
        (self.clock.now_ms() / 1000) as i64
    }

    pub fn set_now(&self, t: i64) {
        self.clock.set(t as u64 * 1000);
    }

    /// Registers an endpoint as admin; asserts 201.
    pub async fn register(&self, body: Value) -> Value {
        let res = send(
            &self.svc,
            json_req(
                "POST",
                "/api/integrations/webhooks/",
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

    /// Posts raw bytes to a receive path with the given headers.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: impl Into<Vec<u8>>,
    ) -> TestResponse {
        let mut b = hub_tests::req("POST", path, None);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        send(&self.svc, b.body(Body::from(body.into())).unwrap()).await
    }

    /// Runs the worker over the test's queue until it is empty; returns invocations.
    pub async fn drain(&self) -> usize {
        let worker = self.worker.clone();
        hub_tests::drain_queue(
            self.hub.ctx_of("webhook-worker").aws.sqs(),
            &self.queue,
            10,
            move |event| {
                let worker = worker.clone();
                async move { webhook_worker::handle_event(&worker, event).await }
            },
        )
        .await
    }

    pub async fn admin_get(&self, path: &str) -> TestResponse {
        send(&self.svc, hub_tests::get(path, Some(&self.hub.admin()))).await
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> TestResponse {
        send(
            &self.svc,
            json_req("POST", path, Some(&self.hub.admin()), body),
        )
        .await
    }

    /// Messages currently visible in the test's queue (without consuming them for long:
    /// the test queue's visibility timeout is one second).
    pub async fn queued_messages(&self) -> usize {
        let out = self
            .hub
            .ctx
            .aws
            .sqs()
            .get_queue_attributes()
            .queue_url(&self.queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        out.attributes
            .unwrap_or_default()
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// A slug no other test (or earlier run against the same emulator) has used.
pub fn slug(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn sw_headers(id: &str, ts: i64, sig: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_string()),
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig.to_string()),
    ]
}

/// Registers a Standard Webhooks endpoint with a hub-generated secret; returns (slug, secret).
pub async fn standard_endpoint(f: &Fixture, events: Value) -> (String, String) {
    let slug = slug("sw");
    let created = f
        .register(json!({
            "provider_slug": "payment-gateway", "name": "Payment Status", "endpoint_url": slug,
            "events": events, "verification": {"scheme": "standard_webhooks"}
        }))
        .await;
    (
        slug,
        created["secret"]
            .as_str()
            .expect("a generated secret")
            .to_string(),
    )
}

/// Signs and posts a Standard Webhooks delivery at the fixture's clock.
pub async fn post_standard(
    f: &Fixture,
    slug: &str,
    secret: &str,
    id: &str,
    body: &str,
) -> TestResponse {
    let key = shared::webhooks::signature::decode_standard_secret(secret).unwrap();
    let ts = f.now();
    let sig = shared::webhooks::signature::standard_sign(&key, id, ts, body.as_bytes());
    f.post(
        &format!("/api/integrations/webhook/{slug}"),
        &sw_headers(id, ts, &sig),
        body.to_string(),
    )
    .await
}
