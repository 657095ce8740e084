//! One provider's attempts at one task: the call, validation of a structured answer, waits
//! between retries within the call's budget, and the integration-log record of every call.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{AiEngine, CallMeta, CallMode};
use crate::ai::medical;
use crate::ai::provider::{AiProvider, AudioInput, Completion, CompletionRequest};
use crate::integration_log::{CallRecord, Outcome};
use crate::providers::{ProviderError, ProviderErrorKind};

/// What the engine asks of a provider.
pub(super) enum Task<'a> {
    Complete {
        req: &'a CompletionRequest,
        schema: Option<&'a Value>,
    },
    Transcribe(&'a AudioInput),
}

pub(super) enum Output {
    Completion(Completion, Option<Value>),
    Transcript(String),
}

/// What every provider call of one engine call shares: its limits, and the records gathered
/// (shared with the credential store's retry closure, hence a lock).
pub(super) struct CallScope<'a> {
    pub operation: &'a str,
    pub meta: &'a CallMeta,
    pub deadline: Instant,
    pub request_timeout: Duration,
    /// A longer `Retry-After` fails over at once instead of waiting.
    pub max_retry_after: Duration,
    pub records: Mutex<Vec<CallRecord>>,
}

impl CallScope<'_> {
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn record(&self, slug: &str, latency: Duration, code: Option<&str>, tokens: Option<u64>) {
        let mut r = CallRecord::new(slug, self.operation, &self.meta.request_id);
        r.outcome = if code.is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        r.latency = latency;
        r.error_code = code.map(str::to_string);
        r.tokens = tokens;
        r.reference = self.meta.reference.clone();
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
    }

    pub fn take_records(self) -> Vec<CallRecord> {
        self.records.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl AiEngine {
    /// Up to `max_attempts` calls to one provider, waiting between them.
    pub(super) async fn attempts(
        &self,
        provider: &dyn AiProvider,
        key: &str,
        task: &Task<'_>,
        scope: &CallScope<'_>,
        mode: CallMode,
    ) -> Result<(Output, Option<u64>), ProviderError> {
        let slug = provider.slug();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let timeout = scope.request_timeout.min(scope.remaining());
            let started = Instant::now();
            let outcome = self.attempt(provider, key, task, timeout).await;
            let latency = started.elapsed();
            let e = match outcome {
                Ok((output, tokens)) => {
                    scope.record(slug, latency, None, tokens);
                    tracing::info!(
                        provider = slug,
                        operation = scope.operation,
                        latency_ms = latency.as_millis() as u64,
                        tokens,
                        "AI call served"
                    );
                    return Ok((output, tokens));
                }
                Err((e, tokens)) => {
                    scope.record(slug, latency, Some(&e.code), tokens);
                    e
                }
            };
            if !e.is_retryable() || attempt >= self.retry.max_attempts {
                return Err(e);
            }
            if mode == CallMode::Async && e.kind == ProviderErrorKind::Timeout {
                // The request was written and its answer lost: the provider may have run it.
                // A job is not paid for twice (docs/ai.md, "Delivery guarantees").
                return Err(e);
            }
            if e.retry_after.is_some_and(|ra| ra > scope.max_retry_after) {
                // Waiting that long would break the caller's time limit: fail over now.
                return Err(e);
            }
            let wait = e.retry_after.unwrap_or_else(|| self.retry.delay(attempt));
            if wait + Duration::from_millis(500) >= scope.remaining() {
                return Err(e);
            }
            tracing::info!(provider = slug, code = %e.code, wait_ms = wait.as_millis() as u64, "retrying AI provider");
            tokio::time::sleep(wait).await;
        }
    }

    /// One call. A structured answer that does not match its schema fails like a provider
    /// error (`{slug}_invalid_output`), with the tokens it spent all the same.
    async fn attempt(
        &self,
        provider: &dyn AiProvider,
        key: &str,
        task: &Task<'_>,
        timeout: Duration,
    ) -> Result<(Output, Option<u64>), (ProviderError, Option<u64>)> {
        let slug = provider.slug();
        match task {
            Task::Transcribe(audio) => provider
                .transcribe(key, audio, timeout)
                .await
                .map(|t| (Output::Transcript(t), None))
                .map_err(|e| (e, None)),
            Task::Complete { req, schema } => {
                let c = provider
                    .complete(key, req, timeout)
                    .await
                    .map_err(|e| (e, None))?;
                let tokens = c.tokens;
                let Some(schema) = schema else {
                    return Ok((Output::Completion(c, None), tokens));
                };
                match medical::parse_structured(&c.text, schema) {
                    Ok(v) => Ok((Output::Completion(c, Some(v)), tokens)),
                    Err(why) => {
                        tracing::warn!(provider = slug, reason = %why, "structured answer failed validation");
                        let mut e = ProviderError::new(
                            slug,
                            ProviderErrorKind::Malformed,
                            format!("{slug}_invalid_output"),
                            "the answer did not match the expected JSON schema",
                        );
                        e.message = format!("{} ({} tokens)", e.message, tokens.unwrap_or(0));
                        Err((e, tokens))
                    }
                }
            }
        }
    }
}
