//! Cost of one rate-limit check: DynamoDB round trips (counted by an SDK interceptor on the
//! limiter's client, one per HTTP request sent) and wall time per check (p50/p99).
//!
//! Against the moto server on loopback, not real DynamoDB: the round-trip count is what
//! carries over; absolute times are moto's (Python) plus the SDK's.
//!
//!   cd /work/main && set -a && . .local/test4570.env && set +a
//!   cargo bench --profile dev -p hub-tests --bench rate_limit   # BENCH_CHECKS=2000 by default
//!
//! (`--profile dev`: the default bench profile is release, a long build on this machine.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use hub_tests::TestHub;
use shared::rate_limit::{Channel, NewRateLimitRule, RateLimiter, Scope, Subject};

/// Counts every HTTP request the DynamoDB client sends (retries included).
#[derive(Debug, Clone, Default)]
struct RoundTrips(Arc<AtomicU64>);

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

struct Report {
    name: &'static str,
    checks: usize,
    admitted: usize,
    trips: u64,
    times: Vec<Duration>,
}

impl Report {
    fn print(mut self) {
        self.times.sort();
        let pct = |p: f64| {
            self.times[((self.times.len() as f64 * p).ceil() as usize)
                .saturating_sub(1)
                .min(self.times.len() - 1)]
        };
        let mean = self.times.iter().sum::<Duration>() / self.times.len() as u32;
        println!(
            "{:<44} checks {:>5}  admitted {:>5}  round trips/check {:>5.3}  p50 {:>7.2} ms  p99 {:>7.2} ms  mean {:>7.2} ms",
            self.name,
            self.checks,
            self.admitted,
            self.trips as f64 / self.checks as f64,
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            mean.as_secs_f64() * 1e3,
        );
    }
}

async fn run(
    name: &'static str,
    limiter: &RateLimiter,
    counter: &RoundTrips,
    n: usize,
    subject: impl Fn(usize) -> Subject,
) -> Report {
    let before = counter.0.load(Ordering::Relaxed);
    let mut times = Vec::with_capacity(n);
    let mut admitted = 0;
    for i in 0..n {
        let s = subject(i);
        let t = Instant::now();
        let r = limiter.check(&s).await;
        times.push(t.elapsed());
        match r {
            Ok(_) => admitted += 1,
            Err(shared::rate_limit::RateLimitError::Limited { .. }) => {}
            Err(e) => panic!("check failed: {e}"),
        }
    }
    Report {
        name,
        checks: n,
        admitted,
        trips: counter.0.load(Ordering::Relaxed) - before,
        times,
    }
}

async fn rule(limiter: &RateLimiter, scope: Scope, target: &str, limit: u64) -> String {
    limiter
        .rules()
        .create(NewRateLimitRule {
            id: None,
            scope,
            target: target.into(),
            limit,
            window_seconds: 3600,
            enabled: true,
            description: Some("benchmark".into()),
        })
        .await
        .expect("create rule")
        .id
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_CHECKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let hub = TestHub::new().await;
    let counter = RoundTrips::default();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&hub.ctx.aws.sdk_config)
            .interceptor(counter.clone())
            .build(),
    );
    let limiter = RateLimiter::new(dynamo, hub.ctx.rate_limiter.config().clone());
    let base = format!("/rl-bench/{}", uuid::Uuid::new_v4().simple());
    let hot = format!("{base}/hot");
    let full = format!("{base}/full");
    let ids = [
        rule(&limiter, Scope::User, &hot, 10_000_000).await,
        rule(&limiter, Scope::User, &full, 1).await,
    ];

    // Warm up: connection pool, rule cache, moto's first-request costs.
    run("warm-up", &limiter, &counter, 50, |_| {
        Subject::route(&hot).user("warm")
    })
    .await;
    let rules_before = counter.0.load(Ordering::Relaxed);
    limiter.rules().effective().await.unwrap();
    assert_eq!(
        counter.0.load(Ordering::Relaxed),
        rules_before,
        "rules come from the cache"
    );

    println!(
        "rate-limit check cost against the moto server on loopback ({n} sequential checks per line)"
    );
    run(
        "admitted, one rule, same key",
        &limiter,
        &counter,
        n,
        |_| Subject::route(&hot).user("u-hot"),
    )
    .await
    .print();
    run(
        "admitted, one rule, a new key each check",
        &limiter,
        &counter,
        n,
        |i| Subject::route(&hot).user(format!("u-{i}")),
    )
    .await
    .print();
    limiter
        .check(&Subject::route(&full).user("u-full"))
        .await
        .expect("the one allowed");
    run(
        "denied by the limit (counter full)",
        &limiter,
        &counter,
        n,
        |_| Subject::route(&full).user("u-full"),
    )
    .await
    .print();
    run(
        "OTP: two default rules (user + receptor)",
        &limiter,
        &counter,
        n.min(1000),
        |i| {
            Subject::channel(Channel::SmsOtp)
                .user(format!("otp-{i}"))
                .receptor(format!("0912{i:07}"))
        },
    )
    .await
    .print();

    for id in ids {
        limiter.rules().delete(&id).await.ok();
    }
}
