//! The admin audit trail: every admin change is recorded (who, what, when, which fields),
//! never a value, and only admins read it.

use hub_tests::{TestHub, get, json_req, send};
use serde_json::{Value, json};
use shared::auth::Role;

fn mine(page: &Value, actor: &str) -> Vec<Value> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["actor"] == actor)
        .cloned()
        .collect()
}

#[tokio::test]
async fn admin_changes_are_recorded_without_values_and_listed_newest_first() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    // A distinct admin per run: other tests write to the same trail.
    let actor = format!("auditor-{}", uuid::Uuid::new_v4().simple());
    let admin = hub.token(&actor, Role::Admin);
    let slug = format!("audit-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);

    send(
        &svc,
        json_req(
            "POST",
            "/api/integrations/providers",
            Some(&admin),
            &json!({"slug": slug, "name": "Audit SMS", "kind": "sms", "protocol": "kavenegar",
                    "base_url": "https://sms.example.com", "credential_fields": ["api_key"]}),
        ),
    )
    .await
    .assert_status(201);
    send(
        &svc,
        json_req(
            "PUT",
            &format!("/api/integrations/providers/{slug}/credentials"),
            Some(&admin),
            &json!({"api_key": "sk-audit-secret-value"}),
        ),
    )
    .await
    .assert_status(200);
    send(
        &svc,
        json_req(
            "PATCH",
            &format!("/api/integrations/providers/{slug}"),
            Some(&admin),
            &json!({"enabled": false}),
        ),
    )
    .await
    .assert_status(200);
    send(
        &svc,
        json_req(
            "POST",
            "/api/integrations/rate-limits",
            Some(&admin),
            // A route of its own, so the rule limits nothing other tests call.
            &json!({"scope": "user", "target": format!("/audit-test/{slug}"), "limit": 7, "window_seconds": 60}),
        ),
    )
    .await
    .assert_status(201);
    // A refused change is not a change.
    send(
        &svc,
        json_req(
            "PATCH",
            "/api/integrations/providers/no-such-provider",
            Some(&admin),
            &json!({"enabled": false}),
        ),
    )
    .await
    .assert_status(404);

    let res = send(
        &svc,
        get("/api/integrations/audit?limit=100", Some(&hub.admin())),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(
        !String::from_utf8_lossy(&res.body).contains("sk-audit-secret-value"),
        "a credential value reached the audit trail"
    );
    let entries = mine(&res.json(), &actor);
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "rate_limit.created",
            "provider.updated",
            "credentials.put",
            "provider.created"
        ],
        "newest first: {entries:#?}"
    );
    let credentials = &entries[2];
    assert_eq!(credentials["target"], format!("provider:{slug}"));
    assert_eq!(credentials["fields"], json!(["api_key"]));
    assert_eq!(credentials["role"], "admin");
    assert!(credentials["at"].as_str().unwrap().contains('T'));
    assert!(credentials["request_id"].is_string());
    assert_eq!(entries[1]["fields"], json!(["enabled"]));

    // Filter by action prefix.
    let only = send(
        &svc,
        get(
            "/api/integrations/audit?action=credentials.&limit=100",
            Some(&hub.admin()),
        ),
    )
    .await
    .json();
    let only = mine(&only, &actor);
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["action"], "credentials.put");
}

#[tokio::test]
async fn only_admins_read_the_trail_and_bad_filters_are_named() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    send(
        &svc,
        get("/api/integrations/audit", Some(&hub.token("u", Role::User))),
    )
    .await
    .assert_problem(403, "forbidden");
    let v = send(
        &svc,
        get("/api/integrations/audit?limit=0", Some(&hub.admin())),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(v["errors"][0]["field"], "limit");
    let v = send(
        &svc,
        get(
            "/api/integrations/audit?since=yesterday",
            Some(&hub.admin()),
        ),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(v["errors"][0]["field"], "since");
}
