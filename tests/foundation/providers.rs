//! Provider catalog and live health checks against wiremock fakes speaking each provider's
//! real format.

use hub_tests::{TestHub, get, json_req, send};
use serde_json::json;
use shared::auth::Role;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn lists_builtin_providers_with_configuration_state() {
    let hub = TestHub::new().await;
    hub.put_secret("openai", json!({"api_key": "sk-test"}))
        .await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let v = send(
        &svc,
        get(
            "/api/integrations/providers",
            Some(&hub.token("u1", Role::User)),
        ),
    )
    .await
    .json();
    let items = v["items"].as_array().unwrap();
    for slug in [
        "kavenegar",
        "twilio",
        "smtp",
        "openai",
        "huggingface",
        "talkbot",
    ] {
        assert!(items.iter().any(|i| i["slug"] == slug), "{slug} missing");
    }
    let openai = items.iter().find(|i| i["slug"] == "openai").unwrap();
    assert_eq!(openai["configured"], true);
    let kav = items.iter().find(|i| i["slug"] == "kavenegar").unwrap();
    assert_eq!(kav["configured"], false);
    assert!(!v.to_string().contains("sk-test"));
}

#[tokio::test]
async fn admin_creates_and_updates_a_provider() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let admin = hub.admin();
    let slug = format!("gw-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let body =
        json!({"slug": slug, "name": "Payment gateway", "kind": "webhook", "protocol": "none"});
    let created = send(
        &svc,
        json_req("POST", "/api/integrations/providers/", Some(&admin), &body),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["builtin"], false);
    send(
        &svc,
        json_req("POST", "/api/integrations/providers", Some(&admin), &body),
    )
    .await
    .assert_problem(409, "provider_exists");
    let patched = send(
        &svc,
        json_req(
            "PATCH",
            &format!("/api/integrations/providers/{slug}"),
            Some(&admin),
            &json!({"enabled": false, "priority": 5}),
        ),
    )
    .await;
    assert_eq!(patched.status, 200);
    let one = send(
        &svc,
        get(&format!("/api/integrations/providers/{slug}"), Some(&admin)),
    )
    .await
    .json();
    assert_eq!(one["enabled"], false);
    assert_eq!(one["priority"], 5);
    assert_eq!(one["name"], "Payment gateway");
    send(
        &svc,
        json_req(
            "PATCH",
            &format!("/api/integrations/providers/{slug}"),
            Some(&admin),
            &json!({"colour": "red"}),
        ),
    )
    .await
    .assert_problem(422, "invalid_body");
}

#[tokio::test]
async fn kavenegar_health_check_calls_account_info() {
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/GOOD-KEY/account/info.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "return": {"status": 200, "message": "تایید شد"},
            "entries": {"remaincredit": 152000, "expiredate": 1893456000, "type": "master"}
        })))
        .expect(1)
        .mount(&fake)
        .await;
    let hub = TestHub::with_env(&[("KAVENEGAR_BASE_URL", format!("{}/v1", fake.uri()))]).await;
    hub.put_secret(
        "kavenegar",
        json!({"api_key": "GOOD-KEY", "sender": "10004346"}),
    )
    .await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let v = send(
        &svc,
        get(
            "/api/integrations/providers/kavenegar/health-check/",
            Some(&hub.admin()),
        ),
    )
    .await
    .json();
    assert_eq!(v["reachable"], true, "{v}");
    assert_eq!(v["configured"], true);
    assert!(v["detail"].as_str().unwrap().contains("152000"));
    // The check is stored on the catalog entry and counted in the statistics.
    let p = send(
        &svc,
        get("/api/integrations/providers/kavenegar", Some(&hub.admin())),
    )
    .await
    .json();
    assert_eq!(p["last_check"]["reachable"], true);
}

#[tokio::test]
async fn rejected_key_is_refreshed_once_then_reported() {
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/OLD-KEY/account/info.json"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"return": {"status": 403, "message": "کلید معتبر نیست"}, "entries": null}),
        ))
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/NEW-KEY/account/info.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"return": {"status": 200, "message": "ok"}, "entries": {"remaincredit": 1}}),
        ))
        .expect(1)
        .mount(&fake)
        .await;
    let hub = TestHub::with_env(&[("KAVENEGAR_BASE_URL", format!("{}/v1", fake.uri()))]).await;
    hub.put_secret("kavenegar", json!({"api_key": "OLD-KEY", "sender": "1"}))
        .await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let admin = hub.admin();
    let first = send(
        &svc,
        get(
            "/api/integrations/providers/kavenegar/health-check",
            Some(&admin),
        ),
    )
    .await
    .json();
    assert_eq!(first["reachable"], false);
    assert_eq!(first["error_code"], "kavenegar_403");
    // Rotate the key in Secrets Manager behind the hub's back: the cached one is rejected,
    // the store reads the secret again and the retry succeeds, without a cold start.
    hub.ctx
        .aws
        .secrets
        .put_secret_value()
        .secret_id(format!("{}/providers/kavenegar", hub.prefix))
        .secret_string(r#"{"api_key":"NEW-KEY","sender":"1"}"#)
        .send()
        .await
        .unwrap();
    let second = send(
        &svc,
        get(
            "/api/integrations/providers/kavenegar/health-check",
            Some(&admin),
        ),
    )
    .await
    .json();
    assert_eq!(second["reachable"], true, "{second}");
}

#[tokio::test]
async fn twilio_and_openai_health_checks_use_their_formats() {
    let fake = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2010-04-01/Accounts/AC123.json"))
        .and(header("authorization", "Basic QUMxMjM6dG9rZW4=")) // AC123:token
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"sid": "AC123", "status": "active", "friendly_name": "Helsa"}),
            ),
        )
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-good"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}),
        ))
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/hf/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "Invalid credentials in Authorization header", "type": "invalid_request_error", "code": "invalid_api_key"}})))
        .mount(&fake)
        .await;
    let hub = TestHub::with_env(&[
        ("TWILIO_BASE_URL", fake.uri()),
        ("OPENAI_BASE_URL", format!("{}/v1", fake.uri())),
        ("HUGGINGFACE_BASE_URL", format!("{}/hf/v1", fake.uri())),
    ])
    .await;
    hub.put_secret(
        "twilio",
        json!({"account_sid": "AC123", "auth_token": "token", "from_number": "+15005550006"}),
    )
    .await;
    hub.put_secret("openai", json!({"api_key": "sk-good"}))
        .await;
    hub.put_secret("huggingface", json!({"api_key": "hf-bad"}))
        .await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let svc_token = hub.token("svc", Role::Service);
    let t = send(
        &svc,
        get(
            "/api/integrations/providers/twilio/health-check",
            Some(&svc_token),
        ),
    )
    .await
    .json();
    assert_eq!(t["reachable"], true, "{t}");
    assert!(t["detail"].as_str().unwrap().contains("active"));
    let o = send(
        &svc,
        get(
            "/api/integrations/providers/openai/health-check",
            Some(&svc_token),
        ),
    )
    .await
    .json();
    assert_eq!(o["reachable"], true, "{o}");
    let h = send(
        &svc,
        get(
            "/api/integrations/providers/huggingface/health-check",
            Some(&svc_token),
        ),
    )
    .await
    .json();
    assert_eq!(h["reachable"], false);
    assert_eq!(h["error_code"], "huggingface_invalid_api_key");
    // Users may not trigger live checks.
    send(
        &svc,
        get(
            "/api/integrations/providers/openai/health-check",
            Some(&hub.token("u", Role::User)),
        ),
    )
    .await
    .assert_problem(403, "forbidden");
    // Unconfigured provider: no call, says so.
    let k = send(
        &svc,
        get(
            "/api/integrations/providers/talkbot/health-check",
            Some(&svc_token),
        ),
    )
    .await
    .json();
    assert_eq!(k["configured"], false);
    assert_eq!(k["error_code"], "not_configured");
}

#[tokio::test]
async fn smtp_health_check_sends_noop_to_the_sink() {
    let Ok(port) = std::env::var("SMTP_TEST_PORT") else {
        panic!(
            "SMTP_TEST_PORT is not set: run the integration tests through `make test`, which starts the SMTP sink"
        );
    };
    let hub = TestHub::with_env(&[("SMTP_HOST", "127.0.0.1".into()), ("SMTP_PORT", port)]).await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let v = send(
        &svc,
        get(
            "/api/integrations/providers/smtp/health-check",
            Some(&hub.admin()),
        ),
    )
    .await
    .json();
    assert_eq!(v["reachable"], true, "{v}");
    // Nothing listens on port 9: unreachable, reported as such.
    let hub =
        TestHub::with_env(&[("SMTP_HOST", "127.0.0.1".into()), ("SMTP_PORT", "9".into())]).await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let v = send(
        &svc,
        get(
            "/api/integrations/providers/smtp/health-check",
            Some(&hub.admin()),
        ),
    )
    .await
    .json();
    assert_eq!(v["reachable"], false);
    assert_eq!(v["error_code"], "smtp_unreachable");
}
