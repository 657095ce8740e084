//! Message records are kept `SMS_MESSAGE_TTL_DAYS`: the TTL the SMS store writes follows the
//! setting, for the service's sends and for the store the webhooks worker records reports in.

use aws_sdk_dynamodb::types::AttributeValue;
use hub_tests::TestHub;
use shared::sms::model::SmsRecord;
use shared::sms::{MessageType, Phone, SmsContent, SmsStatus};

use crate::support::request_id;

const DAY: i64 = 86_400;

/// The stored `expires_at` of a message, in Unix seconds.
async fn expires_at(hub: &TestHub, message_id: &str) -> i64 {
    let item = hub
        .ctx
        .aws
        .dynamo
        .get_item()
        .table_name(&hub.ctx.config.hub_table)
        .key("pk", AttributeValue::S(format!("SMS#{message_id}")))
        .key("sk", AttributeValue::S("SMS".into()))
        .send()
        .await
        .expect("read the message item")
        .item
        .expect("the message is stored");
    item["expires_at"].as_n().unwrap().parse().unwrap()
}

fn assert_expires_in_days(expires: i64, days: i64) {
    let expected = shared::clock::now_secs() + days * DAY;
    assert!(
        (expires - expected).abs() < 300,
        "expires_at {expires} is not {days} days from now ({expected})"
    );
}

#[tokio::test]
async fn message_records_expire_after_sms_message_ttl_days() {
    let hub = TestHub::with_env(&[("SMS_MESSAGE_TTL_DAYS", "2".into())]).await;

    // No provider credentials under this hub's prefix: the console fallback sends.
    let sms = hub.ctx_of("sms").sms_service().expect("sms service");
    let sent = sms
        .send(
            Phone::parse("09123456789").unwrap(),
            SmsContent::Text {
                message: "hi".into(),
            },
            "ttl-user",
            &request_id(),
        )
        .await
        .expect("sent through the console fallback");
    assert_eq!(sent.provider, "console");
    assert_expires_in_days(expires_at(&hub, &sent.message_id).await, 2);

    let store = hub.ctx.sms_store().expect("sms store");
    let id = format!("ttl-{}", uuid::Uuid::new_v4().simple());
    let now = shared::clock::now_rfc3339();
    store
        .put_message(&SmsRecord {
            id: id.clone(),
            receptor: "+989123456789".into(),
            message_type: MessageType::Text,
            provider: "kavenegar".into(),
            provider_message_id: None,
            status: SmsStatus::Sent,
            provider_status: None,
            error_code: None,
            batch_id: None,
            user_id: "ttl-user".into(),
            created_at: now.clone(),
            updated_at: now,
        })
        .await
        .unwrap();
    assert_expires_in_days(expires_at(&hub, &id).await, 2);
}
