//! Owner checks on metadata, downloads and completion; the download URL really downloads.

use hub_tests::{TestHub, get, send};
use shared::auth::Role;

use crate::support::*;

#[tokio::test]
async fn only_the_owner_admins_and_services_see_a_file() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let alice = hub.token("alice", Role::User);
    let bob = hub.token("bob", Role::User);
    let data = pdf();
    let created = send(
        &svc,
        upload(
            "/api/v1/upload/attachment",
            &alice,
            &[file("lab.pdf", "application/pdf", &data)],
        ),
    )
    .await
    .json();
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/files/{id}");

    let mine = send(&svc, get(&path, Some(&alice))).await;
    assert_eq!(mine.status, 200);
    let v = mine.json();
    assert_eq!(v["owner"], "alice");
    assert_eq!(v["filename"], "lab.pdf");
    assert!(v.get("storage_key").is_none(), "{v}");
    assert!(v["download_expires_at"].is_string());

    send(&svc, get(&path, Some(&bob)))
        .await
        .assert_problem(403, "forbidden");
    send(&svc, get(&format!("{path}/content"), Some(&bob)))
        .await
        .assert_problem(403, "forbidden");
    send(
        &svc,
        hub_tests::req("POST", &format!("/api/v1/upload/{id}/complete"), Some(&bob))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(send(&svc, get(&path, Some(&hub.admin()))).await.status, 200);
    assert_eq!(
        send(&svc, get(&path, Some(&hub.token("backend", Role::Service))))
            .await
            .status,
        200
    );
    send(&svc, get(&path, None))
        .await
        .assert_problem(401, "missing_token");
    send(
        &svc,
        get(
            &format!("/api/v1/files/{}", uuid::Uuid::new_v4()),
            Some(&alice),
        ),
    )
    .await
    .assert_problem(404, "not_found");

    // The presigned GET downloads the bytes, as an attachment with the stored type.
    let url = v["download_url"].as_str().unwrap();
    let http = reqwest::Client::new();
    let got = http.get(url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert!(
        got.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"lab.pdf\"")
    );
    assert_eq!(got.bytes().await.unwrap().to_vec(), data);

    // The content route redirects to such a URL.
    let res = send(&svc, get(&format!("{path}/content"), Some(&alice))).await;
    assert_eq!(res.status, 307);
    let location = res.headers["location"].to_str().unwrap();
    assert_eq!(
        http.get(location)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        data
    );
}

#[tokio::test]
async fn owners_list_their_files_newest_first_in_pages() {
    let hub = TestHub::new().await;
    let (svc, _) = service(&hub);
    let owner = format!("lister-{}", uuid::Uuid::new_v4().simple());
    let token = hub.token(&owner, Role::User);
    let mut ids = Vec::new();
    for i in 0..3 {
        let name = format!("doc{i}.pdf");
        let v = send(
            &svc,
            upload(
                "/api/v1/upload/attachment",
                &token,
                &[file(&name, "application/pdf", &pdf())],
            ),
        )
        .await
        .json();
        ids.push(v["id"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let first = send(&svc, get("/api/v1/files?limit=2", Some(&token)))
        .await
        .json();
    let page: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = send(
        &svc,
        get(
            &format!(
                "/api/v1/files?limit=2&cursor={}",
                cursor
                    .replace('#', "%23")
                    .replace(':', "%3A")
                    .replace('+', "%2B")
            ),
            Some(&token),
        ),
    )
    .await
    .json();
    let page: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [ids[0].as_str()]);
    // Someone else's list: admins and services only.
    let other = hub.token("nosy", Role::User);
    send(
        &svc,
        get(&format!("/api/v1/files?owner={owner}"), Some(&other)),
    )
    .await
    .assert_problem(403, "forbidden");
    let all = send(
        &svc,
        get(&format!("/api/v1/files?owner={owner}"), Some(&hub.admin())),
    )
    .await
    .json();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    assert!(all.get("next_cursor").is_none());
    assert_eq!(
        send(&svc, get("/api/v1/files", Some(&other))).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    send(&svc, get("/api/v1/files?limit=0", Some(&token)))
        .await
        .assert_problem(400, "invalid_field");
}
