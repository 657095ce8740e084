//! Provider credentials over Secrets Manager: one JSON secret per provider
//! (`{prefix}/providers/{slug}`), cached in memory with a TTL and refreshed once when the
//! provider rejects them (a rotated key then takes effect without a cold start). A provider
//! without credentials is remembered only briefly (`absent_ttl`, default 5 s): credentials
//! put by an admin in one function then reach every other function within seconds, while a
//! configured provider's secret is read once per `ttl`.
//!
//! Credentials never leave this module in a loggable form: [`Credentials`]' `Debug` prints
//! only the key names, and no route returns them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
    #[error("secret {0} is not a JSON object")]
    NotJson(String),
}

/// The secret store is the hub's own infrastructure: a read that failed is a 503
/// `dependency_unavailable` (never "not configured"); a secret that is not a JSON object is a
/// misconfiguration, logged in full and answered as a generic 500.
impl crate::error::DomainError for SecretError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            SecretError::Unavailable(_) => crate::error::ErrorKind::Unavailable,
            SecretError::NotJson(_) => crate::error::ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SecretError::Unavailable(_) => crate::error::DEPENDENCY_UNAVAILABLE,
            SecretError::NotJson(_) => "internal_error",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        matches!(self, SecretError::Unavailable(_))
            .then_some(crate::error::DEPENDENCY_RETRY_AFTER_SECS)
    }
}

/// Where secrets come from. The production (and local-stack) implementation is
/// [`SecretsManagerSource`].
pub trait SecretSource: Send + Sync {
    /// The secret's string value, or `None` if no such secret exists (or it has no value).
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>, SecretError>>;
    /// Creates or overwrites the secret's value.
    fn put<'a>(&'a self, id: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), SecretError>>;
}

pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

impl SecretSource for SecretsManagerSource {
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>, SecretError>> {
        Box::pin(async move {
            match self.client.get_secret_value().secret_id(id).send().await {
                Ok(out) => Ok(out.secret_string),
                Err(e) => {
                    // No such secret, or a secret created without a value (InvalidRequest):
                    // either way the provider is not configured.
                    let absent = e.as_service_error().is_some_and(|s| {
                        s.is_resource_not_found_exception() || s.is_invalid_request_exception()
                    });
                    if absent {
                        Ok(None)
                    } else {
                        Err(SecretError::Unavailable(format!("{e:?}")))
                    }
                }
            }
        })
    }

    fn put<'a>(&'a self, id: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), SecretError>> {
        Box::pin(async move {
            let res = self
                .client
                .put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await;
            match res {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    self.client
                        .create_secret()
                        .name(id)
                        .secret_string(value)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| SecretError::Unavailable(format!("{e:?}")))
                }
                Err(e) => Err(SecretError::Unavailable(format!("{e:?}"))),
            }
        })
    }
}

/// A provider's credentials: a JSON object such as `{"api_key": "..."}`.
#[derive(Clone, PartialEq)]
pub struct Credentials(Map<String, Value>);

impl Credentials {
    pub fn new(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// A string field, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn keys(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ keys: {:?}, values: <redacted> }}",
            self.keys()
        )
    }
}

/// Outcome of one provider call, as far as credentials are concerned.
pub trait RejectsCredentials {
    /// True when the provider said the credentials are wrong (401/403, invalid key).
    fn is_credential_rejection(&self) -> bool;
}

/// How long "not configured" is cached unless the store is told otherwise.
pub const DEFAULT_ABSENT_TTL: Duration = Duration::from_secs(5);

struct Cached {
    at: Instant,
    value: Option<Arc<Credentials>>,
}

/// The cached credential store. One per cold start, shared by all requests.
pub struct CredentialStore {
    source: Arc<dyn SecretSource>,
    prefix: String,
    ttl: Duration,
    absent_ttl: Duration,
    cache: RwLock<HashMap<String, Cached>>,
}

impl CredentialStore {
    pub fn new(source: Arc<dyn SecretSource>, prefix: impl Into<String>, ttl: Duration) -> Self {
        Self {
            source,
            prefix: prefix.into(),
            ttl,
            absent_ttl: DEFAULT_ABSENT_TTL.min(ttl),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// How long a missing secret ("not configured") is cached (capped at the TTL).
    pub fn with_absent_ttl(mut self, absent_ttl: Duration) -> Self {
        self.absent_ttl = absent_ttl.min(self.ttl);
        self
    }

    pub fn secret_id(&self, slug: &str) -> String {
        format!("{}/providers/{slug}", self.prefix)
    }

    /// The provider's credentials, from the cache while fresh. `None`: not configured.
    pub async fn get(&self, slug: &str) -> Result<Option<Arc<Credentials>>, SecretError> {
        if let Some(c) = self.cache.read().await.get(slug)
            && c.at.elapsed() < self.ttl_of(c)
        {
            return Ok(c.value.clone());
        }
        self.load(slug).await
    }

    fn ttl_of(&self, cached: &Cached) -> Duration {
        if cached.value.is_some() {
            self.ttl
        } else {
            self.absent_ttl
        }
    }

    /// Reads the secret again, bypassing the cache.
    pub async fn refresh(&self, slug: &str) -> Result<Option<Arc<Credentials>>, SecretError> {
        self.load(slug).await
    }

    async fn load(&self, slug: &str) -> Result<Option<Arc<Credentials>>, SecretError> {
        let id = self.secret_id(slug);
        let value = match self.source.get(&id).await? {
            None => None,
            Some(raw) => match serde_json::from_str::<Value>(&raw) {
                Ok(Value::Object(map)) if !map.is_empty() => Some(Arc::new(Credentials(map))),
                Ok(Value::Object(_)) => None,
                _ => return Err(SecretError::NotJson(id)),
            },
        };
        self.cache.write().await.insert(
            slug.to_string(),
            Cached {
                at: Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    /// Stores new credentials (admin `PUT`) and drops the cached copy.
    pub async fn put(&self, slug: &str, creds: &Map<String, Value>) -> Result<(), SecretError> {
        let raw =
            serde_json::to_string(creds).map_err(|_| SecretError::NotJson(self.secret_id(slug)))?;
        self.source.put(&self.secret_id(slug), &raw).await?;
        self.cache.write().await.remove(slug);
        Ok(())
    }

    /// Runs `call` with the provider's credentials; if the provider rejects them, reads the
    /// secret once more and, if it changed, retries once. `Ok(None)`: not configured.
    pub async fn with_credentials<T, E, F, Fut>(
        &self,
        slug: &str,
        mut call: F,
    ) -> Result<Option<Result<T, E>>, SecretError>
    where
        E: RejectsCredentials,
        F: FnMut(Arc<Credentials>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(creds) = self.get(slug).await? else {
            return Ok(None);
        };
        let first = call(creds.clone()).await;
        match &first {
            Err(e) if e.is_credential_rejection() => {
                tracing::warn!(
                    provider = slug,
                    "provider rejected cached credentials; reading them again"
                );
                match self.refresh(slug).await? {
                    Some(fresh) if fresh != creds => Ok(Some(call(fresh).await)),
                    _ => Ok(Some(first)),
                }
            }
            _ => Ok(Some(first)),
        }
    }
}
