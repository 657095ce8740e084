//! The credential store over the emulator's Secrets Manager: caching, TTL, refresh once on
//! rejection, and values never exposed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hub_tests::TestHub;
use hub_tests::faults::Faults;
use serde_json::json;
use shared::providers::{ProviderError, ProviderErrorKind};
use shared::secrets::{CredentialStore, SecretsManagerSource};

async fn set_raw(hub: &TestHub, slug: &str, value: &str) {
    let id = format!("{}/providers/{slug}", hub.prefix);
    let sm = &hub.ctx.aws.secrets;
    if sm
        .put_secret_value()
        .secret_id(&id)
        .secret_string(value)
        .send()
        .await
        .is_err()
    {
        sm.create_secret()
            .name(&id)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
}

fn store(hub: &TestHub, ttl: Duration) -> CredentialStore {
    CredentialStore::new(
        Arc::new(SecretsManagerSource::new(hub.ctx.aws.secrets.clone())),
        hub.prefix.clone(),
        ttl,
    )
}

#[tokio::test]
async fn caches_within_ttl_and_rereads_after() {
    let hub = TestHub::new().await;
    set_raw(&hub, "openai", r#"{"api_key":"first"}"#).await;
    let cached = store(&hub, Duration::from_secs(300));
    assert_eq!(
        cached.get("openai").await.unwrap().unwrap().get("api_key"),
        Some("first")
    );
    set_raw(&hub, "openai", r#"{"api_key":"second"}"#).await;
    // Still the cached value within the TTL...
    assert_eq!(
        cached.get("openai").await.unwrap().unwrap().get("api_key"),
        Some("first")
    );
    // ...while a store with an expired TTL reads the new one.
    let expired = store(&hub, Duration::ZERO);
    assert_eq!(
        expired.get("openai").await.unwrap().unwrap().get("api_key"),
        Some("second")
    );
}

#[tokio::test]
async fn missing_or_empty_secret_means_not_configured() {
    let hub = TestHub::new().await;
    let s = store(&hub, Duration::from_secs(300));
    assert!(s.get("talkbot").await.unwrap().is_none());
    set_raw(&hub, "talkbot", "{}").await;
    assert!(s.refresh("talkbot").await.unwrap().is_none());
    set_raw(&hub, "talkbot", "not json").await;
    assert!(s.refresh("talkbot").await.is_err());
}

#[tokio::test]
async fn refreshes_once_when_the_provider_rejects_the_cached_credentials() {
    let hub = TestHub::new().await;
    set_raw(&hub, "openai", r#"{"api_key":"old"}"#).await;
    let s = store(&hub, Duration::from_secs(300));
    s.get("openai").await.unwrap(); // cache "old"
    set_raw(&hub, "openai", r#"{"api_key":"rotated"}"#).await; // rotated out of band

    let calls = AtomicUsize::new(0);
    let out = s
        .with_credentials("openai", |c| {
            calls.fetch_add(1, Ordering::SeqCst);
            let key = c.get("api_key").unwrap().to_string();
            async move {
                if key == "rotated" {
                    Ok(key)
                } else {
                    Err(ProviderError::new(
                        "openai",
                        ProviderErrorKind::Credentials,
                        "openai_invalid_api_key",
                        "rejected",
                    ))
                }
            }
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.unwrap(), "rotated");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A rejection with unchanged credentials is not retried.
    let calls = AtomicUsize::new(0);
    let out = s
        .with_credentials("openai", |_c| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err::<(), _>(ProviderError::new(
                    "openai",
                    ProviderErrorKind::Credentials,
                    "x",
                    "rejected",
                ))
            }
        })
        .await
        .unwrap()
        .unwrap();
    assert!(out.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn put_credentials_answers_field_names_only_and_validates() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let admin = hub.admin();
    let res = hub_tests::send(
        &svc,
        hub_tests::json_req(
            "PUT",
            "/api/integrations/providers/kavenegar/credentials/",
            Some(&admin),
            &json!({"api_key": "SECRET-KEY-123", "sender": "10004346"}),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let text = String::from_utf8_lossy(&res.body);
    assert!(
        !text.contains("SECRET-KEY-123"),
        "credentials echoed: {text}"
    );
    assert_eq!(res.json()["configured"], true);
    // Stored in Secrets Manager.
    let stored = hub
        .ctx
        .aws
        .secrets
        .get_secret_value()
        .secret_id(format!("{}/providers/kavenegar", hub.prefix))
        .send()
        .await
        .unwrap();
    assert!(stored.secret_string().unwrap().contains("SECRET-KEY-123"));
    // The provider view says configured, without values.
    let view = hub_tests::send(
        &svc,
        hub_tests::get("/api/integrations/providers/kavenegar", Some(&admin)),
    )
    .await;
    assert_eq!(view.json()["configured"], true);
    assert!(!String::from_utf8_lossy(&view.body).contains("SECRET-KEY-123"));
    // Missing required field and non-string values are 400s naming the fields.
    let p = hub_tests::send(
        &svc,
        hub_tests::json_req(
            "PUT",
            "/api/integrations/providers/twilio/credentials",
            Some(&admin),
            &json!({"account_sid": "AC1", "auth_token": 5}),
        ),
    )
    .await
    .assert_problem(400, "invalid_credentials");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"auth_token") && fields.contains(&"from_number"),
        "{p}"
    );
}

/// Several providers' credentials in one `BatchGetSecretValue` call, signed with the health
/// function's role (its template grant): present ones parsed, a missing secret and an empty
/// object both "not configured", and everything served from the cache afterwards.
#[tokio::test]
async fn get_many_reads_several_providers_in_one_batch_call() {
    let hub = TestHub::new().await;
    set_raw(
        &hub,
        "kavenegar",
        r#"{"api_key":"k-1","sender":"10004346"}"#,
    )
    .await;
    set_raw(&hub, "openai", r#"{"api_key":"sk-1"}"#).await;
    set_raw(&hub, "huggingface", "{}").await;
    let faults = Faults::new();
    let ctx = hub.faulty_ctx_of("health", &faults).await;
    let got = ctx
        .credentials
        .get_many(&["kavenegar", "openai", "twilio", "huggingface"])
        .await
        .expect("batch read");
    assert_eq!(faults.log(), ["BatchGetSecretValue"]);
    let field = |slug: &str, key: &str| {
        got[slug]
            .as_ref()
            .and_then(|c| c.get(key).map(str::to_string))
    };
    assert_eq!(field("kavenegar", "api_key").as_deref(), Some("k-1"));
    assert_eq!(field("kavenegar", "sender").as_deref(), Some("10004346"));
    assert_eq!(field("openai", "api_key").as_deref(), Some("sk-1"));
    assert!(got["twilio"].is_none(), "no secret: not configured");
    assert!(got["huggingface"].is_none(), "empty object: not configured");

    // The cache answers single and batch reads now, with no further call.
    let openai = ctx.credentials.get("openai").await.unwrap().unwrap();
    assert_eq!(openai.get("api_key"), Some("sk-1"));
    assert!(ctx.credentials.get("twilio").await.unwrap().is_none());
    let again = ctx
        .credentials
        .get_many(&["kavenegar", "openai"])
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(faults.log(), ["BatchGetSecretValue"]);
}

/// A role without `secretsmanager:BatchGetSecretValue` still reads its providers'
/// credentials, one `GetSecretValue` each.
#[tokio::test]
async fn get_many_falls_back_to_single_reads_when_the_batch_is_denied() {
    let hub = TestHub::new().await;
    set_raw(&hub, "openai", r#"{"api_key":"sk-2"}"#).await;
    let faults = Faults::new();
    let ctx = hub.faulty_ctx_of("ai", &faults).await;
    let got = ctx
        .credentials
        .get_many(&["openai", "huggingface"])
        .await
        .expect("read one by one");
    assert_eq!(faults.calls("BatchGetSecretValue"), 1);
    assert_eq!(faults.calls("GetSecretValue"), 2);
    assert_eq!(
        got["openai"].as_ref().and_then(|c| c.get("api_key")),
        Some("sk-2")
    );
    assert!(got["huggingface"].is_none());
}
