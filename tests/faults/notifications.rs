//! Notifications under faults: a notification stored but never queued is re-driven by the
//! sweep and each channel sent once; duplicate deliveries and two workers on one message
//! send each channel once; a throttled outcome write after a send never leads to a resend
//! (the channel ends `sent` once the write gets through, or `unknown` once its claim is stale).
//! Email goes to a real SMTP sink, SMS to Kavenegar faked by wiremock.

use std::sync::Arc;
use std::time::Duration;

use hub_tests::faults::{Fault, Faults, Row};
use hub_tests::{TestHub, create_queue, drain_queue, get, json_req, send};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::http::HubService;
use shared::notifications::{Dispatcher, NotificationsConfig};
use shared::queue::QueueMessage;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::sink::SmtpSink;

fn kavenegar_sent(delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({
            "return": {"status": 200, "message": "تایید شد"},
            "entries": [{"messageid": 8792343, "message": "x", "status": 1, "statustext": "در صف ارسال",
                         "sender": "10004346", "receptor": "09120000000", "date": 1356619709, "cost": 120}]
        }))
        .set_delay(delay)
}

/// One test's notifications deployment: its own queue, email to its own SMTP sink, SMS to a
/// Kavenegar fake.
struct NotifySetup {
    hub: TestHub,
    queue: String,
    env: Vec<(&'static str, String)>,
    sink: SmtpSink,
    kavenegar: MockServer,
    /// Unique per test: the notification title (the email subject) and the SMS text carry it.
    marker: String,
}

impl NotifySetup {
    async fn new(kavenegar_delay: Duration, extra: &[(&'static str, String)]) -> Self {
        let sink = SmtpSink::start(&[]);
        let kavenegar = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(kavenegar_sent(kavenegar_delay))
            .mount(&kavenegar)
            .await;
        let probe = TestHub::new().await;
        let queue = create_queue(&probe, "NOTIFICATIONS_QUEUE_URL").await;
        let mut env: Vec<(&'static str, String)> = vec![
            ("NOTIFICATIONS_QUEUE_URL", queue.clone()),
            ("SMTP_HOST", "127.0.0.1".into()),
            ("SMTP_PORT", sink.port.to_string()),
            ("SMTP_USER", String::new()),
            ("FROM_EMAIL", "noreply@clinic.test".into()),
            ("KAVENEGAR_BASE_URL", kavenegar.uri()),
            ("WEBSOCKET_MANAGEMENT_ENDPOINT", String::new()),
        ];
        env.extend(extra.iter().cloned());
        let hub = TestHub::with_env(&env).await;
        hub.put_secret(
            "kavenegar",
            json!({"api_key": "test-key", "sender": "10004346"}),
        )
        .await;
        let marker = format!("fault-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Self {
            hub,
            queue,
            env,
            sink,
            kavenegar,
            marker,
        }
    }

    fn config(&self, ctx: &shared::HubContext) -> NotificationsConfig {
        let mut config = NotificationsConfig::from_env(&ctx.env).unwrap();
        config.queue_url = Some(self.queue.clone());
        config
    }

    fn api(&self, ctx: Arc<shared::HubContext>) -> HubService {
        let config = self.config(&ctx);
        let state = notifications::NotificationsState::with_config(ctx, &config).unwrap();
        shared::http::app(notifications::router(state))
    }

    fn dispatcher(&self, ctx: &Arc<shared::HubContext>) -> Arc<Dispatcher> {
        Arc::new(ctx.notification_dispatcher(&self.config(ctx)))
    }

    /// Another worker instance (its own cold start).
    async fn worker(&self) -> Arc<Dispatcher> {
        let ctx = self
            .hub
            .another_ctx_of("notifications-worker", &self.env)
            .await;
        self.dispatcher(&ctx)
    }

    async fn post(&self, svc: &HubService, user: &str, channels: Value) -> hub_tests::TestResponse {
        let token = self.hub.token("scheduler", Role::Service);
        let body = json!({
            "user_id": user, "type": "reminder", "title": format!("Reminder {}", self.marker),
            "message": format!("Your appointment is tomorrow ({})", self.marker),
            "email": "patient@example.com", "phone": "09120000000", "channels": channels,
        });
        send(
            svc,
            json_req("POST", "/api/v1/notifications", Some(&token), &body),
        )
        .await
    }

    async fn drain(&self, dispatcher: &Arc<Dispatcher>) {
        for _ in 0..5 {
            drain_queue(
                self.hub.ctx_of("notifications-worker").aws.sqs(),
                &self.queue,
                10,
                |event| {
                    let d = dispatcher.clone();
                    async move { notifications_worker::handle_event(&d, event).await }
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

    /// Emails of this test that reached the SMTP sink.
    fn emails(&self) -> usize {
        self.sink
            .messages()
            .iter()
            .filter(|m| m["subject"].as_str().unwrap_or("").contains(&self.marker))
            .count()
    }

    /// SMS of this test that reached Kavenegar.
    async fn sms(&self) -> usize {
        self.kavenegar
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                let form: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(&r.body).unwrap_or_default();
                let query = r.url.query().unwrap_or("").to_string();
                form.iter().any(|(_, v)| v.contains(&self.marker)) || query.contains(&self.marker)
            })
            .count()
    }

    /// The notification as its user sees it.
    async fn notification(&self, svc: &HubService, user: &str, id: &str) -> Value {
        let token = self.hub.token(user, Role::User);
        let res = send(svc, get("/api/v1/notifications?limit=100", Some(&token))).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        res.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("notification {id} not in {user}'s inbox"))
    }

    fn user(&self, name: &str) -> String {
        format!("{name}-{}", &self.hub.prefix[5..15])
    }

    async fn sweep(&self) -> shared::redrive::SweepReport {
        let urls = [("NOTIFICATIONS_QUEUE_URL".to_string(), self.queue.clone())].into();
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

/// Statuses of `channels` that are not `expected`.
fn wrong_statuses(n: &Value, channels: &[&str], expected: &str) -> usize {
    channels
        .iter()
        .filter(|c| n["channels"][**c]["status"] != expected)
        .count()
}

#[tokio::test]
async fn a_notification_stored_but_never_queued_is_redriven_and_each_channel_sent_once() {
    let s = NotifySetup::new(Duration::ZERO, &[("REDRIVE_AFTER_SECONDS", "1".into())]).await;
    let faults = Faults::new();
    let api_ctx = s
        .hub
        .faulty_ctx_with("notifications", &faults, &s.env)
        .await;
    faults.inject(Fault::unavailable("SendMessage").times(100));
    let svc = s.api(api_ctx);
    let user = s.user("patient-redrive");
    let res = s.post(&svc, &user, json!(["email", "sms"])).await;
    let mut wrong = usize::from(res.status != 202);
    let accepted = res.json();
    let id = accepted["id"].as_str().expect("id").to_string();
    // Accepted and still queued (not "failed"): the stored message will be re-driven.
    wrong += wrong_statuses(&accepted, &["email", "sms"], "queued");
    assert!(faults.injected("SendMessage") >= 3, "{:?}", faults.log());

    let worker = s.dispatcher(&s.hub.ctx_of("notifications-worker"));
    s.drain(&worker).await;
    assert_eq!(
        (s.emails(), s.sms().await),
        (0, 0),
        "nothing was queued yet"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = s.sweep().await;
    assert!(report.redriven >= 1, "{report:?}");
    s.drain(&worker).await;
    // Swept again later: the first claim took the notification out of the index.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.sweep().await;
    s.drain(&worker).await;

    let n = s.notification(&svc, &user, &id).await;
    let (emails, sms) = (s.emails(), s.sms().await);
    wrong += wrong_statuses(&n, &["email", "sms", "in_app"], "sent");
    Row {
        scenario: "process stops between store and enqueue (notification)",
        sends: emails + sms,
        lost: usize::from(emails == 0) + usize::from(sms == 0),
        duplicates: emails.saturating_sub(1) + sms.saturating_sub(1),
        wrong_statuses: wrong,
    }
    .report();
}

#[tokio::test]
async fn a_notification_delivered_twice_and_handled_by_two_workers_at_once_sends_each_channel_once()
{
    // Kavenegar answers slowly so the two workers overlap on the SMS channel.
    let s = NotifySetup::new(Duration::from_millis(700), &[]).await;
    let svc = s.api(s.hub.ctx_of("notifications"));
    let user = s.user("patient-twice");
    let res = s.post(&svc, &user, json!(["email", "sms"])).await;
    let mut wrong = usize::from(res.status != 202);
    let id = res.json()["id"].as_str().expect("id").to_string();
    let body =
        json!({"notification_id": id, "user_id": user, "channels": ["email", "sms"]}).to_string();

    let (a, b) = (s.worker().await, s.worker().await);
    let message = |n: &str| QueueMessage {
        message_id: format!("dup-{n}"),
        body: body.clone(),
        receive_count: 1,
    };
    let (ra, rb) = tokio::join!(a.dispatch(message("a")), b.dispatch(message("b")));
    eprintln!("two workers: {ra:?} / {rb:?}");
    // The queued original, plus one more copy: both find every channel handled.
    shared::queue::send_json(
        s.hub.ctx.aws.sqs(),
        &s.queue,
        &serde_json::from_str::<Value>(&body).unwrap(),
    )
    .await
    .unwrap();
    s.drain(&a).await;

    let n = s.notification(&svc, &user, &id).await;
    let (emails, sms) = (s.emails(), s.sms().await);
    wrong += wrong_statuses(&n, &["email", "sms"], "sent");
    wrong += ["email", "sms"]
        .iter()
        .filter(|c| n["channels"][**c]["attempts"] != 1)
        .count();
    Row {
        scenario: "every SQS message delivered twice; two workers on one message at once (notification)",
        sends: emails + sms,
        lost: usize::from(emails == 0) + usize::from(sms == 0),
        duplicates: emails.saturating_sub(1) + sms.saturating_sub(1),
        wrong_statuses: wrong,
    }
    .report();
}

/// UpdateItem calls one email-channel dispatch makes on this context (claim, rate limit,
/// integration-log counters, outcome write), measured on a first notification: the outcome
/// write is the last of them.
async fn update_items_per_dispatch(
    s: &NotifySetup,
    svc: &HubService,
    faults: &Faults,
    worker: &Arc<Dispatcher>,
) -> u32 {
    let user = s.user("patient-warmup");
    let res = s.post(svc, &user, json!(["email"])).await;
    assert_eq!(res.status, 202);
    let before = faults.calls("UpdateItem");
    s.drain(worker).await;
    faults.calls("UpdateItem") - before
}

async fn throttled_outcome_write(
    scenario: &'static str,
    throttled_calls: u32,
    expected_status: &str,
) {
    let s = NotifySetup::new(
        Duration::ZERO,
        &[("NOTIFICATION_CLAIM_STALE_SECONDS", "1".into())],
    )
    .await;
    let svc = s.api(s.hub.ctx_of("notifications"));
    let faults = Faults::new();
    let worker_ctx = s
        .hub
        .faulty_ctx_with("notifications-worker", &faults, &s.env)
        .await;
    let worker = s.dispatcher(&worker_ctx);
    let per_dispatch = update_items_per_dispatch(&s, &svc, &faults, &worker).await;
    let warmup_emails = s.emails();
    assert_eq!(warmup_emails, 1, "the warm-up notification's email");

    let user = s.user("patient-throttled");
    let res = s.post(&svc, &user, json!(["email"])).await;
    let mut wrong = usize::from(res.status != 202);
    let id = res.json()["id"].as_str().expect("id").to_string();
    // The outcome write after the send (the dispatch's last UpdateItem) is throttled.
    let outcome_write = faults.calls("UpdateItem") + per_dispatch;
    faults.inject(
        Fault::throttle("UpdateItem")
            .nth(outcome_write)
            .times(throttled_calls),
    );
    s.drain(&worker).await;
    faults.clear();
    // Redeliveries (the message was handed back if the write never got through) and a late
    // duplicate, once the claim is stale.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    shared::queue::send_json(
        s.hub.ctx.aws.sqs(),
        &s.queue,
        &json!({"notification_id": id, "user_id": user, "channels": ["email"]}),
    )
    .await
    .unwrap();
    s.drain(&worker).await;

    assert!(faults.injected("UpdateItem") >= 3, "{:?}", faults.log());
    let n = s.notification(&svc, &user, &id).await;
    let emails = s.emails() - warmup_emails;
    wrong += wrong_statuses(&n, &["email"], expected_status);
    Row {
        scenario,
        sends: emails,
        lost: usize::from(emails == 0),
        duplicates: emails.saturating_sub(1),
        wrong_statuses: wrong,
    }
    .report();
}

#[tokio::test]
async fn a_throttled_outcome_write_after_a_send_is_retried_and_never_resends() {
    // Two SDK calls of three attempts fail; the worker's own retry gets the write through.
    throttled_outcome_write(
        "DynamoDB throttling on the outcome write after a notification send",
        6,
        "sent",
    )
    .await;
}

#[tokio::test]
async fn an_outcome_write_that_never_gets_through_ends_unknown_and_never_resends() {
    // Every try of that worker fails: the claim stays, and once stale the channel is
    // recorded `unknown` (it may have gone out), never sent again.
    throttled_outcome_write(
        "DynamoDB throttling on every outcome write after a notification send",
        12,
        "unknown",
    )
    .await;
}
