//! The subscriptions test kit: a receiver that verifies every delivery with its own Standard
//! Webhooks implementation (written from the spec here, not the hub's signer: there is no
//! `standardwebhooks` crate on crates.io to use), the admin API and worker of one test
//! (its own queue and namespace), and a pump that plays Lambda's SQS event source mapping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use hub_tests::{TestHub, create_queue, get, json_req, send};
use serde_json::{Value, json};
use sha2::Sha256;
use shared::http::HubService;
use shared::subscriptions::{DeliveryWorker, EventPublisher, RetrySchedule, SubscriptionsConfig};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub webhook_id: String,
    pub timestamp: i64,
    pub signatures: Vec<String>,
    pub body: Value,
    /// For each secret the receiver knows (in order), whether some signature verifies with it.
    pub verified: Vec<bool>,
    pub at: Instant,
}

#[derive(Default)]
struct ReceiverState {
    secrets: Vec<String>,
    /// Status codes to answer, in order; 200 once empty.
    script: VecDeque<u16>,
    received: Vec<Received>,
}

/// Standard Webhooks verification from the spec (standardwebhooks.com, "Verifying"): the
/// signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the key the base64 after
/// `whsec_`, the header a space-separated list of `v1,<base64 HMAC-SHA256>`; timestamps
/// further than 5 minutes from now are refused.
pub fn spec_verify(secret: &str, id: &str, ts: &str, body: &[u8], header: &str) -> bool {
    let Ok(key) = B64.decode(secret.trim_start_matches("whsec_")) else {
        return false;
    };
    let Ok(ts_num) = ts.parse::<i64>() else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - ts_num).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = B64.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|sig| sig == expected)
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        use axum::body::Bytes;
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        async fn hook(
            State(state): State<Arc<Mutex<ReceiverState>>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, &'static str) {
            let h = |k: &str| {
                headers
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let (id, ts, sig) = (
                h("webhook-id"),
                h("webhook-timestamp"),
                h("webhook-signature"),
            );
            let mut st = state.lock().unwrap();
            let verified = st
                .secrets
                .iter()
                .map(|s| spec_verify(s, &id, &ts, &body, &sig))
                .collect();
            st.received.push(Received {
                webhook_id: id,
                timestamp: ts.parse().unwrap_or(0),
                signatures: sig.split(' ').map(str::to_string).collect(),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                verified,
                at: Instant::now(),
            });
            let code = st.script.pop_front().unwrap_or(200);
            (
                StatusCode::from_u16(code).unwrap(),
                if code < 300 { "ok, thanks" } else { "not now" },
            )
        }
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
        }
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap()[..]
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The secrets deliveries are verified against (in order).
    pub fn know(&self, secrets: &[&str]) {
        self.state.lock().unwrap().secrets = secrets.iter().map(|s| s.to_string()).collect();
    }

    pub fn answer(&self, codes: &[u16]) {
        self.state.lock().unwrap().script = codes.iter().copied().collect();
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

/// One test's hub: admin API, publisher and worker on a queue and namespace of its own.
pub struct Kit {
    pub hub: TestHub,
    pub admin: String,
    pub svc: HubService,
    pub publisher: EventPublisher,
    pub worker: DeliveryWorker,
    pub queue_url: String,
    pub config: SubscriptionsConfig,
}

/// `tune` adjusts the test's settings (the default: retries after 0 s and 2 s, loopback allowed).
pub async fn kit(tune: impl FnOnce(&mut SubscriptionsConfig)) -> Kit {
    let hub = TestHub::new().await;
    let queue_url = create_queue(&hub, "SUBSCRIPTIONS_QUEUE_URL").await;
    let ctx = hub.ctx_of("subscriptions");
    let mut config = ctx.subscriptions_config().unwrap();
    config.queue_url = Some(queue_url.clone());
    config.namespace = format!("#t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    config.schedule = RetrySchedule(vec![Duration::ZERO, Duration::from_secs(2)]);
    config.allow_loopback = true;
    config.timeout = Duration::from_secs(5);
    tune(&mut config);
    let svc = shared::http::app(subscriptions::router(
        subscriptions::SubscriptionsState::with_config(ctx.clone(), &config),
    ));
    let publisher = ctx.event_publisher_with(&config);
    let worker = hub
        .ctx_of("subscriptions-worker")
        .delivery_worker(&config)
        .unwrap();
    Kit {
        admin: hub.admin(),
        hub,
        svc,
        publisher,
        worker,
        queue_url,
        config,
    }
}

pub const BASE: &str = "/api/integrations/subscriptions";

impl Kit {
    /// Creates a subscription through the API; answers (id, secret).
    pub async fn subscribe(&self, url: &str, types: &[&str]) -> (String, String) {
        let res = send(
            &self.svc,
            json_req(
                "POST",
                BASE,
                Some(&self.admin),
                &json!({"url": url, "event_types": types}),
            ),
        )
        .await;
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        let v = res.json();
        (
            v["id"].as_str().unwrap().to_string(),
            v["secret"].as_str().unwrap().to_string(),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        let res = send(&self.svc, get(path, Some(&self.admin))).await;
        assert_eq!(
            res.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        res.json()
    }

    pub async fn post(&self, path: &str, body: &Value) -> hub_tests::TestResponse {
        send(&self.svc, json_req("POST", path, Some(&self.admin), body)).await
    }

    pub async fn attempts(&self, sub: &str, event_id: &str) -> Value {
        self.get(&format!("{BASE}/{sub}/messages/{event_id}/attempts"))
            .await
    }

    /// Plays Lambda's event source mapping on the test queue until it has been empty (and
    /// nothing was in flight) for `idle`: receive, hand the batch to the worker, delete what
    /// it did not report failed. Messages the worker rescheduled come back after their delay.
    pub async fn pump(&self, idle: Duration) -> usize {
        pump(&self.worker, self.hub.ctx.aws.sqs(), &self.queue_url, idle).await
    }
}

pub async fn pump(
    worker: &DeliveryWorker,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    idle: Duration,
) -> usize {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let mut handled = 0;
    let mut quiet_since = Instant::now();
    let mut busy = false;
    loop {
        // Long-poll only when the queue looked empty: the emulator's long poll waits for a
        // full batch of ten before answering.
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(if busy { 0 } else { 1 })
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        busy = !messages.is_empty();
        if messages.is_empty() {
            if quiet_since.elapsed() >= idle {
                return handled;
            }
            continue;
        }
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
        let response = subscriptions_worker::handle_event(worker, event).await;
        handled += messages.len();
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
        quiet_since = Instant::now();
    }
}
