//! The injection itself, against the emulator: a rule fails exactly the calls it selects, in
//! the way it says (an answer lost after AWS ran the call leaves the write in place).

use hub_tests::TestHub;
use hub_tests::faults::{Fault, Faults};
use shared::store::s;

fn key(pk: &str) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    [("pk".to_string(), s(pk)), ("sk".to_string(), s("probe"))].into()
}

async fn exists(hub: &TestHub, pk: &str) -> bool {
    let got = hub
        .ctx
        .aws
        .dynamo
        .get_item()
        .table_name(&hub.ctx.config.hub_table)
        .set_key(Some(key(pk)))
        .consistent_read(true)
        .send()
        .await
        .expect("admin GetItem");
    got.item().is_some()
}

async fn put(ctx: &shared::HubContext, pk: &str) -> Result<(), String> {
    ctx.aws
        .dynamo
        .put_item()
        .table_name(&ctx.config.hub_table)
        .set_item(Some(key(pk)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))
}

#[tokio::test]
async fn an_unavailable_answer_fails_the_call_and_the_write_does_not_happen() {
    let hub = TestHub::new().await;
    let faults = Faults::new();
    faults.inject(Fault::unavailable("PutItem"));
    let ctx = hub.faulty_ctx_of("sms", &faults).await;
    let pk = format!("fault-probe#{}", uuid::Uuid::new_v4());
    let err = put(&ctx, &pk).await.expect_err("every attempt fails");
    assert!(err.contains("InternalFailure"), "{err}");
    // The SDK's standard retry policy tried three times.
    assert_eq!(faults.calls("PutItem"), 3);
    assert_eq!(faults.injected("PutItem"), 3);
    assert!(!exists(&hub, &pk).await);
    faults.clear();
    put(&ctx, &pk).await.expect("healed");
    assert!(exists(&hub, &pk).await);
}

#[tokio::test]
async fn a_lost_answer_fails_the_call_but_aws_ran_it() {
    let hub = TestHub::new().await;
    let faults = Faults::new();
    faults.inject(Fault::lost_answer("PutItem").times(3));
    let ctx = hub.faulty_ctx_of("sms", &faults).await;
    let pk = format!("fault-probe#{}", uuid::Uuid::new_v4());
    let err = put(&ctx, &pk).await.expect_err("the answer never arrives");
    assert!(
        err.to_lowercase().contains("timeout") || err.contains("lost"),
        "{err}"
    );
    assert!(exists(&hub, &pk).await, "AWS executed the write");
}

#[tokio::test]
async fn a_rule_selects_the_nth_call_only() {
    let hub = TestHub::new().await;
    let faults = Faults::new();
    faults.inject(Fault::throttle("PutItem").nth(2).times(3));
    let ctx = hub.faulty_ctx_of("sms", &faults).await;
    let first = format!("fault-probe#{}", uuid::Uuid::new_v4());
    let second = format!("fault-probe#{}", uuid::Uuid::new_v4());
    put(&ctx, &first).await.expect("first call passes");
    let err = put(&ctx, &second)
        .await
        .expect_err("calls 2-4 are throttled");
    assert!(err.contains("Throttling"), "{err}");
    assert_eq!(faults.log().first().map(String::as_str), Some("PutItem"));
    assert_eq!(faults.injected("PutItem"), 3);
    assert!(exists(&hub, &first).await && !exists(&hub, &second).await);
}

/// The primitive behind every "process stops between store and enqueue" row: a unit written
/// with its redrive marker and never enqueued reaches its queue once due, and a unit its
/// worker claimed (marker removed) is left alone.
#[tokio::test]
async fn a_unit_written_but_never_enqueued_is_redriven_once_due() {
    use shared::redrive::{self, Redrive};
    let _sweeps = crate::WEBHOOK_SWEEPS.lock().await;
    let hub = TestHub::new().await;
    let queue = hub_tests::create_queue(&hub, "WEBHOOK_EVENTS_QUEUE_URL").await;
    let dynamo = &hub.ctx.aws.dynamo;
    // A table of its own: a sweep of the shared table would re-send, and push back by a
    // minute, the pending units of the scenarios running at the same time.
    let table = &crate::redrive::hub_table_copy(&hub).await;
    let now = shared::clock::now_secs();
    // Two units in the past (due) and one not yet due; the second one gets claimed.
    let ids: Vec<String> = (0..3)
        .map(|i| format!("redrive-probe-{i}-{}", uuid::Uuid::new_v4()))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let mut item = key(id);
        let written = if i == 2 { now } else { now - 120 };
        Redrive::new("WEBHOOK_EVENTS_QUEUE_URL", format!("{{\"id\":\"{id}\"}}"))
            .mark(&mut item, written);
        dynamo
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .expect("put unit");
    }
    dynamo
        .update_item()
        .table_name(table)
        .set_key(Some(key(&ids[1])))
        .update_expression(redrive::REMOVE_CLAUSE)
        .send()
        .await
        .expect("claim");
    let urls = [("WEBHOOK_EVENTS_QUEUE_URL".to_string(), queue.clone())].into();
    let mut mine = 0;
    // Other tests share the table's index: count only this test's units.
    let report = redrive::sweep_due(
        dynamo,
        hub.ctx.aws.sqs(),
        table,
        &urls,
        now,
        redrive::DEFAULT_AFTER,
        1000,
    )
    .await
    .expect("sweep");
    assert!(report.redriven >= 1, "{report:?}");
    let received = hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    for m in received.messages() {
        let body = m.body().unwrap_or_default();
        assert!(!body.contains(&ids[1]) && !body.contains(&ids[2]), "{body}");
        if body.contains(&ids[0]) {
            mine += 1;
        }
    }
    assert_eq!(mine, 1, "the due unit is re-sent once");
    // Its due time moved forward: a second sweep now sends nothing of ours.
    redrive::sweep_due(
        dynamo,
        hub.ctx.aws.sqs(),
        table,
        &urls,
        now,
        redrive::DEFAULT_AFTER,
        1000,
    )
    .await
    .expect("sweep again");
    let received = hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    assert!(
        received
            .messages()
            .iter()
            .all(|m| !m.body().unwrap_or_default().contains(&ids[0]))
    );
}
