use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use hub_tests::TestHub;
use shared::error::DomainError;
use shared::rate_limit::{Channel, ManualClock, RateLimitRulePatch, Scope, Subject};

use crate::{limiter_with_clock, rule, unique_route};

async fn counter_item(
    hub: &TestHub,
    rule_id: &str,
    scope_key: &str,
    window: u64,
) -> std::collections::HashMap<String, AttributeValue> {
    let cfg = hub.ctx.rate_limiter.config();
    hub.ctx
        .aws
        .dynamo
        .get_item()
        .table_name(&cfg.counters_table)
        .key(
            "pk",
            AttributeValue::S(format!("{}#{rule_id}#{scope_key}", cfg.namespace)),
        )
        .key("sk", AttributeValue::S(format!("w{window}")))
        .consistent_read(true)
        .send()
        .await
        .expect("get counter")
        .item
        .unwrap_or_default()
}

#[tokio::test]
async fn exactly_the_limit_passes_under_50_concurrent_requests() {
    let hub = TestHub::new().await;
    let route = unique_route();
    let r = rule(&hub, Scope::User, &route, 10, 3600).await;
    let subject = Subject::route(&route).user("u-concurrent");
    let results =
        futures::future::join_all((0..50).map(|_| hub.ctx.rate_limiter.check(&subject))).await;
    let passed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(passed, 10, "exactly the limit must pass");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        let status = shared::http::problem::status_of(e.kind());
        assert_eq!((status.as_u16(), e.code()), (429, "rate_limited"));
    }
    // Remaining values handed out are distinct: 9, 8, ..., 0.
    let mut remaining: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|d| d.quota.as_ref().unwrap().remaining)
        .collect();
    remaining.sort();
    assert_eq!(remaining, (0..10).collect::<Vec<_>>());
    // The counter holds exactly the admitted requests, with a TTL.
    let item = counter_item(&hub, &r.id, "user:u-concurrent", 3600).await;
    let counts: Vec<&str> = item
        .iter()
        .filter(|(k, _)| k.starts_with('c'))
        .map(|(_, v)| v.as_n().unwrap().as_str())
        .collect();
    assert_eq!(counts, ["10"]);
    assert!(item.contains_key("expires_at"));
}

#[tokio::test]
async fn exact_under_concurrency_with_the_previous_window_share() {
    // Forces the path where the condition admits but the weighted previous window denies
    // (increment then refund): the refunds must not let more than the allowance through.
    let hub = TestHub::new().await;
    let clock = Arc::new(ManualClock::at_hour_start());
    let limiter = limiter_with_clock(&hub, clock.clone());
    let route = unique_route();
    rule(&hub, Scope::User, &route, 10, 100).await;
    let subject = Subject::route(&route).user("u1");
    for _ in 0..10 {
        limiter
            .check(&subject)
            .await
            .expect("first window fills up");
    }
    // Half-way into the next window half of the previous 10 still count: 5 more fit.
    clock.advance(150_000);
    let results = futures::future::join_all((0..50).map(|_| limiter.check(&subject))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    // All refunds have landed: a request now is still refused, and at 80% (weight 0.2,
    // 2 of the old 10 count, 5 used) three more fit.
    assert!(limiter.check(&subject).await.is_err());
    clock.advance(30_000);
    let later = futures::future::join_all((0..10).map(|_| limiter.check(&subject))).await;
    assert_eq!(later.iter().filter(|r| r.is_ok()).count(), 3);
}

#[tokio::test]
async fn windows_roll_over_and_slide() {
    let hub = TestHub::new().await;
    let clock = Arc::new(ManualClock::at_hour_start());
    let limiter = limiter_with_clock(&hub, clock.clone());
    let route = unique_route();
    let r = rule(&hub, Scope::User, &route, 3, 60).await;
    let subject = Subject::route(&route).user("u1");
    clock.advance(10_000); // 10 s into a window
    for expected_remaining in [2, 1, 0] {
        let d = limiter.check(&subject).await.expect("within the limit");
        let q = d.quota.unwrap();
        assert_eq!(
            (q.limit, q.remaining, q.reset_secs),
            (3, expected_remaining, 50)
        );
    }
    let denied: shared::ApiError = limiter.check(&subject).await.unwrap_err().into();
    assert_eq!(denied.status.as_u16(), 429);
    // Next window starts in 50 s; there one of the three must have slid out: 1 + 3*(1-f) <= 3
    // at f = 1/3, i.e. 20 s into it: 70 s from now.
    let retry: u64 = header(&denied, "retry-after").parse().unwrap();
    assert_eq!(retry, 70);
    // Just after the boundary the previous window still counts fully: refused.
    clock.advance(51_000);
    assert!(
        limiter.check(&subject).await.is_err(),
        "a fixed window would reset here; a sliding one does not"
    );
    // Retry-After was right: at 70 s (20 s into the new window) one fits, a second does not.
    clock.advance(19_000);
    limiter.check(&subject).await.expect("one unit slid out");
    assert!(limiter.check(&subject).await.is_err());
    // Two windows later nothing of the old windows counts.
    clock.advance(120_000);
    for _ in 0..3 {
        limiter.check(&subject).await.expect("fresh window");
    }
    // The item never grows: only the current window's counter (+ possibly the previous one).
    let item = counter_item(&hub, &r.id, "user:u1", 60).await;
    let counters = item.keys().filter(|k| k.starts_with('c')).count();
    assert!(counters <= 2, "{item:?}");
    // Idle past the TTL: moto never deletes, so the stale item is replaced, not appended to.
    clock.advance(600_000);
    let d = limiter.check(&subject).await.expect("after idling");
    assert_eq!(d.quota.unwrap().remaining, 2);
    let item = counter_item(&hub, &r.id, "user:u1", 60).await;
    assert_eq!(
        item.keys().filter(|k| k.starts_with('c')).count(),
        1,
        "{item:?}"
    );
    let expires: u64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let now = clock_now_secs(&clock);
    assert!(
        expires > now && expires <= now + 2 * 60 + 60,
        "expires_at {expires} now {now}"
    );
}

fn clock_now_secs(clock: &ManualClock) -> u64 {
    use shared::rate_limit::Clock;
    clock.now_ms() / 1000
}

fn header(e: &shared::ApiError, name: &str) -> String {
    e.headers
        .iter()
        .find(|(k, _)| k.as_str() == name)
        .map(|(_, v)| v.to_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn default_sms_limits_isolate_users_and_receptors() {
    let hub = TestHub::new().await;
    let limiter = &hub.ctx.rate_limiter;
    // OTP per receptor: 5/hour whoever asks, whatever the number's format.
    let forms = [
        "+98 912 555 0101",
        "00989125550101",
        "09125550101",
        "+989125550101",
        "0912-555-0101",
    ];
    for (i, form) in forms.iter().enumerate() {
        limiter
            .check(
                &Subject::channel(Channel::SmsOtp)
                    .user(format!("otp-user-{i}"))
                    .receptor(*form),
            )
            .await
            .expect("under 5/h");
    }
    let e: shared::ApiError = limiter
        .check(
            &Subject::channel(Channel::SmsOtp)
                .user("otp-user-9")
                .receptor("09125550101"),
        )
        .await
        .unwrap_err()
        .into();
    assert!(e.detail.contains("per receptor"), "{}", e.detail);
    assert!(
        !e.detail.contains("5550101"),
        "no phone number in the problem: {}",
        e.detail
    );
    // Another number is unaffected.
    limiter
        .check(
            &Subject::channel(Channel::SmsOtp)
                .user("otp-user-9")
                .receptor("09125550202"),
        )
        .await
        .unwrap();

    // SMS per user: 10/hour, OTP included; one user's use does not touch another's.
    for i in 0..10 {
        limiter
            .check(
                &Subject::channel(Channel::Sms)
                    .user("sms-a")
                    .receptor(format!("0912000{i:04}")),
            )
            .await
            .expect("under 10/h");
    }
    let e: shared::ApiError = limiter
        .check(&Subject::channel(Channel::Sms).user("sms-a"))
        .await
        .unwrap_err()
        .into();
    assert!(e.detail.contains("per user"), "{}", e.detail);
    assert!(
        limiter
            .check(
                &Subject::channel(Channel::SmsOtp)
                    .user("sms-a")
                    .receptor("09127770000")
            )
            .await
            .is_err(),
        "OTP counts as SMS"
    );
    let d = limiter
        .check(&Subject::channel(Channel::Sms).user("sms-b"))
        .await
        .unwrap();
    assert_eq!(d.quota.unwrap().remaining, 9);
    // Other channels have their own counters: email is 100/h for the same user.
    let d = limiter
        .check(&Subject::channel(Channel::Email).user("sms-a"))
        .await
        .unwrap();
    assert_eq!(d.quota.unwrap().limit, 100);
    // AI has its own default (500/h per user), counted apart from SMS.
    let d = limiter
        .check(&Subject::channel(Channel::Ai).user("sms-a"))
        .await
        .unwrap();
    assert_eq!(d.quota.unwrap().limit, 500);
    // No applicable rule (no user key for upload): unlimited, no quota.
    assert_eq!(
        limiter
            .check(&Subject::channel(Channel::Upload))
            .await
            .unwrap()
            .quota,
        None
    );
}

#[tokio::test]
async fn scopes_are_isolated_and_all_rules_must_pass() {
    let hub = TestHub::new().await;
    let route = unique_route();
    rule(&hub, Scope::Ip, &route, 2, 3600).await;
    rule(&hub, Scope::Service, &format!("{route}/*"), 3, 3600).await;
    let limiter = &hub.ctx.rate_limiter;
    // Per IP: two per address.
    for _ in 0..2 {
        limiter
            .check(&Subject::route(&route).ip("203.0.113.7").user("u1"))
            .await
            .unwrap();
    }
    assert!(
        limiter
            .check(&Subject::route(&route).ip("203.0.113.7").user("u2"))
            .await
            .is_err()
    );
    limiter
        .check(&Subject::route(&route).ip("203.0.113.8").user("u1"))
        .await
        .unwrap();
    // Service scope: one counter for everybody under the prefix.
    let sub = format!("{route}/items");
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        limiter.check(&Subject::route(&sub).ip(ip)).await.unwrap();
    }
    assert!(
        limiter
            .check(&Subject::route(&sub).ip("198.51.100.4"))
            .await
            .is_err()
    );
    // A cost larger than the limit is refused without touching the counter.
    let e: shared::ApiError = limiter
        .check_cost(&Subject::route(&route).ip("203.0.113.99"), 3)
        .await
        .unwrap_err()
        .into();
    assert!(e.detail.contains("needs 3 units"), "{}", e.detail);
    limiter
        .check_cost(&Subject::route(&route).ip("203.0.113.99"), 2)
        .await
        .expect("2 units fit");
}

#[tokio::test]
async fn a_denied_rule_gives_back_what_other_rules_took() {
    let hub = TestHub::new().await;
    let route = unique_route();
    rule(&hub, Scope::User, &route, 5, 3600).await;
    rule(&hub, Scope::Ip, &route, 1, 3600).await;
    let limiter = &hub.ctx.rate_limiter;
    limiter
        .check(&Subject::route(&route).user("u1").ip("192.0.2.1"))
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(
            limiter
                .check(&Subject::route(&route).user("u1").ip("192.0.2.1"))
                .await
                .is_err()
        );
    }
    // The user rule got its units back: 4 left for u1 from other addresses.
    for i in 2..6 {
        let d = limiter
            .check(&Subject::route(&route).user("u1").ip(format!("192.0.2.{i}")))
            .await
            .unwrap();
        assert_eq!(
            d.quota.unwrap().remaining,
            0,
            "the IP rule (1) is the most constrained"
        );
    }
    assert!(
        limiter
            .check(&Subject::route(&route).user("u1").ip("192.0.2.50"))
            .await
            .is_err()
    );
    // And an explicit refund (the work failed) returns units too.
    let route2 = unique_route();
    rule(&hub, Scope::User, &route2, 1, 3600).await;
    let d = limiter
        .check(&Subject::route(&route2).user("u1"))
        .await
        .unwrap();
    limiter.refund(&d).await;
    limiter
        .check(&Subject::route(&route2).user("u1"))
        .await
        .expect("refunded");
}

#[tokio::test]
async fn a_changed_rule_takes_effect() {
    let hub = TestHub::new().await;
    let route = unique_route();
    let r = rule(&hub, Scope::User, &route, 2, 3600).await;
    let subject = Subject::route(&route).user("u1");
    // Another instance, whose cache is already warm with the old rule.
    let clock = Arc::new(ManualClock::new(shared::rate_limit::Clock::now_ms(
        &shared::rate_limit::SystemClock,
    )));
    let other = limiter_with_clock(&hub, clock);
    hub.ctx.rate_limiter.check(&subject).await.unwrap();
    hub.ctx.rate_limiter.check(&subject).await.unwrap();
    assert!(hub.ctx.rate_limiter.check(&subject).await.is_err());
    hub.ctx
        .rate_limiter
        .rules()
        .update(
            &r.id,
            RateLimitRulePatch {
                limit: Some(4),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // This instance's cache was invalidated by the write; the other re-reads (TTL 0 here,
    // 30 s in production).
    let d = hub.ctx.rate_limiter.check(&subject).await.unwrap();
    assert_eq!(d.quota.unwrap().limit, 4);
    other.check(&subject).await.unwrap();
    assert!(other.check(&subject).await.is_err());
    // Disabled: no limit, no headers.
    hub.ctx
        .rate_limiter
        .rules()
        .update(
            &r.id,
            RateLimitRulePatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(other.check(&subject).await.unwrap().quota, None);
    hub.ctx.rate_limiter.rules().delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn the_limiter_fails_closed_when_its_table_is_missing() {
    let hub = TestHub::new().await;
    let mut config = hub.ctx.rate_limiter.config().clone();
    config.counters_table = "no-such-table".into();
    let limiter = shared::rate_limit::RateLimiter::new(hub.ctx.aws.dynamo.clone(), config);
    let e: shared::ApiError = limiter
        .check(&Subject::channel(Channel::Sms).user("u1"))
        .await
        .unwrap_err()
        .into();
    assert_eq!((e.status.as_u16(), e.code), (503, "rate_limit_unavailable"));
}
