//! The integration log writer, hourly counters, statistics and the admin log listing.

use std::time::Duration;

use hub_tests::{TestHub, get, json_req, send};
use serde_json::json;
use shared::integration_log::{CallRecord, Outcome};

/// A provider of its own, so counters are not shared with other tests.
async fn new_provider(hub: &TestHub, svc: &shared::http::HubService) -> String {
    let slug = format!("p-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let body = json!({"slug": slug, "name": "Stats test", "kind": "webhook", "protocol": "none"});
    let res = send(
        svc,
        json_req(
            "POST",
            "/api/integrations/providers",
            Some(&hub.admin()),
            &body,
        ),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    slug
}

fn record(slug: &str, outcome: Outcome, ms: u64) -> CallRecord {
    let mut r = CallRecord::new(slug, "send", "req-1");
    r.outcome = outcome;
    r.latency = Duration::from_millis(ms);
    r.target = Some(shared::mask::mask_phone("+989123456789"));
    if outcome == Outcome::Failure {
        r.error_code = Some("kavenegar_418".into());
    }
    r
}

#[tokio::test]
async fn statistics_come_from_hourly_counters() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let slug = new_provider(&hub, &svc).await;
    // 18 fast successes, 2 slow failures: p95 falls in the slow bucket. Written one after
    // another: moto does not serialise concurrent `ADD`s on one item (DynamoDB does), and this
    // test is about the arithmetic, not the emulator's locking.
    for i in 0..20 {
        let rec = if i < 18 {
            record(&slug, Outcome::Success, 20)
        } else {
            record(&slug, Outcome::Failure, 700)
        };
        hub.ctx.log.try_record(&rec).await.unwrap();
    }
    let res = send(
        &svc,
        get(
            &format!("/api/integrations/providers/{slug}/statistics/?window_hours=48"),
            Some(&hub.admin()),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let v = res.json();
    assert_eq!(v["window_hours"], 48);
    assert_eq!(v["total"]["calls"], 20);
    assert_eq!(v["total"]["successes"], 18);
    assert_eq!(v["total"]["failures"], 2);
    assert_eq!(v["total"]["success_rate"], 0.9);
    assert_eq!(
        v["total"]["avg_latency_ms"],
        (18.0 * 20.0 + 2.0 * 700.0) / 20.0
    );
    assert_eq!(v["total"]["p95_latency_ms"], 1000);
    assert_eq!(v["hourly"].as_array().unwrap().len(), 1);
    assert_eq!(v["daily"].as_array().unwrap().len(), 1);
    assert_eq!(v["daily"][0]["calls"], 20);
}

#[tokio::test]
async fn log_entries_are_masked_filtered_and_paged() {
    let hub = TestHub::new().await;
    let svc = shared::http::app(providers::router(hub.ctx_of("providers")));
    let slug = new_provider(&hub, &svc).await;
    for i in 0..7 {
        let outcome = if i % 3 == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        hub.ctx
            .log
            .try_record(&record(&slug, outcome, 10 + i))
            .await
            .unwrap();
    }
    let admin = hub.admin();
    // Page through all seven, three at a time, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/integrations/logs?provider={slug}&limit=3");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = send(&svc, get(&path, Some(&admin))).await;
        assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
        let v = page.json();
        for item in v["items"].as_array().unwrap() {
            assert_eq!(item["provider"], slug.as_str());
            assert_eq!(item["target"], "+98912*****89");
            assert!(!item.to_string().contains("3456789"));
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        cursor = v["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 7);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 7, "a page repeated an entry");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a)); // uuid v7: time ordered
    assert_eq!(seen, sorted, "not newest first");

    // Outcome filter.
    let failures = send(
        &svc,
        get(
            &format!("/api/integrations/logs?provider={slug}&outcome=failure"),
            Some(&admin),
        ),
    )
    .await
    .json();
    let items = failures["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| i["outcome"] == "failure" && i["error_code"] == "kavenegar_418")
    );

    // All providers, by day partition: ours are among them.
    let all = send(&svc, get("/api/integrations/logs?limit=100", Some(&admin)))
        .await
        .json();
    let ours = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["provider"] == slug.as_str())
        .count();
    assert_eq!(ours, 7);

    // A time window in the past finds nothing; bad times and cursors are 400s.
    let past = send(&svc, get(&format!("/api/integrations/logs?provider={slug}&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z"), Some(&admin))).await.json();
    assert_eq!(past["items"].as_array().unwrap().len(), 0);
    send(
        &svc,
        get("/api/integrations/logs?from=yesterday", Some(&admin)),
    )
    .await
    .assert_problem(400, "invalid_field");
    send(&svc, get("/api/integrations/logs?cursor=zzz", Some(&admin)))
        .await
        .assert_problem(400, "invalid_field");
    send(
        &svc,
        get("/api/integrations/logs?outcome=maybe", Some(&admin)),
    )
    .await
    .assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn log_items_expire_through_ttl() {
    let hub = TestHub::new().await;
    let slug = format!("ttl-{}", uuid::Uuid::new_v4().simple());
    hub.ctx
        .log
        .try_record(&record(&slug, Outcome::Success, 5))
        .await
        .unwrap();
    let out = hub
        .ctx
        .aws
        .dynamo
        .query()
        .table_name(&hub.ctx.config.logs_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("LOG#{slug}")),
        )
        .send()
        .await
        .unwrap();
    let item = &out.items()[0];
    let exp: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let days = (exp - now) as f64 / 86_400.0;
    assert!(
        (29.9..=30.1).contains(&days),
        "TTL should be LOG_TTL_DAYS (30) days away, is {days}"
    );
    assert!(!item.contains_key("api_key"));
}
