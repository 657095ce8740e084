//! Provider credentials over Secrets Manager: one JSON secret per provider
//! (`{prefix}/providers/{slug}`), cached in memory with a TTL and refreshed once when the
//! provider rejects them (a rotated key then takes effect without a cold start). A provider
//! without credentials is remembered only briefly (`absent_ttl`, default 5 s): credentials
//! put by an admin in one function then reach every other function within seconds, while a
//! configured provider's secret is read once per `ttl`.
//!
//! Several providers' credentials are read in one `BatchGetSecretValue` call
//! ([`CredentialStore::get_many`]: `/health` and the provider list check every provider at once)
//! instead of one `GetSecretValue` each.
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
    /// Several secrets at once (id -> value, `None` for an absent one). By default one
    /// [`Self::get`] each, concurrently; [`SecretsManagerSource`] makes one batch call.
    fn get_many<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, Option<String>>, SecretError>> {
        Box::pin(async move {
            let values = futures::future::try_join_all(ids.iter().map(|id| self.get(id))).await?;
            Ok(ids.iter().cloned().zip(values).collect())
        })
    }
}

/// `BatchGetSecretValue` takes at most 20 ids per call.
const BATCH_GET_MAX_IDS: usize = 20;

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

    fn get_many<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, Option<String>>, SecretError>> {
        Box::pin(async move {
            let mut values = HashMap::with_capacity(ids.len());
            for chunk in ids.chunks(BATCH_GET_MAX_IDS) {
                match self.batch_get(chunk).await {
                    Ok(found) => values.extend(found),
                    // A role without `secretsmanager:BatchGetSecretValue` (an older template)
                    // still works, one `GetSecretValue` per secret.
                    Err(BatchError::Denied(e)) => {
                        tracing::warn!(error = %e, "BatchGetSecretValue denied; reading the secrets one by one");
                        for id in chunk {
                            values.insert(id.clone(), self.get(id).await?);
                        }
                    }
                    Err(BatchError::Other(e)) => return Err(e),
                }
            }
            Ok(values)
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

enum BatchError {
    Denied(String),
    Other(SecretError),
}

impl SecretsManagerSource {
    /// One `BatchGetSecretValue` call for at most 20 ids: every id gets a value or `None`
    /// (not found, or no value); any other per-secret error fails the whole read.
    async fn batch_get(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Option<String>>, BatchError> {
        let mut values: HashMap<String, Option<String>> =
            ids.iter().map(|id| (id.clone(), None)).collect();
        let mut next_token = None;
        loop {
            let out = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(ids.to_vec()))
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| {
                    // AccessDeniedException, or a bare 403 (the local emulator's IAM check
                    // answers one in another protocol's format).
                    let denied = e
                        .as_service_error()
                        .and_then(|s| aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(s))
                        .is_some_and(|c| c.contains("AccessDenied"))
                        || e.raw_response().is_some_and(|r| r.status().as_u16() == 403);
                    if denied {
                        BatchError::Denied(format!("{e:?}"))
                    } else {
                        BatchError::Other(SecretError::Unavailable(format!("{e:?}")))
                    }
                })?;
            for entry in out.secret_values.unwrap_or_default() {
                // Entries name the secret by name (our ids are names) and by ARN.
                let id = ids
                    .iter()
                    .find(|id| entry.name.as_deref() == Some(id.as_str()))
                    .or_else(|| {
                        ids.iter()
                            .find(|id| entry.arn.as_deref() == Some(id.as_str()))
                    });
                if let Some(id) = id {
                    values.insert(id.clone(), entry.secret_string);
                }
            }
            for error in out.errors.unwrap_or_default() {
                let absent = matches!(
                    error.error_code.as_deref(),
                    Some("ResourceNotFoundException" | "InvalidRequestException")
                );
                if !absent {
                    return Err(BatchError::Other(SecretError::Unavailable(format!(
                        "BatchGetSecretValue: {} for {}",
                        error.error_code.unwrap_or_default(),
                        error.secret_id.unwrap_or_default()
                    ))));
                }
            }
            next_token = out.next_token;
            if next_token.is_none() {
                return Ok(values);
            }
        }
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

    /// Several providers' credentials: the fresh cached ones from the cache, all the others
    /// in one read of the source (one `BatchGetSecretValue` call for up to 20 providers).
    pub async fn get_many(
        &self,
        slugs: &[&str],
    ) -> Result<HashMap<String, Option<Arc<Credentials>>>, SecretError> {
        let mut found = HashMap::with_capacity(slugs.len());
        let mut stale = Vec::new();
        {
            let cache = self.cache.read().await;
            for slug in slugs {
                match cache.get(*slug) {
                    Some(c) if c.at.elapsed() < self.ttl_of(c) => {
                        found.insert(slug.to_string(), c.value.clone());
                    }
                    _ if !stale.contains(slug) => stale.push(*slug),
                    _ => {}
                }
            }
        }
        if stale.is_empty() {
            return Ok(found);
        }
        let ids: Vec<String> = stale.iter().map(|slug| self.secret_id(slug)).collect();
        let mut raw = self.source.get_many(&ids).await?;
        let mut parsed = Vec::with_capacity(stale.len());
        for (slug, id) in stale.iter().zip(ids) {
            let value = Self::parse(id.clone(), raw.remove(&id).flatten())?;
            parsed.push((slug.to_string(), value));
        }
        let now = Instant::now();
        let mut cache = self.cache.write().await;
        for (slug, value) in parsed {
            cache.insert(
                slug.clone(),
                Cached {
                    at: now,
                    value: value.clone(),
                },
            );
            found.insert(slug, value);
        }
        Ok(found)
    }

    /// A secret's value as credentials: `None` when absent or an empty object.
    fn parse(id: String, raw: Option<String>) -> Result<Option<Arc<Credentials>>, SecretError> {
        match raw {
            None => Ok(None),
            Some(raw) => match serde_json::from_str::<Value>(&raw) {
                Ok(Value::Object(map)) if !map.is_empty() => Ok(Some(Arc::new(Credentials(map)))),
                Ok(Value::Object(_)) => Ok(None),
                _ => Err(SecretError::NotJson(id)),
            },
        }
    }

    async fn load(&self, slug: &str) -> Result<Option<Arc<Credentials>>, SecretError> {
        let id = self.secret_id(slug);
        let raw = self.source.get(&id).await?;
        let value = Self::parse(id, raw)?;
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
