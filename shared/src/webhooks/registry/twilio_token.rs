//! The Twilio auth token from the `twilio` provider credentials: the key of Twilio endpoints
//! that have no secret of their own, and of the SMS status callback. Twilio signs with the
//! account's current token, so a signature that does not match may mean the token was
//! rotated: the credentials are read again once (at most once per interval, so a flood of
//! bad signatures costs at most one Secrets Manager read per interval).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::super::error::WebhookError;
use super::super::signature::{TwilioSignature, VerifyError};
use crate::secrets::{CredentialStore, Credentials};

/// The provider slug whose credentials hold `auth_token`.
const TWILIO: &str = "twilio";

pub struct TwilioAuthToken {
    credentials: Arc<CredentialStore>,
    refresh_interval: Duration,
    last_refresh: Mutex<Option<Instant>>,
}

fn auth_token(credentials: Option<Arc<Credentials>>) -> Option<String> {
    credentials.and_then(|c| c.get("auth_token").map(str::to_string))
}

impl TwilioAuthToken {
    /// `refresh_interval`: the least time between two re-reads of the credentials
    /// (`Duration::ZERO` re-reads after every mismatch).
    pub fn new(credentials: Arc<CredentialStore>, refresh_interval: Duration) -> Self {
        Self {
            credentials,
            refresh_interval,
            last_refresh: Mutex::new(None),
        }
    }

    /// The current auth token (from the credential cache), if the credentials have one.
    pub async fn current(&self) -> Result<Option<String>, WebhookError> {
        let creds = self
            .credentials
            .get(TWILIO)
            .await
            .map_err(|e| WebhookError::unavailable("the twilio credentials", e))?;
        Ok(auth_token(creds))
    }

    /// Re-reads the credentials unless that was done less than the interval ago; true when
    /// it did.
    pub async fn refresh(&self) -> Result<bool, WebhookError> {
        let mut last = self.last_refresh.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.refresh_interval) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        self.credentials
            .refresh(TWILIO)
            .await
            .map_err(|e| WebhookError::unavailable("the twilio credentials", e))?;
        Ok(true)
    }

    /// Verifies a Twilio signature with the auth token: `check` runs with a verifier keyed
    /// with the current token and, when the signature does not match, once more with the
    /// re-read token if it changed. `SecretMissing` when the credentials hold no auth token;
    /// `Rejected` with the verifier's reason otherwise.
    ///
    /// The SMS status callback uses it as
    /// `token.verify(|v| v.verify_params(signature, &url, &params))`.
    pub async fn verify(
        &self,
        check: impl Fn(&TwilioSignature) -> Result<(), VerifyError>,
    ) -> Result<(), WebhookError> {
        let token = self.current().await?.ok_or(WebhookError::SecretMissing)?;
        match check(&TwilioSignature::new([token.as_str()])) {
            Err(VerifyError::Invalid) if self.refresh().await? => match self.current().await? {
                Some(fresh) if fresh != token => Ok(check(&TwilioSignature::new([fresh]))?),
                _ => Err(VerifyError::Invalid.into()),
            },
            other => Ok(other?),
        }
    }
}
