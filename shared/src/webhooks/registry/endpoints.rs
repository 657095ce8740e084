//! Endpoint configs in the hub table, cached in memory for `WEBHOOK_CACHE_TTL_SECONDS`
//! because the receive path would otherwise pay a DynamoDB read per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::RwLock;

use super::super::error::WebhookError;
use super::super::events::{page, start_key};
use super::super::model::WebhookEndpoint;
use crate::store::{Item, StoreError};

pub const ENDPOINT_SK: &str = "#ENDPOINT";
pub const ENDPOINTS_GSI: &str = "WH#ENDPOINTS";
/// "Unknown" is remembered briefly only: an endpoint registered through another instance
/// must start working within seconds, not a whole cache period.
const NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(5);
/// Bounded: a flood of random slugs must not grow the cache without limit.
const MAX_CACHED: usize = 1000;

pub fn endpoint_pk(slug: &str) -> String {
    format!("WH#EP#{slug}")
}

/// A value read at `at`; `None` remembers that there was nothing.
pub(super) struct Cached<T> {
    pub at: Instant,
    pub value: Option<Arc<T>>,
}

pub struct EndpointStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
    cache: RwLock<HashMap<String, Cached<WebhookEndpoint>>>,
}

impl EndpointStore {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        Self {
            dynamo,
            table: table.into(),
            ttl,
            cache: RwLock::new(HashMap::new()),
        }
    }

    fn item(endpoint: &WebhookEndpoint) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(endpoint)?;
        item.insert("pk".into(), AttributeValue::S(endpoint_pk(&endpoint.slug)));
        item.insert("sk".into(), AttributeValue::S(ENDPOINT_SK.into()));
        item.insert("gsi1pk".into(), AttributeValue::S(ENDPOINTS_GSI.into()));
        item.insert(
            "gsi1sk".into(),
            AttributeValue::S(format!("{}#{}", endpoint.created_at, endpoint.slug)),
        );
        Ok(item)
    }

    /// Writes the endpoint: `new` claims the slug (`ConditionFailed` when taken), otherwise
    /// it must exist.
    pub async fn put(&self, endpoint: &WebhookEndpoint, new: bool) -> Result<(), StoreError> {
        let condition = if new {
            "attribute_not_exists(pk)"
        } else {
            "attribute_exists(pk)"
        };
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(endpoint)?))
            .condition_expression(condition)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        self.cache.write().await.remove(&endpoint.slug);
        Ok(())
    }

    /// Reads an endpoint from the table (no cache): admin paths.
    pub async fn get(&self, slug: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(endpoint_pk(slug)))
            .key("sk", AttributeValue::S(ENDPOINT_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(match out.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    /// The endpoint, or `UnknownEndpoint`.
    pub async fn require(&self, slug: &str) -> Result<WebhookEndpoint, WebhookError> {
        self.get(slug)
            .await?
            .ok_or_else(|| WebhookError::UnknownEndpoint(slug.to_string()))
    }

    /// The endpoint for the receive path and the worker, from the cache while fresh
    /// (unknown slugs are cached for a few seconds too, so probing random URLs does not cost
    /// a read each).
    pub async fn cached(&self, slug: &str) -> Result<Option<Arc<WebhookEndpoint>>, StoreError> {
        if let Some(c) = self.cache.read().await.get(slug) {
            let ttl = if c.value.is_some() {
                self.ttl
            } else {
                self.ttl.min(NEGATIVE_CACHE_TTL)
            };
            if c.at.elapsed() < ttl {
                return Ok(c.value.clone());
            }
        }
        let value = self.get(slug).await?.map(Arc::new);
        let mut cache = self.cache.write().await;
        if cache.len() > MAX_CACHED {
            cache.retain(|_, c| c.value.is_some() && c.at.elapsed() < self.ttl);
        }
        cache.insert(
            slug.to_string(),
            Cached {
                at: Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    /// Lists endpoints, oldest first, paged.
    pub async fn list(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<WebhookEndpoint>, Option<String>), WebhookError> {
        let out = self
            .dynamo
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(ENDPOINTS_GSI.into()))
            .limit(limit)
            .set_exclusive_start_key(start_key(cursor)?)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        Ok(page(out)?)
    }
}
