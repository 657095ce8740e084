//! The local-directory backend (`STORAGE_TYPE=local`, `UPLOAD_DIR`) in a temporary directory.

use hub_tests::{TestHub, get, json_req, send};
use serde_json::json;
use shared::auth::Role;

use crate::support::*;

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn local_hub() -> (TestHub, TempDir) {
    let dir = std::env::temp_dir().join(format!("hub-uploads-{}", uuid::Uuid::new_v4().simple()));
    let hub = TestHub::with_env(&[
        ("STORAGE_TYPE", "local".into()),
        ("UPLOAD_DIR", dir.display().to_string()),
    ])
    .await;
    (hub, TempDir(dir))
}

#[tokio::test]
async fn local_backend_stores_serves_and_checks_owners() {
    let (hub, dir) = local_hub().await;
    let (svc, _) = service(&hub);
    let token = hub.token("local-user", Role::User);
    let img = jpeg(200, 100);
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/avatar",
            &token,
            &[file("me.jpeg", "image/jpeg", &img)],
        ),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["storage"], "local");
    let id = v["id"].as_str().unwrap();
    // On disk under UPLOAD_DIR at the key: kind/user/yyyy/mm/dd/uuid-name.
    let today = time::OffsetDateTime::now_utc();
    let day_dir = dir.0.join(format!(
        "avatar/local-user/{:04}/{:02}/{:02}",
        today.year(),
        today.month() as u8,
        today.day()
    ));
    let entries: Vec<_> = std::fs::read_dir(&day_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, [format!("{id}-me.jpeg")]);
    assert_eq!(std::fs::read(day_dir.join(&entries[0])).unwrap(), img);

    // The download URL is the hub's own content route.
    let content_path = format!("/api/v1/files/{id}/content");
    assert_eq!(v["download_url"], content_path.as_str());
    let got = send(&svc, get(&content_path, Some(&token))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.to_vec(), img);
    assert_eq!(got.headers["content-type"], "image/jpeg");
    assert_eq!(got.headers["x-content-type-options"], "nosniff");
    assert!(
        got.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"me.jpeg\"")
    );
    let other = hub.token("someone-else", Role::User);
    send(&svc, get(&content_path, Some(&other)))
        .await
        .assert_problem(403, "forbidden");
    send(&svc, get(&format!("/api/v1/files/{id}"), Some(&other)))
        .await
        .assert_problem(403, "forbidden");

    // Attachments are served as attachments; content rules are the same as with S3.
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("x.pdf", "application/pdf", &pdf())],
        ),
    )
    .await;
    let att = res.json();
    let got = send(
        &svc,
        get(att["download_url"].as_str().unwrap(), Some(&token)),
    )
    .await;
    assert!(
        got.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &token,
            &[file("photo.jpg", "image/jpeg", &elf())],
        ),
    )
    .await
    .assert_problem(415, "executable_not_allowed");

    // Bulk works the same way.
    let p = pdf();
    let res = send(
        &svc,
        upload(
            "/api/v1/upload/bulk",
            &token,
            &[
                files("a.pdf", "application/pdf", &p),
                files("b.exe", "application/octet-stream", &pe()),
            ],
        ),
    )
    .await;
    assert_eq!(res.status, 207);
    assert_eq!(res.json()["stored"], 1);

    // Presigning needs S3.
    let body = json!({"kind": "attachment", "filename": "a.pdf", "content_type": "application/pdf", "size": 100});
    let p = send(
        &svc,
        json_req("POST", "/api/v1/upload/presign", Some(&token), &body),
    )
    .await
    .assert_problem(409, "presign_needs_s3");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/upload/attachment"),
        "{p}"
    );
}
