//! One DynamoDB partition read whole and kept in memory for a short time: the small,
//! admin-managed lists that hot paths read on every request (the provider catalog, the
//! rate-limit rules), so a request does not cost a `Query`.
//!
//! Writes go through the same value ([`CachedPartition::put`], [`CachedPartition::delete`])
//! and drop this instance's copy at once; other Lambda instances see a change within the TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::ReturnValue;
use tokio::sync::RwLock;

use super::{Item, StoreError, s};

/// Turns the partition's items into the cached list (merging built-ins, sorting, skipping or
/// refusing unreadable items: the owner's policy).
pub type Assemble<T> = fn(Vec<Item>) -> Result<Vec<T>, StoreError>;

/// The assembled list and when it was read.
type Snapshot<T> = (Instant, Arc<Vec<T>>);

/// The items of `pk = {pk}` in one table, assembled into a `Vec<T>` and cached for `ttl`.
pub struct CachedPartition<T> {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    pk: &'static str,
    ttl: Duration,
    assemble: Assemble<T>,
    cache: Arc<RwLock<Option<Snapshot<T>>>>,
    /// One reload at a time: concurrent readers of a stale (or cold) cache wait for the one
    /// `Query` instead of each making their own (a read-all marking 16 notifications at once
    /// would otherwise read the subscription list 16 times on a cold start).
    loading: Arc<tokio::sync::Mutex<()>>,
}

/// Clones share the cache (a capability's adapters can hold their own handle on the
/// context's catalog).
impl<T> Clone for CachedPartition<T> {
    fn clone(&self) -> Self {
        Self {
            dynamo: self.dynamo.clone(),
            table: self.table.clone(),
            pk: self.pk,
            ttl: self.ttl,
            assemble: self.assemble,
            cache: self.cache.clone(),
            loading: self.loading.clone(),
        }
    }
}

impl<T> CachedPartition<T> {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        pk: &'static str,
        ttl: Duration,
        assemble: Assemble<T>,
    ) -> Self {
        Self {
            dynamo,
            table: table.into(),
            pk,
            ttl,
            assemble,
            cache: Arc::new(RwLock::new(None)),
            loading: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The list, from the cache while fresh.
    pub async fn get(&self) -> Result<Arc<Vec<T>>, StoreError> {
        if let Some(list) = self.fresh().await {
            return Ok(list);
        }
        let _loading = self.loading.lock().await;
        // Another reader may have reloaded it while this one waited.
        if let Some(list) = self.fresh().await {
            return Ok(list);
        }
        self.reload().await
    }

    async fn fresh(&self) -> Option<Arc<Vec<T>>> {
        match self.cache.read().await.as_ref() {
            Some((at, list)) if at.elapsed() < self.ttl => Some(list.clone()),
            _ => None,
        }
    }

    /// Reads the partition now (admin listings, read-modify-write) and refreshes the cache.
    pub async fn reload(&self) -> Result<Arc<Vec<T>>, StoreError> {
        let items = super::query_partition(&self.dynamo, &self.table, self.pk).await?;
        let list = Arc::new((self.assemble)(items)?);
        *self.cache.write().await = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Drops the cached copy: the next read queries the table.
    pub async fn invalidate(&self) {
        *self.cache.write().await = None;
    }

    /// Writes the item `sk` of the partition (`pk`/`sk` are set here) and drops the cache.
    /// With `must_be_new`, an existing item fails with [`StoreError::ConditionFailed`].
    pub async fn put(&self, sk: &str, mut item: Item, must_be_new: bool) -> Result<(), StoreError> {
        item.insert("pk".into(), s(self.pk));
        item.insert("sk".into(), s(sk));
        let mut put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if must_be_new {
            put = put.condition_expression("attribute_not_exists(pk)");
        }
        let result = put.send().await;
        self.invalidate().await;
        result.map_err(|e| StoreError::from_sdk("PutItem", e))?;
        Ok(())
    }

    /// Deletes the item `sk` and drops the cache; true when an item was there.
    pub async fn delete(&self, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(self.pk))
            .key("sk", s(sk))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        self.invalidate().await;
        let out = out.map_err(|e| StoreError::from_sdk("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
