//! AI text and audio: OpenAI, the HuggingFace router (chat or raw text-generation form) and
//! TalkBot behind one trait ([`provider::AiProvider`]), with retries, failover along a
//! configured order, the integration log on every call, medical analysis with structured
//! output, a chat assistant with a rule-based fallback, transcription, and async jobs.
//!
//! | module | what |
//! | --- | --- |
//! | [`model`] | request and response types: route bodies, work items, chat replies, jobs |
//! | [`error`] | [`AiError`]: what went wrong, in domain terms (the edge maps it to HTTP) |
//! | [`provider`] | the trait and its two implementations (chat completions; HF text generation) |
//! | [`intake`] | route bodies to work: validation, the caller's provider choice, redaction, audio checks, presigned uploads, audio posted directly |
//! | [`roster`] | which providers, in which order, built from the cached catalog |
//! | [`engine`] | [`engine::AiEngine`]: credentials, retries with backoff, failover, logging |
//! | [`medical`] | analysis types, prompts, JSON schemas, validation of answers, the notice |
//! | [`redact`] | identifier redaction before text leaves for a third party |
//! | [`rules`] | language detection and the rule-based chat assistant (en, pt-BR, fa) |
//! | [`service`] | the work items (generate, analyze, transcribe) and the chat assistant |
//! | [`jobs`] | async jobs: storage in `HUB_TABLE` (+ S3 for big payloads), the queue, the worker |
//!
//! Dependencies are explicit (the engine takes the catalog, an HTTP client, the credential
//! store and the log; the job store its DynamoDB, S3 and SQS clients); the wiring from the
//! cold-start state is in `crate::context`.
//!
//! Nothing in here logs a prompt, an answer or medical text: `tracing` events carry ids,
//! providers, codes and sizes only, and queue bodies carry a job id.
//!
//! ## DynamoDB layout (`HUB_TABLE`)
//! - job: `pk = AIJOB#{id}`, `sk = JOB`; attributes `owner`, `kind` (`generate`, `analyze`,
//!   `chat`, `transcribe`), `status` (`queued`, `running`, `retrying`, `succeeded`, `failed`),
//!   `request` (JSON string) or `request_s3` (S3 key), `result` (JSON string) or `result_s3`,
//!   `error_code`, `error`, `provider`, `attempts`, `created_at`, `updated_at`,
//!   `expires_at` (TTL, `AI_JOB_TTL_DAYS`), the worker's claim (`claim_token`, `claimed_at`)
//!   and, from the write until the first claim, the redrive marker (`redrive_*`, the
//!   `redrive` index: `crate::redrive`).
//! - S3 (`UPLOADS_BUCKET`): `ai-jobs/{id}/request.json`, `ai-jobs/{id}/result.json` when the
//!   JSON is larger than `AI_JOB_INLINE_MAX_BYTES` (DynamoDB items stop at 400 KB);
//!   `ai-audio/{user}/{uuid}/{file}` for audio uploaded through a presigned URL,
//!   `ai-audio/{user}/direct-{sha256 prefix}/audio.{ext}` for audio posted with the request.
//!
//! ## Provider per call
//! A request may name `provider` (and `model`), as the Helsa seed's
//! `AIIntegrationService('openai')`: checked against the catalog at intake
//! ([`roster::Roster::chosen`]), stored on the job's work ([`model::ProviderChoice`]), and the
//! call goes to that provider alone: its retries, no failover, no rules fallback.

pub mod engine;
pub mod error;
pub mod intake;
pub mod jobs;
pub mod medical;
pub mod model;
pub mod provider;
pub mod redact;
pub mod roster;
pub mod rules;
pub mod schema;
pub mod service;

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{ConfigError, Env};

pub use engine::{AiEngine, CallMeta, CallMode, Served};
pub use error::AiError;
pub use provider::{AiProvider, AudioInput, Completion, CompletionRequest, Message};

/// Whisper's (and TalkBot's) upload limit.
pub const MAX_AUDIO_BYTES: u64 = 25 * 1024 * 1024;

/// Largest audio file posted directly (multipart) to the transcriptions route. A request
/// reaches Lambda whole or not at all ([`crate::http::LAMBDA_REQUEST_LIMIT`], 6 MiB), and API
/// Gateway hands a binary body over base64-encoded (4 bytes for 3): three quarters of the
/// limit, less 64 KiB for the form's other parts and the event's headers, is 4 653 056
/// bytes. Larger audio (up to [`MAX_AUDIO_BYTES`]) goes through a presigned upload.
pub const MAX_DIRECT_AUDIO_BYTES: u64 =
    (crate::http::LAMBDA_REQUEST_LIMIT as u64) / 4 * 3 - 64 * 1024;

/// Settings read once at cold start.
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// `AI_PROVIDER_ORDER` (`openai,huggingface,talkbot`); `None`: catalog priority.
    pub provider_order: Option<Vec<String>>,
    /// `AI_REDACT_IDENTIFIERS` (default true).
    pub redact_identifiers: bool,
    /// `AI_SYNC_MAX_TOKENS` (default 1024): above it `generate` becomes an async job.
    pub sync_max_tokens: u32,
    /// Upper bound for `max_tokens` (`AI_MAX_TOKENS_LIMIT`, default 16384).
    pub max_tokens_limit: u32,
    /// Whole budget of a synchronous call, all providers and retries included
    /// (`AI_SYNC_BUDGET_SECONDS`, default 25: API Gateway gives up at 30 s, Lambda at 29 s).
    pub sync_budget: Duration,
    /// The same for a job in the worker (`AI_ASYNC_BUDGET_SECONDS`, default 240 of its 300 s).
    pub async_budget: Duration,
    /// One provider request (`AI_REQUEST_TIMEOUT_SECONDS`, default 20; the worker uses
    /// `AI_ASYNC_REQUEST_TIMEOUT_SECONDS`, default 120, for long generations and audio).
    pub request_timeout: Duration,
    pub async_request_timeout: Duration,
    /// Attempts per provider before failing over (`AI_MAX_ATTEMPTS`, default 3).
    pub max_attempts: u32,
    /// First backoff step (`AI_RETRY_BASE_MS`, default 400), doubled each retry, jittered.
    pub retry_base: Duration,
    /// Longest `Retry-After` honoured on the synchronous path (`AI_SYNC_MAX_RETRY_AFTER_SECONDS`,
    /// default 5); a longer one fails over at once instead of waiting.
    pub sync_max_retry_after: Duration,
    /// The same in the worker (`AI_ASYNC_MAX_RETRY_AFTER_SECONDS`, default 60).
    pub async_max_retry_after: Duration,
    /// `AI_JOBS_QUEUE_URL`: without it async work answers 503.
    pub jobs_queue_url: Option<String>,
    /// `UPLOADS_BUCKET`: audio and big job payloads.
    pub bucket: Option<String>,
    /// `AI_JOB_TTL_DAYS` (default 7).
    pub job_ttl: Duration,
    /// `AI_JOB_INLINE_MAX_BYTES` (default 300000): larger request/result JSON goes to S3.
    pub inline_max_bytes: usize,
    /// Models per provider slug: `{SLUG}_MODEL` (or the Helsa seed's `{SLUG}_DEFAULT_MODEL`,
    /// e.g. `OPENAI_DEFAULT_MODEL`), else the catalog's `settings.model`, else the defaults
    /// below.
    pub models: HashMap<String, String>,
    /// `OPENAI_TRANSCRIPTION_MODEL` (default `whisper-1`); `TALKBOT_TRANSCRIPTION_MODEL`.
    pub transcription_models: HashMap<String, String>,
    /// `HUGGINGFACE_API` = `chat` (default, the OpenAI-compatible router) or
    /// `text-generation` (the raw form at `HUGGINGFACE_TEXT_GENERATION_URL`, default
    /// `{base without /v1}/hf-inference/models/{model}`).
    pub huggingface_text_generation: bool,
    pub huggingface_text_generation_url: Option<String>,
    /// Providers whose chat API takes `response_format: json_schema`
    /// (`AI_JSON_SCHEMA_PROVIDERS`, default `openai`); others get the schema in the prompt.
    pub json_schema_providers: Vec<String>,
    /// Clinic details the rule-based assistant gives out (`CLINIC_PHONE`, `CLINIC_HOURS`,
    /// `CLINIC_EMAIL`).
    pub clinic: rules::ClinicInfo,
    /// Whether the rules may answer `generate` and the chat when NO provider is configured
    /// (`AI_FALLBACK=rules`; `none` forbids it; unset: only on the local stage). A fallback is
    /// configuration, never an error path: failing providers or an unreadable credential or
    /// catalog are answered as errors, not by the rules.
    pub rules_fallback: bool,
    /// Delay before the sweeper re-sends a job whose queue message may be lost
    /// (`REDRIVE_AFTER_SECONDS`, default 60).
    pub redrive_after: Duration,
    /// A `running` claim older than this belongs to a worker that stopped
    /// (`AI_JOB_CLAIM_STALE_SECONDS`, default 330: the worker's 300 s timeout plus a margin).
    /// Its job is then marked failed with an unknown outcome, never run a second time.
    pub claim_stale_after: Duration,
}

fn list(raw: Option<String>) -> Option<Vec<String>> {
    raw.map(|s| {
        s.split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
    })
    .filter(|v| !v.is_empty())
}

impl AiConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let secs = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(env.parse_or(name, default)?))
        };
        let mut models = HashMap::new();
        let mut transcription_models = HashMap::new();
        for slug in ["openai", "huggingface", "talkbot"] {
            let up = slug.to_ascii_uppercase();
            // `{SLUG}_MODEL` wins; the Helsa seed names the same setting `{SLUG}_DEFAULT_MODEL`.
            if let Some(m) = env
                .optional(&format!("{up}_MODEL"))
                .or_else(|| env.optional(&format!("{up}_DEFAULT_MODEL")))
            {
                models.insert(slug.to_string(), m);
            }
            if let Some(m) = env.optional(&format!("{up}_TRANSCRIPTION_MODEL")) {
                transcription_models.insert(slug.to_string(), m);
            }
        }
        let hf_api = env
            .optional("HUGGINGFACE_API")
            .unwrap_or_else(|| "chat".into());
        let huggingface_text_generation = match hf_api.as_str() {
            "chat" => false,
            "text-generation" => true,
            other => {
                return Err(ConfigError::Invalid {
                    name: "HUGGINGFACE_API".into(),
                    reason: format!("expected chat or text-generation (got {other:?})"),
                });
            }
        };
        let max_attempts: u32 = env.parse_or("AI_MAX_ATTEMPTS", 3)?;
        if max_attempts == 0 {
            return Err(ConfigError::Invalid {
                name: "AI_MAX_ATTEMPTS".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            provider_order: list(env.optional("AI_PROVIDER_ORDER")),
            redact_identifiers: env.bool_or("AI_REDACT_IDENTIFIERS", true)?,
            sync_max_tokens: env.parse_or("AI_SYNC_MAX_TOKENS", 1024)?,
            max_tokens_limit: env.parse_or("AI_MAX_TOKENS_LIMIT", 16384)?,
            sync_budget: secs("AI_SYNC_BUDGET_SECONDS", 25)?,
            async_budget: secs("AI_ASYNC_BUDGET_SECONDS", 240)?,
            request_timeout: secs("AI_REQUEST_TIMEOUT_SECONDS", 20)?,
            async_request_timeout: secs("AI_ASYNC_REQUEST_TIMEOUT_SECONDS", 120)?,
            max_attempts,
            retry_base: Duration::from_millis(env.parse_or("AI_RETRY_BASE_MS", 400)?),
            sync_max_retry_after: secs("AI_SYNC_MAX_RETRY_AFTER_SECONDS", 5)?,
            async_max_retry_after: secs("AI_ASYNC_MAX_RETRY_AFTER_SECONDS", 60)?,
            jobs_queue_url: env.url("AI_JOBS_QUEUE_URL")?,
            bucket: env.optional("UPLOADS_BUCKET"),
            job_ttl: Duration::from_secs(env.parse_or("AI_JOB_TTL_DAYS", 7u64)? * 86_400),
            inline_max_bytes: env.parse_or("AI_JOB_INLINE_MAX_BYTES", 300_000)?,
            models,
            transcription_models,
            huggingface_text_generation,
            huggingface_text_generation_url: env.url("HUGGINGFACE_TEXT_GENERATION_URL")?,
            json_schema_providers: list(env.optional("AI_JSON_SCHEMA_PROVIDERS"))
                .unwrap_or_else(|| vec!["openai".into()]),
            clinic: rules::ClinicInfo {
                phone: env.optional("CLINIC_PHONE"),
                hours: env.optional("CLINIC_HOURS"),
                email: env.optional("CLINIC_EMAIL"),
            },
            rules_fallback: crate::fallback::allowed(env, "AI_FALLBACK", &["rules"])?,
            redrive_after: crate::redrive::after_from_env(env),
            claim_stale_after: secs("AI_JOB_CLAIM_STALE_SECONDS", 330)?,
        })
    }
}

/// Default chat models, when neither `{SLUG}_MODEL` nor the catalog names one.
pub fn default_model(slug: &str) -> &'static str {
    match slug {
        "huggingface" => "meta-llama/Llama-3.1-8B-Instruct",
        _ => "gpt-4o-mini",
    }
}

#[cfg(test)]
mod model_setting_tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> AiConfig {
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        AiConfig::from_env(&env).expect("config")
    }

    #[test]
    fn the_helsa_default_model_setting_is_honoured_and_the_hub_setting_wins() {
        let c = config(&[("OPENAI_DEFAULT_MODEL", "gpt-4")]);
        assert_eq!(c.models.get("openai").map(String::as_str), Some("gpt-4"));
        let c = config(&[
            ("OPENAI_DEFAULT_MODEL", "gpt-4"),
            ("OPENAI_MODEL", "gpt-4o"),
        ]);
        assert_eq!(c.models.get("openai").map(String::as_str), Some("gpt-4o"));
        let c = config(&[]);
        assert_eq!(c.models.get("openai"), None);
    }

    #[test]
    fn the_rules_fallback_is_configuration_and_off_on_aws_stages() {
        assert!(config(&[]).rules_fallback, "local stage");
        assert!(config(&[("STAGE", "local")]).rules_fallback);
        assert!(!config(&[("STAGE", "prod")]).rules_fallback);
        assert!(config(&[("STAGE", "prod"), ("AI_FALLBACK", "rules")]).rules_fallback);
        assert!(!config(&[("AI_FALLBACK", "none")]).rules_fallback);
        let env = Env::from_pairs([("AI_FALLBACK".to_string(), "console".to_string())]);
        let err = AiConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("AI_FALLBACK"), "{err}");
    }
}
