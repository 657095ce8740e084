//! The AI engine: the providers in order ([`Roster`]), their credentials, failover from one
//! to the next, and one integration-log record per provider call (tokens and latency
//! included), written together at the end. Each provider's retries are in [`attempts`].
//!
//! Time is budgeted per call, not per attempt: a synchronous call must answer within the
//! API's 29 s, so every attempt's timeout is cut to what is left of
//! [`AiConfig::sync_budget`], a `Retry-After` longer than [`AiConfig::sync_max_retry_after`]
//! fails over at once instead of waiting, and a wait that would not leave time for the next
//! attempt is not taken. The worker ([`CallMode::Async`]) has a longer budget and waits longer.

mod attempts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use self::attempts::{CallScope, Output, Task};
use super::model::ProviderChoice;
use super::provider::{AiProvider, AudioInput, Completion, CompletionRequest};
use super::roster::{Need, Roster};
use super::{AiConfig, AiError};
use crate::integration_log::IntegrationLog;
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::retry::RetryPolicy;
use crate::secrets::CredentialStore;

/// Synchronous (API request) or asynchronous (worker) call: decides budgets and waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    Sync,
    Async,
}

/// Who asked, for the integration log.
#[derive(Debug, Clone, Default)]
pub struct CallMeta {
    pub request_id: String,
    /// Job id, when the call serves a job.
    pub reference: Option<String>,
}

/// A successful answer and who gave it.
#[derive(Debug, Clone)]
pub struct Served<T> {
    pub value: T,
    pub provider: String,
    pub model: String,
    pub tokens: Option<u64>,
    /// Providers tried before the one that answered.
    pub failed_over_from: Vec<String>,
}

impl<T> Served<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            provider: self.provider,
            model: self.model,
            tokens: self.tokens,
            failed_over_from: self.failed_over_from,
        }
    }
}

/// A completion plus, when a schema was asked for, the validated JSON.
#[derive(Debug, Clone)]
pub struct CompletionOutput {
    pub completion: Completion,
    pub structured: Option<Value>,
}

pub struct AiEngine {
    roster: Roster,
    credentials: Arc<CredentialStore>,
    log: IntegrationLog,
    config: AiConfig,
    /// Attempts per provider (`AI_MAX_ATTEMPTS`) and the backoff between them
    /// (`AI_RETRY_BASE_MS`, doubled each retry, jittered).
    retry: RetryPolicy,
}

impl AiEngine {
    pub fn new(
        roster: Roster,
        credentials: Arc<CredentialStore>,
        log: IntegrationLog,
        config: AiConfig,
    ) -> Self {
        let retry = RetryPolicy {
            max_attempts: config.max_attempts,
            base_delay: config.retry_base,
            // Six doublings of the base at most, as before.
            max_delay: config.retry_base.saturating_mul(64),
        };
        Self {
            roster,
            credentials,
            log,
            config,
            retry,
        }
    }

    pub fn config(&self) -> &AiConfig {
        &self.config
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The providers a call goes to: the one the caller chose (no failover), or the order.
    async fn providers_for(
        &self,
        choice: Option<&ProviderChoice>,
        need: Need,
    ) -> Result<Vec<Box<dyn AiProvider>>, AiError> {
        match choice {
            Some(choice) => Ok(vec![self.roster.chosen(&self.config, choice, need).await?]),
            None => {
                let all = self.roster.providers(&self.config).await?;
                Ok(match need {
                    Need::Text => all,
                    Need::Transcription => all
                        .into_iter()
                        .filter(|p| p.supports_transcription())
                        .collect(),
                })
            }
        }
    }

    /// [`Self::run`], where "nothing configured" names the chosen provider: a caller who
    /// chose one gets `ai_not_configured` for it, never the rules fallback.
    async fn run_for(
        &self,
        operation: &str,
        choice: Option<&ProviderChoice>,
        need: Need,
        task: Task<'_>,
        mode: CallMode,
        meta: &CallMeta,
    ) -> Result<Served<Output>, AiError> {
        let providers = self.providers_for(choice, need).await?;
        match (
            self.run(operation, &providers, task, mode, meta).await,
            choice,
        ) {
            (Err(AiError::NotConfigured), Some(choice)) => Err(AiError::ProviderNotConfigured {
                provider: choice.provider.clone(),
                reason: "no api_key is stored for it (PUT /api/integrations/providers/{slug}/credentials)",
            }),
            (result, _) => result,
        }
    }

    /// Asks the providers in order (or the one in `choice`) for a completion. With
    /// `schema`, the answer must be a JSON object valid against it; one that is not counts
    /// as that provider failing (`{slug}_invalid_output`) and the next provider is tried.
    pub async fn complete(
        &self,
        operation: &str,
        req: &CompletionRequest,
        schema: Option<&Value>,
        choice: Option<&ProviderChoice>,
        mode: CallMode,
        meta: &CallMeta,
    ) -> Result<Served<CompletionOutput>, AiError> {
        let served = self
            .run_for(
                operation,
                choice,
                Need::Text,
                Task::Complete { req, schema },
                mode,
                meta,
            )
            .await?;
        Ok(served.map(|output| match output {
            Output::Completion(completion, structured) => CompletionOutput {
                completion,
                structured,
            },
            Output::Transcript(_) => unreachable!("a completion task gives a completion"),
        }))
    }

    /// Transcribes audio with the first provider in the order that serves transcription, or
    /// the one in `choice`.
    pub async fn transcribe(
        &self,
        audio: &AudioInput,
        choice: Option<&ProviderChoice>,
        meta: &CallMeta,
    ) -> Result<Served<String>, AiError> {
        let served = self
            .run_for(
                "transcribe",
                choice,
                Need::Transcription,
                Task::Transcribe(audio),
                CallMode::Async,
                meta,
            )
            .await?;
        Ok(served.map(|output| match output {
            Output::Transcript(t) => t,
            Output::Completion(..) => unreachable!("a transcription task gives a transcript"),
        }))
    }

    /// Tries the providers in order until one answers or one refuses the request itself.
    async fn run(
        &self,
        operation: &str,
        providers: &[Box<dyn AiProvider>],
        task: Task<'_>,
        mode: CallMode,
        meta: &CallMeta,
    ) -> Result<Served<Output>, AiError> {
        let (budget, request_timeout, max_retry_after) = match mode {
            CallMode::Sync => (
                self.config.sync_budget,
                self.config.request_timeout,
                self.config.sync_max_retry_after,
            ),
            CallMode::Async => (
                self.config.async_budget,
                self.config.async_request_timeout,
                self.config.async_max_retry_after,
            ),
        };
        let scope = CallScope {
            operation,
            meta,
            deadline: Instant::now() + budget,
            request_timeout,
            max_retry_after,
            records: Default::default(),
        };
        let mut errors: Vec<ProviderError> = Vec::new();
        // Providers whose credentials could not be read: unknown, not "not configured".
        let mut unreadable = 0usize;
        let mut result = None;
        for provider in providers {
            if scope.remaining() < Duration::from_millis(500) {
                break;
            }
            let slug = provider.slug().to_string();
            match self.with_key(provider.as_ref(), &task, &scope, mode).await {
                Ok(None) => continue, // not configured
                Ok(Some(Ok((output, tokens)))) => {
                    result = Some(Served {
                        value: output,
                        model: match task {
                            Task::Transcribe(_) => provider
                                .transcription_model()
                                .unwrap_or(provider.model())
                                .to_string(),
                            Task::Complete { .. } => provider.model().to_string(),
                        },
                        provider: slug,
                        tokens,
                        failed_over_from: errors.iter().map(|e| e.provider.clone()).collect(),
                    });
                    break;
                }
                Ok(Some(Err(e))) => {
                    // A job never fails over after a timeout: the provider may have run the
                    // request, and a second provider would be a second paid run.
                    let stop = !e.should_fail_over()
                        || (mode == CallMode::Async && e.kind == ProviderErrorKind::Timeout);
                    tracing::warn!(provider = %slug, operation, code = %e.code, "AI provider failed; trying the next one");
                    errors.push(e);
                    if stop {
                        break;
                    }
                }
                Err(secret_error) => {
                    tracing::error!(provider = %slug, error = %secret_error, "could not read AI provider credentials");
                    unreadable += 1;
                }
            }
        }
        // Every provider call of this request is logged, concurrently, in one round trip.
        let records = scope.take_records();
        futures::future::join_all(records.iter().map(|r| self.log.record(r))).await;
        match result {
            Some(served) => Ok(served),
            // Nothing answered and a provider's credentials could not be read: whether it is
            // configured is unknown, so neither "not configured" (the rules) nor a provider
            // failure; a retry may succeed.
            None if unreadable > 0 => Err(AiError::DependencyUnavailable(
                "AI provider credentials (Secrets Manager)",
            )),
            None if errors.is_empty() => Err(AiError::NotConfigured),
            None => Err(AiError::ProvidersFailed(errors)),
        }
    }

    /// One provider's attempts with its stored `api_key` (read through the credential store,
    /// which reads the secret again once when the provider refuses it). `Ok(None)`: no
    /// credentials stored.
    async fn with_key(
        &self,
        provider: &dyn AiProvider,
        task: &Task<'_>,
        scope: &CallScope<'_>,
        mode: CallMode,
    ) -> Result<Option<Result<(Output, Option<u64>), ProviderError>>, crate::secrets::SecretError>
    {
        self.credentials
            .with_credentials(provider.slug(), |creds| async move {
                let Some(key) = creds.get("api_key").map(str::to_string) else {
                    return Err(ProviderError::new(
                        provider.slug(),
                        ProviderErrorKind::Credentials,
                        format!("{}_no_api_key", provider.slug()),
                        "the stored credentials have no api_key",
                    ));
                };
                self.attempts(provider, &key, task, scope, mode).await
            })
            .await
    }
}
