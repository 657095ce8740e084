use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_tests::{TestHub, get as get_req, req, send};
use serde_json::{Value, json};
use shared::auth::{Caller, Role};
use shared::http::RateLimitRouterExt;
use shared::rate_limit::{Channel, RateLimitDecision, Scope, Subject};
use shared::{ApiError, HubContext};

use crate::{rule, unique_route};

/// How a capability wires the limiter into a handler.
async fn send_email(
    State(ctx): State<Arc<HubContext>>,
    caller: Caller,
) -> Result<(RateLimitDecision, Json<Value>), ApiError> {
    let decision = ctx
        .rate_limiter
        .check(&Subject::channel(Channel::Email).user(&caller.user_id))
        .await?;
    Ok((decision, Json(json!({"queued": true}))))
}

fn h<'a>(r: &'a hub_tests::TestResponse, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", r.headers))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn handler_answers_carry_ratelimit_headers_and_429_is_a_problem() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(
        Router::new()
            .route("/send-email", post(send_email))
            .with_state(hub.ctx.clone()),
    );
    let token = hub.token("mailer-1", Role::User);
    let first = send(
        &svc,
        req("POST", "/send-email", Some(&token))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(h(&first, "ratelimit-limit"), "100");
    assert_eq!(h(&first, "ratelimit-remaining"), "99");
    let reset: u64 = h(&first, "ratelimit-reset").parse().unwrap();
    assert!((1..=3600).contains(&reset));
    assert_eq!(h(&first, "ratelimit-policy"), "100;w=3600");
    for _ in 0..99 {
        let r = send(
            &svc,
            req("POST", "/send-email", Some(&token))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let denied = send(
        &svc,
        req("POST", "/send-email", Some(&token))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    let body = denied.assert_problem(429, "rate_limited");
    assert_eq!(
        body["type"],
        "https://integrations-hub.dev/problems/rate-limited"
    );
    assert_eq!(body["title"], "Too Many Requests");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 100 email sends per user per 3600 s"),
        "{body}"
    );
    let retry: u64 = h(&denied, "retry-after").parse().unwrap();
    assert!((1..=2 * 3600).contains(&retry), "{retry}");
    assert_eq!(h(&denied, "ratelimit-limit"), "100");
    assert_eq!(h(&denied, "ratelimit-remaining"), "0");
    // Another user is not affected.
    let other = send(
        &svc,
        req(
            "POST",
            "/send-email",
            Some(&hub.token("mailer-2", Role::User)),
        )
        .body(axum::body::Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(other.status, 200);
}

#[tokio::test]
async fn the_route_layer_limits_per_ip_on_public_routes() {
    let hub = TestHub::new().await;
    let base = unique_route();
    let pattern = format!("{base}/hooks/{{endpoint}}");
    rule(&hub, Scope::Ip, &pattern, 2, 60).await;
    let svc = shared::http::app(
        Router::new()
            .route(&pattern, post(|| async { "accepted" }))
            .route(&format!("{base}/open"), get(|| async { "open" }))
            .rate_limited(&hub.ctx),
    );
    let hook = |ip: &str, slash: bool| {
        let path = format!("{base}/hooks/ep-1{}", if slash { "/" } else { "" });
        req("POST", &path, None)
            .header("x-forwarded-for", format!("{ip}, 10.0.0.1"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let a = send(&svc, hook("203.0.113.10", false)).await;
    assert_eq!(a.status, 200);
    assert_eq!(h(&a, "ratelimit-limit"), "2");
    assert_eq!(h(&a, "ratelimit-remaining"), "1");
    assert_eq!(
        send(&svc, hook("203.0.113.10", true)).await.status,
        200,
        "the seed's trailing slash is the same route"
    );
    let denied = send(&svc, hook("203.0.113.10", false)).await;
    denied.assert_problem(429, "rate_limited");
    assert!(h(&denied, "retry-after").parse::<u64>().unwrap() >= 1);
    // Other endpoints under the same pattern share the per-IP counter; other IPs do not.
    let other_endpoint = req("POST", &format!("{base}/hooks/ep-2"), None)
        .header("x-forwarded-for", "203.0.113.10")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&svc, other_endpoint).await.status, 429);
    assert_eq!(send(&svc, hook("203.0.113.11", false)).await.status, 200);
    // A route without its own rule gets the built-in per-IP default (300/min).
    let open = send(&svc, get_req(&format!("{base}/open"), None)).await;
    assert_eq!(open.status, 200, "no IP at all: only IP-less rules apply");
    let open = send(
        &svc,
        req("GET", &format!("{base}/open"), None)
            .header("x-forwarded-for", "203.0.113.10")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(h(&open, "ratelimit-limit"), "300");
    assert_eq!(h(&open, "ratelimit-policy"), "300;w=60");
}

#[tokio::test]
async fn client_ip_prefers_the_gateway_source_ip() {
    use lambda_http::request::RequestContext;
    let mut ctx = aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    ctx.http.source_ip = Some("198.51.100.23".into());
    let mut request = http::Request::builder()
        .uri("/x")
        .header("x-forwarded-for", "1.1.1.1")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV2(ctx));
    let (parts, _) = request.into_parts();
    assert_eq!(
        shared::http::ClientIp::from_parts(&parts).0.as_deref(),
        Some("198.51.100.23")
    );
    let (parts, _) = http::Request::builder()
        .uri("/x")
        .header("x-forwarded-for", "1.1.1.1, 2.2.2.2")
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(
        shared::http::ClientIp::from_parts(&parts).0.as_deref(),
        Some("1.1.1.1")
    );
}
