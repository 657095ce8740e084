//! The AI engine: which providers, in which order, with which credentials; retries with
//! backoff that honour `Retry-After`; failover; one integration-log record per provider
//! call (tokens and latency included).
//!
//! Time is budgeted per call, not per attempt: a synchronous call must answer within the
//! API's 29 s, so every attempt's timeout is cut to what is left of
//! [`AiConfig::sync_budget`], a `Retry-After` longer than [`AiConfig::sync_max_retry_after`]
//! fails over at once instead of waiting, and a wait that would not leave time for the next
//! attempt is not taken. The worker ([`CallMode::Async`]) has a longer budget and waits longer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::provider::{
    AiProvider, AudioInput, ChatCompletions, Completion, CompletionRequest, TextGeneration,
};
use super::{AiConfig, default_model, medical};
use crate::context::HubContext;
use crate::error::ApiError;
use crate::integration_log::{CallRecord, Outcome};
use crate::providers::{Protocol, ProviderError, ProviderErrorKind, ProviderKind};

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
    /// Provider calls made, failed ones included.
    pub calls: u32,
    /// Providers tried before the one that answered.
    pub failed_over_from: Vec<String>,
}

/// Why no provider answered.
#[derive(Debug, Clone)]
pub enum AiFailure {
    /// No provider in the order has credentials (the chat then answers from rules).
    NotConfigured,
    /// Every configured provider failed; the errors in the order tried.
    Failed(Vec<ProviderError>),
}

impl AiFailure {
    pub fn to_api_error(&self) -> ApiError {
        match self {
            AiFailure::NotConfigured => ApiError::unavailable(
                "ai_not_configured",
                "no AI provider is configured: store an api_key for openai, huggingface or talkbot",
            ),
            AiFailure::Failed(errors) => {
                let tried: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} ({})", e.provider, e.code))
                    .collect();
                let last = errors.last().expect("a failure has at least one error");
                let mut e = last.to_api_error();
                e.detail = format!("{}; providers tried: {}", e.detail, tried.join(", "));
                e
            }
        }
    }

    /// A provider refused the request itself (bad parameters): retrying later will not help.
    pub fn is_permanent(&self) -> bool {
        match self {
            AiFailure::NotConfigured => true,
            AiFailure::Failed(errors) => errors
                .iter()
                .any(|e| e.kind == ProviderErrorKind::InvalidRequest),
        }
    }

    pub fn code(&self) -> String {
        match self {
            AiFailure::NotConfigured => "ai_not_configured".into(),
            AiFailure::Failed(errors) => errors.last().map(|e| e.code.clone()).unwrap_or_default(),
        }
    }
}

enum Task<'a> {
    Complete {
        req: &'a CompletionRequest,
        schema: Option<&'a Value>,
    },
    Transcribe(&'a AudioInput),
}

enum Output {
    Completion(Completion, Option<Value>),
    Transcript(String),
}

/// A completion plus, when a schema was asked for, the validated JSON.
#[derive(Debug, Clone)]
pub struct CompletionOutput {
    pub completion: Completion,
    pub structured: Option<Value>,
}

pub struct AiEngine {
    pub ctx: Arc<HubContext>,
    pub config: AiConfig,
}

impl AiEngine {
    pub fn new(ctx: Arc<HubContext>, config: AiConfig) -> Self {
        Self { ctx, config }
    }

    /// The providers to try, in order: `AI_PROVIDER_ORDER` when set (unknown or disabled
    /// names are skipped), else the catalog's priority order. Built from the cached catalog.
    pub async fn providers(&self) -> Result<Vec<Box<dyn AiProvider>>, ApiError> {
        let mut infos: Vec<_> = self
            .ctx
            .catalog
            .of_kind(ProviderKind::Ai)
            .await?
            .into_iter()
            .filter(|p| p.protocol == Protocol::OpenaiCompatible)
            .collect();
        if let Some(order) = &self.config.provider_order {
            infos = order
                .iter()
                .filter_map(|slug| infos.iter().find(|p| &p.slug == slug).cloned())
                .collect();
        }
        let mut out: Vec<Box<dyn AiProvider>> = Vec::with_capacity(infos.len());
        for info in infos {
            let Some(base) = self.ctx.catalog.base_url(&info) else {
                continue;
            };
            let model = self
                .config
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
            if info.slug == "huggingface" && self.config.huggingface_text_generation {
                let url = self
                    .config
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
                    http: self.ctx.http.clone(),
                }));
                continue;
            }
            let transcription_model = self
                .config
                .transcription_models
                .get(&info.slug)
                .cloned()
                .or_else(|| {
                    matches!(info.slug.as_str(), "openai" | "talkbot")
                        .then(|| "whisper-1".to_string())
                });
            out.push(Box::new(ChatCompletions {
                json_schema: self.config.json_schema_providers.contains(&info.slug),
                max_completion_tokens_param: info.slug == "openai",
                slug: info.slug,
                base_url: base,
                model,
                http: self.ctx.http.clone(),
                transcription_model,
            }));
        }
        Ok(out)
    }

    /// Asks the providers in order for a completion. With `schema`, the answer must be a JSON
    /// object valid against it; one that is not counts as that provider failing
    /// (`{slug}_invalid_output`) and the next provider is tried.
    pub async fn complete(
        &self,
        operation: &str,
        req: &CompletionRequest,
        schema: Option<&Value>,
        mode: CallMode,
        meta: &CallMeta,
    ) -> Result<Served<CompletionOutput>, AiFailure> {
        let providers = self.providers().await.map_err(|_| {
            AiFailure::Failed(vec![ProviderError::new(
                "catalog",
                ProviderErrorKind::Unavailable,
                "catalog_unavailable",
                "the provider catalog could not be read",
            )])
        })?;
        let served = self
            .run(
                operation,
                &providers,
                Task::Complete { req, schema },
                mode,
                meta,
            )
            .await?;
        Ok(match served.value {
            Output::Completion(completion, structured) => Served {
                value: CompletionOutput {
                    completion,
                    structured,
                },
                provider: served.provider,
                model: served.model,
                tokens: served.tokens,
                calls: served.calls,
                failed_over_from: served.failed_over_from,
            },
            Output::Transcript(_) => unreachable!("a completion task gives a completion"),
        })
    }

    /// Transcribes audio with the first provider in the order that serves transcription.
    pub async fn transcribe(
        &self,
        audio: &AudioInput,
        meta: &CallMeta,
    ) -> Result<Served<String>, AiFailure> {
        let providers: Vec<_> = self
            .providers()
            .await
            .map_err(|_| {
                AiFailure::Failed(vec![ProviderError::new(
                    "catalog",
                    ProviderErrorKind::Unavailable,
                    "catalog_unavailable",
                    "the provider catalog could not be read",
                )])
            })?
            .into_iter()
            .filter(|p| p.supports_transcription())
            .collect();
        let served = self
            .run(
                "transcribe",
                &providers,
                Task::Transcribe(audio),
                CallMode::Async,
                meta,
            )
            .await?;
        Ok(match served.value {
            Output::Transcript(t) => Served {
                value: t,
                provider: served.provider,
                model: served.model,
                tokens: None,
                calls: served.calls,
                failed_over_from: served.failed_over_from,
            },
            Output::Completion(..) => unreachable!("a transcription task gives a transcript"),
        })
    }

    async fn run(
        &self,
        operation: &str,
        providers: &[Box<dyn AiProvider>],
        task: Task<'_>,
        mode: CallMode,
        meta: &CallMeta,
    ) -> Result<Served<Output>, AiFailure> {
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
        let deadline = Instant::now() + budget;
        // Shared with the credential store's retry closure, hence a lock and an atomic.
        let records: std::sync::Mutex<Vec<CallRecord>> = std::sync::Mutex::new(Vec::new());
        let calls = std::sync::atomic::AtomicU32::new(0);
        let mut errors: Vec<ProviderError> = Vec::new();
        let mut result = None;
        for provider in providers {
            if deadline.saturating_duration_since(Instant::now()) < Duration::from_millis(500) {
                break;
            }
            let slug = provider.slug().to_string();
            let attempt = self
                .ctx
                .credentials
                .with_credentials(&slug, |creds| {
                    let provider = provider.as_ref();
                    let task = &task;
                    let records = &records;
                    let calls = &calls;
                    async move {
                        let Some(key) = creds.get("api_key").map(str::to_string) else {
                            return Err(ProviderError::new(
                                provider.slug(),
                                ProviderErrorKind::Credentials,
                                format!("{}_no_api_key", provider.slug()),
                                "the stored credentials have no api_key",
                            ));
                        };
                        self.attempts(
                            provider,
                            &key,
                            task,
                            operation,
                            meta,
                            deadline,
                            request_timeout,
                            max_retry_after,
                            records,
                            calls,
                        )
                        .await
                    }
                })
                .await;
            match attempt {
                Ok(None) => continue, // not configured
                Ok(Some(Ok((output, tokens)))) => {
                    result = Some(Served {
                        value: output,
                        provider: slug,
                        model: match task {
                            Task::Transcribe(_) => provider
                                .transcription_model()
                                .unwrap_or(provider.model())
                                .to_string(),
                            Task::Complete { .. } => provider.model().to_string(),
                        },
                        tokens,
                        calls: calls.load(std::sync::atomic::Ordering::Relaxed),
                        failed_over_from: errors.iter().map(|e| e.provider.clone()).collect(),
                    });
                    break;
                }
                Ok(Some(Err(e))) => {
                    let stop = !e.should_fail_over();
                    tracing::warn!(provider = %slug, operation, code = %e.code, "AI provider failed; trying the next one");
                    errors.push(e);
                    if stop {
                        break;
                    }
                }
                Err(secret_error) => {
                    tracing::error!(provider = %slug, error = %secret_error, "could not read AI provider credentials");
                    errors.push(ProviderError::new(
                        &slug,
                        ProviderErrorKind::Unavailable,
                        format!("{slug}_credentials_unreadable"),
                        "credentials could not be read",
                    ));
                }
            }
        }
        // Every provider call of this request is logged, concurrently, in one round trip.
        let records = records.into_inner().unwrap_or_else(|p| p.into_inner());
        futures::future::join_all(records.iter().map(|r| self.ctx.log.record(r))).await;
        match result {
            Some(served) => Ok(served),
            None if errors.is_empty() => Err(AiFailure::NotConfigured),
            None => Err(AiFailure::Failed(errors)),
        }
    }

    /// Up to `max_attempts` calls to one provider, waiting between them.
    #[allow(clippy::too_many_arguments)]
    async fn attempts(
        &self,
        provider: &dyn AiProvider,
        key: &str,
        task: &Task<'_>,
        operation: &str,
        meta: &CallMeta,
        deadline: Instant,
        request_timeout: Duration,
        max_retry_after: Duration,
        records: &std::sync::Mutex<Vec<CallRecord>>,
        calls: &std::sync::atomic::AtomicU32,
    ) -> Result<(Output, Option<u64>), ProviderError> {
        let slug = provider.slug();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = request_timeout.min(remaining);
            let started = Instant::now();
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let outcome: Result<(Output, Option<u64>), ProviderError> = match task {
                Task::Complete { req, schema } => {
                    match provider.complete(key, req, timeout).await {
                        Ok(c) => match schema {
                            None => Ok((Output::Completion(c.clone(), None), c.tokens)),
                            Some(schema) => match medical::parse_structured(&c.text, schema) {
                                Ok(v) => {
                                    let t = c.tokens;
                                    Ok((Output::Completion(c, Some(v)), t))
                                }
                                Err(why) => {
                                    tracing::warn!(provider = slug, reason = %why, "structured answer failed validation");
                                    let mut e = ProviderError::new(
                                        slug,
                                        ProviderErrorKind::Malformed,
                                        format!("{slug}_invalid_output"),
                                        "the answer did not match the expected JSON schema",
                                    );
                                    // Tokens were spent all the same: keep them in the log.
                                    e.message =
                                        format!("{} ({} tokens)", e.message, c.tokens.unwrap_or(0));
                                    push(
                                        records,
                                        record(
                                            slug,
                                            operation,
                                            meta,
                                            started.elapsed(),
                                            Outcome::Failure,
                                            Some(&e.code),
                                            c.tokens,
                                        ),
                                    );
                                    return Err(e);
                                }
                            },
                        },
                        Err(e) => Err(e),
                    }
                }
                Task::Transcribe(audio) => provider
                    .transcribe(key, audio, timeout)
                    .await
                    .map(|t| (Output::Transcript(t), None)),
            };
            let latency = started.elapsed();
            match outcome {
                Ok((output, tokens)) => {
                    push(
                        records,
                        record(
                            slug,
                            operation,
                            meta,
                            latency,
                            Outcome::Success,
                            None,
                            tokens,
                        ),
                    );
                    tracing::info!(
                        provider = slug,
                        operation,
                        latency_ms = latency.as_millis() as u64,
                        tokens,
                        "AI call served"
                    );
                    return Ok((output, tokens));
                }
                Err(e) => {
                    push(
                        records,
                        record(
                            slug,
                            operation,
                            meta,
                            latency,
                            Outcome::Failure,
                            Some(&e.code),
                            None,
                        ),
                    );
                    if !e.is_retryable() || attempt >= self.config.max_attempts {
                        return Err(e);
                    }
                    if e.retry_after.is_some_and(|ra| ra > max_retry_after) {
                        // Waiting that long would break the caller's time limit: fail over now.
                        return Err(e);
                    }
                    let wait = e
                        .retry_after
                        .unwrap_or_else(|| backoff(self.config.retry_base, attempt));
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if wait + Duration::from_millis(500) >= remaining {
                        return Err(e);
                    }
                    tracing::info!(provider = slug, code = %e.code, wait_ms = wait.as_millis() as u64, "retrying AI provider");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

fn push(records: &std::sync::Mutex<Vec<CallRecord>>, r: CallRecord) {
    records.lock().unwrap_or_else(|p| p.into_inner()).push(r);
}

fn record(
    slug: &str,
    operation: &str,
    meta: &CallMeta,
    latency: Duration,
    outcome: Outcome,
    code: Option<&str>,
    tokens: Option<u64>,
) -> CallRecord {
    let mut r = CallRecord::new(slug, operation, &meta.request_id);
    r.outcome = outcome;
    r.latency = latency;
    r.error_code = code.map(str::to_string);
    r.tokens = tokens;
    r.reference = meta.reference.clone();
    r
}

/// Exponential backoff with "full jitter" between half and the whole step, so clients that
/// failed together do not retry together.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let step = base.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(6));
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32; // 0..1000 thousandths
    step / 2 + step.mul_f64(f64::from(jitter) / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..4 {
            let step = 100 * (1 << (attempt - 1));
            let b = backoff(base, attempt).as_millis() as u64;
            assert!(b >= step / 2 && b <= step, "attempt {attempt}: {b}");
        }
    }
}
