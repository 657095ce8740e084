//! The presign flow against the emulator's S3: presign, POST the file to the presigned URL
//! with reqwest, complete; uploads that do not match the declaration are rejected and
//! deleted at completion.

use hub_tests::{TestHub, get, json_req, send};
use serde_json::{Value, json};
use shared::auth::Role;

use crate::support::*;

/// Sends the file to the presigned POST the way a browser form would: the policy fields,
/// then the file as the last part.
async fn post_to_s3(upload: &Value, content_type: &str, data: Vec<u8>) -> reqwest::StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in upload["fields"].as_object().unwrap() {
        form = form.text(k.clone(), v.as_str().unwrap().to_string());
    }
    let part = reqwest::multipart::Part::bytes(data)
        .file_name("upload.bin")
        .mime_str(content_type)
        .unwrap();
    form = form.part("file", part);
    let res = reqwest::Client::new()
        .post(upload["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    res.status()
}

async fn object_exists(hub: &TestHub, key: &str) -> bool {
    let bucket = std::env::var("UPLOADS_BUCKET").unwrap();
    hub.ctx
        .aws
        .s3()
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

fn complete(id: &str, token: &str) -> http::Request<axum::body::Body> {
    hub_tests::req(
        "POST",
        &format!("/api/v1/upload/{id}/complete"),
        Some(token),
    )
    .body(axum::body::Body::empty())
    .unwrap()
}

#[tokio::test]
async fn presigned_upload_then_completion_validates_and_records() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("presigner", Role::User);
    // Bigger than a Lambda request could carry, well within the attachment limit.
    let mut data = pdf();
    data.resize(7 * MIB, b'%');
    let body = json!({"kind": "attachment", "filename": "../scans/exam results.pdf", "content_type": "application/pdf", "size": data.len()});
    let res = send(
        &svc,
        json_req("POST", "/api/v1/upload/presign", Some(&token), &body),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["file"]["status"], "pending");
    assert_eq!(v["file"]["filename"], "exam results.pdf");
    let upload = &v["upload"];
    let fields = upload["fields"].as_object().unwrap();
    let key = fields["key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("attachment/presigner/")
            && key.ends_with(&format!("{id}-exam_results.pdf")),
        "{key}"
    );
    assert_eq!(fields["Content-Type"], "application/pdf");
    assert_eq!(fields["x-amz-algorithm"], "AWS4-HMAC-SHA256");
    assert!(fields.contains_key("x-amz-signature") && fields.contains_key("x-amz-credential"));
    // The policy states the exact size and type, and expires in minutes.
    use base64::Engine;
    let policy: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(fields["policy"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(
        conditions.contains(&json!(["content-length-range", data.len(), data.len()])),
        "{policy}"
    );
    assert!(conditions.contains(&json!({"Content-Type": "application/pdf"})));
    assert!(conditions.contains(&json!({"key": key})));
    // The object must arrive tagged pending (the lifecycle rule expires abandoned ones).
    assert!(conditions.contains(&json!({"tagging": fields["tagging"]})));
    assert!(
        fields["tagging"]
            .as_str()
            .unwrap()
            .contains("<Key>hub-upload</Key><Value>pending</Value>")
    );
    let expiration = time::OffsetDateTime::parse(
        policy["expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expiration - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(4) && left <= time::Duration::minutes(5),
        "{left}"
    );

    // Pending: no download yet, and completing before the upload is a 409.
    let pending = send(&svc, get(&format!("/api/v1/files/{id}"), Some(&token)))
        .await
        .json();
    assert_eq!(pending["status"], "pending");
    assert!(pending.get("download_url").is_none());
    send(&svc, complete(&id, &token))
        .await
        .assert_problem(409, "upload_missing");
    send(
        &svc,
        get(&format!("/api/v1/files/{id}/content"), Some(&token)),
    )
    .await
    .assert_problem(409, "upload_pending");

    let status = post_to_s3(upload, "application/pdf", data.clone()).await;
    assert!(status.is_success(), "S3 answered {status}");
    let done = send(&svc, complete(&id, &token)).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let f = done.json();
    assert_eq!(f["status"], "uploaded");
    assert_eq!(f["size"], data.len());
    assert_eq!(f["content_type"], "application/pdf");
    assert_eq!(f["sha256"], sha256_hex(&data));
    assert!(f["uploaded_at"].is_string());
    let url = f["download_url"].as_str().unwrap();
    assert_eq!(
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len(),
        data.len()
    );
    // Completing again answers the same file.
    let again = send(&svc, complete(&id, &token)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["sha256"], sha256_hex(&data));
    assert!(object_exists(&hub, &key).await);
    // Completion retagged it, so the abandoned-upload lifecycle rule no longer applies.
    let bucket = std::env::var("UPLOADS_BUCKET").unwrap();
    let tags = hub
        .ctx
        .aws
        .s3()
        .get_object_tagging()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let tag: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tag, [("hub-upload", "complete")]);
}

#[tokio::test]
async fn avatar_presign_completes_with_dimensions() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("presign-avatar", Role::User);
    let img = png(120, 90);
    let body = json!({"kind": "avatar", "filename": "me.png", "content_type": "image/png", "size": img.len()});
    let v = send(
        &svc,
        json_req("POST", "/api/v1/upload/presign", Some(&token), &body),
    )
    .await
    .json();
    assert!(
        post_to_s3(&v["upload"], "image/png", img.clone())
            .await
            .is_success()
    );
    let f = send(&svc, complete(v["id"].as_str().unwrap(), &token))
        .await
        .json();
    assert_eq!(
        (f["width"].as_u64(), f["height"].as_u64()),
        (Some(120), Some(90))
    );
    assert_eq!(f["content_type"], "image/png");
}

#[tokio::test]
async fn mismatched_uploads_are_rejected_and_deleted_at_completion() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("mismatch", Role::User);

    // Declared a PNG avatar, uploaded an ELF of the same size.
    let bin = elf();
    let body = json!({"kind": "avatar", "filename": "me.png", "content_type": "image/png", "size": bin.len()});
    let v = send(
        &svc,
        json_req("POST", "/api/v1/upload/presign", Some(&token), &body),
    )
    .await
    .json();
    let id = v["id"].as_str().unwrap();
    let key = v["upload"]["fields"]["key"].as_str().unwrap();
    assert!(
        post_to_s3(&v["upload"], "image/png", bin)
            .await
            .is_success()
    );
    let p = send(&svc, complete(id, &token))
        .await
        .assert_problem(415, "unsupported_file_type");
    assert!(p["detail"].as_str().unwrap().contains("deleted"), "{p}");
    assert!(
        !object_exists(&hub, key).await,
        "the invalid object is deleted"
    );
    send(&svc, get(&format!("/api/v1/files/{id}"), Some(&token)))
        .await
        .assert_problem(404, "not_found");

    // Declared 100 bytes, uploaded more (the emulator does not enforce the policy; S3 would
    // refuse the POST itself, and the completion step catches it either way).
    let mut doc = pdf();
    let body = json!({"kind": "attachment", "filename": "a.pdf", "content_type": "application/pdf", "size": 100});
    let v = send(
        &svc,
        json_req("POST", "/api/v1/upload/presign", Some(&token), &body),
    )
    .await
    .json();
    doc.resize(150, b' ');
    if post_to_s3(&v["upload"], "application/pdf", doc)
        .await
        .is_success()
    {
        send(&svc, complete(v["id"].as_str().unwrap(), &token))
            .await
            .assert_problem(422, "size_mismatch");
        assert!(!object_exists(&hub, v["upload"]["fields"]["key"].as_str().unwrap()).await);
    }

    // A truncated PNG avatar of the declared size: corrupt, 422.
    let full = png(10, 10);
    let cut = full[..full.len() - 12].to_vec();
    let body = json!({"kind": "avatar", "filename": "me.png", "content_type": "image/png", "size": cut.len()});
    let v = send(
        &svc,
        json_req("POST", "/api/v1/upload/presign", Some(&token), &body),
    )
    .await
    .json();
    assert!(
        post_to_s3(&v["upload"], "image/png", cut)
            .await
            .is_success()
    );
    send(&svc, complete(v["id"].as_str().unwrap(), &token))
        .await
        .assert_problem(422, "invalid_image");

    // An object over the kind's limit is not even read: 413.
    let hub2 = TestHub::with_env(&[("UPLOAD_ATTACHMENT_MAX_BYTES", "200".into())]).await;
    let (svc2, _) = service(&hub2);
    let token2 = hub2.token("mismatch", Role::User);
    let body = json!({"kind": "attachment", "filename": "a.pdf", "content_type": "application/pdf", "size": 200});
    let v = send(
        &svc2,
        json_req("POST", "/api/v1/upload/presign", Some(&token2), &body),
    )
    .await
    .json();
    let mut doc = pdf();
    doc.resize(5000, b' ');
    if post_to_s3(&v["upload"], "application/pdf", doc)
        .await
        .is_success()
    {
        send(&svc2, complete(v["id"].as_str().unwrap(), &token2))
            .await
            .assert_problem(413, "file_too_large");
        assert!(!object_exists(&hub2, v["upload"]["fields"]["key"].as_str().unwrap()).await);
    }
}

#[tokio::test]
async fn presign_requests_are_checked_against_the_same_limits() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("presign-limits", Role::User);
    let req = |kind: &str, ct: &str, size: u64| json!({"kind": kind, "filename": "f", "content_type": ct, "size": size});
    let post = |body: Value| json_req("POST", "/api/v1/upload/presign", Some(&token), &body);
    send(&svc, post(req("avatar", "image/png", 5 * MIB as u64 + 1)))
        .await
        .assert_problem(413, "file_too_large");
    send(
        &svc,
        post(req("attachment", "application/pdf", 10 * MIB as u64 + 1)),
    )
    .await
    .assert_problem(413, "file_too_large");
    assert_eq!(
        send(
            &svc,
            post(req("attachment", "application/pdf", 10 * MIB as u64))
        )
        .await
        .status,
        201
    );
    send(&svc, post(req("avatar", "application/pdf", 100)))
        .await
        .assert_problem(415, "unsupported_file_type");
    send(&svc, post(req("attachment", "text/html", 100)))
        .await
        .assert_problem(415, "unsupported_file_type");
    send(
        &svc,
        post(req("attachment", "application/x-executable", 100)),
    )
    .await
    .assert_problem(415, "unsupported_file_type");
    let p = send(&svc, post(req("attachment", "not a type", 100)))
        .await
        .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "content_type");
    send(&svc, post(req("attachment", "application/pdf", 0)))
        .await
        .assert_problem(400, "invalid_field");
    send(
        &svc,
        post(json!({"kind": "banner", "filename": "f", "content_type": "image/png", "size": 1})),
    )
    .await
    .assert_problem(422, "invalid_body");
}
