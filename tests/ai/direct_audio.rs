//! Issue 19: a small audio file posted directly to `POST /api/integrations/ai/transcriptions`
//! as `multipart/form-data` (`file`, `language`, `provider`, `model`), beside the presigned
//! path: sniffed by its bytes, stored under `ai-audio/` by the ai function's own role, queued
//! as a job (rate limit, idempotency), and sent to OpenAI's multipart
//! `/audio/transcriptions` by the worker (integration log).

use std::time::Duration;

use axum::body::Body;
use hub_tests::{TestHub, TestResponse, create_queue, drain_queue, get, send};
use serde_json::json;
use shared::ai::MAX_DIRECT_AUDIO_BYTES;
use shared::auth::Role;
use shared::integration_log::LogQuery;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{When, ai_service, hub_with, worker};

const TRANSCRIPTIONS: &str = "/api/integrations/ai/transcriptions";
const BOUNDARY: &str = "hub-test-boundary-7MA4YWxkTrZu0gW";

/// One form part: name, optional (file name, content type), bytes.
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

fn multipart_body(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some((filename, ct)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_form(
    svc: &shared::http::HubService,
    token: &str,
    parts: &[Part<'_>],
    idempotency_key: Option<&str>,
) -> TestResponse {
    let mut req = hub_tests::req("POST", TRANSCRIPTIONS, Some(token)).header(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    send(svc, req.body(Body::from(multipart_body(parts))).unwrap()).await
}

/// An MP3 as the sniffer sees one: an ID3v2 header, then frames.
fn mp3(len: usize) -> Vec<u8> {
    let mut audio = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    audio.extend((0..len.saturating_sub(audio.len())).map(|i| (i % 251) as u8));
    audio
}

#[tokio::test]
async fn a_small_file_posted_as_multipart_is_transcribed_by_the_chosen_provider() {
    let openai = MockServer::start().await;
    let audio = mp3(64 * 1024);
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
            let text = String::from_utf8_lossy(&r.body);
            ct.starts_with("multipart/form-data; boundary=")
                && text.contains("name=\"model\"\r\n\r\ngpt-4o-transcribe\r\n")
                && text.contains("name=\"language\"\r\n\r\nfa\r\n")
                // The format from the bytes, under a neutral name: the client's file name
                // (here a patient's) does not leave.
                && text.contains("name=\"file\"; filename=\"audio.mp3\"")
                && text.contains("Content-Type: audio/mpeg")
                && !text.contains("Maria")
                && r.body.windows(expected.len()).any(|w| w == expected.as_slice())
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"text": "سلام دکتر، سه روز است سردرد دارم"})),
        )
        .expect(1)
        .mount(&openai)
        .await;
    let probe = TestHub::new().await;
    let queue = create_queue(&probe, "AI_JOBS_QUEUE_URL").await;
    let hub = hub_with(
        &[("openai", &openai)],
        &[("AI_JOBS_QUEUE_URL", queue.clone())],
    )
    .await;
    let (state, svc) = ai_service(&hub);
    let owner = hub.token("voice-direct", Role::User);
    let form: Vec<Part<'_>> = vec![
        ("language", None, b"fa"),
        ("provider", None, b"openai"),
        ("model", None, b"gpt-4o-transcribe"),
        (
            "file",
            Some(("Maria Souza visit.mp3", "application/octet-stream")),
            &audio,
        ),
    ];
    let key = format!("direct-audio-{}", uuid::Uuid::new_v4());
    let res = post_form(&svc, &owner, &form, Some(&key)).await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    assert!(
        res.headers.contains_key("ratelimit-remaining"),
        "one unit of the AI limit"
    );
    let accepted = res.json();
    assert_eq!(accepted["kind"], "transcribe");
    let id = accepted["id"].as_str().unwrap().to_string();
    let location = res.headers["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/api/integrations/ai/jobs/{id}"));
    // A retry with the same Idempotency-Key answers the same job.
    let again = post_form(&svc, &owner, &form, Some(&key)).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.json()["id"], id.as_str());

    // The job reads the audio back from the bucket like any `s3_key`: the object is under
    // the owner's prefix, with the type its bytes sniffed as.
    let record = state.jobs.get(&id).await.unwrap().expect("the job");
    let work = serde_json::to_value(state.jobs.request(&record).await.unwrap()).unwrap();
    assert_eq!(
        work["choice"],
        json!({"provider": "openai", "model": "gpt-4o-transcribe"})
    );
    let s3_key = work["s3_key"].as_str().unwrap();
    assert!(
        s3_key.starts_with("ai-audio/voice-direct/direct-") && s3_key.ends_with("/audio.mp3"),
        "{s3_key}"
    );
    let object = hub
        .ctx
        .aws
        .s3()
        .get_object()
        .bucket(std::env::var("UPLOADS_BUCKET").unwrap())
        .key(s3_key)
        .send()
        .await
        .expect("the stored audio");
    assert_eq!(object.content_type(), Some("audio/mpeg"));
    let stored = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(stored.as_ref(), audio.as_slice());

    tokio::time::sleep(Duration::from_millis(50)).await;
    let w = worker(&hub);
    drain_queue(hub.ctx_of("ai-worker").aws.sqs(), &queue, 10, |event| {
        let w = w.clone();
        async move { ai_worker::handle_event(&w, event).await }
    })
    .await;
    let done = send(&svc, get(&location, Some(&owner)))
        .await
        .assert_status(200);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["text"], "سلام دکتر، سه روز است سردرد دارم");
    assert_eq!(done["result"]["provider"], "openai");
    assert_eq!(done["result"]["model"], "gpt-4o-transcribe");
    // The provider call is in the integration log under the job.
    let page = hub
        .ctx
        .log
        .list(&LogQuery {
            provider: Some("openai".into()),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    let calls: Vec<_> = page
        .items
        .iter()
        .filter(|e| e.reference.as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].operation, "transcribe");
}

#[tokio::test]
async fn bad_direct_uploads_get_clear_problems_and_reach_nobody() {
    let openai = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&openai)
        .await;
    let hub = hub_with(&[("openai", &openai)], &[]).await;
    let (_, svc) = ai_service(&hub);
    let user = hub.token("voice-bad", Role::User);
    let audio = mp3(4096);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    // Not audio, whatever the part says: 415 naming `file`.
    for (bytes, sniffed) in [
        (&png[..], "image/png"),
        (&b"just some text\n"[..], "text/plain"),
    ] {
        let p = post_form(
            &svc,
            &user,
            &[("file", Some(("a.mp3", "audio/mpeg")), bytes)],
            None,
        )
        .await
        .assert_problem(415, "unsupported_audio");
        assert_eq!(p["errors"][0]["field"], "file", "{p}");
        assert!(p["detail"].as_str().unwrap().contains(sniffed), "{p}");
    }
    // One byte more than a request can carry on Lambda: 413 naming `file`, pointing at the
    // presigned path.
    let big = mp3(MAX_DIRECT_AUDIO_BYTES as usize + 1);
    let p = post_form(
        &svc,
        &user,
        &[("file", Some(("big.mp3", "audio/mpeg")), &big)],
        None,
    )
    .await
    .assert_problem(413, "payload_too_large");
    assert_eq!(p["errors"][0]["field"], "file", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{} bytes", big.len())) && detail.contains("`upload`"),
        "{p}"
    );
    // More than the route reads at all (Lambda's request limit): the same problem.
    let huge = mp3(shared::http::LAMBDA_REQUEST_LIMIT + 1);
    let p = post_form(
        &svc,
        &user,
        &[("file", Some(("huge.mp3", "audio/mpeg")), &huge)],
        None,
    )
    .await
    .assert_problem(413, "payload_too_large");
    assert_eq!(p["errors"][0]["field"], "file", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("`upload`"), "{p}");
    // Missing or empty file, unknown fields, bad language: 400 naming the field.
    let cases: Vec<(Vec<Part<'_>>, &str)> = vec![
        (vec![("language", None, b"fa")], "file"),
        (vec![("file", Some(("a.mp3", "audio/mpeg")), b"")], "file"),
        (
            vec![
                ("prompt", None, b"hi"),
                ("file", Some(("a.mp3", "audio/mpeg")), &audio),
            ],
            "prompt",
        ),
        (
            vec![
                ("language", None, b"farsi"),
                ("file", Some(("a.mp3", "audio/mpeg")), &audio),
            ],
            "language",
        ),
        (
            vec![
                ("file", Some(("a.mp3", "audio/mpeg")), &audio),
                ("file", Some(("b.mp3", "audio/mpeg")), &audio),
            ],
            "file",
        ),
        (
            vec![
                ("model", None, b"whisper-1"),
                ("file", Some(("a.mp3", "audio/mpeg")), &audio),
            ],
            "model",
        ),
    ];
    for (parts, field) in cases {
        let p = post_form(&svc, &user, &parts, None)
            .await
            .assert_problem(400, "invalid_field");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    // A provider that does not transcribe: 422 naming `provider`.
    let p = post_form(
        &svc,
        &user,
        &[
            ("provider", None, b"huggingface"),
            ("file", Some(("a.mp3", "audio/mpeg")), &audio),
        ],
        None,
    )
    .await
    .assert_problem(422, "invalid_provider");
    assert_eq!(p["errors"][0]["field"], "provider");
    // A user acting for someone else.
    post_form(
        &svc,
        &user,
        &[
            ("user_id", None, b"someone-else"),
            ("file", Some(("a.mp3", "audio/mpeg")), &audio),
        ],
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    // A body that says multipart and is not.
    let broken = hub_tests::req("POST", TRANSCRIPTIONS, Some(&user))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from("this is not a form"))
        .unwrap();
    send(&svc, broken)
        .await
        .assert_problem(400, "malformed_multipart");
    // The JSON form of the route keeps the usual 1 MiB limit.
    let huge = json!({"s3_key": "a".repeat(1024 * 1024 + 16)});
    send(
        &svc,
        hub_tests::json_req("POST", TRANSCRIPTIONS, Some(&user), &huge),
    )
    .await
    .assert_problem(413, "payload_too_large");
}
