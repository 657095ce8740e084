//! The in-app inbox: paging newest first with a cursor, the unread filter, marking one and
//! all read, and who may read what.

use std::collections::HashSet;

use serde_json::{Value, json};
use shared::auth::Role;

use crate::Setup;

async fn page(s: &Setup, token: &str, query: &str) -> Value {
    let res = hub_tests::send(
        &s.svc,
        hub_tests::get(&format!("/api/v1/notifications{query}"), Some(token)),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

/// Follows `next_cursor` to the end; all ids in order.
async fn all_pages(s: &Setup, token: &str, filter: &str) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2{filter}&cursor={c}"),
            None => format!("?limit=2{filter}"),
        };
        let p = page(s, token, &q).await;
        pages += 1;
        out.extend(ids(&p));
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    (out, pages)
}

#[tokio::test]
async fn inbox_pages_newest_first_and_tracks_read_state() {
    let s = Setup::new().await;
    let r1 = s.user("reader-1");
    let r2 = s.user("reader-2");
    let mut sent = Vec::new();
    for i in 0..5 {
        let res = s.send(json!({"user_id": &r1, "type": "message", "title": format!("n{i}"), "message": "m", "channels": ["in_app"]})).await;
        assert_eq!(res.status, 202);
        let body = res.json();
        assert_eq!(
            body["channels_queued"],
            json!([]),
            "in-app only: nothing queued"
        );
        sent.push(body["id"].as_str().unwrap().to_string());
    }
    // Someone else's notification never shows up.
    s.send(json!({"user_id": &r2, "type": "message", "title": "x", "message": "m", "channels": ["in_app"]})).await;
    let token = s.hub.token(&r1, Role::User);
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();

    let (all, pages) = all_pages(&s, &token, "").await;
    assert_eq!(all, newest_first);
    assert!(pages >= 3, "5 items in pages of 2");
    let first = page(&s, &token, "?limit=2").await;
    assert_eq!(first["items"][0]["title"], "n4");
    assert_eq!(first["items"][0]["read"], false);
    assert_eq!(first["items"][0]["channels"]["in_app"]["status"], "sent");

    // Mark one read: it leaves the unread view.
    let read = hub_tests::send(
        &s.svc,
        hub_tests::req(
            "POST",
            &format!("/api/v1/notifications/{}/read", sent[1]),
            Some(&token),
        )
        .body(axum::body::Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(read.status, 200, "{}", String::from_utf8_lossy(&read.body));
    assert_eq!(read.json()["read"], true);
    assert!(read.json()["read_at"].is_string());
    let (unread, _) = all_pages(&s, &token, "&unread=true").await;
    let expected: Vec<String> = newest_first
        .iter()
        .filter(|id| **id != sent[1])
        .cloned()
        .collect();
    assert_eq!(unread, expected);

    // Another user cannot mark it; an unknown id is 404; a bad cursor is 400.
    let other = s.hub.token(&r2, Role::User);
    let post = |path: String, t: &str| {
        hub_tests::req("POST", &path, Some(t))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    hub_tests::send(
        &s.svc,
        post(format!("/api/v1/notifications/{}/read", sent[0]), &other),
    )
    .await
    .assert_problem(404, "not_found");
    hub_tests::send(
        &s.svc,
        post(
            format!("/api/v1/notifications/{}/read?user_id={r1}", sent[0]),
            &other,
        ),
    )
    .await
    .assert_problem(403, "forbidden");
    hub_tests::send(
        &s.svc,
        post("/api/v1/notifications/not-an-id/read".into(), &token),
    )
    .await
    .assert_problem(404, "not_found");
    let res = hub_tests::send(
        &s.svc,
        hub_tests::get("/api/v1/notifications?cursor=bogus", Some(&token)),
    )
    .await;
    assert_eq!(
        res.assert_problem(400, "invalid_field")["errors"][0]["field"],
        "cursor"
    );
    hub_tests::send(
        &s.svc,
        hub_tests::get("/api/v1/notifications?limit=0", Some(&token)),
    )
    .await
    .assert_problem(400, "invalid_field");
    hub_tests::send(
        &s.svc,
        hub_tests::get("/api/v1/notifications?user_id=reader-1", Some(&other)),
    )
    .await
    .assert_problem(403, "forbidden");

    // Read all: the four left; the unread view is empty; the inbox still has five, all read.
    let res = hub_tests::send(
        &s.svc,
        post("/api/v1/notifications/read-all".into(), &token),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"user_id": &r1, "marked": 4}));
    assert!(ids(&page(&s, &token, "?unread=true").await).is_empty());
    let everything = page(&s, &token, "?limit=100").await;
    assert_eq!(everything["items"].as_array().unwrap().len(), 5);
    assert!(
        everything["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read"] == true)
    );
    let unique: HashSet<String> = ids(&everything).into_iter().collect();
    assert_eq!(unique.len(), 5);
    // Marking again is harmless.
    assert_eq!(
        hub_tests::send(
            &s.svc,
            post("/api/v1/notifications/read-all".into(), &token)
        )
        .await
        .json()["marked"],
        0
    );
    // reader-2's notification is still unread, and a service can read that inbox.
    let service = s.service_token();
    assert_eq!(
        ids(&page(&s, &service, &format!("?user_id={r2}&unread=true")).await).len(),
        1
    );
}
