//! The re-drive sweeper (`functions/sweeper`, `shared::redrive::sweep_due`) under its own IAM
//! role against the emulator: what it re-sends, to which queue, when, and what it leaves alone.
//!
//! Each test gets a hub table of its own, a copy of the stack's with its indexes (the
//! `redrive` index included, as template.yaml declares it): the index is one partition shared
//! by every pending unit, so a sweep on the shared table would re-send (and push back) other
//! tests' units.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, Projection,
};
use hub_tests::TestHub;
use hub_tests::faults::{Fault, Faults, Row};
use shared::redrive::{self, Redrive};
use shared::store::s;

/// A copy of the stack's hub table (`<HUB_TABLE>-<suffix>`, which the roles reach in test
/// mode) with the same keys and global secondary indexes, `redrive` included. A scenario that
/// runs a sweep should give its functions this table (`HUB_TABLE` override): a sweep of the
/// shared table would re-send, and push back by a minute, the pending units of every other
/// test running at the same time.
pub(crate) async fn hub_table_copy(hub: &TestHub) -> String {
    let dynamo = &hub.ctx.aws.dynamo;
    let stack_table = &hub.ctx.config.hub_table;
    let name = format!(
        "{stack_table}-rd{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let described = dynamo
        .describe_table()
        .table_name(stack_table)
        .send()
        .await
        .expect("describe the stack's hub table");
    let table = described.table().expect("table description");
    let indexes: Vec<GlobalSecondaryIndex> = table
        .global_secondary_indexes()
        .iter()
        .map(|gsi| {
            let projection = gsi.projection().cloned().unwrap_or_else(|| {
                Projection::builder()
                    .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
                    .build()
            });
            GlobalSecondaryIndex::builder()
                .index_name(gsi.index_name().unwrap_or_default())
                .set_key_schema(Some(gsi.key_schema().to_vec()))
                .projection(projection)
                .build()
                .expect("index")
        })
        .collect();
    assert!(
        indexes.iter().any(|i| i.index_name() == redrive::INDEX
            && i.key_schema()
                .iter()
                .map(KeySchemaElement::attribute_name)
                .eq([redrive::SHARD_ATTR, redrive::DUE_ATTR])),
        "template.yaml's hub table has no `{}` index on ({}, {})",
        redrive::INDEX,
        redrive::SHARD_ATTR,
        redrive::DUE_ATTR
    );
    dynamo
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(table.attribute_definitions().to_vec()))
        .set_key_schema(Some(table.key_schema().to_vec()))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .expect("create the hub table copy");
    name
}

/// A unit of work as a producer stores it: its own attributes plus the redrive marker, in one
/// `PutItem` (written by the admin: what a producer wrote before it stopped).
async fn store_unit(hub: &TestHub, table: &str, pk: &str, marker: &Redrive, written_at: i64) {
    let mut item: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".to_string(), s(pk)),
        ("sk".to_string(), s("UNIT")),
        ("status".to_string(), s("queued")),
    ]);
    marker.mark(&mut item, written_at);
    hub.ctx
        .aws
        .dynamo
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("store the unit");
}

async fn unit(hub: &TestHub, table: &str, pk: &str) -> HashMap<String, AttributeValue> {
    hub.ctx
        .aws
        .dynamo
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s("UNIT"))
        .consistent_read(true)
        .send()
        .await
        .expect("read the unit")
        .item
        .expect("the unit is stored")
}

fn number(item: &HashMap<String, AttributeValue>, attr: &str) -> Option<i64> {
    item.get(attr)?.as_n().ok()?.parse().ok()
}

/// Every message waiting in `queue` (bodies), removed from it.
async fn take_messages(hub: &TestHub, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = hub
            .ctx
            .aws
            .sqs()
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(if bodies.is_empty() { 1 } else { 0 })
            .send()
            .await
            .expect("receive");
        let messages = out.messages();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body().unwrap_or_default().to_string());
            hub.ctx
                .aws
                .sqs()
                .delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

struct Stage {
    hub: TestHub,
    table: String,
    /// The test's own queue for each of `redrive::QUEUES`, by its variable.
    queues: Vec<(&'static str, String)>,
}

async fn stage() -> Stage {
    let hub = TestHub::new().await;
    let table = hub_table_copy(&hub).await;
    let mut queues = Vec::new();
    for var in redrive::QUEUES {
        queues.push((var, hub_tests::create_queue(&hub, var).await));
    }
    Stage { hub, table, queues }
}

impl Stage {
    /// The sweeper's environment: this test's table and queues.
    fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut all = vec![("HUB_TABLE", self.table.clone())];
        all.extend(self.queues.iter().cloned());
        all
    }

    fn queue(&self, var: &str) -> &str {
        &self
            .queues
            .iter()
            .find(|(v, _)| *v == var)
            .expect("a queue")
            .1
    }
}

fn pk(label: &str) -> String {
    format!("REDRIVE-TEST#{label}#{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn the_sweeper_re_drives_due_units_to_their_queue_and_pushes_them_back() {
    let st = stage().await;
    let now = shared::clock::now_secs();
    // One unit per queue, written two minutes ago and never enqueued (the producer stopped):
    // due for a minute.
    let mut stranded = Vec::new();
    for var in redrive::QUEUES {
        let unit_pk = pk(var);
        let body = format!(r#"{{"id":"{unit_pk}"}}"#);
        store_unit(
            &st.hub,
            &st.table,
            &unit_pk,
            &Redrive::new(var, body.clone()),
            now - 120,
        )
        .await;
        stranded.push((var, unit_pk, body));
    }
    // Written just now: its own SendMessage may still be on its way; not due yet.
    let fresh = pk("fresh");
    store_unit(
        &st.hub,
        &st.table,
        &fresh,
        &Redrive::new("WEBHOOK_EVENTS_QUEUE_URL", r#"{"event_id":"fresh"}"#),
        now,
    )
    .await;

    let ctx = st.hub.another_ctx_of("sweeper", &st.overrides()).await;
    let after = redrive::after_from_env(&ctx.env).as_secs() as i64;
    let report = sweeper::sweep(&ctx).await.expect("sweep");
    let n = redrive::QUEUES.len();
    assert_eq!((report.due, report.redriven), (n, n), "{report:?}");
    assert_eq!((report.unroutable, report.stuck), (0, 0), "{report:?}");

    // Each body went to its own queue, once; nothing for the unit not yet due.
    let swept_at = shared::clock::now_secs();
    for (var, unit_pk, body) in &stranded {
        assert_eq!(
            take_messages(&st.hub, st.queue(var)).await,
            std::slice::from_ref(body),
            "{var}"
        );
        // Pushed back by REDRIVE_AFTER_SECONDS, counted, still in the index.
        let item = unit(&st.hub, &st.table, unit_pk).await;
        let due = number(&item, redrive::DUE_ATTR).expect("still marked");
        assert!(
            (now + after..=swept_at + after).contains(&due),
            "{var}: due {due}, swept between {now} and {swept_at}"
        );
        assert_eq!(number(&item, redrive::COUNT_ATTR), Some(1), "{var}");
    }
    let untouched = unit(&st.hub, &st.table, &fresh).await;
    assert_eq!(number(&untouched, redrive::DUE_ATTR), Some(now + 60));
    assert_eq!(number(&untouched, redrive::COUNT_ATTR), None);

    // The next sweep finds nothing due: a unit is not re-sent every minute.
    let again = sweeper::sweep(&ctx).await.expect("second sweep");
    assert_eq!((again.due, again.redriven), (0, 0), "{again:?}");
    assert!(
        take_messages(&st.hub, st.queue("WEBHOOK_EVENTS_QUEUE_URL"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_unit_its_worker_claimed_is_not_re_driven() {
    let st = stage().await;
    let now = shared::clock::now_secs();
    let claimed = pk("claimed");
    let marker = Redrive::new("WEBHOOK_EVENTS_QUEUE_URL", r#"{"event_id":"claimed"}"#);
    store_unit(&st.hub, &st.table, &claimed, &marker, now - 120).await;
    // The worker's claim: its conditional update, with the marker's REMOVE appended.
    st.hub
        .ctx
        .aws
        .dynamo
        .update_item()
        .table_name(&st.table)
        .key("pk", s(&claimed))
        .key("sk", s("UNIT"))
        .update_expression(format!(
            "SET #status = :processing {}",
            redrive::REMOVE_CLAUSE
        ))
        .condition_expression("#status = :queued")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":processing", s("processing"))
        .expression_attribute_values(":queued", s("queued"))
        .send()
        .await
        .expect("claim");

    let ctx = st.hub.another_ctx_of("sweeper", &st.overrides()).await;
    let report = sweeper::sweep(&ctx).await.expect("sweep");
    assert_eq!((report.due, report.redriven), (0, 0), "{report:?}");
    assert!(
        take_messages(&st.hub, st.queue("WEBHOOK_EVENTS_QUEUE_URL"))
            .await
            .is_empty()
    );
    let item = unit(&st.hub, &st.table, &claimed).await;
    assert_eq!(item["status"].as_s().unwrap(), "processing");
    for attr in [
        redrive::SHARD_ATTR,
        redrive::DUE_ATTR,
        redrive::QUEUE_ATTR,
        redrive::BODY_ATTR,
        redrive::COUNT_ATTR,
    ] {
        assert!(!item.contains_key(attr), "{attr} left on a claimed unit");
    }
}

#[tokio::test]
async fn the_sweeper_role_reads_only_the_index_and_writes_only_updates() {
    let st = stage().await;
    let ctx = st.hub.another_ctx_of("sweeper", &st.overrides()).await;
    let dynamo = &ctx.aws.dynamo;
    let denied = |r: Result<(), String>, what: &str| {
        let e = r.expect_err(what);
        assert!(e.contains("AccessDenied"), "{what}: {e}");
    };
    let key = |p: &str| HashMap::from([("pk".to_string(), s(p)), ("sk".to_string(), s("UNIT"))]);
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    denied(
        dynamo
            .get_item()
            .table_name(&st.table)
            .set_key(Some(key("x")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e)),
        "GetItem on the table",
    );
    denied(
        dynamo
            .put_item()
            .table_name(&st.table)
            .set_item(Some(key("x")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e)),
        "PutItem on the table",
    );
    denied(
        dynamo
            .query()
            .table_name(&st.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s("x"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e)),
        "Query on another index",
    );
}

#[tokio::test]
async fn a_sweep_whose_send_fails_leaves_the_unit_due_and_the_next_sweep_re_drives_it_once() {
    let st = stage().await;
    let now = shared::clock::now_secs();
    let stranded = pk("stranded");
    let body = format!(r#"{{"event_id":"{stranded}"}}"#);
    let marker = Redrive::new("WEBHOOK_EVENTS_QUEUE_URL", body.clone());
    store_unit(&st.hub, &st.table, &stranded, &marker, now - 120).await;

    // SQS is down for the whole first sweep (the SDK's three attempts).
    let faults = Faults::new();
    faults.inject(Fault::unavailable("SendMessageBatch").times(3));
    let ctx = st
        .hub
        .faulty_ctx_with("sweeper", &faults, &st.overrides())
        .await;
    let failed = sweeper::sweep(&ctx).await;
    assert!(
        matches!(failed, Err(redrive::SweepError::Queue { .. })),
        "{failed:?}"
    );
    // A unit whose message was not re-sent keeps its due time (pushing it back would delay it
    // for nothing, or forever if the sweeper kept failing after the push).
    let kept = number(
        &unit(&st.hub, &st.table, &stranded).await,
        redrive::DUE_ATTR,
    );

    // SQS is back: the next sweep re-sends it, once.
    let report = sweeper::sweep(&ctx).await.expect("sweep after the outage");
    assert_eq!(report.redriven, 1, "{report:?}");
    let again = sweeper::sweep(&ctx).await.expect("a third sweep");
    assert_eq!(again.redriven, 0, "{again:?}");
    let messages = take_messages(&st.hub, st.queue("WEBHOOK_EVENTS_QUEUE_URL")).await;
    assert!(messages.iter().all(|m| *m == body), "{messages:?}");
    Row {
        scenario: "sweeper: SQS down during a sweep, the next sweep re-drives",
        sends: messages.len(),
        lost: usize::from(messages.is_empty()),
        duplicates: messages.len().saturating_sub(1),
        wrong_statuses: usize::from(kept != Some(now - 60)),
    }
    .report();
}

#[tokio::test]
async fn a_sweep_re_drives_many_units_ten_to_a_batch_each_once() {
    let st = stage().await;
    let now = shared::clock::now_secs();
    // An SQS outage stranded 23 webhook events and 2 AI jobs (written two minutes ago).
    let mut expected: Vec<(&str, Vec<String>, Vec<String>)> = Vec::new();
    for (var, n) in [("WEBHOOK_EVENTS_QUEUE_URL", 23), ("AI_JOBS_QUEUE_URL", 2)] {
        let (mut pks, mut bodies) = (Vec::new(), Vec::new());
        for i in 0..n {
            let unit_pk = pk(&format!("{var}-{i}"));
            let body = format!(r#"{{"id":"{unit_pk}"}}"#);
            store_unit(
                &st.hub,
                &st.table,
                &unit_pk,
                &Redrive::new(var, body.clone()),
                now - 120,
            )
            .await;
            pks.push(unit_pk);
            bodies.push(body);
        }
        expected.push((var, pks, bodies));
    }

    let faults = Faults::new();
    let ctx = st
        .hub
        .faulty_ctx_with("sweeper", &faults, &st.overrides())
        .await;
    let report = sweeper::sweep(&ctx).await.expect("sweep");
    assert_eq!(
        (report.due, report.redriven, report.unroutable),
        (25, 25, 0),
        "{report:?}"
    );
    // 23 messages: batches of 10, 10 and 3; 2 messages: one batch. No single sends.
    assert_eq!(faults.calls("SendMessageBatch"), 4, "{:?}", faults.log());
    assert_eq!(faults.calls("SendMessage"), 0, "{:?}", faults.log());

    for (var, pks, bodies) in &expected {
        let mut got = take_messages(&st.hub, st.queue(var)).await;
        got.sort();
        let mut want = bodies.clone();
        want.sort();
        assert_eq!(got, want, "{var}: each body once");
        for unit_pk in pks {
            let item = unit(&st.hub, &st.table, unit_pk).await;
            assert_eq!(number(&item, redrive::COUNT_ATTR), Some(1), "{unit_pk}");
            assert!(
                number(&item, redrive::DUE_ATTR).unwrap() > now,
                "{unit_pk} pushed back"
            );
        }
    }
    // Nothing is due any more: the next sweep sends nothing.
    let again = sweeper::sweep(&ctx).await.expect("second sweep");
    assert_eq!((again.due, again.redriven), (0, 0), "{again:?}");
}

/// SQS accepts part of a batch: `SendMessageBatch` answers 200 with one entry in `Failed`
/// (what SQS does when, say, one entry hits an internal error). SQS is faked at the HTTP level
/// for that one answer, in the service's JSON protocol; DynamoDB is the emulator, under the
/// sweeper's role.
#[tokio::test]
async fn a_batch_sqs_refuses_in_part_pushes_back_only_the_sent_units_and_the_next_sweep_sends_the_rest()
 {
    use wiremock::matchers::{header, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let st = stage().await;
    let now = shared::clock::now_secs();
    let var = "WEBHOOK_EVENTS_QUEUE_URL";
    let mut bodies = HashMap::new();
    for i in 0..3 {
        let unit_pk = pk(&format!("partial-{i}"));
        let body = format!(r#"{{"event_id":"{unit_pk}"}}"#);
        store_unit(
            &st.hub,
            &st.table,
            &unit_pk,
            &Redrive::new(var, body.clone()),
            now - 120,
        )
        .await;
        bodies.insert(unit_pk, body);
    }

    let sqs_fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "AmazonSQS.SendMessageBatch"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.0")
                .set_body_json(serde_json::json!({
                    "Successful": [
                        {"Id": "0", "MessageId": "m-0", "MD5OfMessageBody": "0"},
                        {"Id": "2", "MessageId": "m-2", "MD5OfMessageBody": "2"},
                    ],
                    "Failed": [
                        {"Id": "1", "SenderFault": false, "Code": "InternalError", "Message": "try again"},
                    ],
                })),
        )
        .expect(1)
        .mount(&sqs_fake)
        .await;

    let ctx = st.hub.another_ctx_of("sweeper", &st.overrides()).await;
    let fake_sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&ctx.aws.sdk_config)
            .endpoint_url(sqs_fake.uri())
            .build(),
    );
    let queue_urls = redrive::queue_urls_from_env(&ctx.env);
    let after = redrive::after_from_env(&ctx.env);
    let partial = redrive::sweep_due(
        &ctx.aws.dynamo,
        &fake_sqs,
        &st.table,
        &queue_urls,
        now,
        after,
        100,
    )
    .await;
    match &partial {
        Err(redrive::SweepError::Queue { queue_env, message }) => {
            assert_eq!(queue_env, var);
            assert!(message.contains("1 of 3"), "{message}");
        }
        other => panic!("a partly refused batch must end the sweep with an error: {other:?}"),
    }
    let sent_batch: serde_json::Value =
        serde_json::from_slice(&sqs_fake.received_requests().await.unwrap()[0].body).unwrap();
    let entries = sent_batch["Entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3, "{sent_batch}");
    let refused_body = entries
        .iter()
        .find(|e| e["Id"] == "1")
        .and_then(|e| e["MessageBody"].as_str())
        .expect("entry 1")
        .to_string();

    // The two accepted units were pushed back and counted; the refused one kept its due time.
    let mut refused = Vec::new();
    for (unit_pk, body) in &bodies {
        let item = unit(&st.hub, &st.table, unit_pk).await;
        if *body == refused_body {
            assert_eq!(
                number(&item, redrive::DUE_ATTR),
                Some(now - 60),
                "{unit_pk}"
            );
            assert_eq!(number(&item, redrive::COUNT_ATTR), None, "{unit_pk}");
            refused.push(body.clone());
        } else {
            assert!(number(&item, redrive::DUE_ATTR).unwrap() > now, "{unit_pk}");
            assert_eq!(number(&item, redrive::COUNT_ATTR), Some(1), "{unit_pk}");
        }
    }
    assert_eq!(refused.len(), 1);

    // The next sweep (the real SQS) re-sends only the refused unit, once.
    let report = sweeper::sweep(&ctx).await.expect("next sweep");
    assert_eq!((report.due, report.redriven), (1, 1), "{report:?}");
    assert_eq!(take_messages(&st.hub, st.queue(var)).await, refused);
}
