//! Issue 19: the Helsa seed's `register_webhook` body as written (no `verification`)
//! registers a Standard Webhooks endpoint with a generated secret, which then verifies
//! deliveries; a user's malformed registration is refused for its role, not its shape.

use hub_tests::{json_req, send};
use serde_json::json;
use shared::auth::Role;

use crate::{Fixture, post_standard, slug};

#[tokio::test]
async fn the_seeds_register_webhook_body_defaults_to_standard_webhooks() {
    let f = Fixture::new().await;
    // The seed's call, with the endpoint made unique per test run.
    let endpoint_url = slug("payment-status");
    let created = f
        .register(json!({
            "provider_slug": "payment-gateway",
            "name": "Payment Status",
            "endpoint_url": endpoint_url,
            "events": ["payment.success", "payment.failed"]
        }))
        .await;
    assert_eq!(created["verification"]["scheme"], "standard_webhooks");
    assert_eq!(
        created["verification"]["tolerance_seconds"],
        shared::webhooks::signature::DEFAULT_TOLERANCE_SECS
    );
    assert_eq!(created["secret_origin"], "generated");
    let secret = created["secret"].as_str().expect("a generated secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    // The generated secret verifies a delivery; a wrong one is refused.
    let body = r#"{"type":"payment.success","data":{"id":"pay_1"}}"#;
    let res = post_standard(&f, &endpoint_url, secret, "msg_seed_1", body).await;
    assert!(
        res.status.is_success(),
        "{} {}",
        res.status,
        String::from_utf8_lossy(&res.body)
    );
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let res = post_standard(&f, &endpoint_url, other, "msg_seed_2", body).await;
    assert_eq!(res.status, 401, "{}", String::from_utf8_lossy(&res.body));
}

#[tokio::test]
async fn a_user_registering_a_malformed_webhook_gets_403() {
    let f = Fixture::new().await;
    let user = f.hub.token("u1", Role::User);
    for body in [json!({"provider_slug": "x"}), json!({"events": "all"})] {
        send(
            &f.svc,
            json_req("POST", "/api/integrations/webhooks/", Some(&user), &body),
        )
        .await
        .assert_problem(403, "forbidden");
    }
    // The admin learns what is missing, by field name.
    let p = send(
        &f.svc,
        json_req(
            "POST",
            "/api/integrations/webhooks/",
            Some(&f.hub.admin()),
            &json!({"provider_slug": "x"}),
        ),
    )
    .await
    .assert_problem(422, "invalid_body");
    assert_eq!(p["errors"][0]["field"], "name", "{p}");
}
