//! Rate limiting against the moto server: exact atomic counters, sliding windows, rule
//! changes, headers and the admin API.
//!
//! Rules live in the shared HUB_TABLE, so every rule these tests create targets a route
//! pattern of its own (`/rl-test/{uuid}/...`) and cannot affect other tests; counters are
//! namespaced per `TestHub`, so the built-in defaults start from zero in each test.

mod admin;
mod headers;
mod limiter;

use std::sync::Arc;

use hub_tests::TestHub;
use shared::rate_limit::{Clock, ManualClock, NewRateLimitRule, RateLimitRule, RateLimiter, Scope};

/// A route pattern no other test uses.
pub fn unique_route() -> String {
    format!("/rl-test/{}", uuid::Uuid::new_v4().simple())
}

/// Creates a rule through the store (the admin API is tested separately).
pub async fn rule(
    hub: &TestHub,
    scope: Scope,
    target: &str,
    limit: u64,
    window_seconds: u64,
) -> RateLimitRule {
    hub.ctx
        .rate_limiter
        .rules()
        .create(NewRateLimitRule {
            id: None,
            scope,
            target: target.to_string(),
            limit,
            window_seconds,
            enabled: true,
            description: Some("test rule".into()),
        })
        .await
        .expect("create rule")
}

/// A second limiter over the same tables, with a clock the test moves, and rules re-read on
/// every check (a fresh Lambda instance).
pub fn limiter_with_clock(hub: &TestHub, clock: Arc<ManualClock>) -> RateLimiter {
    let mut config = hub.ctx.rate_limiter.config().clone();
    config.rules_ttl = std::time::Duration::ZERO;
    RateLimiter::new(hub.ctx.aws.dynamo.clone(), config).with_clock(clock as Arc<dyn Clock>)
}
