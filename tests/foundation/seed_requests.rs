//! Issue 19: the seeds' requests as written, and what a newcomer meets first. Role checks come
//! before the body is read, `errors[].field` names the field, custom providers can be deleted,
//! and credentials put through the API reach another function within seconds.

use std::time::{Duration, Instant};

use hub_tests::{TestHub, get, json_req, req, send};
use serde_json::{Value, json};
use shared::HubContext;
use shared::auth::Role;

fn providers_svc(ctx: std::sync::Arc<HubContext>) -> shared::http::HubService {
    shared::http::app(providers::router(ctx))
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

#[tokio::test]
async fn a_user_posting_a_malformed_body_to_an_admin_route_gets_403_not_the_schema() {
    let hub = TestHub::new().await;
    let svc = providers_svc(hub.ctx_of("providers"));
    let user = hub.token("u1", Role::User);
    let service = hub.token("svc", Role::Service);
    // The request as written, then other role-restricted routes with bodies that
    // would fail validation.
    let cases: Vec<(&str, &str, Value)> = vec![
        ("POST", "/api/integrations/providers", json!({"slug": "x"})),
        ("POST", "/api/integrations/providers/", json!({"slug": "x"})),
        (
            "PATCH",
            "/api/integrations/providers/openai",
            json!({"enabled": "yes"}),
        ),
        (
            "PUT",
            "/api/integrations/providers/openai/credentials",
            json!([1]),
        ),
        ("POST", "/api/integrations/rate-limits", json!({"scope": 1})),
        (
            "PATCH",
            "/api/integrations/rate-limits/default-sms-user",
            json!({"limit": "many"}),
        ),
    ];
    for (method, path, body) in &cases {
        for token in [&user, &service] {
            let p = send(&svc, json_req(method, path, Some(token), body))
                .await
                .assert_problem(403, "forbidden");
            assert!(p.get("errors").is_none(), "{method} {path}: {p}");
            assert!(
                !p.to_string().contains("missing field"),
                "{method} {path}: {p}"
            );
        }
    }
    // Not JSON at all, or no content type: still 403 first.
    let r = req("POST", "/api/integrations/providers", Some(&user))
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("slug=x"))
        .unwrap();
    send(&svc, r).await.assert_problem(403, "forbidden");
    // Without a token: 401 before anything else.
    send(
        &svc,
        json_req(
            "POST",
            "/api/integrations/providers",
            None,
            &json!({"slug": "x"}),
        ),
    )
    .await
    .assert_problem(401, "missing_token");
    // A service may run health checks (admin or service), a user may not.
    send(
        &svc,
        get(
            "/api/integrations/providers/openai/health-check",
            Some(&user),
        ),
    )
    .await
    .assert_problem(403, "forbidden");
    // The admin with the same body gets the validation answer.
    send(
        &svc,
        json_req(
            "POST",
            "/api/integrations/providers",
            Some(&hub.admin()),
            &json!({"slug": "x"}),
        ),
    )
    .await
    .assert_problem(422, "invalid_body");
}

/// `errors[0]` of a 422 `invalid_body` answer.
async fn body_error(
    svc: &shared::http::HubService,
    method: &str,
    path: &str,
    token: &str,
    body: &Value,
) -> Value {
    let p = send(svc, json_req(method, path, Some(token), body))
        .await
        .assert_problem(422, "invalid_body");
    assert_eq!(p["errors"].as_array().map(Vec::len), Some(1), "{p}");
    p["errors"][0].clone()
}

#[tokio::test]
async fn errors_field_names_the_field_and_message_carries_serdes_sentence() {
    let hub = TestHub::new().await;
    let svc = providers_svc(hub.ctx_of("providers"));
    let admin = hub.admin();
    let create = "/api/integrations/providers";
    // Missing field: the body.
    let e = body_error(&svc, "POST", create, &admin, &json!({"slug": "x"})).await;
    assert_eq!(e["field"], "name", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("missing field `name`"), "{e}");
    // Wrong type on a field: its path.
    let e = body_error(
        &svc,
        "POST",
        create,
        &admin,
        &json!({"slug": "x", "name": 5, "kind": "sms", "protocol": "none"}),
    )
    .await;
    assert_eq!(e["field"], "name", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid type: integer `5`"),
        "{e}"
    );
    // Unknown variant: the field holding it.
    let e = body_error(
        &svc,
        "POST",
        create,
        &admin,
        &json!({"slug": "x1", "name": "X", "kind": "fax", "protocol": "none"}),
    )
    .await;
    assert_eq!(e["field"], "kind", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown variant `fax`"),
        "{e}"
    );
    // Unknown field (deny_unknown_fields): the unknown one.
    let e = body_error(
        &svc,
        "PATCH",
        "/api/integrations/providers/openai",
        &admin,
        &json!({"colour": "red"}),
    )
    .await;
    assert_eq!(e["field"], "colour", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown field `colour`"),
        "{e}"
    );
    // The whole body of the wrong shape: `body`.
    let e = body_error(&svc, "POST", create, &admin, &json!("slug=x")).await;
    assert_eq!(e["field"], "body", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid type: string"),
        "{e}"
    );
    // An element of an array: its index.
    let e = body_error(&svc, "POST", create, &admin, &json!([1, 2])).await;
    assert_eq!(e["field"], "[0]", "{e}");
}

#[tokio::test]
async fn admins_delete_custom_providers_and_built_ins_answer_409() {
    let hub = TestHub::new().await;
    let svc = providers_svc(hub.ctx_of("providers"));
    let admin = hub.admin();
    let slug = unique("gw");
    let path = format!("/api/integrations/providers/{slug}");
    let body =
        json!({"slug": slug, "name": "Payment gateway", "kind": "webhook", "protocol": "none"});
    let created = send(
        &svc,
        json_req("POST", "/api/integrations/providers", Some(&admin), &body),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    // A user may not delete.
    let user = hub.token("u1", Role::User);
    send(
        &svc,
        req("DELETE", &path, Some(&user))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .assert_problem(403, "forbidden");
    // The admin deletes (the seed's trailing slash too); then it is gone.
    let res = send(
        &svc,
        req("DELETE", &format!("{path}/"), Some(&admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, 204, "{:?}", res.body);
    assert!(res.body.is_empty());
    send(&svc, get(&path, Some(&admin)))
        .await
        .assert_problem(404, "not_found");
    let listed = send(&svc, get("/api/integrations/providers", Some(&admin)))
        .await
        .json();
    assert!(
        !listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["slug"] == slug.as_str()),
        "{listed}"
    );
    send(
        &svc,
        req("DELETE", &path, Some(&admin))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .assert_problem(404, "not_found");
    // Built-ins stay: 409, pointing at PATCH `enabled`.
    let p = send(
        &svc,
        req(
            "DELETE",
            "/api/integrations/providers/kavenegar",
            Some(&admin),
        )
        .body(axum::body::Body::empty())
        .unwrap(),
    )
    .await
    .assert_problem(409, "provider_builtin");
    assert!(p["detail"].as_str().unwrap().contains("enabled"), "{p}");
    let kept = send(
        &svc,
        get("/api/integrations/providers/kavenegar", Some(&admin)),
    )
    .await;
    assert_eq!(kept.status, 200);
}

async fn configured(svc: &shared::http::HubService, token: &str, slug: &str) -> bool {
    let v = send(
        svc,
        get(&format!("/api/integrations/providers/{slug}"), Some(token)),
    )
    .await
    .json();
    v["configured"].as_bool().unwrap_or_else(|| panic!("{v}"))
}

#[tokio::test]
async fn credentials_put_in_one_function_reach_another_within_the_absent_ttl() {
    let absent_ttl = [("CREDENTIAL_ABSENT_TTL_SECONDS", "1".to_string())];
    let hub = TestHub::with_env(&absent_ttl).await;
    // A second cold start of the same deployment (same secrets prefix), as another function
    // would have: its own credential cache.
    let other = hub.another_ctx_of("providers", &absent_ttl).await;
    let (writer, reader) = (providers_svc(hub.ctx_of("providers")), providers_svc(other));
    let admin = hub.admin();
    // The reader looks the provider up first: not configured, and that is now cached.
    assert!(!configured(&reader, &admin, "openai").await);
    let res = send(
        &writer,
        json_req(
            "PUT",
            "/api/integrations/providers/openai/credentials",
            Some(&admin),
            &json!({"api_key": "sk-test-put"}),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert!(configured(&writer, &admin, "openai").await);
    // Within the short window (1 s here), far below CREDENTIAL_TTL_SECONDS (300 s).
    let put_at = Instant::now();
    while !configured(&reader, &admin, "openai").await {
        assert!(
            put_at.elapsed() < Duration::from_secs(4),
            "the other function still answers not configured"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
