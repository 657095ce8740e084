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

/// Helsa's "log all activities": registering, changing and rotating an endpoint are in the admin
/// audit trail under the admin who did it, with field names and never the secret.
#[tokio::test]
async fn endpoint_changes_are_in_the_audit_trail_without_secrets() {
    let f = Fixture::new().await;
    let actor = format!("webhook-admin-{}", uuid::Uuid::new_v4().simple());
    let admin = f.hub.token(&actor, Role::Admin);
    let endpoint_url = slug("audited");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    send(
        &f.svc,
        json_req(
            "POST",
            "/api/integrations/webhooks/",
            Some(&admin),
            &json!({"provider_slug": "payment-gateway", "name": "Audited",
                    "endpoint_url": endpoint_url, "secret": secret}),
        ),
    )
    .await
    .assert_status(201);
    send(
        &f.svc,
        json_req(
            "PATCH",
            &format!("/api/integrations/webhooks/{endpoint_url}"),
            Some(&admin),
            &json!({"name": "Audited again"}),
        ),
    )
    .await
    .assert_status(200);
    send(
        &f.svc,
        json_req(
            "POST",
            &format!("/api/integrations/webhooks/{endpoint_url}/rotate-secret"),
            Some(&admin),
            &json!({}),
        ),
    )
    .await
    .assert_status(200);

    let page = f
        .hub
        .ctx
        .audit
        .list(&shared::audit::AuditQuery {
            action: Some("webhook_endpoint.".into()),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .expect("audit listing");
    let mine: Vec<_> = page.items.iter().filter(|e| e.actor == actor).collect();
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "webhook_endpoint.rotated",
            "webhook_endpoint.updated",
            "webhook_endpoint.registered"
        ]
    );
    assert!(
        mine.iter()
            .all(|e| e.target == format!("webhook_endpoint:{endpoint_url}"))
    );
    assert!(mine[2].fields.contains(&"secret".to_string()));
    assert_eq!(mine[1].fields, ["name"]);
    let text = serde_json::to_string(&page.items).unwrap();
    assert!(!text.contains(secret), "a secret reached the audit trail");
}
