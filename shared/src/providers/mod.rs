//! The provider catalog (which outside services the hub knows, how to reach them, whether
//! they are configured) and the error type every provider client shares.
//!
//! One module per outside system: [`kavenegar`], [`twilio`], [`openai`] (OpenAI and the
//! OpenAI-compatible HuggingFace router and TalkBot), [`smtp`]. Each exposes its wire format
//! and a cheap health probe; the capability modules (SMS, AI, email) build on them.

pub mod kavenegar;
pub mod openai;
pub mod probe;
pub mod smtp;
pub mod twilio;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ConfigError, Env};
use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::secrets::RejectsCredentials;
use crate::store::{CachedPartition, Item, StoreError};

/// What can go wrong reading or managing the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no provider with slug {0:?}")]
    NotFound(String),
    /// 409 `provider_exists`.
    #[error("{0}")]
    Exists(String),
    /// 409 `provider_builtin`: a built-in provider cannot be deleted (disable it instead).
    #[error("{0:?} is a built-in provider; disable it with PATCH {{\"enabled\": false}} instead")]
    Builtin(String),
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for CatalogError {
    fn kind(&self) -> ErrorKind {
        match self {
            CatalogError::NotFound(_) => ErrorKind::NotFound,
            CatalogError::Exists(_) | CatalogError::Builtin(_) => ErrorKind::Conflict,
            CatalogError::Invalid(e) => e.kind(),
            CatalogError::Store(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            CatalogError::NotFound(_) => "not_found",
            CatalogError::Exists(_) => "provider_exists",
            CatalogError::Builtin(_) => "provider_builtin",
            CatalogError::Invalid(e) => e.code(),
            CatalogError::Store(e) => e.code(),
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            CatalogError::Invalid(e) => e.fields(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Sms,
    Email,
    Ai,
    Webhook,
}

/// How a provider is spoken to; decides the probe and the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Kavenegar,
    Twilio,
    /// OpenAI's REST API or a compatible one (HuggingFace router, TalkBot).
    OpenaiCompatible,
    Smtp,
    /// Only sends webhooks to the hub; nothing to call.
    None,
}

/// The result of the last health check, kept on the catalog entry.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastCheck {
    pub reachable: bool,
    pub checked_at: String,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// A provider in the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderInfo {
    pub slug: String,
    pub name: String,
    pub kind: ProviderKind,
    pub protocol: Protocol,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Overrides the default API base URL (tests and regional endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Lower goes first when several providers can serve a channel.
    #[serde(default)]
    pub priority: i32,
    /// Keys the credential secret must hold (`api_key`, `account_sid`, ...).
    #[serde(default)]
    pub credential_fields: Vec<String>,
    /// Non-secret settings (sender number, default model, ...).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    #[serde(default)]
    pub builtin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<LastCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

fn yes() -> bool {
    true
}

/// The providers the hub knows out of the box. Admin writes are stored in DynamoDB and
/// override these field by field; the defaults need no seeding.
pub fn builtin_providers() -> Vec<ProviderInfo> {
    let p =
        |slug: &str, name: &str, kind, protocol, priority, fields: &[&str], description: &str| {
            ProviderInfo {
                slug: slug.into(),
                name: name.into(),
                kind,
                protocol,
                description: description.into(),
                enabled: true,
                base_url: None,
                priority,
                credential_fields: fields.iter().map(|f| f.to_string()).collect(),
                settings: Map::new(),
                builtin: true,
                last_check: None,
                updated_at: None,
            }
        };
    vec![
        p(
            "kavenegar",
            "Kavenegar",
            ProviderKind::Sms,
            Protocol::Kavenegar,
            10,
            &["api_key", "sender"],
            "Iranian SMS gateway: OTP (verify/lookup), pattern, text and bulk",
        ),
        p(
            "twilio",
            "Twilio",
            ProviderKind::Sms,
            Protocol::Twilio,
            20,
            &["account_sid", "auth_token", "from_number"],
            "International SMS",
        ),
        p(
            "smtp",
            "SMTP",
            ProviderKind::Email,
            Protocol::Smtp,
            10,
            &["password"],
            "Email over SMTP (host, port and user from SMTP_* settings)",
        ),
        p(
            "openai",
            "OpenAI",
            ProviderKind::Ai,
            Protocol::OpenaiCompatible,
            10,
            &["api_key"],
            "Chat completions, structured output, transcription",
        ),
        p(
            "huggingface",
            "HuggingFace",
            ProviderKind::Ai,
            Protocol::OpenaiCompatible,
            20,
            &["api_key"],
            "OpenAI-compatible inference router",
        ),
        p(
            "talkbot",
            "TalkBot",
            ProviderKind::Ai,
            Protocol::OpenaiCompatible,
            30,
            &["api_key"],
            "OpenAI-compatible chat",
        ),
    ]
}

/// Default API base URLs; `{SLUG}_BASE_URL` in the environment or a catalog entry's
/// `base_url` overrides them.
pub fn default_base_url(slug: &str) -> Option<&'static str> {
    match slug {
        "kavenegar" => Some("https://api.kavenegar.com/v1"),
        "twilio" => Some("https://api.twilio.com"),
        "openai" => Some("https://api.openai.com/v1"),
        "huggingface" => Some("https://router.huggingface.co/v1"),
        "talkbot" => Some("https://api.talkbot.ir/v1"),
        _ => None,
    }
}

/// A new provider, as an admin creates it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    #[schema(schema_with = slug_schema)]
    pub slug: String,
    #[schema(schema_with = name_schema)]
    pub name: String,
    pub kind: ProviderKind,
    pub protocol: Protocol,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[schema(schema_with = base_url_schema)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub credential_fields: Vec<String>,
    #[serde(default)]
    #[schema(value_type = crate::store::storable::StorableObject)]
    pub settings: Map<String, Value>,
}

/// A partial update; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    #[schema(schema_with = base_url_schema)]
    pub base_url: Option<String>,
    pub priority: Option<i32>,
    pub credential_fields: Option<Vec<String>>,
    #[schema(value_type = Option<crate::store::storable::StorableObject>)]
    pub settings: Option<Map<String, Value>>,
}

/// What `validate_slug` takes.
pub const SLUG_PATTERN: &str = r"^[a-z0-9][a-z0-9-]{1,39}$";
/// What `validate_base_url` takes.
pub const BASE_URL_PATTERN: &str = r"^https?://";

fn slug_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::string()
        .pattern(Some(SLUG_PATTERN))
        .description(Some(
            "2-40 characters: lowercase letters, digits and dashes, not starting with a dash",
        ))
}

fn base_url_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::nullable(crate::openapi::string().pattern(Some(BASE_URL_PATTERN)))
        .description(Some("An http(s) URL"))
}

fn name_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::string()
        .min_length(Some(1))
        .pattern(Some(crate::openapi::NOT_BLANK))
}

pub fn validate_slug(slug: &str) -> Result<(), InvalidInput> {
    let ok = (2..=40).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::field(
            "slug",
            "2-40 characters: lowercase letters, digits and dashes",
        ))
    }
}

fn validate_base_url(url: &Option<String>) -> Result<(), InvalidInput> {
    match url {
        Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
            Err(InvalidInput::field("base_url", "must be an http(s) URL"))
        }
        _ => Ok(()),
    }
}

const CATALOG_PK: &str = "PROVIDER";
const CATALOG_CACHE_TTL: Duration = Duration::from_secs(30);

/// Stored entries over the built-ins (a stored built-in slug overrides it), in kind and
/// priority order.
fn merge_stored(items: Vec<Item>) -> Result<Vec<ProviderInfo>, StoreError> {
    let mut merged: Vec<ProviderInfo> = builtin_providers();
    for item in items {
        let stored: ProviderInfo = serde_dynamo::from_item(item)?;
        match merged.iter_mut().find(|p| p.slug == stored.slug) {
            Some(p) => {
                *p = ProviderInfo {
                    builtin: true,
                    ..stored
                }
            }
            None => merged.push(stored),
        }
    }
    merged.sort_by(|a, b| {
        (a.kind as u8, a.priority, &a.slug).cmp(&(b.kind as u8, b.priority, &b.slug))
    });
    Ok(merged)
}

/// The catalog: built-ins merged with the admin's entries in the hub table
/// (`pk = PROVIDER`, `sk = {slug}`), cached for a short time so hot paths (every SMS send
/// needs a base URL) do not read DynamoDB on each request. Clones share the cache, so a
/// capability's adapters can hold their own handle on it.
#[derive(Clone)]
pub struct ProviderCatalog {
    partition: CachedPartition<ProviderInfo>,
    env_base_urls: HashMap<String, String>,
}

impl ProviderCatalog {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: String,
        env: &Env,
    ) -> Result<Self, ConfigError> {
        let mut env_base_urls = HashMap::new();
        for p in builtin_providers() {
            let var = format!("{}_BASE_URL", p.slug.to_ascii_uppercase());
            if let Some(url) = env.url(&var)? {
                env_base_urls.insert(p.slug.clone(), url);
            }
        }
        Ok(Self {
            partition: CachedPartition::new(
                dynamo,
                table,
                CATALOG_PK,
                CATALOG_CACHE_TTL,
                merge_stored,
            ),
            env_base_urls,
        })
    }

    /// The effective base URL: catalog entry, then `{SLUG}_BASE_URL`, then the default.
    pub fn base_url(&self, info: &ProviderInfo) -> Option<String> {
        info.base_url
            .clone()
            .or_else(|| self.env_base_urls.get(&info.slug).cloned())
            .or_else(|| default_base_url(&info.slug).map(str::to_string))
            .map(|u| u.trim_end_matches('/').to_string())
    }

    pub async fn list(&self) -> Result<Arc<Vec<ProviderInfo>>, StoreError> {
        self.partition.get().await
    }

    pub async fn get(&self, slug: &str) -> Result<Option<ProviderInfo>, StoreError> {
        Ok(self.list().await?.iter().find(|p| p.slug == slug).cloned())
    }

    pub async fn require(&self, slug: &str) -> Result<ProviderInfo, CatalogError> {
        self.get(slug)
            .await?
            .ok_or_else(|| CatalogError::NotFound(slug.to_string()))
    }

    /// Enabled providers of a kind, in priority order.
    pub async fn of_kind(&self, kind: ProviderKind) -> Result<Vec<ProviderInfo>, StoreError> {
        Ok(self
            .list()
            .await?
            .iter()
            .filter(|p| p.kind == kind && p.enabled)
            .cloned()
            .collect())
    }

    async fn write(&self, info: &ProviderInfo, must_be_new: bool) -> Result<(), CatalogError> {
        let item: Item = serde_dynamo::to_item(info).map_err(StoreError::from)?;
        match self.partition.put(&info.slug, item, must_be_new).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(CatalogError::Exists(format!(
                "a provider with slug {:?} already exists",
                info.slug
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create(&self, new: NewProvider) -> Result<ProviderInfo, CatalogError> {
        validate_slug(&new.slug)?;
        validate_base_url(&new.base_url)?;
        crate::store::storable::check_map("settings", &new.settings)?;
        if new.name.trim().is_empty() {
            return Err(InvalidInput::field("name", "must not be empty").into());
        }
        if builtin_providers().iter().any(|p| p.slug == new.slug) {
            return Err(CatalogError::Exists(format!(
                "{:?} is a built-in provider; update it instead",
                new.slug
            )));
        }
        let info = ProviderInfo {
            slug: new.slug,
            name: new.name,
            kind: new.kind,
            protocol: new.protocol,
            description: new.description,
            enabled: new.enabled,
            base_url: new.base_url,
            priority: new.priority,
            credential_fields: new.credential_fields,
            settings: new.settings,
            builtin: false,
            last_check: None,
            updated_at: Some(crate::clock::now_rfc3339()),
        };
        self.write(&info, true).await?;
        Ok(info)
    }

    pub async fn update(
        &self,
        slug: &str,
        patch: ProviderPatch,
    ) -> Result<ProviderInfo, CatalogError> {
        validate_base_url(&patch.base_url)?;
        if let Some(settings) = &patch.settings {
            crate::store::storable::check_map("settings", settings)?;
        }
        let mut info = self.fresh(slug).await?;
        if let Some(v) = patch.name {
            info.name = v;
        }
        if let Some(v) = patch.description {
            info.description = v;
        }
        if let Some(v) = patch.enabled {
            info.enabled = v;
        }
        if let Some(v) = patch.base_url {
            info.base_url = Some(v);
        }
        if let Some(v) = patch.priority {
            info.priority = v;
        }
        if let Some(v) = patch.credential_fields {
            info.credential_fields = v;
        }
        if let Some(v) = patch.settings {
            info.settings = v;
        }
        info.updated_at = Some(crate::clock::now_rfc3339());
        self.write(&info, false).await?;
        Ok(info)
    }

    /// Deletes an admin-created provider. Built-ins stay (409; they can be disabled), and
    /// a built-in's stored override is not deleted this way either.
    pub async fn delete(&self, slug: &str) -> Result<(), CatalogError> {
        if self.fresh(slug).await?.builtin {
            return Err(CatalogError::Builtin(slug.to_string()));
        }
        if self.partition.delete(slug).await? {
            Ok(())
        } else {
            Err(CatalogError::NotFound(slug.to_string()))
        }
    }

    /// Stores the outcome of a health check on the entry.
    pub async fn record_check(&self, slug: &str, check: LastCheck) -> Result<(), CatalogError> {
        let mut info = self.fresh(slug).await?;
        info.last_check = Some(check);
        self.write(&info, false).await
    }

    /// The entry read past the cache, for read-modify-write.
    async fn fresh(&self, slug: &str) -> Result<ProviderInfo, CatalogError> {
        self.partition
            .reload()
            .await?
            .iter()
            .find(|p| p.slug == slug)
            .cloned()
            .ok_or_else(|| CatalogError::NotFound(slug.to_string()))
    }
}

/// Why a provider call failed, in terms the hub acts on (retry, fail over, refresh
/// credentials, tell the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderErrorKind {
    /// The credentials were refused (invalid key, disabled account).
    Credentials,
    /// The provider throttled us; `retry_after` may say for how long.
    RateLimited,
    /// Out of credit or quota: do not retry, fail over.
    OutOfCredit,
    /// The request itself is wrong (bad number, missing template): do not retry or fail over.
    InvalidRequest,
    /// 5xx, connection refused, model loading: retry, then fail over.
    Unavailable,
    /// No answer in time, or the connection dropped after the request was written: the
    /// provider may have done the work ([`ProviderError::is_ambiguous`]).
    Timeout,
    /// The answer could not be understood.
    Malformed,
    /// The hub could not read the provider's configuration or credentials (Secrets Manager,
    /// the provider catalog): nothing was sent, and it is not "not configured" either.
    ConfigUnavailable,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{provider} {kind:?} ({code}): {message}")]
pub struct ProviderError {
    pub provider: String,
    pub kind: ProviderErrorKind,
    /// The provider's own code, prefixed with its slug (`kavenegar_418`, `twilio_21211`,
    /// `openai_insufficient_quota`).
    pub code: String,
    /// A message safe to show and log (no secrets, no message content).
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(
        provider: &str,
        kind: ProviderErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            provider: provider.into(),
            kind,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// Worth trying the same provider again after a pause.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::RateLimited
                | ProviderErrorKind::Unavailable
                | ProviderErrorKind::Timeout
        )
    }

    /// Worth trying the next provider. For a call that does work (a send), check
    /// [`Self::is_ambiguous`] first: trying another provider then may do the work twice.
    pub fn should_fail_over(&self) -> bool {
        !matches!(self.kind, ProviderErrorKind::InvalidRequest)
    }

    /// The request was written and the answer was lost (timeout, connection reset after
    /// the write): the provider may have accepted it. A send with this error is `unknown`:
    /// never retried, failed over or refunded; reconciled by a status lookup when possible.
    pub fn is_ambiguous(&self) -> bool {
        self.kind == ProviderErrorKind::Timeout
    }

    /// The error of a configuration or credential read that failed (not "not configured").
    pub fn config_unavailable(provider: &str, what: &str) -> Self {
        Self::new(
            provider,
            ProviderErrorKind::ConfigUnavailable,
            format!("{provider}_{what}_unavailable"),
            format!("the {what} could not be read"),
        )
    }

    /// Classifies a transport error from reqwest. A failure to connect means nothing was
    /// sent; any other (timeout, reset, a body cut short) may come after the provider got
    /// the request, so it is a [`ProviderErrorKind::Timeout`] (ambiguous).
    pub fn transport(provider: &str, e: &reqwest::Error) -> Self {
        if e.is_connect() {
            Self::new(
                provider,
                ProviderErrorKind::Unavailable,
                format!("{provider}_unreachable"),
                "the provider could not be reached",
            )
        } else if e.is_timeout() {
            Self::new(
                provider,
                ProviderErrorKind::Timeout,
                format!("{provider}_timeout"),
                "the provider did not answer in time",
            )
        } else if e.is_request() || e.is_body() {
            Self::new(
                provider,
                ProviderErrorKind::Timeout,
                format!("{provider}_connection_lost"),
                "the connection was lost after the request was sent",
            )
        } else if e.is_decode() {
            Self::new(
                provider,
                ProviderErrorKind::Malformed,
                format!("{provider}_malformed"),
                "the provider's answer could not be read",
            )
        } else {
            Self::new(
                provider,
                ProviderErrorKind::Unavailable,
                format!("{provider}_unreachable"),
                "the provider could not be reached",
            )
        }
    }

    /// The kind of failure a caller is told when no provider could do the work.
    pub fn error_kind(&self) -> ErrorKind {
        match self.kind {
            ProviderErrorKind::InvalidRequest => ErrorKind::Unprocessable,
            ProviderErrorKind::RateLimited | ProviderErrorKind::ConfigUnavailable => {
                ErrorKind::Unavailable
            }
            ProviderErrorKind::Timeout => ErrorKind::ProviderTimeout,
            _ => ErrorKind::ProviderFailed,
        }
    }

    /// The caller's code: `provider_rejected`, `provider_rate_limited`, `provider_timeout`
    /// or `provider_failed`.
    pub fn public_code(&self) -> &'static str {
        match self.kind {
            ProviderErrorKind::InvalidRequest => "provider_rejected",
            ProviderErrorKind::RateLimited => "provider_rate_limited",
            ProviderErrorKind::Timeout => "provider_timeout",
            ProviderErrorKind::ConfigUnavailable => crate::error::DEPENDENCY_UNAVAILABLE,
            _ => "provider_failed",
        }
    }

    /// The caller's detail (safe to show: no secrets, no message content).
    pub fn public_detail(&self) -> String {
        match self.kind {
            ProviderErrorKind::InvalidRequest => {
                format!("{} rejected the request: {}", self.provider, self.message)
            }
            ProviderErrorKind::RateLimited => {
                format!("{} is throttling requests", self.provider)
            }
            ProviderErrorKind::Timeout => format!("{} did not answer in time", self.provider),
            ProviderErrorKind::ConfigUnavailable => format!(
                "the configuration of {} could not be read just now; nothing was sent",
                self.provider
            ),
            _ => format!("{} failed: {}", self.provider, self.message),
        }
    }

    /// Seconds the caller should wait: for a throttled provider, its `Retry-After` (at
    /// least 1 s) or 30 s.
    pub fn public_retry_after(&self) -> Option<u64> {
        match self.kind {
            ProviderErrorKind::RateLimited => {
                Some(self.retry_after.map(|d| d.as_secs().max(1)).unwrap_or(30))
            }
            ProviderErrorKind::ConfigUnavailable => Some(crate::error::DEPENDENCY_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl RejectsCredentials for ProviderError {
    fn is_credential_rejection(&self) -> bool {
        self.kind == ProviderErrorKind::Credentials
    }
}

/// Parses a `Retry-After` header given in seconds (the form providers use).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}
