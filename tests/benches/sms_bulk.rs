//! A 10,000-receptor bulk SMS to a fake Kavenegar, through the real path: validation and
//! normalisation, chunk items in DynamoDB, `SendMessageBatch` to the emulator's SQS, and the
//! worker draining the queue (claim, `sms/send`, results, message records, counters).
//!
//! Reports Kavenegar calls (goal 50), SQS `SendMessageBatch` calls (goal at most 5) and the
//! time taken. Needs the moto server's environment (`.local/test4570.env`):
//!
//! ```sh
//! set -a && . .local/test4570.env && set +a
//! cargo test -p hub-tests --bench sms_bulk      # debug build; `cargo bench` would build release
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hub_tests::{TestHub, create_queue, drain_queue, env_with};
use serde_json::json;
use shared::sms::SmsConfig;
use shared::sms::model::BulkRequest;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const RECEPTORS: usize = 10_000;

/// Kavenegar's `sms/send`: one entry per receptor of the comma-separated list.
struct FakeSend(AtomicU64);

impl Respond for FakeSend {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
        let receptors = form
            .iter()
            .find(|(k, _)| k == "receptor")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let entries: Vec<_> = receptors
            .split(',')
            .map(|r| json!({"messageid": self.0.fetch_add(1, Ordering::Relaxed), "message": "…", "status": 1, "statustext": "در صف ارسال",
                            "sender": "10004346", "receptor": r, "date": 1_356_619_709, "cost": 120}))
            .collect();
        let status = if entries.len() > 200 { 414 } else { 200 };
        ResponseTemplate::new(status).set_body_json(
            json!({"return": {"status": status, "message": "تایید شد"}, "entries": entries}),
        )
    }
}

#[tokio::main]
async fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!(
            "sms_bulk: load the emulator environment first (set -a && . .local/test4570.env && set +a)"
        );
        std::process::exit(2);
    }
    let kavenegar = MockServer::start().await;
    let start_id = (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64 * 100_000;
    Mock::given(method("POST"))
        .and(path_regex(r"/sms/send\.json$"))
        .respond_with(FakeSend(AtomicU64::new(start_id)))
        .mount(&kavenegar)
        .await;
    let env = vec![("KAVENEGAR_BASE_URL", kavenegar.uri())];
    let hub = TestHub::with_env(&env).await;
    hub.put_secret(
        "kavenegar",
        json!({"api_key": "bench-key", "sender": "10004346"}),
    )
    .await;
    let queue = create_queue(&hub, "SMS_BULK_QUEUE_URL").await;
    let mut sms_env = env.clone();
    sms_env.push(("SMS_BULK_QUEUE_URL", queue.clone()));
    let sms = Arc::new(
        hub.ctx_of("sms")
            .sms_service_with(SmsConfig::from_env(&env_with(&sms_env)).expect("config"))
            .expect("sms service"),
    );

    let receptors: Vec<String> = (0..RECEPTORS)
        .map(|i| format!("0912{:07}", 1_000_000 + i))
        .collect();
    let request = BulkRequest {
        receptors: Some(receptors),
        message: Some("یادآوری: نوبت واکسن".into()),
        messages: None,
    };

    let started = Instant::now();
    let valid = request.validate().expect("valid bulk");
    let validated = started.elapsed();
    let (accepted, sqs_calls) = sms
        .create_bulk(valid, "bench-service")
        .await
        .expect("bulk accepted");
    let accepted_at = started.elapsed();
    let worker = sms.clone();
    let invocations = drain_queue(hub.ctx.aws.sqs(), &queue, 500, |event| {
        let worker = worker.clone();
        async move { sms_worker::handle_event(&worker, event).await }
    })
    .await;
    let total = started.elapsed();

    let provider_calls = kavenegar
        .received_requests()
        .await
        .unwrap_or_default()
        .len();
    let batch = sms
        .batch(&accepted.batch_id, |_| true)
        .await
        .expect("batch exists");
    println!(
        "sms_bulk: {RECEPTORS} receptors, one text, fake Kavenegar, moto SQS/DynamoDB (debug build)"
    );
    println!("  chunks                     {}", accepted.chunks);
    println!("  Kavenegar calls            {provider_calls} (goal 50)");
    println!("  SQS SendMessageBatch calls {sqs_calls} (goal <= 5)");
    println!("  worker invocations         {invocations}");
    println!(
        "  validate + normalise       {:.1} ms",
        validated.as_secs_f64() * 1000.0
    );
    println!(
        "  accepted (202) after       {:.1} ms",
        accepted_at.as_secs_f64() * 1000.0
    );
    println!("  all sent and recorded      {:.2} s", total.as_secs_f64());
    println!(
        "  batch: sent {} failed {} queued {}",
        batch.batch.sent, batch.batch.failed, batch.batch.queued
    );
    assert_eq!(batch.batch.sent as usize, RECEPTORS, "every receptor sent");
    assert_eq!(provider_calls, 50);
    assert!(sqs_calls <= 5);
}
