//! Which AI providers to try, in which order, each built from the cached catalog: the
//! `AI_PROVIDER_ORDER` setting (unknown or disabled names skipped) or the catalog's priority,
//! the model per provider, and which wire form it speaks; or the one provider a caller chose
//! for a call ([`Roster::chosen`]).

use serde_json::Value;

use super::model::ProviderChoice;
use super::provider::{AiProvider, ChatCompletions, TextGeneration};
use super::{AiConfig, AiError, default_model};
use crate::error::InvalidInput;
use crate::providers::{Protocol, ProviderCatalog, ProviderInfo, ProviderKind};

/// Builds the provider list for each call (cheap: strings and a pooled client clone).
pub struct Roster {
    catalog: ProviderCatalog,
    http: reqwest::Client,
}

impl Roster {
    pub fn new(catalog: ProviderCatalog, http: reqwest::Client) -> Self {
        Self { catalog, http }
    }

    /// The providers to try, in order. A catalog that cannot be read is
    /// [`AiError::DependencyUnavailable`] (503 / a job retry), never "not configured".
    pub async fn providers(&self, config: &AiConfig) -> Result<Vec<Box<dyn AiProvider>>, AiError> {
        let mut infos: Vec<_> = self
            .catalog
            .of_kind(ProviderKind::Ai)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not read the provider catalog");
                AiError::DependencyUnavailable("the provider catalog")
            })?
            .into_iter()
            .filter(|p| p.protocol == Protocol::OpenaiCompatible)
            .collect();
        if let Some(order) = &config.provider_order {
            infos = order
                .iter()
                .filter_map(|slug| infos.iter().find(|p| &p.slug == slug).cloned())
                .collect();
        }
        Ok(infos
            .iter()
            .filter_map(|info| self.build(info, config, None))
            .collect())
    }

    /// The provider a caller chose (`provider`, `model` on the request), checked against the
    /// catalog whatever `AI_PROVIDER_ORDER` says (the order decides failover; an operator
    /// forbids a provider by disabling it): unknown, not an AI provider, or one that cannot
    /// serve `need` is a 422 naming `provider`; disabled or without a base URL a 503
    /// `ai_not_configured` naming it. Called at intake (so a bad choice is refused before a
    /// job is stored) and again when the work runs (the catalog may have changed).
    pub async fn chosen(
        &self,
        config: &AiConfig,
        choice: &ProviderChoice,
        need: Need,
    ) -> Result<Box<dyn AiProvider>, AiError> {
        let slug = choice.provider.as_str();
        let all = self.catalog.list().await.map_err(|e| {
            tracing::error!(error = %e, "could not read the provider catalog");
            AiError::DependencyUnavailable("the provider catalog")
        })?;
        let ai_slugs = || {
            all.iter()
                .filter(|p| p.kind == ProviderKind::Ai && p.enabled)
                .map(|p| p.slug.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(info) = all.iter().find(|p| p.slug == slug) else {
            return Err(refused(
                "unknown_provider",
                format!(
                    "no provider {slug:?} in the catalog; AI providers: {}",
                    ai_slugs()
                ),
            ));
        };
        if info.kind != ProviderKind::Ai {
            return Err(refused(
                "invalid_provider",
                format!(
                    "{slug:?} is {} provider, not an AI provider; AI providers: {}",
                    kind_name(info.kind),
                    ai_slugs()
                ),
            ));
        }
        if info.protocol != Protocol::OpenaiCompatible {
            return Err(refused(
                "invalid_provider",
                format!(
                    "{slug:?} does not speak the OpenAI-compatible API the hub calls AI providers with"
                ),
            ));
        }
        if !info.enabled {
            return Err(AiError::ProviderNotConfigured {
                provider: slug.to_string(),
                reason: "it is disabled in the provider catalog",
            });
        }
        let Some(provider) = self.build(info, config, choice.model.as_deref()) else {
            return Err(AiError::ProviderNotConfigured {
                provider: slug.to_string(),
                reason: "it has no base URL (set base_url on its catalog entry)",
            });
        };
        if need == Need::Transcription && !provider.supports_transcription() {
            return Err(refused(
                "invalid_provider",
                format!(
                    "{slug:?} does not transcribe audio (openai and talkbot do; name the `model` a provider serves /audio/transcriptions with)"
                ),
            ));
        }
        Ok(provider)
    }

    /// One catalog entry as a provider; `model` (the caller's) replaces the configured chat
    /// model, and the transcription model too. `None` without a base URL.
    fn build(
        &self,
        info: &ProviderInfo,
        config: &AiConfig,
        model: Option<&str>,
    ) -> Option<Box<dyn AiProvider>> {
        let base = self.catalog.base_url(info)?;
        let chat_model = model
            .map(str::to_string)
            .or_else(|| config.models.get(&info.slug).cloned())
            .or_else(|| {
                info.settings
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| default_model(&info.slug).to_string());
        if info.slug == "huggingface" && config.huggingface_text_generation {
            let url = config
                .huggingface_text_generation_url
                .clone()
                .unwrap_or_else(|| {
                    format!(
                        "{}/hf-inference/models/{chat_model}",
                        base.trim_end_matches("/v1")
                    )
                });
            return Some(Box::new(TextGeneration {
                slug: info.slug.clone(),
                url,
                model: chat_model,
                http: self.http.clone(),
            }));
        }
        let transcription_model = model
            .map(str::to_string)
            .or_else(|| config.transcription_models.get(&info.slug).cloned())
            .or_else(|| {
                matches!(info.slug.as_str(), "openai" | "talkbot").then(|| "whisper-1".to_string())
            });
        Some(Box::new(ChatCompletions {
            json_schema: config.json_schema_providers.contains(&info.slug),
            max_completion_tokens_param: info.slug == "openai",
            slug: info.slug.clone(),
            base_url: base,
            model: chat_model,
            http: self.http.clone(),
            transcription_model,
        }))
    }
}

/// What a chosen provider has to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Chat completions (generate, analyze, chat).
    Text,
    /// `/audio/transcriptions`.
    Transcription,
}

/// A 422 naming `provider`.
fn refused(code: &'static str, message: String) -> AiError {
    InvalidInput::unprocessable(code, format!("provider: {message}"))
        .with_field("provider", message)
        .into()
}

fn kind_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Sms => "an SMS",
        ProviderKind::Email => "an email",
        ProviderKind::Ai => "an AI",
        ProviderKind::Webhook => "a webhook",
    }
}
