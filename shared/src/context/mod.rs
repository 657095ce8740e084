//! Everything a function builds once per cold start, shared by all its requests: the
//! composition root. Domain modules never see `HubContext`; each capability's services take
//! their dependencies explicitly (a store its DynamoDB client, table and TTL; an adapter its
//! HTTP client, catalog, credentials and log), and the submodules below are the one place
//! that wires them from the cold-start state, for `main.rs` files and tests alike.

#[cfg(feature = "s3")]
mod ai;
mod email;
mod notifications;
mod otp;
mod sms;
#[cfg(feature = "s3")]
mod storage;
mod subscriptions;
#[cfg(feature = "s3")]
mod webhooks;

use std::sync::Arc;

use crate::auth::JwtVerifier;
use crate::aws::AwsClients;
use crate::config::{Env, HubConfig};
use crate::integration_log::IntegrationLog;
use crate::providers::ProviderCatalog;
use crate::rate_limit::RateLimiter;
use crate::secrets::{CredentialStore, SecretSource, SecretsManagerSource};

/// The cold-start state: configuration, AWS clients, the JWT verifier, the credential store,
/// the integration log, the provider catalog and one pooled HTTP client for all providers.
/// Building it makes no network call: the JWT secret is read on the first token check, so
/// SQS workers (which check none) never read it.
pub struct HubContext {
    pub env: Env,
    pub config: HubConfig,
    pub aws: AwsClients,
    /// Reads `{prefix}/jwt` on its first verification.
    pub jwt: Arc<JwtVerifier>,
    pub credentials: Arc<CredentialStore>,
    pub log: IntegrationLog,
    pub catalog: ProviderCatalog,
    /// `Idempotency-Key` records in the hub table.
    pub idempotency: crate::idempotency::IdempotencyStore,
    /// One connection pool for every provider call (TLS sessions are reused across warm
    /// invocations), built on first use: `http`.
    http: std::sync::OnceLock<reqwest::Client>,
    provider_timeout: std::time::Duration,
    /// Rate-limit rules and counters (`RATE_LIMIT_TABLE`); see `rate_limit`.
    pub rate_limiter: Arc<RateLimiter>,
    /// Admin changes: who, what, when (`LOGS_TABLE`, partition `AUDIT`); see `audit`.
    pub audit: crate::audit::AuditTrail,
    /// The one event publisher every capability of this function announces through (one
    /// cached subscription list per instance), built on first use: `event_publisher`.
    events: std::sync::OnceLock<crate::subscriptions::EventPublisher>,
}

impl std::fmt::Debug for HubContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubContext")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HubContext {
    /// Reads the environment and builds the clients. A missing or malformed variable aborts
    /// the cold start with a message naming it.
    pub async fn from_env() -> anyhow::Result<Arc<Self>> {
        let env = Env::process();
        let aws = AwsClients::from_env(&env).await?;
        Self::build(env, aws).await
    }

    pub async fn build(env: Env, aws: AwsClients) -> anyhow::Result<Arc<Self>> {
        let config = HubConfig::from_env(&env)?;
        let source: Arc<dyn SecretSource> =
            Arc::new(SecretsManagerSource::new(aws.secrets.clone()));
        let jwt = Arc::new(JwtVerifier::from_secret(
            source.clone(),
            config.jwt_secret_id(),
        ));
        let credentials = Arc::new(
            CredentialStore::new(source, config.secrets_prefix.clone(), config.credential_ttl)
                .with_absent_ttl(config.credential_absent_ttl),
        );
        let log = IntegrationLog::new(
            aws.dynamo.clone(),
            config.logs_table.clone(),
            config.log_ttl,
        );
        let idempotency =
            crate::idempotency::IdempotencyStore::new(aws.dynamo.clone(), config.hub_table.clone());
        let audit = crate::audit::AuditTrail::new(
            aws.dynamo.clone(),
            config.logs_table.clone(),
            env.optional("AUDIT_RETENTION_DAYS")
                .and_then(|d| d.parse::<u64>().ok())
                .map(|d| std::time::Duration::from_secs(d * 24 * 3600))
                .unwrap_or(crate::audit::DEFAULT_RETENTION),
        );
        let catalog = ProviderCatalog::new(aws.dynamo.clone(), config.hub_table.clone(), &env)?;
        let rate_limiter = Arc::new(RateLimiter::from_env(&env, &config, aws.dynamo.clone())?);
        let provider_timeout =
            std::time::Duration::from_secs(env.parse_or("PROVIDER_TIMEOUT_SECONDS", 20u64)?);
        Ok(Arc::new(Self {
            jwt,
            env,
            config,
            aws,
            credentials,
            log,
            catalog,
            idempotency,
            http: std::sync::OnceLock::new(),
            provider_timeout,
            rate_limiter,
            audit,
            events: std::sync::OnceLock::new(),
        }))
    }
}

impl HubContext {
    /// The provider HTTP client, built on first use: building it loads the TLS root
    /// certificates (several milliseconds), which a cold start whose first request calls no
    /// provider (health, uploads, notifications, the admin API) should not pay.
    pub fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.provider_timeout)
                .connect_timeout(std::time::Duration::from_secs(5))
                .user_agent(concat!("integrations-hub/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_else(|e| {
                    // Not seen in practice (rustls with compiled-in settings); a default
                    // client still has timeouts from each request's caller.
                    tracing::error!(error = %e, "provider HTTP client: settings refused; using defaults");
                    reqwest::Client::new()
                })
        })
    }

    /// The provider health checks over this context's clients, catalog, credentials and log.
    pub fn prober(&self) -> crate::providers::probe::Prober<'_> {
        crate::providers::probe::Prober {
            http: self.http(),
            catalog: &self.catalog,
            credentials: &self.credentials,
            log: &self.log,
            smtp: crate::providers::smtp::SmtpSettings::from_env(&self.env)
                .ok()
                .flatten(),
        }
    }
}

/// A function's router state: how the edge's extractors (the bearer token's `Caller`) reach
/// the cold-start context. A state implements it by naming its context field.
pub trait HubState {
    fn hub(&self) -> &HubContext;
}

impl HubState for HubContext {
    fn hub(&self) -> &HubContext {
        self
    }
}

impl<T: HubState> HubState for Arc<T> {
    fn hub(&self) -> &HubContext {
        (**self).hub()
    }
}
