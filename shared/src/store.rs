//! Small helpers over the DynamoDB tables that several capabilities share.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::ApiError;

pub type Item = HashMap<String, AttributeValue>;

/// Every item of one partition (`pk = {pk}`), following `LastEvaluatedKey`. For small,
/// bounded partitions read into caches (provider catalog, rate-limit rules).
pub async fn query_partition(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Result<Vec<Item>, ApiError> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = dynamo
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
            .set_exclusive_start_key(start)
            .send()
            .await?;
        out.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// True when a write failed only because its condition did not hold (the item was already
/// claimed, present, or in another state): the expected outcome of a lost race, not an error.
/// Works for every DynamoDB operation's error type.
pub fn is_conditional_check_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}
