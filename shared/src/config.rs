//! Typed configuration read from the environment once, at cold start.
//!
//! Every variable is read through [`Env`], so a missing or malformed one fails the cold
//! start with a message that names it (Lambda shows that message in the init error), instead
//! of surfacing later as a confusing 500 on some request.

use std::str::FromStr;
use std::time::Duration;

/// A configuration error that names the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required environment variable {0}")]
    Missing(String),
    #[error("invalid value for environment variable {name}: {reason}")]
    Invalid { name: String, reason: String },
}

type Lookup = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reads environment variables (or any key/value source in tests).
#[derive(Clone)]
pub struct Env {
    lookup: Lookup,
}

impl Default for Env {
    fn default() -> Self {
        Self::process()
    }
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: std::sync::Arc::new(|k| std::env::var(k).ok()),
        }
    }

    /// A fixed map: lets tests build configuration without mutating the process environment.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            lookup: std::sync::Arc::new(move |k| map.get(k).cloned()),
        }
    }

    /// The raw value; empty strings count as absent.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::Missing(name.to_string()))
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
    }

    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_string(),
                reason: format!("{e} (got {raw:?})"),
            }),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::Invalid {
                name: name.to_string(),
                reason: format!("expected true or false (got {v:?})"),
            }),
        }
    }

    /// A URL that must start with http:// or https://.
    pub fn url(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Ok(Some(u.trim_end_matches('/').to_string()))
            }
            Some(u) => Err(ConfigError::Invalid {
                name: name.to_string(),
                reason: format!("expected an http(s) URL (got {u:?})"),
            }),
        }
    }
}

/// Configuration every function shares: where its AWS resources are and how long logs live.
/// Capability-specific settings (queues, SMTP, provider base URLs) are read by their own
/// modules with the same [`Env`], so a function only validates what it uses.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// `local` or the deployment stage; only informational.
    pub stage: String,
    /// Generic entity table (catalog, rules, messages, jobs, endpoints, ...). See `store`.
    pub hub_table: String,
    /// Integration logs and hourly statistics counters.
    pub logs_table: String,
    /// Secrets Manager prefix: `{prefix}/jwt`, `{prefix}/providers/{slug}`, `{prefix}/webhooks/{id}`.
    pub secrets_prefix: String,
    /// How long integration log items live before DynamoDB TTL removes them.
    pub log_ttl: Duration,
    /// How long a provider credential stays cached before it is read again.
    pub credential_ttl: Duration,
    /// How long "this provider has no credentials" stays cached: short, so credentials put
    /// through the API (or by an operator) take effect in every function within seconds.
    pub credential_absent_ttl: Duration,
    /// Set locally (`http://127.0.0.1:4566`) to reach the moto server instead of AWS.
    pub aws_endpoint_url: Option<String>,
}

impl HubConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let log_ttl_days: u64 = env.parse_or("LOG_TTL_DAYS", 30)?;
        let credential_ttl_secs: u64 = env.parse_or("CREDENTIAL_TTL_SECONDS", 300)?;
        let credential_absent_ttl_secs: u64 = env.parse_or("CREDENTIAL_ABSENT_TTL_SECONDS", 5)?;
        Ok(Self {
            stage: env.optional("STAGE").unwrap_or_else(|| "local".into()),
            hub_table: env.required("HUB_TABLE")?,
            logs_table: env.required("LOGS_TABLE")?,
            secrets_prefix: env.required("SECRETS_PREFIX")?,
            log_ttl: Duration::from_secs(log_ttl_days * 86_400),
            credential_ttl: Duration::from_secs(credential_ttl_secs),
            credential_absent_ttl: Duration::from_secs(credential_absent_ttl_secs),
            aws_endpoint_url: env.url("AWS_ENDPOINT_URL")?,
        })
    }

    pub fn jwt_secret_id(&self) -> String {
        format!("{}/jwt", self.secrets_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_missing_variable() {
        let env = Env::from_pairs([("HUB_TABLE", "t")]);
        let err = HubConfig::from_env(&env).unwrap_err().to_string();
        assert_eq!(err, "missing required environment variable LOGS_TABLE");
    }

    #[test]
    fn names_the_invalid_variable() {
        let env = Env::from_pairs([
            ("HUB_TABLE", "t"),
            ("LOGS_TABLE", "l"),
            ("SECRETS_PREFIX", "p"),
            ("LOG_TTL_DAYS", "thirty"),
        ]);
        let err = HubConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("LOG_TTL_DAYS"), "{err}");
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", "localhost:4566")]);
        assert!(
            env.url("AWS_ENDPOINT_URL")
                .unwrap_err()
                .to_string()
                .contains("AWS_ENDPOINT_URL")
        );
    }
}
