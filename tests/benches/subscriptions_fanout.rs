//! One event to 100 subscriptions on the local stack (moto's DynamoDB and SQS, the worker
//! in-process as one Lambda instance taking batches of ten, local receivers verifying every
//! signature): the time from `publish` to the last receiver's 2xx, and the deliveries per
//! second of that one worker.
//!
//!   set -a && . .local/test.env && set +a     # after `localstack.py create/env` (see docs)
//!   cargo test -p hub-tests --bench subscriptions_fanout    # BENCH_SUBSCRIPTIONS=100 by default

#[allow(dead_code)]
#[path = "../subscriptions/support.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_SUBSCRIPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let kit = support::kit(|_| {}).await;
    let receiver = support::Receiver::start().await;
    let mut secrets = Vec::new();
    for i in 0..n {
        let (_, secret) = kit
            .subscribe(&format!("{}?n={i}", receiver.url), &["sms.delivered"])
            .await;
        secrets.push(secret);
    }
    let mut end_to_end = Vec::new();
    let mut rates = Vec::new();
    for run in 0..runs {
        let before = receiver.received().len();
        let started = Instant::now();
        kit.publisher
            .publish("sms.delivered", json!({"message_id": format!("m{run}")}))
            .await
            .unwrap()
            .expect("subscribed");
        let publish_done = started.elapsed();
        support::pump(
            &kit.worker,
            kit.hub.ctx.aws.sqs(),
            &kit.queue_url,
            Duration::from_millis(1500),
        )
        .await;
        let got = receiver.received();
        let this_run = &got[before..];
        assert_eq!(this_run.len(), n, "every subscription got the event once");
        let first = this_run.iter().map(|r| r.at).min().unwrap();
        let last = this_run.iter().map(|r| r.at).max().unwrap();
        let total = last - started;
        let rate = n as f64 / (last - first).as_secs_f64().max(1e-9);
        println!(
            "run {run}: publish {:>6.1} ms, publish -> last 2xx {:>7.1} ms, one worker {:>6.1} deliveries/s",
            publish_done.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            rate
        );
        end_to_end.push(total);
        rates.push(rate);
    }
    end_to_end.sort();
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{n} subscriptions, {runs} runs: publish -> last 2xx median {:.0} ms; one worker median {:.0} deliveries/s",
        end_to_end[runs / 2].as_secs_f64() * 1e3,
        rates[runs / 2]
    );
}
