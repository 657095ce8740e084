//! Endpoint signing secrets in Secrets Manager at `{SECRETS_PREFIX}/webhooks/{endpoint id}`,
//! cached in memory for `WEBHOOK_CACHE_TTL_SECONDS`. Never written to DynamoDB.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::super::error::WebhookError;
use super::endpoints::Cached;
use crate::secrets::{SecretSource, SecretsManagerSource};

/// An endpoint's secret material as stored in Secrets Manager. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    pub current: String,
    #[serde(default)]
    pub previous: Option<String>,
    /// Unix seconds after which `previous` no longer verifies.
    #[serde(default)]
    pub previous_expires_at: Option<i64>,
}

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EndpointSecret {{ previous_expires_at: {:?}, values: <redacted> }}",
            self.previous_expires_at
        )
    }
}

impl EndpointSecret {
    /// A secret with no previous value.
    pub fn new(current: impl Into<String>) -> Self {
        Self {
            current: current.into(),
            previous: None,
            previous_expires_at: None,
        }
    }

    /// The secrets that verify at `now`: the current one, then the previous one during its
    /// grace period.
    pub fn active(&self, now: i64) -> Vec<&str> {
        let mut out = vec![self.current.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous, self.previous_expires_at)
            && now < until
        {
            out.push(prev.as_str());
        }
        out
    }
}

pub struct SecretStore {
    source: Arc<dyn SecretSource>,
    /// For deletes, which [`SecretSource`] does not offer.
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
    ttl: Duration,
    cache: RwLock<HashMap<String, Cached<EndpointSecret>>>,
}

impl SecretStore {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        prefix: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            source: Arc::new(SecretsManagerSource::new(client.clone())),
            client,
            prefix: prefix.into(),
            ttl,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn secret_id(&self, endpoint_id: &str) -> String {
        format!("{}/webhooks/{endpoint_id}", self.prefix)
    }

    pub async fn put(
        &self,
        endpoint_id: &str,
        secret: &EndpointSecret,
    ) -> Result<(), WebhookError> {
        let raw = serde_json::to_string(secret).map_err(WebhookError::internal)?;
        self.source
            .put(&self.secret_id(endpoint_id), &raw)
            .await
            .map_err(WebhookError::internal)?;
        self.cache.write().await.remove(endpoint_id);
        Ok(())
    }

    /// Removes a secret for good (a registration that lost the race for its slug). Best
    /// effort: a leftover secret names an endpoint id nothing refers to.
    pub async fn delete(&self, endpoint_id: &str) {
        let _ = self
            .client
            .delete_secret()
            .secret_id(self.secret_id(endpoint_id))
            .force_delete_without_recovery(true)
            .send()
            .await;
    }

    /// Reads the secret (no cache).
    pub async fn load(&self, endpoint_id: &str) -> Result<Option<EndpointSecret>, WebhookError> {
        let raw = self
            .source
            .get(&self.secret_id(endpoint_id))
            .await
            .map_err(|e| WebhookError::unavailable("the endpoint's signing secret", e))?;
        match raw {
            None => Ok(None),
            Some(raw) => serde_json::from_str(&raw).map(Some).map_err(|_| {
                WebhookError::Internal(format!(
                    "webhook secret {} is not the expected JSON",
                    self.secret_id(endpoint_id)
                ))
            }),
        }
    }

    /// The endpoint's secret, cached. `fresh` bypasses the cache (after a failed verification
    /// with a copy older than a few seconds, so a rotation on another instance is seen).
    pub async fn get(
        &self,
        endpoint_id: &str,
        fresh: bool,
    ) -> Result<Option<Arc<EndpointSecret>>, WebhookError> {
        if !fresh
            && let Some(c) = self.cache.read().await.get(endpoint_id)
            && c.at.elapsed() < self.ttl
        {
            return Ok(c.value.clone());
        }
        let value = self.load(endpoint_id).await?.map(Arc::new);
        self.cache.write().await.insert(
            endpoint_id.to_string(),
            Cached {
                at: Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    /// Age of the cached secret, if cached.
    pub async fn age(&self, endpoint_id: &str) -> Option<Duration> {
        self.cache
            .read()
            .await
            .get(endpoint_id)
            .map(|c| c.at.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_secrets_respect_the_grace_period() {
        let s = EndpointSecret {
            current: "new".into(),
            previous: Some("old".into()),
            previous_expires_at: Some(100),
        };
        assert_eq!(s.active(99), vec!["new", "old"]);
        assert_eq!(s.active(100), vec!["new"]);
        assert!(!format!("{s:?}").contains("old"));
    }
}
