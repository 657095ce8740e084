//! Small helpers over the DynamoDB tables that several capabilities share, the one error
//! type of every DynamoDB-backed store, and the one cached read of a small partition
//! ([`CachedPartition`]).

mod cached_partition;
pub mod storable;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{DomainError, ErrorKind};

pub use cached_partition::{Assemble, CachedPartition};

pub type Item = HashMap<String, AttributeValue>;

/// What can go wrong reading or writing a DynamoDB table.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write's condition did not hold: the item was already claimed, present,
    /// or in another state. The expected outcome of a lost race, which callers match on.
    #[error("the item's condition did not hold")]
    ConditionFailed,
    /// DynamoDB refused or failed the call (throttling, outage, permissions, network).
    #[error("DynamoDB {operation} failed: {message}")]
    Dynamo {
        operation: &'static str,
        /// The SDK's error, for the log only.
        message: String,
        /// Throttling or a 5xx: the same call may succeed later.
        transient: bool,
    },
    /// An item did not have the shape the code expects.
    #[error("a stored item is malformed: {0}")]
    Malformed(String),
}

impl StoreError {
    /// Classifies an SDK error of any DynamoDB operation.
    pub fn from_sdk<E, R>(operation: &'static str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::fmt::Debug,
        R: std::fmt::Debug,
    {
        if is_conditional_check_failed(&e) {
            return StoreError::ConditionFailed;
        }
        let code = e.as_service_error().and_then(|se| se.code()).unwrap_or("");
        let transient = matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
            || matches!(
                code,
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
            );
        StoreError::Dynamo {
            operation,
            message: format!("{e:?}"),
            transient,
        }
    }
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    fn from(e: SdkError<E, R>) -> Self {
        StoreError::from_sdk("call", e)
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(e: serde_dynamo::Error) -> Self {
        StoreError::Malformed(e.to_string())
    }
}

impl StoreError {
    /// Throttling, a 5xx or a network failure: the same call may succeed in a moment.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Dynamo {
                transient: true,
                ..
            }
        )
    }
}

impl DomainError for StoreError {
    fn kind(&self) -> ErrorKind {
        // The table is the hub's own infrastructure: a failure is logged in full and answered
        // generically; a transient one (throttling, 5xx) is a 503 the caller may retry.
        if self.is_transient() {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Internal
        }
    }

    fn code(&self) -> &'static str {
        if self.is_transient() {
            crate::error::DEPENDENCY_UNAVAILABLE
        } else {
            "internal_error"
        }
    }

    fn retry_after(&self) -> Option<u64> {
        self.is_transient()
            .then_some(crate::error::DEPENDENCY_RETRY_AFTER_SECS)
    }
}

/// Every item of one partition (`pk = {pk}`), following `LastEvaluatedKey`. For small,
/// bounded partitions read into caches (provider catalog, rate-limit rules).
pub async fn query_partition(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Result<Vec<Item>, StoreError> {
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
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
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
/// Works for every DynamoDB operation's error type. Prefer matching
/// [`StoreError::ConditionFailed`] after `StoreError::from_sdk`.
pub fn is_conditional_check_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}

/// One `BatchWriteItem` worth of `requests` (at most 25) to `table`, re-sending what DynamoDB
/// leaves unprocessed (it does so under throttling) after the policy's backoff. Answers how
/// many requests were still unprocessed when the attempts ran out (0: all written); what that
/// means is the caller's to say.
pub async fn batch_write(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    policy: &crate::retry::RetryPolicy,
) -> Result<usize, StoreError> {
    for attempt in 0..policy.max_attempts {
        if requests.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(policy.delay(attempt)).await;
        }
        let out = dynamo
            .batch_write_item()
            .request_items(table, std::mem::take(&mut requests))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("BatchWriteItem", e))?;
        requests = out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default();
    }
    Ok(requests.len())
}
