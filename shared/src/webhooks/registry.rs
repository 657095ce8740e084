//! The endpoint registry: endpoint configs in the hub table, signing secrets in Secrets
//! Manager, both cached in memory for `WEBHOOK_CACHE_TTL_SECONDS` because the receive path
//! would otherwise pay a DynamoDB and a Secrets Manager round trip per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::model::*;
use super::signature::{
    self, HmacSha256Hex, PathToken, StandardWebhooks, TwilioSignature, Verifier, VerifyError,
};
use crate::error::ApiError;
use crate::secrets::{CredentialStore, SecretSource};

pub const ENDPOINT_SK: &str = "#ENDPOINT";
pub const ENDPOINTS_GSI: &str = "WH#ENDPOINTS";
const MAX_GRACE_SECS: i64 = 7 * 86_400;
const NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(5);

pub fn endpoint_pk(endpoint_url: &str) -> String {
    format!("WH#EP#{endpoint_url}")
}

/// Fixed-width UTC timestamp with milliseconds, so string order is time order in sort keys.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

pub fn timestamp_from_unix(secs: i64) -> String {
    timestamp(
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

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

struct Cached<T> {
    at: Instant,
    value: Option<Arc<T>>,
}

pub struct EndpointRegistry {
    dynamo: aws_sdk_dynamodb::Client,
    secrets_client: aws_sdk_secretsmanager::Client,
    table: String,
    source: Arc<dyn SecretSource>,
    credentials: Arc<CredentialStore>,
    prefix: String,
    ttl: Duration,
    endpoints: RwLock<HashMap<String, Cached<WebhookEndpoint>>>,
    secrets: RwLock<HashMap<String, Cached<EndpointSecret>>>,
    /// When the twilio provider credentials were last re-read after a failed verification.
    twilio_recheck: tokio::sync::Mutex<Option<Instant>>,
}

/// An endpoint's slug: lower-case letters, digits, `-` and `_`, 1-64 characters.
pub fn validate_slug(field: &str, slug: &str) -> Result<(), ApiError> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && slug.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            "must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
        ))
    }
}

fn validate_events(events: &[String]) -> Result<(), ApiError> {
    if events.len() > 100 {
        return Err(ApiError::invalid_field("events", "at most 100 event types"));
    }
    for (i, e) in events.iter().enumerate() {
        if e.trim().is_empty() || e.len() > 128 {
            return Err(ApiError::invalid_field(
                format!("events[{i}]"),
                "must be 1-128 characters",
            ));
        }
    }
    Ok(())
}

fn validate_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be 1-{max} characters"),
        ));
    }
    Ok(())
}

/// Checks a provider-issued secret for the scheme.
fn validate_secret(scheme: &VerificationConfig, secret: &str) -> Result<(), ApiError> {
    if secret.len() < 8 || secret.len() > 512 {
        return Err(ApiError::invalid_field(
            "secret",
            "must be 8-512 characters",
        ));
    }
    if let VerificationConfig::StandardWebhooks { .. } = scheme {
        let key = signature::decode_standard_secret(secret).map_err(|_| {
            ApiError::invalid_field(
                "secret",
                "a Standard Webhooks secret is whsec_ followed by base64",
            )
        })?;
        if key.len() < 16 {
            return Err(ApiError::invalid_field(
                "secret",
                "a Standard Webhooks key must be at least 16 bytes",
            ));
        }
    }
    Ok(())
}

/// A secret of the scheme's form, generated by the hub.
fn generate_secret(scheme: &VerificationConfig) -> String {
    match scheme {
        VerificationConfig::StandardWebhooks { .. } => signature::generate_standard_secret(),
        _ => signature::generate_path_token(),
    }
}

impl EndpointRegistry {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        secrets_client: aws_sdk_secretsmanager::Client,
        table: impl Into<String>,
        credentials: Arc<CredentialStore>,
        prefix: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let source: Arc<dyn SecretSource> = Arc::new(crate::secrets::SecretsManagerSource::new(
            secrets_client.clone(),
        ));
        Self {
            dynamo,
            secrets_client,
            table: table.into(),
            source,
            credentials,
            prefix: prefix.into(),
            ttl,
            endpoints: RwLock::new(HashMap::new()),
            secrets: RwLock::new(HashMap::new()),
            twilio_recheck: tokio::sync::Mutex::new(None),
        }
    }

    pub fn secret_id(&self, endpoint_id: &str) -> String {
        format!("{}/webhooks/{endpoint_id}", self.prefix)
    }

    fn item(endpoint: &WebhookEndpoint) -> Result<HashMap<String, AttributeValue>, ApiError> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(endpoint)?;
        item.insert(
            "pk".into(),
            AttributeValue::S(endpoint_pk(&endpoint.endpoint_url)),
        );
        item.insert("sk".into(), AttributeValue::S(ENDPOINT_SK.into()));
        item.insert("gsi1pk".into(), AttributeValue::S(ENDPOINTS_GSI.into()));
        item.insert(
            "gsi1sk".into(),
            AttributeValue::S(format!("{}#{}", endpoint.created_at, endpoint.endpoint_url)),
        );
        Ok(item)
    }

    /// Registers an endpoint. Returns it with the secret to show once (generated secrets and
    /// path tokens; `None` when the admin supplied the secret or Twilio credentials are used).
    pub async fn create(
        &self,
        new: NewEndpoint,
    ) -> Result<(WebhookEndpoint, Option<String>), ApiError> {
        validate_slug("provider_slug", &new.provider_slug)?;
        validate_slug("endpoint_url", &new.endpoint_url)?;
        validate_text("name", &new.name, 200)?;
        validate_events(&new.events)?;
        let verification = new.verification.normalized()?;
        if let Some(s) = &new.secret {
            validate_secret(&verification, s)?;
        }
        let (secret, origin) = match (&verification, new.secret) {
            (_, Some(s)) => (Some(s), SecretOrigin::Provided),
            (VerificationConfig::Twilio {}, None) => (None, SecretOrigin::ProviderCredentials),
            (scheme, None) => (Some(generate_secret(scheme)), SecretOrigin::Generated),
        };
        let now = timestamp(time::OffsetDateTime::now_utc());
        let endpoint = WebhookEndpoint {
            id: uuid::Uuid::now_v7().to_string(),
            provider_slug: new.provider_slug,
            name: new.name.trim().to_string(),
            endpoint_url: new.endpoint_url,
            events: new.events,
            verification,
            secret_origin: origin,
            event_type_field: new.event_type_field.filter(|f| !f.is_empty()),
            notify_user_id: new.notify_user_id.filter(|u| !u.is_empty()),
            notification_title: new.notification_title,
            enabled: true,
            created_at: now.clone(),
            updated_at: now,
            secret_rotated_at: None,
            previous_secret_valid_until: None,
        };
        // The secret first, under the new endpoint's own id (so it can never overwrite another
        // endpoint's secret); then the conditional write that claims the slug.
        if let Some(s) = &secret {
            self.put_secret(
                &endpoint.id,
                &EndpointSecret {
                    current: s.clone(),
                    previous: None,
                    previous_expires_at: None,
                },
            )
            .await?;
        }
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(&endpoint)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if let Err(e) = put {
            if secret.is_some() {
                let _ = self
                    .secrets_client
                    .delete_secret()
                    .secret_id(self.secret_id(&endpoint.id))
                    .force_delete_without_recovery(true)
                    .send()
                    .await;
            }
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception())
            {
                return Err(ApiError::conflict(
                    "endpoint_exists",
                    format!("an endpoint {:?} already exists", endpoint.endpoint_url),
                )
                .with_field("endpoint_url", "already registered"));
            }
            return Err(e.into());
        }
        self.endpoints.write().await.remove(&endpoint.endpoint_url);
        let shown = if origin == SecretOrigin::Generated {
            secret
        } else {
            None
        };
        Ok((endpoint, shown))
    }

    async fn put_secret(&self, endpoint_id: &str, secret: &EndpointSecret) -> Result<(), ApiError> {
        let raw = serde_json::to_string(secret).map_err(ApiError::internal)?;
        self.source
            .put(&self.secret_id(endpoint_id), &raw)
            .await
            .map_err(ApiError::internal)?;
        self.secrets.write().await.remove(endpoint_id);
        Ok(())
    }

    /// Reads an endpoint from the table (no cache): admin paths.
    pub async fn get(&self, endpoint_url: &str) -> Result<Option<WebhookEndpoint>, ApiError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(endpoint_pk(endpoint_url)))
            .key("sk", AttributeValue::S(ENDPOINT_SK.into()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(match out.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    pub async fn require(&self, endpoint_url: &str) -> Result<WebhookEndpoint, ApiError> {
        self.get(endpoint_url).await?.ok_or_else(|| {
            ApiError::not_found(format!("no webhook endpoint {endpoint_url:?}"))
                .with_code("unknown_endpoint")
        })
    }

    /// The endpoint for the receive path, from the cache while fresh (unknown slugs are
    /// cached for a few seconds too, so probing random URLs does not cost a read each).
    pub async fn cached(
        &self,
        endpoint_url: &str,
    ) -> Result<Option<Arc<WebhookEndpoint>>, ApiError> {
        if let Some(c) = self.endpoints.read().await.get(endpoint_url) {
            // "Unknown" is remembered briefly only: an endpoint registered through another
            // instance must start working within seconds, not a whole cache period.
            let ttl = if c.value.is_some() {
                self.ttl
            } else {
                self.ttl.min(NEGATIVE_CACHE_TTL)
            };
            if c.at.elapsed() < ttl {
                return Ok(c.value.clone());
            }
        }
        let value = self.get(endpoint_url).await?.map(Arc::new);
        let mut cache = self.endpoints.write().await;
        // Bounded: a flood of random slugs must not grow the cache without limit.
        if cache.len() > 1000 {
            cache.retain(|_, c| c.value.is_some() && c.at.elapsed() < self.ttl);
        }
        cache.insert(
            endpoint_url.to_string(),
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
    ) -> Result<(Vec<WebhookEndpoint>, Option<String>), ApiError> {
        let out = self
            .dynamo
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(ENDPOINTS_GSI.into()))
            .limit(limit)
            .set_exclusive_start_key(cursor.map(super::events::decode_cursor).transpose()?)
            .send()
            .await?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(serde_dynamo::from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            items,
            out.last_evaluated_key
                .map(|k| super::events::encode_cursor(&k)),
        ))
    }

    async fn save(&self, endpoint: &WebhookEndpoint) -> Result<(), ApiError> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(endpoint)?))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await?;
        self.endpoints.write().await.remove(&endpoint.endpoint_url);
        Ok(())
    }

    pub async fn update(
        &self,
        endpoint_url: &str,
        patch: EndpointPatch,
    ) -> Result<WebhookEndpoint, ApiError> {
        let mut ep = self.require(endpoint_url).await?;
        if let Some(name) = patch.name {
            validate_text("name", &name, 200)?;
            ep.name = name.trim().to_string();
        }
        if let Some(events) = patch.events {
            validate_events(&events)?;
            ep.events = events;
        }
        if let Some(v) = patch.verification {
            let v = v.normalized()?;
            if v.scheme() != ep.verification.scheme() {
                return Err(ApiError::unprocessable(
                    "scheme_change",
                    format!(
                        "an endpoint's scheme cannot change ({} -> {}): register a new endpoint",
                        ep.verification.scheme(),
                        v.scheme()
                    ),
                )
                .with_field("verification.scheme", "must stay the same"));
            }
            ep.verification = v;
        }
        if let Some(f) = patch.event_type_field {
            ep.event_type_field = Some(f).filter(|f| !f.is_empty());
        }
        if let Some(u) = patch.notify_user_id {
            ep.notify_user_id = Some(u).filter(|u| !u.is_empty());
        }
        if let Some(t) = patch.notification_title {
            ep.notification_title = Some(t).filter(|t| !t.is_empty());
        }
        if let Some(enabled) = patch.enabled {
            ep.enabled = enabled;
        }
        ep.updated_at = timestamp(time::OffsetDateTime::now_utc());
        self.save(&ep).await?;
        Ok(ep)
    }

    /// Rotates the secret: the new one verifies at once, the previous one until
    /// `now + grace`. Returns the endpoint and the new secret when the hub generated it.
    pub async fn rotate(
        &self,
        endpoint_url: &str,
        req: RotateSecret,
        now: i64,
        default_grace: i64,
    ) -> Result<(WebhookEndpoint, Option<String>), ApiError> {
        let mut ep = self.require(endpoint_url).await?;
        let grace = req.grace_period_seconds.unwrap_or(default_grace);
        if !(0..=MAX_GRACE_SECS).contains(&grace) {
            return Err(ApiError::invalid_field(
                "grace_period_seconds",
                format!("must be between 0 and {MAX_GRACE_SECS}"),
            ));
        }
        if let Some(s) = &req.secret {
            validate_secret(&ep.verification, s)?;
        }
        let old = self.load_secret(&ep.id).await?;
        let previous = match (&old, ep.secret_origin) {
            (Some(old), _) => Some(old.current.clone()),
            // Twilio endpoints on provider credentials: rotate the credentials instead.
            (None, SecretOrigin::ProviderCredentials) if req.secret.is_none() => {
                return Err(ApiError::unprocessable(
                    "secret_from_credentials",
                    "this endpoint verifies with the twilio provider credentials: rotate those, or give a `secret`",
                ));
            }
            (None, _) => None,
        };
        let generated = req.secret.is_none();
        let new_secret = req
            .secret
            .unwrap_or_else(|| generate_secret(&ep.verification));
        let stored = EndpointSecret {
            current: new_secret.clone(),
            previous: previous.filter(|_| grace > 0),
            previous_expires_at: Some(now + grace).filter(|_| grace > 0),
        };
        self.put_secret(&ep.id, &stored).await?;
        ep.secret_origin = if generated {
            SecretOrigin::Generated
        } else {
            SecretOrigin::Provided
        };
        ep.secret_rotated_at = Some(timestamp_from_unix(now));
        ep.previous_secret_valid_until = stored.previous_expires_at.map(timestamp_from_unix);
        ep.updated_at = timestamp(time::OffsetDateTime::now_utc());
        self.save(&ep).await?;
        Ok((ep, generated.then_some(new_secret)))
    }

    async fn load_secret(&self, endpoint_id: &str) -> Result<Option<EndpointSecret>, ApiError> {
        let raw = self
            .source
            .get(&self.secret_id(endpoint_id))
            .await
            .map_err(ApiError::internal)?;
        match raw {
            None => Ok(None),
            Some(raw) => serde_json::from_str(&raw).map(Some).map_err(|_| {
                ApiError::internal(format!(
                    "webhook secret {} is not the expected JSON",
                    self.secret_id(endpoint_id)
                ))
            }),
        }
    }

    /// The endpoint's secret, cached. `fresh` bypasses the cache (after a failed verification
    /// with a copy older than a few seconds, so a rotation on another instance is seen).
    pub async fn secret(
        &self,
        endpoint_id: &str,
        fresh: bool,
    ) -> Result<Option<Arc<EndpointSecret>>, ApiError> {
        if !fresh
            && let Some(c) = self.secrets.read().await.get(endpoint_id)
            && c.at.elapsed() < self.ttl
        {
            return Ok(c.value.clone());
        }
        let value = self.load_secret(endpoint_id).await?.map(Arc::new);
        self.secrets.write().await.insert(
            endpoint_id.to_string(),
            Cached {
                at: Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    /// Re-reads the twilio provider credentials (a rotated auth token) at most once per
    /// `min_interval`; true when it did.
    pub async fn recheck_twilio_credentials(
        &self,
        min_interval: Duration,
    ) -> Result<bool, ApiError> {
        let mut last = self.twilio_recheck.lock().await;
        if last.is_some_and(|t| t.elapsed() < min_interval) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        self.credentials
            .refresh("twilio")
            .await
            .map_err(ApiError::internal)?;
        Ok(true)
    }

    /// Age of the cached secret, if cached.
    pub async fn secret_age(&self, endpoint_id: &str) -> Option<Duration> {
        self.secrets
            .read()
            .await
            .get(endpoint_id)
            .map(|c| c.at.elapsed())
    }

    /// Builds the endpoint's verifier from its settings and the secrets active at `now`.
    pub async fn verifier(
        &self,
        ep: &WebhookEndpoint,
        secret: Option<&EndpointSecret>,
        now: i64,
    ) -> Result<Verifier, ApiError> {
        let mut active: Vec<String> = secret
            .map(|s| s.active(now).into_iter().map(str::to_string).collect())
            .unwrap_or_default();
        if active.is_empty() && matches!(ep.verification, VerificationConfig::Twilio {}) {
            let creds = self
                .credentials
                .get("twilio")
                .await
                .map_err(ApiError::internal)?;
            if let Some(token) = creds.as_deref().and_then(|c| c.get("auth_token")) {
                active.push(token.to_string());
            }
        }
        if active.is_empty() {
            // Misconfiguration on our side: the provider should retry later, not give up.
            return Err(ApiError::unavailable(
                "webhook_secret_missing",
                "this endpoint has no signing secret configured",
            ));
        }
        let bad_secret = |e: VerifyError| {
            ApiError::internal(format!("endpoint {} secret unusable: {e}", ep.endpoint_url))
        };
        Ok(match &ep.verification {
            VerificationConfig::StandardWebhooks { tolerance_seconds } => {
                Verifier::StandardWebhooks(
                    StandardWebhooks::from_secrets(&active, *tolerance_seconds)
                        .map_err(bad_secret)?,
                )
            }
            VerificationConfig::Twilio {} => Verifier::Twilio(TwilioSignature::new(active)),
            VerificationConfig::HmacSha256 {
                signature_header,
                signature_prefix,
                timestamp_header,
                tolerance_seconds,
            } => Verifier::HmacSha256Hex(HmacSha256Hex {
                keys: active.into_iter().map(String::into_bytes).collect(),
                signature_header: signature_header.clone(),
                signature_prefix: signature_prefix.clone(),
                timestamp_header: timestamp_header.clone(),
                tolerance_secs: *tolerance_seconds,
            }),
            VerificationConfig::PathToken {} => Verifier::PathToken(PathToken::new(active)),
        })
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

    #[test]
    fn slugs_and_timestamps() {
        assert!(validate_slug("endpoint_url", "payment-status").is_ok());
        assert!(validate_slug("endpoint_url", "Payment").is_err());
        assert!(validate_slug("endpoint_url", "-x").is_err());
        assert!(validate_slug("endpoint_url", "a/b").is_err());
        assert_eq!(timestamp_from_unix(1614265330), "2021-02-25T15:02:10.000Z");
    }
}
