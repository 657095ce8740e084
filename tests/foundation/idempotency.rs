//! `Idempotency-Key` against the emulator's DynamoDB.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use hub_tests::TestHub;
use serde_json::json;

fn headers(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("idempotency-key", HeaderValue::from_str(key).unwrap());
    h
}

#[tokio::test]
async fn a_repeat_returns_the_first_answer_without_running_again() {
    let hub = TestHub::new().await;
    let store = &hub.ctx.idempotency;
    let key = uuid::Uuid::new_v4().to_string();
    let runs = AtomicUsize::new(0);
    let request = json!({"to": "a@b.c"});
    for _ in 0..3 {
        let res = store
            .run(&headers(&key), "email.send", "u1", &request, || async {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                Ok((StatusCode::ACCEPTED, json!({"id": format!("msg-{n}")})))
            })
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // The replay carries the marker header and the first body.
    let res = store
        .run(&headers(&key), "email.send", "u1", &request, || async {
            panic!("must not run")
        })
        .await
        .unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"],
        "msg-0"
    );
    // Same key, another caller or operation: independent.
    let other = store
        .run(&headers(&key), "email.send", "u2", &request, || async {
            Ok((StatusCode::OK, json!({})))
        })
        .await
        .unwrap();
    assert!(other.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_422_and_a_bad_key_400() {
    let hub = TestHub::new().await;
    let store = &hub.ctx.idempotency;
    let key = uuid::Uuid::new_v4().to_string();
    store
        .run(
            &headers(&key),
            "sms.send",
            "u1",
            &json!({"receptor": "1"}),
            || async { Ok((StatusCode::OK, json!({}))) },
        )
        .await
        .unwrap();
    let err = store
        .run(
            &headers(&key),
            "sms.send",
            "u1",
            &json!({"receptor": "2"}),
            || async { Ok((StatusCode::OK, json!({}))) },
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err.code, "idempotency_key_reused");
    let err = store
        .run(
            &headers("has space"),
            "sms.send",
            "u1",
            &json!({}),
            || async { Ok((StatusCode::OK, json!({}))) },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "invalid_field");
}

#[tokio::test]
async fn concurrent_repeats_run_once_and_failures_release_the_key() {
    let hub = TestHub::new().await;
    let key = uuid::Uuid::new_v4().to_string();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let ctx = hub.ctx.clone();
        let runs = runs.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            ctx.idempotency
                .run(
                    &headers(&key),
                    "sms.bulk",
                    "svc",
                    &json!({"n": 1}),
                    || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                        Ok((StatusCode::ACCEPTED, json!({"batch": 1})))
                    },
                )
                .await
                .map(|r| r.status())
                .map_err(|e| e.code)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(StatusCode::ACCEPTED) | Err("idempotency_in_progress"))),
        "{outcomes:?}"
    );

    // A failed run frees its key: the retry runs.
    let key = uuid::Uuid::new_v4().to_string();
    let store = &hub.ctx.idempotency;
    let err = store
        .run(&headers(&key), "sms.send", "u1", &json!({}), || async {
            Err(shared::ApiError::bad_gateway("provider_failed", "down"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, "provider_failed");
    let ok = store
        .run(&headers(&key), "sms.send", "u1", &json!({}), || async {
            Ok((StatusCode::OK, json!({"ok": true})))
        })
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}
