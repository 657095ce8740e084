//! Bulk uploads: per-file results, the file-count limit, and the hourly limit counting files.

use hub_tests::{TestHub, get, send};
use shared::auth::Role;

use crate::support::*;

#[tokio::test]
async fn bulk_with_some_bad_files_answers_207_with_a_result_per_file() {
    // A small attachment limit keeps the "too large" file small.
    let hub = TestHub::with_env(&[("UPLOAD_ATTACHMENT_MAX_BYTES", "4096".into())]).await;
    let (svc, _) = service(&hub);
    let token = hub.token("bulk-user", Role::User);
    let big = vec![b'x'; 4097];
    let img = png(4, 4);
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/bulk",
            &token,
            &[
                files("report.pdf", "application/pdf", &pdf()),
                files("photo.jpg", "image/jpeg", &elf()),
                files("big.txt", "text/plain", &big),
                files(
                    "page.txt",
                    "text/plain",
                    b"<html><script>alert(1)</script></html>",
                ),
                files("empty.txt", "text/plain", b""),
                files("scan.pdf", "application/pdf", &img),
            ],
        ),
    )
    .await;
    assert_eq!(res.status, 207, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["stored"], 2);
    assert_eq!(v["failed"], 4);
    let results = v["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 415, 413, 415, 422, 201]);
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        codes,
        [
            "",
            "executable_not_allowed",
            "file_too_large",
            "active_content_not_allowed",
            "empty_file",
            ""
        ]
    );
    assert_eq!(results[1]["filename"], "photo.jpg");
    assert_eq!(results[5]["file"]["content_type"], "image/png");
    assert_eq!(results[5]["file"]["filename"], "scan.png");
    assert_eq!(results[2]["error"]["status"], 413);
    // The stored ones are real files the owner can read.
    for i in [0, 5] {
        let id = results[i]["file"]["id"].as_str().unwrap();
        let one = send(&svc, get(&format!("/api/v1/files/{id}"), Some(&token))).await;
        assert_eq!(one.status, 200);
        assert_eq!(one.json()["status"], "uploaded");
    }
}

#[tokio::test]
async fn bulk_all_good_is_201_and_limits_are_enforced() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("bulk-good", Role::User);
    let p = pdf();
    let three: Vec<Part> = (0..3)
        .map(|_| files("a.pdf", "application/pdf", &p))
        .collect();
    let res = send(&svc, upload("/api/v1/upload/bulk", &token, &three)).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["stored"], 3);
    // `files[]` and `file` are accepted names too.
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/bulk",
            &token,
            &[Part {
                name: "files[]",
                filename: Some("x.pdf"),
                content_type: "application/pdf",
                data: &p,
            }],
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    // Eleven files: refused as a whole, nothing stored.
    let eleven: Vec<Part> = (0..11)
        .map(|_| files("a.pdf", "application/pdf", &p))
        .collect();
    let prob = send(&svc, upload("/api/v1/upload/bulk", &token, &eleven))
        .await
        .assert_problem(413, "too_many_files");
    assert!(prob["detail"].as_str().unwrap().contains("10"), "{prob}");
    // No files at all.
    send(
        &svc,
        upload(
            "/api/v1/upload/bulk",
            &token,
            &[Part {
                name: "note",
                filename: None,
                content_type: "text/plain",
                data: b"x",
            }],
        ),
    )
    .await
    .assert_problem(400, "missing_file");
}

#[tokio::test]
async fn twenty_uploads_an_hour_per_user_and_bulk_counts_each_file() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("hourly", Role::User);
    let p = pdf();
    let ten: Vec<Part> = (0..10)
        .map(|_| files("a.pdf", "application/pdf", &p))
        .collect();
    let first = send(&svc, upload("/api/v1/upload/bulk", &token, &ten)).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.headers["ratelimit-limit"], "20");
    assert_eq!(first.headers["ratelimit-remaining"], "10");
    let nine: Vec<Part> = (0..9)
        .map(|_| files("a.pdf", "application/pdf", &p))
        .collect();
    assert_eq!(
        send(&svc, upload("/api/v1/upload/bulk", &token, &nine))
            .await
            .status,
        201
    );
    // 19 used: a bulk of two does not fit (nothing stored), a single one does.
    let two: Vec<Part> = (0..2)
        .map(|_| files("a.pdf", "application/pdf", &p))
        .collect();
    let denied = send(&svc, upload("/api/v1/upload/bulk", &token, &two)).await;
    denied.assert_problem(429, "rate_limited");
    assert!(denied.headers.contains_key("retry-after"));
    assert_eq!(
        send(
            &svc,
            upload(
                "/api/v1/upload/attachment",
                &token,
                &[file("a.pdf", "application/pdf", &p)]
            )
        )
        .await
        .status,
        201
    );
    send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("a.png", "image/png", &png(2, 2))],
        ),
    )
    .await
    .assert_problem(429, "rate_limited");
    // Presigning counts too; another user is unaffected.
    let body = serde_json::json!({"kind": "attachment", "filename": "a.pdf", "content_type": "application/pdf", "size": 10});
    send(
        &svc,
        hub_tests::json_req("POST", "/api/v1/upload/presign", Some(&token), &body),
    )
    .await
    .assert_problem(429, "rate_limited");
    let other = hub.token("hourly-other", Role::User);
    assert_eq!(
        send(
            &svc,
            upload(
                "/api/v1/upload/attachment",
                &other,
                &[file("a.pdf", "application/pdf", &p)]
            )
        )
        .await
        .status,
        201
    );
}
