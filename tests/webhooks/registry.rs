//! The endpoint registry: admin only, the secret shown once and kept in Secrets Manager only,
//! validation, list/get/update/disable.

use aws_sdk_dynamodb::types::AttributeValue;
use hub_tests::{json_req, send};
use serde_json::json;
use shared::auth::Role;

use crate::{Fixture, slug};

#[tokio::test]
async fn registration_is_admin_only_and_shows_the_secret_once() {
    let f = Fixture::new().await;
    let slug = slug("pay");
    let body = json!({
        "provider_slug": "payment-gateway", "name": "Payment Status", "endpoint_url": slug,
        "events": ["payment.success", "payment.failed"], "verification": {"scheme": "standard_webhooks"}
    });
    // No token, then a user token.
    let res = send(
        &f.svc,
        json_req("POST", "/api/integrations/webhooks", None, &body),
    )
    .await;
    res.assert_problem(401, "missing_token");
    let user = f.hub.token("u1", Role::User);
    let res = send(
        &f.svc,
        json_req("POST", "/api/integrations/webhooks", Some(&user), &body),
    )
    .await;
    res.assert_problem(403, "forbidden");

    let created = f.register(body.clone()).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let key = shared::webhooks::signature::decode_standard_secret(&secret).unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(created["secret_origin"], "generated");
    assert_eq!(created["verification"]["scheme"], "standard_webhooks");
    assert_eq!(created["verification"]["tolerance_seconds"], 300);
    assert_eq!(
        created["public_url"],
        format!("https://localhost/api/integrations/webhook/{slug}")
    );
    let id = created["id"].as_str().unwrap();

    // Kept in Secrets Manager under {prefix}/webhooks/{id} ...
    let stored = f
        .hub
        .ctx
        .aws
        .secrets
        .get_secret_value()
        .secret_id(format!("{}/webhooks/{id}", f.hub.prefix))
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    assert!(stored.contains(&secret));
    // ... and nowhere in the table item, nor in any later answer.
    let item = f
        .hub
        .ctx
        .aws
        .dynamo
        .get_item()
        .table_name(&f.hub.ctx.config.hub_table)
        .key("pk", AttributeValue::S(format!("WH#EP#{slug}")))
        .key("sk", AttributeValue::S("#ENDPOINT".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!format!("{item:?}").contains(&secret[6..]));
    let got = f
        .admin_get(&format!("/api/integrations/webhooks/{slug}/"))
        .await;
    assert_eq!(got.status.as_u16(), 200);
    assert!(got.json().get("secret").is_none());
    assert!(!String::from_utf8_lossy(&got.body).contains(&secret[6..]));

    // The slug is unique.
    let res = send(
        &f.svc,
        json_req(
            "POST",
            "/api/integrations/webhooks",
            Some(&f.hub.admin()),
            &body,
        ),
    )
    .await;
    let p = res.assert_problem(409, "endpoint_exists");
    assert_eq!(p["errors"][0]["field"], "endpoint_url");
}

#[tokio::test]
async fn registration_validates_its_fields() {
    let f = Fixture::new().await;
    let admin = f.hub.admin();
    let base = json!({"provider_slug": "p", "name": "n", "endpoint_url": slug("v"), "verification": {"scheme": "standard_webhooks"}});
    let cases = [
        ("endpoint_url", json!("Has Spaces")),
        ("provider_slug", json!("")),
        ("name", json!("")),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value;
        let res = send(
            &f.svc,
            json_req("POST", "/api/integrations/webhooks", Some(&admin), &body),
        )
        .await;
        let p = res.assert_problem(400, "invalid_field");
        assert_eq!(p["errors"][0]["field"], field);
    }
    let mut body = base.clone();
    body["verification"] = json!({"scheme": "md5"});
    send(
        &f.svc,
        json_req("POST", "/api/integrations/webhooks", Some(&admin), &body),
    )
    .await
    .assert_problem(422, "invalid_body");
    let mut body = base.clone();
    body["secret"] = json!("whsec_not base64!!");
    let p = send(
        &f.svc,
        json_req("POST", "/api/integrations/webhooks", Some(&admin), &body),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "secret");
    let mut body = base.clone();
    body["verification"] = json!({"scheme": "standard_webhooks", "tolerance_seconds": 0});
    let p = send(
        &f.svc,
        json_req("POST", "/api/integrations/webhooks", Some(&admin), &body),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "verification.tolerance_seconds");
}

#[tokio::test]
async fn list_get_update_and_disable() {
    let f = Fixture::new().await;
    let (slug, secret) = crate::standard_endpoint(&f, json!(["a.b"])).await;

    let list = f.admin_get("/api/integrations/webhooks?limit=100").await;
    assert_eq!(list.status.as_u16(), 200);
    assert!(!String::from_utf8_lossy(&list.body).contains(&secret[6..]));

    let admin = f.hub.admin();
    let res = send(
        &f.svc,
        json_req(
            "PATCH",
            &format!("/api/integrations/webhooks/{slug}"),
            Some(&admin),
            &json!({"name": "Renamed", "events": ["x.y"]}),
        ),
    )
    .await;
    assert_eq!(
        res.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    assert_eq!(res.json()["name"], "Renamed");
    assert_eq!(res.json()["events"], json!(["x.y"]));
    // The scheme cannot change in place.
    let res = send(
        &f.svc,
        json_req(
            "PATCH",
            &format!("/api/integrations/webhooks/{slug}"),
            Some(&admin),
            &json!({"verification": {"scheme": "path_token"}}),
        ),
    )
    .await;
    res.assert_problem(422, "scheme_change");

    // A signed delivery is accepted; after DELETE (disable) the endpoint answers 404.
    let body = r#"{"type":"x.y","data":{}}"#;
    assert_eq!(
        crate::post_standard(&f, &slug, &secret, "msg_before_disable", body)
            .await
            .status
            .as_u16(),
        200
    );
    let res = send(
        &f.svc,
        hub_tests::req(
            "DELETE",
            &format!("/api/integrations/webhooks/{slug}"),
            Some(&admin),
        )
        .body(axum::body::Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(res.status.as_u16(), 200);
    assert_eq!(res.json()["enabled"], false);
    crate::post_standard(&f, &slug, &secret, "msg_after_disable", body)
        .await
        .assert_problem(404, "unknown_endpoint");

    f.admin_get("/api/integrations/webhooks/no-such-endpoint")
        .await
        .assert_problem(404, "unknown_endpoint");
}

#[test]
fn openapi_describes_every_route() {
    let doc = webhooks::openapi();
    let paths: Vec<&String> = doc.paths.paths.keys().collect();
    for p in [
        "/api/integrations/webhook/{endpoint_url}",
        "/api/integrations/webhook/{endpoint_url}/{token}",
        "/api/integrations/webhooks",
        "/api/integrations/webhooks/{endpoint_url}",
        "/api/integrations/webhooks/{endpoint_url}/rotate-secret",
        "/api/integrations/webhooks/{endpoint_url}/events",
        "/api/integrations/webhooks/{endpoint_url}/events/replay",
        "/api/integrations/webhooks/{endpoint_url}/events/{event_id}",
        "/api/integrations/webhooks/{endpoint_url}/events/{event_id}/replay",
    ] {
        assert!(
            paths.iter().any(|k| k.as_str() == p),
            "{p} missing from {paths:?}"
        );
    }
}
