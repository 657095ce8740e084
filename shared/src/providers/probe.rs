//! Health checks: one real, cheap, authenticated call per provider (Kavenegar
//! `account/info`, Twilio account fetch, OpenAI-compatible model list, SMTP NOOP).

use std::time::Instant;

use serde::Serialize;

use super::{
    Protocol, ProviderCatalog, ProviderError, ProviderErrorKind, ProviderInfo, kavenegar, openai,
    smtp, twilio,
};
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::secrets::CredentialStore;

/// What probing needs: the pooled HTTP client, the catalog (base URLs), the credentials,
/// the integration log (every probe of a configured provider is recorded) and the SMTP
/// settings, if any. Built by `HubContext::prober`.
pub struct Prober<'a> {
    pub http: &'a reqwest::Client,
    pub catalog: &'a ProviderCatalog,
    pub credentials: &'a CredentialStore,
    pub log: &'a IntegrationLog,
    pub smtp: Option<smtp::SmtpSettings>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProbeResult {
    pub provider: String,
    /// Credentials (or settings) are present.
    pub configured: bool,
    /// The provider answered an authenticated call successfully.
    pub reachable: bool,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub detail: String,
}

fn missing_field(info: &ProviderInfo, field: &str) -> ProviderError {
    ProviderError::new(
        &info.slug,
        ProviderErrorKind::Credentials,
        format!("{}_missing_{field}", info.slug),
        format!("the credential secret lacks {field}"),
    )
}

impl Prober<'_> {
    /// Reads the credentials of every provider in `providers` that has some, in one batch
    /// (`BatchGetSecretValue`), so the [`Self::is_configured`] checks that follow are
    /// answered from the cache. A failed read is left to those checks (each reads alone).
    pub async fn preload(&self, providers: &[ProviderInfo]) {
        let slugs: Vec<&str> = providers
            .iter()
            .filter(|info| !matches!(info.protocol, Protocol::Smtp | Protocol::None))
            .map(|info| info.slug.as_str())
            .collect();
        if let Err(e) = self.credentials.get_many(&slugs).await {
            tracing::warn!(error = %e, "batch read of provider credentials failed");
        }
    }

    /// Whether the provider has what it needs to be called.
    pub async fn is_configured(&self, info: &ProviderInfo) -> bool {
        match info.protocol {
            Protocol::Smtp => self.smtp.is_some(),
            Protocol::None => true,
            _ => match self.credentials.get(&info.slug).await {
                Ok(Some(c)) => info
                    .credential_fields
                    .iter()
                    .all(|f| c.get(f).is_some() || f == "from_number" || f == "sender"),
                _ => false,
            },
        }
    }

    /// Runs the provider's probe and records it in the integration log.
    pub async fn probe(&self, info: &ProviderInfo, request_id: &str) -> ProbeResult {
        let started = Instant::now();
        let base = self.catalog.base_url(info).unwrap_or_default();
        let outcome: Result<Option<String>, ProviderError> = match info.protocol {
            Protocol::Smtp => self.probe_smtp().await,
            Protocol::None => Ok(Some(
                "nothing to call: this provider only sends webhooks".into(),
            )),
            protocol => {
                let http = self.http;
                let res = self
                    .credentials
                    .with_credentials(&info.slug, |c| {
                        let base = base.clone();
                        async move {
                            match protocol {
                                Protocol::Kavenegar => {
                                    let key = c
                                        .get("api_key")
                                        .ok_or_else(|| missing_field(info, "api_key"))?;
                                    let entries = kavenegar::account_info(http, &base, key).await?;
                                    let credit = entries
                                        .get("remaincredit")
                                        .map(|v| v.to_string())
                                        .unwrap_or_default();
                                    Ok(format!("account/info answered; remaining credit {credit}"))
                                }
                                Protocol::Twilio => {
                                    let sid = c
                                        .get("account_sid")
                                        .ok_or_else(|| missing_field(info, "account_sid"))?;
                                    let token = c
                                        .get("auth_token")
                                        .ok_or_else(|| missing_field(info, "auth_token"))?;
                                    let acct =
                                        twilio::fetch_account(http, &base, sid, token).await?;
                                    let status = acct
                                        .get("status")
                                        .and_then(|s| s.as_str())
                                        .unwrap_or("unknown");
                                    Ok(format!("account fetch answered; account status {status}"))
                                }
                                _ => {
                                    let key = c
                                        .get("api_key")
                                        .ok_or_else(|| missing_field(info, "api_key"))?;
                                    let models =
                                        openai::list_models(http, &info.slug, &base, key).await?;
                                    let n = models
                                        .get("data")
                                        .and_then(|d| d.as_array())
                                        .map_or(0, Vec::len);
                                    Ok(format!("model list answered; {n} models"))
                                }
                            }
                        }
                    })
                    .await;
                match res {
                    Ok(Some(r)) => r.map(Some),
                    Ok(None) => Ok(None),
                    Err(e) => Err(ProviderError::new(
                        &info.slug,
                        ProviderErrorKind::Unavailable,
                        "secrets_unavailable",
                        e.to_string(),
                    )),
                }
            }
        };
        let latency = started.elapsed();
        let (configured, reachable, error_code, detail) = match outcome {
            Ok(Some(detail)) => (true, true, None, detail),
            Ok(None) => (
                false,
                false,
                Some("not_configured".to_string()),
                "no credentials are configured for this provider".to_string(),
            ),
            Err(e) => (true, false, Some(e.code.clone()), e.message.clone()),
        };
        if configured {
            let mut rec = CallRecord::new(&info.slug, "health_check", request_id);
            rec.latency = latency;
            rec.outcome = if reachable {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            rec.error_code = error_code.clone();
            self.log.record(&rec).await;
        }
        ProbeResult {
            provider: info.slug.clone(),
            configured,
            reachable,
            latency_ms: latency.as_millis() as u64,
            error_code,
            detail,
        }
    }

    async fn probe_smtp(&self) -> Result<Option<String>, ProviderError> {
        let Some(settings) = &self.smtp else {
            return Ok(None);
        };
        let password = self.credentials.get(smtp::SLUG).await.ok().flatten();
        let transport = settings
            .transport(password.as_deref().and_then(|c| c.get("password")))
            .map_err(|_| {
                ProviderError::new(
                    smtp::SLUG,
                    ProviderErrorKind::InvalidRequest,
                    "smtp_settings",
                    "SMTP settings are invalid",
                )
            })?;
        match transport.test_connection().await {
            Ok(true) => Ok(Some(format!(
                "{}:{} answered NOOP",
                settings.host, settings.port
            ))),
            Ok(false) => Err(ProviderError::new(
                smtp::SLUG,
                ProviderErrorKind::Unavailable,
                "smtp_noop_failed",
                "the server did not accept NOOP",
            )),
            Err(e) if e.is_permanent() => Err(ProviderError::new(
                smtp::SLUG,
                ProviderErrorKind::Credentials,
                "smtp_rejected",
                "the server refused the session",
            )),
            Err(_) => Err(ProviderError::new(
                smtp::SLUG,
                ProviderErrorKind::Unavailable,
                "smtp_unreachable",
                "the SMTP server could not be reached",
            )),
        }
    }
}
