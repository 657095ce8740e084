//! JWT auth (missing, expired, wrong signature, alg none, wrong role) and problem answers
//! for bad input, through the providers function in-process.

use base64::Engine;
use hub_tests::{TestHub, get, json_req, req, send};
use serde_json::json;
use shared::auth::Role;

fn svc(hub: &TestHub) -> shared::http::HubService {
    shared::http::app(providers::router(hub.ctx_of("providers")))
}

#[tokio::test]
async fn missing_token_is_401_with_www_authenticate() {
    let hub = TestHub::new().await;
    let res = send(&svc(&hub), get("/api/integrations/providers", None)).await;
    res.assert_problem(401, "missing_token");
    assert_eq!(res.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn expired_token_is_401_token_expired() {
    let hub = TestHub::new().await;
    let now = jsonwebtoken::get_current_timestamp();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "u1", "role": "user", "exp": now - 600, "iat": now - 1200}),
        &jsonwebtoken::EncodingKey::from_secret(hub.jwt_secret.as_bytes()),
    )
    .unwrap();
    send(
        &svc(&hub),
        get("/api/integrations/providers", Some(&expired)),
    )
    .await
    .assert_problem(401, "token_expired");
}

#[tokio::test]
async fn wrong_signature_and_alg_none_are_401() {
    let hub = TestHub::new().await;
    let forged = shared::auth::issue_token(b"not-the-secret", "u1", Role::Admin, 600);
    send(
        &svc(&hub),
        get("/api/integrations/providers", Some(&forged)),
    )
    .await
    .assert_problem(401, "invalid_token");

    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = jsonwebtoken::get_current_timestamp();
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(format!(
            r#"{{"sub":"u1","role":"admin","exp":{}}}"#,
            now + 600
        ))
    );
    send(&svc(&hub), get("/api/integrations/providers", Some(&none)))
        .await
        .assert_problem(401, "invalid_token");
    send(
        &svc(&hub),
        get("/api/integrations/providers", Some("garbage")),
    )
    .await
    .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn user_token_reads_but_gets_403_on_admin_routes() {
    let hub = TestHub::new().await;
    let user = hub.token("u1", Role::User);
    let res = send(&svc(&hub), get("/api/integrations/providers", Some(&user))).await;
    assert_eq!(res.status, 200);
    send(&svc(&hub), get("/api/integrations/logs", Some(&user)))
        .await
        .assert_problem(403, "forbidden");
    let body = json!({"slug": "pay-gw", "name": "Pay", "kind": "webhook", "protocol": "none"});
    send(
        &svc(&hub),
        json_req("POST", "/api/integrations/providers", Some(&user), &body),
    )
    .await
    .assert_problem(403, "forbidden");
    let creds = json!({"api_key": "k", "sender": "1000"});
    send(
        &svc(&hub),
        json_req(
            "PUT",
            "/api/integrations/providers/kavenegar/credentials",
            Some(&user),
            &creds,
        ),
    )
    .await
    .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn bad_bodies_get_clear_4xx_problems() {
    let hub = TestHub::new().await;
    let admin = hub.admin();
    let s = svc(&hub);
    // Malformed JSON.
    let r = req("POST", "/api/integrations/providers", Some(&admin))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"slug\": "))
        .unwrap();
    send(&s, r).await.assert_problem(400, "malformed_json");
    // Bytes that are not UTF-8 under a JSON content type (the fuzz step's `cargo lambda
    // watch` answers these itself; the hub must answer them as malformed JSON).
    let r = req("POST", "/api/integrations/providers", Some(&admin))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(vec![0xff, 0xfe, b'{', 0x80]))
        .unwrap();
    send(&s, r).await.assert_problem(400, "malformed_json");
    // Wrong content type.
    let r = req("POST", "/api/integrations/providers", Some(&admin))
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    send(&s, r)
        .await
        .assert_problem(415, "unsupported_media_type");
    // Wrong shape: names the field.
    let p = send(
        &s,
        json_req(
            "POST",
            "/api/integrations/providers",
            Some(&admin),
            &json!({"slug": "x1", "name": "X", "kind": "fax", "protocol": "none"}),
        ),
    )
    .await
    .assert_problem(422, "invalid_body");
    assert!(p["detail"].as_str().unwrap().contains("kind"), "{p}");
    // Oversize body (over the 1 MiB default).
    let big = "x".repeat(1024 * 1024 + 10);
    let r = req("POST", "/api/integrations/providers", Some(&admin))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(format!("{{\"name\":\"{big}\"}}")))
        .unwrap();
    send(&s, r).await.assert_problem(413, "payload_too_large");
    // Invalid field value.
    let p = send(
        &s,
        json_req(
            "POST",
            "/api/integrations/providers",
            Some(&admin),
            &json!({"slug": "Bad Slug", "name": "X", "kind": "sms", "protocol": "none"}),
        ),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "slug");
    // Bad query parameter.
    send(
        &s,
        get(
            "/api/integrations/providers/kavenegar/statistics?window_hours=abc",
            Some(&admin),
        ),
    )
    .await
    .assert_problem(400, "invalid_query");
    send(
        &s,
        get(
            "/api/integrations/providers/kavenegar/statistics?window_hours=0",
            Some(&admin),
        ),
    )
    .await
    .assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let hub = TestHub::new().await;
    let s = svc(&hub);
    send(&s, get("/api/integrations/nope", None))
        .await
        .assert_problem(404, "unknown_route");
    send(
        &s,
        req("DELETE", "/api/integrations/providers", None)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .assert_problem(405, "method_not_allowed");
    let admin = hub.admin();
    send(
        &s,
        get(
            "/api/integrations/providers/no-such-provider/",
            Some(&admin),
        ),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn trailing_slash_paths_answer_like_the_plain_ones() {
    let hub = TestHub::new().await;
    let admin = hub.admin();
    let s = svc(&hub);
    let a = send(&s, get("/api/integrations/providers/", Some(&admin))).await;
    let b = send(&s, get("/api/integrations/providers", Some(&admin))).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json(), b.json());
    let one = send(
        &s,
        get("/api/integrations/providers/kavenegar/", Some(&admin)),
    )
    .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["slug"], "kavenegar");
}

/// The JWT secret is read on the first token check, not at cold start: a context for a stack
/// whose secret is missing still builds (SQS workers never check a token), a request with a
/// token then gets a 500 problem (the log names the secret), and once the secret exists the
/// next request verifies (a failed read is not cached).
#[tokio::test]
async fn the_jwt_secret_is_read_on_first_use() {
    let prefix = format!("test-nojwt-{}", uuid::Uuid::new_v4().simple());
    let env = hub_tests::env_with(&[("SECRETS_PREFIX", prefix.clone())]);
    let aws = shared::aws::AwsClients::from_env(&env)
        .await
        .expect("AWS configuration from the test environment");
    let ctx = shared::HubContext::build(env, aws.clone())
        .await
        .expect("no secret is read while building the context");
    let svc = shared::http::app(providers::router(ctx));
    let secret = format!("jwt-{}", uuid::Uuid::new_v4());
    let token = shared::auth::issue_token(secret.as_bytes(), "u1", Role::User, 600);

    send(&svc, get("/api/integrations/providers", Some(&token)))
        .await
        .assert_problem(500, "internal_error");
    // No token: 401 as always, without touching the secret.
    send(&svc, get("/api/integrations/providers", None))
        .await
        .assert_problem(401, "missing_token");

    aws.secrets
        .create_secret()
        .name(format!("{prefix}/jwt"))
        .secret_string(&secret)
        .send()
        .await
        .expect("create the JWT secret");
    let res = send(&svc, get("/api/integrations/providers", Some(&token))).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
}
