use hub_tests::{TestHub, get, json_req, req, send};
use serde_json::json;
use shared::auth::Role;
use shared::rate_limit::Subject;

use crate::unique_route;

#[tokio::test]
async fn admin_manages_rules_and_others_are_refused() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let admin = hub.admin();
    let user = hub.token("u1", Role::User);
    let service = hub.token("svc", Role::Service);

    // Defaults are there without any admin action.
    let list = send(&svc, get("/api/integrations/rate-limits/", Some(&admin))).await;
    assert_eq!(list.status, 200);
    let items = list.json()["items"].as_array().unwrap().clone();
    for (id, scope, target, limit, window) in [
        ("default-email-user", "user", "email", 100, 3600),
        ("default-sms-user", "user", "sms", 10, 3600),
        ("default-upload-user", "user", "upload", 20, 3600),
        ("default-websocket-user", "user", "websocket", 1000, 3600),
        ("default-ai-user", "user", "ai", 500, 3600),
        ("default-otp-receptor", "receptor", "sms_otp", 5, 3600),
        ("default-route-ip", "ip", "*", 300, 60),
    ] {
        let r = items
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(
            (r["scope"].as_str().unwrap(), r["target"].as_str().unwrap()),
            (scope, target)
        );
        assert_eq!(
            (
                r["limit"].as_u64().unwrap(),
                r["window_seconds"].as_u64().unwrap()
            ),
            (limit, window)
        );
        assert_eq!(r["builtin"], true);
    }

    // Non-admins: 403 on every route; no token: 401.
    send(&svc, get("/api/integrations/rate-limits", Some(&user)))
        .await
        .assert_problem(403, "forbidden");
    send(&svc, get("/api/integrations/rate-limits", Some(&service)))
        .await
        .assert_problem(403, "forbidden");
    send(&svc, get("/api/integrations/rate-limits", None))
        .await
        .assert_problem(401, "missing_token");
    let target = format!("{}/send", unique_route());
    let body = json!({"scope": "user", "target": target, "limit": 3, "window_seconds": 60});
    send(
        &svc,
        json_req("POST", "/api/integrations/rate-limits", Some(&user), &body),
    )
    .await
    .assert_problem(403, "forbidden");
    send(
        &svc,
        json_req(
            "PATCH",
            "/api/integrations/rate-limits/default-sms-user",
            Some(&user),
            &json!({"limit": 1000}),
        ),
    )
    .await
    .assert_problem(403, "forbidden");
    send(
        &svc,
        req(
            "DELETE",
            "/api/integrations/rate-limits/default-sms-user",
            Some(&user),
        )
        .body(axum::body::Body::empty())
        .unwrap(),
    )
    .await
    .assert_problem(403, "forbidden");

    // Create, read, update, delete.
    let created = send(
        &svc,
        json_req(
            "POST",
            "/api/integrations/rate-limits/",
            Some(&admin),
            &body,
        ),
    )
    .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let rule = created.json();
    let id = rule["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            rule["limit"].as_u64(),
            rule["enabled"].as_bool(),
            rule["builtin"].as_bool()
        ),
        (Some(3), Some(true), Some(false))
    );
    let path = format!("/api/integrations/rate-limits/{id}");
    assert_eq!(
        send(&svc, get(&path, Some(&admin))).await.json()["target"],
        target.as_str()
    );
    let patched = send(
        &svc,
        json_req(
            "PATCH",
            &path,
            Some(&admin),
            &json!({"limit": 1, "description": "one only"}),
        ),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["limit"], 1);
    assert_eq!(patched.json()["window_seconds"], 60);
    // The change is in effect for this instance at once.
    hub.ctx
        .rate_limiter
        .check(&Subject::route(&target).user("u1"))
        .await
        .unwrap();
    assert!(
        hub.ctx
            .rate_limiter
            .check(&Subject::route(&target).user("u1"))
            .await
            .is_err()
    );
    let named = send(&svc, json_req("POST", "/api/integrations/rate-limits", Some(&admin), &json!({"id": format!("{id}-x"), "scope": "ip", "target": target, "limit": 5, "window_seconds": 10}))).await;
    assert_eq!(named.status, 201);
    send(&svc, json_req("POST", "/api/integrations/rate-limits", Some(&admin), &json!({"id": format!("{id}-x"), "scope": "ip", "target": target, "limit": 5, "window_seconds": 10})))
        .await
        .assert_problem(409, "rule_exists");
    let deleted = send(
        &svc,
        req("DELETE", &path, Some(&admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, 204);
    send(&svc, get(&path, Some(&admin)))
        .await
        .assert_problem(404, "not_found");
    send(
        &svc,
        req("DELETE", &path, Some(&admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .assert_problem(404, "not_found");
    send(
        &svc,
        req("DELETE", &format!("{path}-x"), Some(&admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn bad_rules_are_problems_naming_the_field() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let admin = hub.admin();
    let post = |body: serde_json::Value| {
        json_req("POST", "/api/integrations/rate-limits", Some(&admin), &body)
    };
    let field_of = |v: &serde_json::Value| {
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    let v = send(
        &svc,
        post(json!({"scope": "user", "target": "fax", "limit": 3, "window_seconds": 60})),
    )
    .await
    .assert_problem(422, "invalid_rule");
    assert_eq!(field_of(&v), ["target"]);
    let v = send(
        &svc,
        post(json!({"scope": "user", "target": "sms", "limit": 0, "window_seconds": 0})),
    )
    .await
    .assert_problem(422, "invalid_rule");
    assert_eq!(field_of(&v), ["limit", "window_seconds"]);
    let v = send(
        &svc,
        post(json!({"scope": "receptor", "target": "email", "limit": 3, "window_seconds": 60})),
    )
    .await
    .assert_problem(422, "invalid_rule");
    assert_eq!(field_of(&v), ["scope"]);
    send(
        &svc,
        post(json!({"scope": "planet", "target": "sms", "limit": 3, "window_seconds": 60})),
    )
    .await
    .assert_problem(422, "invalid_body");
    send(
        &svc,
        post(json!({"scope": "user", "target": "sms", "limit": -1, "window_seconds": 60})),
    )
    .await
    .assert_problem(422, "invalid_body");
    send(
        &svc,
        post(json!({"scope": "user", "target": "sms", "window_seconds": 60})),
    )
    .await
    .assert_problem(422, "invalid_body");
    send(&svc, post(json!({"scope": "user", "target": "sms", "limit": 1, "window_seconds": 60, "colour": "red"}))).await.assert_problem(422, "invalid_body");
    let v = send(&svc, post(json!({"id": "Bad Id!", "scope": "user", "target": "sms", "limit": 1, "window_seconds": 60}))).await.assert_problem(400, "invalid_field");
    assert_eq!(field_of(&v), ["id"]);
    send(&svc, post(json!({"id": "default-sms-user", "scope": "user", "target": "sms", "limit": 1, "window_seconds": 60})))
        .await
        .assert_problem(409, "rule_exists");
    send(
        &svc,
        json_req(
            "PATCH",
            "/api/integrations/rate-limits/default-sms-user",
            Some(&admin),
            &json!({"window_seconds": 0}),
        ),
    )
    .await
    .assert_problem(422, "invalid_rule");
    send(
        &svc,
        json_req(
            "PATCH",
            "/api/integrations/rate-limits/no-such-rule",
            Some(&admin),
            &json!({"limit": 3}),
        ),
    )
    .await
    .assert_problem(404, "not_found");
    // Nothing bad was stored.
    let list = send(&svc, get("/api/integrations/rate-limits", Some(&admin)))
        .await
        .json();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["target"] != "fax" && r["limit"] != 0)
    );
}

#[tokio::test]
async fn a_builtin_can_be_overridden_and_restored() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let admin = hub.admin();
    // Same values as the default (other tests share the table); only the description changes.
    let path = "/api/integrations/rate-limits/default-websocket-user";
    let patched = send(
        &svc,
        json_req(
            "PATCH",
            path,
            Some(&admin),
            &json!({"description": "override under test"}),
        ),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["builtin"], true);
    assert_eq!(
        send(&svc, get(path, Some(&admin))).await.json()["description"],
        "override under test"
    );
    let deleted = send(
        &svc,
        req("DELETE", path, Some(&admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, 204);
    let restored = send(&svc, get(path, Some(&admin))).await.json();
    assert_eq!(restored["limit"], 1000);
    assert_ne!(restored["description"], "override under test");
}
