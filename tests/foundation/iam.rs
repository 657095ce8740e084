//! The emulator enforces IAM: each function signs with its own role, whose policies come from
//! template.yaml (scripts/localstack.py), and a call outside them is denied as on AWS.

use aws_sdk_dynamodb::types::AttributeValue;
use hub_tests::TestHub;
use serde_json::json;

fn denied<E: std::fmt::Debug>(result: Result<impl std::fmt::Debug, E>, action: &str) {
    let err = format!("{:?}", result.expect_err("the call should be denied"));
    assert!(
        err.contains(&format!("is not authorized to perform: {action}")),
        "expected AccessDenied for {action}, got {err}"
    );
}

#[tokio::test]
async fn a_function_cannot_call_outside_its_template_policies() {
    let hub = TestHub::new().await;
    let key = || {
        [
            (
                "pk".to_string(),
                AttributeValue::S(format!("IAM#{}", hub.prefix)),
            ),
            ("sk".to_string(), AttributeValue::S("probe".into())),
        ]
        .into()
    };

    // Health reads the hub table, and writes only what its checks record: never deletes.
    let health = hub.ctx_of("health");
    denied(
        health
            .aws
            .dynamo
            .delete_item()
            .table_name(&health.config.hub_table)
            .set_key(Some(key()))
            .send()
            .await,
        "dynamodb:DeleteItem",
    );
    // The same call as the local admin goes through: the denial is the role's, not the call's.
    hub.ctx
        .aws
        .dynamo
        .delete_item()
        .table_name(&hub.ctx.config.hub_table)
        .set_key(Some(key()))
        .send()
        .await
        .expect("the admin may delete");

    // Email reads the SMTP credentials, not the AI providers'.
    hub.put_secret("openai", json!({"api_key": "sk-iam-test"}))
        .await;
    let email = hub.ctx_of("email");
    denied(
        email
            .aws
            .secrets
            .get_secret_value()
            .secret_id(email.credentials.secret_id("openai"))
            .send()
            .await,
        "secretsmanager:GetSecretValue",
    );

    // The webhooks function queues to its own queue only.
    let webhooks = hub.ctx_of("webhooks");
    let notifications_queue = std::env::var("NOTIFICATIONS_QUEUE_URL").unwrap();
    denied(
        webhooks
            .aws
            .sqs()
            .send_message()
            .queue_url(notifications_queue)
            .message_body("{}")
            .send()
            .await,
        "sqs:SendMessage",
    );
}

#[tokio::test]
async fn health_sees_that_secrets_exist_but_reads_no_webhook_secret() {
    let hub = TestHub::new().await;
    let name = format!("{}/webhooks/iam-probe", hub.prefix);
    hub.ctx
        .aws
        .secrets
        .create_secret()
        .name(&name)
        .secret_string("whsec-not-for-health")
        .send()
        .await
        .expect("create a webhook secret");
    let health = hub.ctx_of("health");
    denied(
        health
            .aws
            .secrets
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await,
        "secretsmanager:GetSecretValue",
    );
}
