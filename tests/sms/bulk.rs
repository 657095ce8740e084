//! Bulk: the API queues chunks on the emulator's SQS (a queue of the test's own), the worker
//! drains it, and redeliveries never send twice.

use hub_tests::{drain_queue, get, send};
use serde_json::json;
use shared::auth::Role;
use shared::queue::QueueMessage;
use shared::sms::ChunkMessage;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

async fn drain(fx: &Fx) -> usize {
    let worker = fx.worker.clone();
    drain_queue(
        fx.hub.ctx_of("sms-worker").aws.sqs(),
        fx.queue_url.as_deref().unwrap(),
        200,
        |event| {
            let worker = worker.clone();
            async move { sms_worker::handle_event(&worker, event).await }
        },
    )
    .await
}

/// Receives the queue's messages as the worker would get them (without deleting them),
/// hidden from other receivers for `visibility` seconds.
async fn receive(fx: &Fx, visibility: i32) -> Vec<QueueMessage> {
    let out = fx
        .hub
        .ctx
        .aws
        .sqs()
        .receive_message()
        .queue_url(fx.queue_url.as_deref().unwrap())
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .send()
        .await
        .expect("receive");
    out.messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| QueueMessage {
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            receive_count: 1,
        })
        .collect()
}

#[tokio::test]
async fn a_thousand_receptors_go_through_sqs_and_the_worker_in_five_kavenegar_calls() {
    let fx = fixture(Opts {
        kavenegar: true,
        queue: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(KavenegarBulk::new())
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-bulk", Role::Service);
    let numbers = iranian_numbers(1000);
    let body = json!({"receptors": numbers, "message": "یادآوری: واکسن آنفولانزا"});
    let res = send(&fx.svc, post(BULK, &token, &body, &request_id())).await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let accepted = res.json();
    let batch_id = accepted["batch_id"].as_str().unwrap().to_string();
    assert_eq!(accepted["total"], 1000);
    assert_eq!(accepted["chunks"], 5);

    let queued = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/batches/{batch_id}"),
            Some(&token),
        ),
    )
    .await
    .json();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["queued"], 1000);

    // Queue bodies carry ids only: no number, no text.
    let peek = receive(&fx, 0).await;
    assert!(!peek.is_empty());
    for m in &peek {
        assert!(
            !m.body.contains("0912") && !m.body.contains("واکسن"),
            "queue body leaks content: {}",
            m.body
        );
        let _: ChunkMessage = serde_json::from_str(&m.body).expect("chunk message");
    }
    let invocations = drain(&fx).await;
    assert!(invocations >= 1);
    let calls = requests_to(&fx.kavenegar, "sms/send.json").await;
    assert_eq!(calls.len(), 5, "200 receptors per Kavenegar call");
    let mut all: Vec<String> = calls
        .iter()
        .flat_map(|c| {
            field(c, "receptor")
                .unwrap()
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    let mut expected = numbers.clone();
    expected.sort();
    assert_eq!(all, expected, "every receptor exactly once");

    let done = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/batches/{batch_id}"),
            Some(&token),
        ),
    )
    .await
    .json();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["sent"], 1000);
    assert_eq!(done["failed"], 0);
    assert_eq!(done["queued"], 0);

    // Each message has a record: `{batch_id}-{position}`.
    let first = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{batch_id}-0"), Some(&token)),
    )
    .await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.json()["receptor"], format!("+98{}", &numbers[0][1..]));
    assert_eq!(first.json()["provider"], "kavenegar");
    assert_eq!(first.json()["batch_id"], batch_id);
}

#[tokio::test]
async fn the_same_queue_message_twice_sends_once() {
    let fx = fixture(Opts {
        kavenegar: true,
        queue: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(KavenegarBulk::new())
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-bulk", Role::Service);
    let body = json!({"receptors": iranian_numbers(30), "message": "hello"});
    let res = send(&fx.svc, post(BULK, &token, &body, &request_id())).await;
    assert_eq!(res.status, 202);
    let batch_id = res.json()["batch_id"].as_str().unwrap().to_string();
    let messages = receive(&fx, 30).await;
    assert_eq!(messages.len(), 1);
    let m = messages[0].clone();

    sms_worker::handle(&fx.worker, m.clone())
        .await
        .expect("first delivery");
    // A redelivery (same message, higher receive count), then two more at once. (Two
    // deliveries racing for a *pending* chunk are decided by DynamoDB's conditional write,
    // which serialises per item; moto evaluates conditions without item locks, so that race
    // is not reproducible against the emulator and is not asserted here.)
    let again = QueueMessage {
        receive_count: 2,
        ..m.clone()
    };
    sms_worker::handle(&fx.worker, again.clone())
        .await
        .expect("redelivery is acknowledged");
    let (a, b) = tokio::join!(
        sms_worker::handle(&fx.worker, again.clone()),
        sms_worker::handle(&fx.worker, again)
    );
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(
        requests_to(&fx.kavenegar, "sms/send.json").await.len(),
        1,
        "the provider is called once"
    );
    let batch = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/batches/{batch_id}"),
            Some(&token),
        ),
    )
    .await
    .json();
    assert_eq!(batch["sent"], 30, "counters moved once: {batch}");
    assert_eq!(batch["queued"], 0);
}

#[tokio::test]
async fn per_receptor_messages_use_sendarray_and_route_by_country() {
    let fx = fixture(Opts {
        kavenegar: true,
        twilio: true,
        queue: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/sendarray.json")))
        .respond_with(KavenegarBulk::new())
        .expect(1)
        .mount(&fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created(
            "SM00000000000000000000000000000077",
            "+5511999999999",
        ))
        .expect(1)
        .mount(&fx.twilio)
        .await;
    let token = fx.hub.token("svc-bulk", Role::Service);
    let body = json!({"messages": [
        {"receptor": "09120000001", "message": "سلام علی"},
        {"receptor": "+55 11 99999-9999", "message": "Olá Maria"},
        {"receptor": "۰۹۱۲۰۰۰۰۰۰۲", "message": "سلام سارا"},
    ]});
    let res = send(&fx.svc, post(BULK, &token, &body, &request_id())).await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let batch_id = res.json()["batch_id"].as_str().unwrap().to_string();
    assert_eq!(res.json()["chunks"], 2, "one chunk per route");
    drain(&fx).await;
    let arr = &requests_to(&fx.kavenegar, "sms/sendarray.json").await[0];
    let receptors: Vec<String> = serde_json::from_str(&field(arr, "receptor").unwrap()).unwrap();
    let messages: Vec<String> = serde_json::from_str(&field(arr, "message").unwrap()).unwrap();
    assert_eq!(receptors, vec!["09120000001", "09120000002"]);
    assert_eq!(messages, vec!["سلام علی", "سلام سارا"]);
    let senders: Vec<String> = serde_json::from_str(&field(arr, "sender").unwrap()).unwrap();
    assert_eq!(senders, vec!["10004346", "10004346"]);
    assert_eq!(
        field(&requests_to(&fx.twilio, "Messages.json").await[0], "Body").as_deref(),
        Some("Olá Maria")
    );
    let twilio_msg = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{batch_id}-1"), Some(&token)),
    )
    .await
    .json();
    assert_eq!(twilio_msg["provider"], "twilio");
    let batch = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/batches/{batch_id}"),
            Some(&token),
        ),
    )
    .await
    .json();
    assert_eq!(batch["sent"], 3);
}

#[tokio::test]
async fn a_provider_outage_reports_the_message_failed_and_the_retry_sends_it() {
    let fx = fixture(Opts {
        kavenegar: true,
        queue: true,
        attempts: Some(1),
        ..Default::default()
    })
    .await;
    let p = format!("/{KEY}/sms/send.json");
    Mock::given(method("POST"))
        .and(path(p.clone()))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(p))
        .respond_with(KavenegarBulk::new())
        .with_priority(2)
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-bulk", Role::Service);
    let body = json!({"receptors": iranian_numbers(5), "message": "hello"});
    let res = send(&fx.svc, post(BULK, &token, &body, &request_id())).await;
    let batch_id = res.json()["batch_id"].as_str().unwrap().to_string();

    // Through a real Lambda-shaped event: the failure is reported in batchItemFailures.
    let m = receive(&fx, 30).await.remove(0);
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    let mut rec = aws_lambda_events::event::sqs::SqsMessage::default();
    rec.message_id = Some(m.message_id.clone());
    rec.body = Some(m.body.clone());
    event.records.push(rec);
    let response = sms_worker::handle_event(&fx.worker, event).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        m.message_id
    );

    // Redelivered: the chunk was released, so it is sent now.
    sms_worker::handle(
        &fx.worker,
        QueueMessage {
            receive_count: 2,
            ..m
        },
    )
    .await
    .expect("second delivery");
    assert_eq!(requests_to(&fx.kavenegar, "sms/send.json").await.len(), 2);
    let batch = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/batches/{batch_id}"),
            Some(&token),
        ),
    )
    .await
    .json();
    assert_eq!(batch["sent"], 5, "{batch}");
    assert_eq!(batch["failed"], 0);
}

#[tokio::test]
async fn bulk_input_errors_name_the_entry() {
    let fx = fixture(Opts {
        kavenegar: true,
        queue: true,
        ..Default::default()
    })
    .await;
    let token = fx.hub.token("svc-bulk", Role::Service);
    let body = json!({"receptors": ["09120000001", "09120000002", "12"], "message": "hi"});
    let p = send(&fx.svc, post(BULK, &token, &body, &request_id()))
        .await
        .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "receptors[2]");
    let body = json!({"messages": [{"receptor": "0912", "message": ""}]});
    let p = send(&fx.svc, post(BULK, &token, &body, &request_id()))
        .await
        .assert_problem(400, "invalid_field");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["messages[0].receptor", "messages[0].message"]);
    let too_many: Vec<String> = (0..10_001).map(|i| format!("0912{:07}", i)).collect();
    let p = send(
        &fx.svc,
        post(
            BULK,
            &token,
            &json!({"receptors": too_many, "message": "hi"}),
            &request_id(),
        ),
    )
    .await
    .assert_problem(400, "invalid_field");
    assert_eq!(p["errors"][0]["field"], "receptors");
    send(
        &fx.svc,
        post(BULK, &token, &json!({"message": "hi"}), &request_id()),
    )
    .await
    .assert_problem(400, "invalid_bulk");
    // Repeated numbers in a one-text batch are sent once.
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(KavenegarBulk::new())
        .mount(&fx.kavenegar)
        .await;
    let res = send(
        &fx.svc,
        post(
            BULK,
            &token,
            &json!({"receptors": ["09120000001", "+989120000001"], "message": "hi"}),
            &request_id(),
        ),
    )
    .await;
    assert_eq!(res.status, 202);
    assert_eq!(res.json()["total"], 1);
    assert_eq!(res.json()["duplicates_removed"], 1);
}

#[tokio::test]
async fn a_chunk_left_claimed_by_a_dead_worker_is_recorded_unknown_not_resent() {
    let fx = fixture(Opts {
        kavenegar: true,
        queue: true,
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/send.json")))
        .respond_with(KavenegarBulk::new())
        .mount(&fx.kavenegar)
        .await;
    let token = fx.hub.token("svc-bulk", Role::Service);
    let res = send(
        &fx.svc,
        post(
            BULK,
            &token,
            &json!({"receptors": iranian_numbers(4), "message": "hello"}),
            &request_id(),
        ),
    )
    .await;
    let batch_id = res.json()["batch_id"].as_str().unwrap().to_string();
    let m = receive(&fx, 30).await.remove(0);

    // A worker claimed the chunk ten minutes ago and died before recording anything.
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_string());
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 600;
    fx.hub
        .ctx
        .aws
        .dynamo
        .update_item()
        .table_name(&fx.hub.ctx.config.hub_table)
        .key("pk", s(&format!("SMSBATCH#{batch_id}")))
        .key("sk", s("CHUNK#00000"))
        .update_expression("SET #state = :claimed, claimed_by = :other, claimed_at = :old")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":claimed", s("claimed"))
        .expression_attribute_values(":other", s("a-dead-delivery"))
        .expression_attribute_values(
            ":old",
            aws_sdk_dynamodb::types::AttributeValue::N(old.to_string()),
        )
        .send()
        .await
        .unwrap();

    sms_worker::handle(
        &fx.worker,
        QueueMessage {
            receive_count: 2,
            ..m
        },
    )
    .await
    .expect("acknowledged");
    assert!(
        requests_to(&fx.kavenegar, "sms/send.json").await.is_empty(),
        "never sent a second time"
    );
    let batch = send(
        &fx.svc,
        get(
            &format!("/api/integrations/sms/batches/{batch_id}"),
            Some(&token),
        ),
    )
    .await
    .json();
    // Maybe sent, so not `failed` (issue 13): counted apart as `unknown`.
    assert_eq!(batch["unknown"], 4, "{batch}");
    assert_eq!(batch["failed"], 0, "{batch}");
    assert_eq!(batch["queued"], 0);
    let msg = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{batch_id}-0"), Some(&token)),
    )
    .await
    .json();
    assert_eq!(msg["status"], "unknown");
    assert_eq!(msg["error_code"], "sms_interrupted");
}
