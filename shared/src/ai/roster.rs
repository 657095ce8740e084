//! Which AI providers to try, in which order, each built from the cached catalog: the
//! `AI_PROVIDER_ORDER` setting (unknown or disabled names skipped) or the catalog's priority,
//! the model per provider, and which wire form it speaks.

use serde_json::Value;

use super::provider::{AiProvider, ChatCompletions, TextGeneration};
use super::{AiConfig, AiError, default_model};
use crate::providers::{Protocol, ProviderCatalog, ProviderKind};

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
        let mut out: Vec<Box<dyn AiProvider>> = Vec::with_capacity(infos.len());
        for info in infos {
            let Some(base) = self.catalog.base_url(&info) else {
                continue;
            };
            let model = config
                .models
                .get(&info.slug)
                .cloned()
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
                            "{}/hf-inference/models/{model}",
                            base.trim_end_matches("/v1")
                        )
                    });
                out.push(Box::new(TextGeneration {
                    slug: info.slug.clone(),
                    url,
                    model,
                    http: self.http.clone(),
                }));
                continue;
            }
            let transcription_model = config
                .transcription_models
                .get(&info.slug)
                .cloned()
                .or_else(|| {
                    matches!(info.slug.as_str(), "openai" | "talkbot")
                        .then(|| "whisper-1".to_string())
                });
            out.push(Box::new(ChatCompletions {
                json_schema: config.json_schema_providers.contains(&info.slug),
                max_completion_tokens_param: info.slug == "openai",
                slug: info.slug,
                base_url: base,
                model,
                http: self.http.clone(),
                transcription_model,
            }));
        }
        Ok(out)
    }
}
