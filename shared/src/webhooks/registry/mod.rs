//! The endpoint registry: endpoint configs in the hub table ([`endpoints`]), signing secrets
//! in Secrets Manager ([`secrets`]), the Twilio auth token from the provider credentials
//! ([`twilio_token`]), and the admin operations that change them (register, update, rotate).

pub mod endpoints;
pub mod schema;
pub mod secrets;
pub mod twilio_token;
pub mod validate;

pub use endpoints::EndpointStore;
pub use secrets::{EndpointSecret, SecretStore};
pub use twilio_token::TwilioAuthToken;

use super::api::{EndpointPatch, NewEndpoint, RotateSecret};
use super::error::WebhookError;
use super::model::{SecretOrigin, VerificationConfig, WebhookEndpoint};
use crate::error::InvalidInput;
use crate::store::StoreError;
use validate::{
    MAX_NAME_CHARS, generate_secret, validate_events, validate_secret, validate_slug, validate_text,
};

/// How long a rotated-out secret may keep verifying at most.
const MAX_GRACE_SECS: i64 = 7 * 86_400;

/// Unix seconds as a stored timestamp.
fn stored_time(secs: i64) -> String {
    crate::clock::rfc3339_millis(
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

pub struct EndpointRegistry {
    pub endpoints: EndpointStore,
    pub secrets: SecretStore,
}

impl EndpointRegistry {
    pub fn new(endpoints: EndpointStore, secrets: SecretStore) -> Self {
        Self { endpoints, secrets }
    }

    /// Registers an endpoint. Returns it with the secret to show once (generated secrets and
    /// path tokens; `None` when the admin supplied the secret or Twilio credentials are used).
    pub async fn create(
        &self,
        new: NewEndpoint,
    ) -> Result<(WebhookEndpoint, Option<String>), WebhookError> {
        validate_slug("provider_slug", &new.provider_slug)?;
        validate_slug("endpoint_url", &new.slug)?;
        validate_text("name", &new.name, MAX_NAME_CHARS)?;
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
        let now = crate::clock::now_rfc3339_millis();
        let endpoint = WebhookEndpoint {
            id: uuid::Uuid::now_v7().to_string(),
            provider_slug: new.provider_slug,
            name: new.name.trim().to_string(),
            slug: new.slug,
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
            self.secrets
                .put(&endpoint.id, &EndpointSecret::new(s.clone()))
                .await?;
        }
        if let Err(e) = self.endpoints.put(&endpoint, true).await {
            if secret.is_some() {
                self.secrets.delete(&endpoint.id).await;
            }
            return Err(match e {
                StoreError::ConditionFailed => WebhookError::EndpointExists(endpoint.slug),
                other => other.into(),
            });
        }
        let shown = secret.filter(|_| origin == SecretOrigin::Generated);
        Ok((endpoint, shown))
    }

    pub async fn update(
        &self,
        slug: &str,
        patch: EndpointPatch,
    ) -> Result<WebhookEndpoint, WebhookError> {
        let mut ep = self.endpoints.require(slug).await?;
        if let Some(name) = patch.name {
            validate_text("name", &name, MAX_NAME_CHARS)?;
            ep.name = name.trim().to_string();
        }
        if let Some(events) = patch.events {
            validate_events(&events)?;
            ep.events = events;
        }
        if let Some(v) = patch.verification {
            let v = v.normalized()?;
            if v.scheme() != ep.verification.scheme() {
                return Err(InvalidInput::unprocessable(
                    "scheme_change",
                    format!(
                        "an endpoint's scheme cannot change ({} -> {}): register a new endpoint",
                        ep.verification.scheme(),
                        v.scheme()
                    ),
                )
                .with_field("verification.scheme", "must stay the same")
                .into());
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
        ep.updated_at = crate::clock::now_rfc3339_millis();
        self.endpoints.put(&ep, false).await?;
        Ok(ep)
    }

    /// Rotates the secret: the new one verifies at once, the previous one until
    /// `now + grace`. Returns the endpoint and the new secret when the hub generated it.
    pub async fn rotate(
        &self,
        slug: &str,
        req: RotateSecret,
        now: i64,
        default_grace: i64,
    ) -> Result<(WebhookEndpoint, Option<String>), WebhookError> {
        let mut ep = self.endpoints.require(slug).await?;
        let grace = req.grace_period_seconds.unwrap_or(default_grace);
        if !(0..=MAX_GRACE_SECS).contains(&grace) {
            return Err(InvalidInput::field(
                "grace_period_seconds",
                format!("must be between 0 and {MAX_GRACE_SECS}"),
            )
            .into());
        }
        if let Some(s) = &req.secret {
            validate_secret(&ep.verification, s)?;
        }
        let old = self.secrets.load(&ep.id).await?;
        let previous = match (&old, ep.secret_origin) {
            (Some(old), _) => Some(old.current.clone()),
            // Twilio endpoints on provider credentials: rotate the credentials instead.
            (None, SecretOrigin::ProviderCredentials) if req.secret.is_none() => {
                return Err(InvalidInput::unprocessable(
                    "secret_from_credentials",
                    "this endpoint verifies with the twilio provider credentials: rotate those, or give a `secret`",
                )
                .into());
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
        self.secrets.put(&ep.id, &stored).await?;
        ep.secret_origin = if generated {
            SecretOrigin::Generated
        } else {
            SecretOrigin::Provided
        };
        ep.secret_rotated_at = Some(stored_time(now));
        ep.previous_secret_valid_until = stored.previous_expires_at.map(stored_time);
        ep.updated_at = crate::clock::now_rfc3339_millis();
        self.endpoints.put(&ep, false).await?;
        Ok((ep, generated.then_some(new_secret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_are_fixed_width() {
        assert_eq!(stored_time(1614265330), "2021-02-25T15:02:10.000Z");
    }
}
