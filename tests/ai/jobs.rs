//! Async jobs end to end: the API stores the job and queues its id in the emulator's SQS,
//! the worker (driven by `drain_queue`, as Lambda's event source would) runs it, and the job
//! route shows the result. Transcription goes through a presigned upload and a multipart call.

use std::time::Duration;

use hub_tests::{TestHub, create_queue, drain_queue, get, send};
use serde_json::{Value, json};
use shared::auth::Role;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::generate::{GENERATE, post};
use crate::{
    When, ai_service, completion, hub_with, log_entries, openai_error, request_id, worker,
};

async fn queued_hub(fakes: &[(&str, &MockServer)], extra: &[(&str, String)]) -> (TestHub, String) {
    let probe = TestHub::new().await;
    let queue = create_queue(&probe, "AI_JOBS_QUEUE_URL").await;
    let mut env: Vec<(&str, String)> = vec![("AI_JOBS_QUEUE_URL", queue.clone())];
    env.extend(extra.iter().cloned());
    (hub_with(fakes, &env).await, queue)
}

async fn job(svc: &shared::http::HubService, token: &str, location: &str) -> Value {
    let res = send(svc, get(location, Some(token))).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

#[tokio::test]
async fn async_generation_runs_through_sqs_and_the_worker() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .and(When(Box::new(|r| {
            crate::body_json(r)["max_completion_tokens"] == 4000
        })))
        .respond_with(completion("A long care plan.", 3500))
        .expect(1)
        .mount(&openai)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("short but async", 20))
        .expect(1)
        .mount(&openai)
        .await;
    // A tiny inline limit sends request and result JSON to S3 (as items near 400 KB would).
    let (hub, queue) = queued_hub(
        &[("openai", &openai)],
        &[("AI_JOB_INLINE_MAX_BYTES", "64".into())],
    )
    .await;
    let (_, svc) = ai_service(&hub);
    let owner = hub.token("job-owner", Role::User);
    let secret_prompt = "Patient: Maria Souza needs a long care plan";

    // Long work (max_tokens above AI_SYNC_MAX_TOKENS) becomes a job by itself ...
    let res = post(
        &svc,
        GENERATE,
        &owner,
        &request_id(),
        &json!({"prompt": secret_prompt, "max_tokens": 4000}),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let location = res
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let accepted = res.json();
    assert_eq!(accepted["status"], "queued");
    assert_eq!(
        location,
        format!(
            "/api/integrations/ai/jobs/{}",
            accepted["id"].as_str().unwrap()
        )
    );
    // ... and so does short work that asks for it, here with an Idempotency-Key: the repeat
    // answers the same job and queues nothing.
    // Keys are per caller and live 24 h in the shared hub table: unique per run.
    let idempotency_key = format!("gen-{}", uuid::Uuid::new_v4());
    let idempotent = || {
        hub_tests::req("POST", GENERATE, Some(&owner))
            .header("content-type", "application/json")
            .header("idempotency-key", &idempotency_key)
            .body(axum::body::Body::from(
                json!({"prompt": "hello", "async": true}).to_string(),
            ))
            .unwrap()
    };
    let res2 = send(&svc, idempotent()).await;
    assert_eq!(res2.status, 202);
    let location2 = res2
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let repeat = send(&svc, idempotent()).await;
    assert_eq!(repeat.status, 202);
    assert_eq!(repeat.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        repeat.headers.get("location").unwrap().to_str().unwrap(),
        location2
    );
    assert_eq!(repeat.json()["id"], res2.json()["id"]);
    // The stored request is the redacted one, in S3.
    let bucket = std::env::var("UPLOADS_BUCKET").unwrap();
    let key = format!("ai-jobs/{}/request.json", accepted["id"].as_str().unwrap());
    let stored = hub
        .ctx
        .aws
        .s3()
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("request in S3");
    let stored =
        String::from_utf8(stored.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(
        stored.contains("[NAME]") && !stored.contains("Maria"),
        "{stored}"
    );

    // The queue carries the job id only: no prompt, no name.
    // (ReceiveMessage may answer fewer messages than are there: collect by id.)
    let mut seen = std::collections::HashMap::new();
    for _ in 0..5 {
        let peek = hub
            .ctx
            .aws
            .sqs()
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in peek.messages() {
            seen.insert(
                m.message_id.clone().unwrap_or_default(),
                m.body.clone().unwrap_or_default(),
            );
        }
        if seen.len() >= 2 {
            break;
        }
    }
    let bodies: Vec<String> = seen.into_values().collect();
    assert_eq!(bodies.len(), 2);
    for b in &bodies {
        let v: Value = serde_json::from_str(b).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1, "{b}");
        assert!(v["job_id"].is_string());
        assert!(!b.contains("Maria") && !b.contains("care plan"));
    }
    assert_eq!(job(&svc, &owner, &location).await["status"], "queued");
    tokio::time::sleep(Duration::from_millis(1100)).await; // the test queue's visibility timeout

    let w = worker(&hub);
    let runs = drain_queue(hub.ctx_of("ai-worker").aws.sqs(), &queue, 10, |event| {
        let w = w.clone();
        async move { ai_worker::handle_event(&w, event).await }
    })
    .await;
    assert!(runs >= 1);
    let done = job(&svc, &owner, &location).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["kind"], "generate");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["result"]["text"], "A long care plan.");
    assert_eq!(done["result"]["tokens"], 3500);
    assert_eq!(done["result"]["redacted_identifiers"], 1);
    assert_eq!(
        job(&svc, &owner, &location2).await["result"]["text"],
        "short but async"
    );
    // The worker logged the call with the job as reference.
    let logs = hub
        .ctx
        .log
        .list(&shared::integration_log::LogQuery {
            provider: Some("openai".into()),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        logs.items
            .iter()
            .any(|e| e.reference.as_deref() == accepted["id"].as_str() && e.tokens == Some(3500))
    );

    // Only the owner, services and admins see it.
    let stranger = send(
        &svc,
        get(&location, Some(&hub.token("someone-else", Role::User))),
    )
    .await;
    stranger.assert_problem(404, "job_not_found");
    assert_eq!(
        job(&svc, &hub.token("backend", Role::Service), &location).await["status"],
        "succeeded"
    );
    // A redelivered message for a finished job does not call the provider again (expect(1) above).
    let again = shared::queue::QueueMessage {
        message_id: "dup".into(),
        body: bodies[0].clone(),
        receive_count: 2,
    };
    ai_worker::handle(&w, again).await.unwrap();
    send(
        &svc,
        get("/api/integrations/ai/jobs/not-a-uuid", Some(&owner)),
    )
    .await
    .assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn a_job_whose_providers_keep_failing_is_retried_then_marked_failed() {
    let openai = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_error(503, "server_error", "overloaded"))
        .mount(&openai)
        .await;
    let (hub, queue) = queued_hub(&[("openai", &openai)], &[("AI_MAX_ATTEMPTS", "1".into())]).await;
    let (_, svc) = ai_service(&hub);
    let owner = hub.token("job-owner", Role::User);
    let res = post(
        &svc,
        GENERATE,
        &owner,
        &request_id(),
        &json!({"prompt": "hello", "async": true}),
    )
    .await;
    let location = res
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let w = worker(&hub);
    // Each round: SQS redelivers after the 1 s visibility timeout; the 4th delivery gives up.
    for _ in 0..6 {
        drain_queue(hub.ctx_of("ai-worker").aws.sqs(), &queue, 3, |event| {
            let w = w.clone();
            async move { ai_worker::handle_event(&w, event).await }
        })
        .await;
        if job(&svc, &owner, &location).await["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let done = job(&svc, &owner, &location).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "openai_overloaded");
    assert_eq!(done["attempts"], shared::ai::jobs::MAX_DELIVERIES);
}

#[tokio::test]
async fn transcription_uploads_through_a_presigned_url_and_calls_the_multipart_endpoint() {
    let openai = MockServer::start().await;
    let audio: Vec<u8> = b"ID3\x04\x00fake-mp3-frames"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(7u8, 2048))
        .collect();
    let expected = audio.clone();
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .and(header("authorization", "Bearer key-openai"))
        .and(When(Box::new(move |r| {
            let ct = r
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let body = &r.body;
            let text = String::from_utf8_lossy(body);
            ct.starts_with("multipart/form-data; boundary=")
                && text.contains("name=\"model\"\r\n\r\nwhisper-1\r\n")
                && text.contains("name=\"language\"\r\n\r\nfa\r\n")
                && text.contains("name=\"file\"; filename=\"visit.mp3\"")
                && text.contains("Content-Type: audio/mpeg")
                && body
                    .windows(expected.len())
                    .any(|w| w == expected.as_slice())
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"text": "سلام دکتر، سه روز است سردرد دارم"})),
        )
        .expect(1)
        .mount(&openai)
        .await;
    let (hub, queue) = queued_hub(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let owner = hub.token("voice-user", Role::User);
    const TRANSCRIPTIONS: &str = "/api/integrations/ai/transcriptions";

    // 1. A presigned POST for the user's own prefix, for exactly the declared size; it costs
    // one unit of the user's AI limit.
    let upload =
        json!({"filename": "visit.mp3", "content_type": "audio/mpeg", "size": audio.len()});
    let ticket = post(
        &svc,
        TRANSCRIPTIONS,
        &owner,
        &request_id(),
        &json!({ "upload": upload }),
    )
    .await;
    assert!(ticket.headers.get("ratelimit-remaining").is_some());
    assert_eq!(
        ticket.status,
        200,
        "{}",
        String::from_utf8_lossy(&ticket.body)
    );
    let ticket = ticket.json();
    let key = ticket["s3_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("ai-audio/voice-user/") && key.ends_with("/visit.mp3"));
    assert_eq!(ticket["method"], "POST");
    assert_eq!(ticket["size"], audio.len());
    let fields = ticket["fields"].as_object().unwrap();
    assert_eq!(fields["key"], key.as_str());
    let policy = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        fields["policy"].as_str().unwrap(),
    )
    .unwrap();
    let policy: serde_json::Value = serde_json::from_slice(&policy).unwrap();
    assert!(
        policy["conditions"].as_array().unwrap().contains(&json!([
            "content-length-range",
            audio.len(),
            audio.len()
        ])),
        "{policy}"
    );
    // 2. The client uploads to S3 (the emulator) directly, as a browser form.
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.as_str().unwrap().to_string());
    }
    let part = reqwest::multipart::Part::bytes(audio.clone())
        .file_name("visit.mp3")
        .mime_str("audio/mpeg")
        .unwrap();
    let sent = hub
        .ctx
        .http()
        .post(ticket["upload_url"].as_str().unwrap())
        .multipart(form.part("file", part))
        .send()
        .await
        .unwrap();
    assert!(
        sent.status().is_success(),
        "presigned POST: {}",
        sent.status()
    );
    // 3. The job.
    let rid = request_id();
    let res = post(
        &svc,
        TRANSCRIPTIONS,
        &owner,
        &rid,
        &json!({"s3_key": key, "language": "fa"}),
    )
    .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let location = res
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(res.json()["kind"], "transcribe");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let w = worker(&hub);
    drain_queue(hub.ctx_of("ai-worker").aws.sqs(), &queue, 10, |event| {
        let w = w.clone();
        async move { ai_worker::handle_event(&w, event).await }
    })
    .await;
    let done = job(&svc, &owner, &location).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["text"], "سلام دکتر، سه روز است سردرد دارم");
    assert_eq!(done["result"]["provider"], "openai");
    assert_eq!(done["result"]["model"], "whisper-1");
    let _ = log_entries(&hub, "openai", &rid).await; // the worker's calls carry the message id, not the API's

    // Someone else's key, a missing object, and both or neither field.
    let other = post(
        &svc,
        TRANSCRIPTIONS,
        &hub.token("intruder", Role::User),
        &request_id(),
        &json!({"s3_key": key}),
    )
    .await;
    other.assert_problem(403, "forbidden");
    let missing = post(
        &svc,
        TRANSCRIPTIONS,
        &owner,
        &request_id(),
        &json!({"s3_key": "ai-audio/voice-user/nothing/here.mp3"}),
    )
    .await;
    missing.assert_problem(404, "audio_not_found");
    // The AI role reads audio under ai-audio/ only: even a service cannot name another prefix.
    let outside = post(
        &svc,
        TRANSCRIPTIONS,
        &hub.token("svc", Role::Service),
        &request_id(),
        &json!({"s3_key": "uploads/someone/file.mp3"}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(outside["errors"][0]["field"], "s3_key");
    let p = post(&svc, TRANSCRIPTIONS, &owner, &request_id(), &json!({}))
        .await
        .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "s3_key");
    let p = post(
        &svc,
        TRANSCRIPTIONS,
        &owner,
        &request_id(),
        &json!({"upload": {"filename": "../x.mp3", "content_type": "audio/mpeg", "size": 10}}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "upload.filename");
    let p = post(
        &svc,
        TRANSCRIPTIONS,
        &owner,
        &request_id(),
        &json!({"upload": {"filename": "x.exe", "content_type": "application/x-msdownload", "size": 10}}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "upload.content_type");
    // The size is part of the policy: none, or more than 25 MB, gets no ticket.
    let p = post(
        &svc,
        TRANSCRIPTIONS,
        &owner,
        &request_id(),
        &json!({"upload": {"filename": "a.mp3", "content_type": "audio/mpeg", "size": 0}}),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "upload.size");
    let too_big = 25 * 1024 * 1024 + 1;
    post(
        &svc,
        TRANSCRIPTIONS,
        &owner,
        &request_id(),
        &json!({"upload": {"filename": "a.mp3", "content_type": "audio/mpeg", "size": too_big}}),
    )
    .await
    .assert_problem(413, "payload_too_large");
}

#[tokio::test]
async fn unreadable_or_unknown_job_messages_are_poison_not_retried() {
    let hub = hub_with(&[], &[]).await;
    let w = worker(&hub);
    let msg = |body: &str| shared::queue::QueueMessage {
        message_id: "m".into(),
        body: body.into(),
        receive_count: 1,
    };
    assert!(matches!(
        ai_worker::handle(&w, msg("not json")).await,
        Err(shared::queue::WorkError::Poison(_))
    ));
    let unknown = json!({"job_id": uuid::Uuid::now_v7().to_string()}).to_string();
    assert!(matches!(
        ai_worker::handle(&w, msg(&unknown)).await,
        Err(shared::queue::WorkError::Poison(_))
    ));
}
