//! What the AI routes and the worker do, independent of HTTP and SQS: the work items
//! (`generate`, `analyze`, `transcribe`), their execution through the [`AiEngine`], and the
//! chat assistant with its rule-based fallback.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::engine::{AiEngine, AiFailure, CallMeta, CallMode};
use super::medical::{self, AnalysisType, PatientContext};
use super::provider::{AudioInput, CompletionRequest, Message};
use super::redact::redact;
use super::rules::{self, Language};
use super::{AiConfig, MAX_AUDIO_BYTES};
use crate::context::HubContext;
use crate::integration_log::{CallRecord, Outcome};

/// One unit of AI work, as stored on a job. Text fields are already redacted when
/// redaction is on: what is stored is what may leave for a provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    Generate {
        prompt: String,
        max_tokens: u32,
        temperature: f32,
        language: Language,
        redactions: usize,
    },
    Analyze {
        text: String,
        analysis_type: AnalysisType,
        #[serde(default)]
        patient_context: PatientContext,
        max_tokens: u32,
        temperature: f32,
        language: Language,
        redactions: usize,
    },
    Transcribe {
        s3_key: String,
        content_type: Option<String>,
        language: Option<String>,
    },
}

impl Work {
    pub fn kind(&self) -> &'static str {
        match self {
            Work::Generate { .. } => "generate",
            Work::Analyze { .. } => "analyze",
            Work::Transcribe { .. } => "transcribe",
        }
    }
}

/// Why a piece of work failed.
#[derive(Debug, Clone)]
pub struct WorkFailure {
    pub code: String,
    pub message: String,
    /// Worth another delivery later (providers down or throttling, S3 hiccup).
    pub retryable: bool,
    pub ai: Option<AiFailure>,
}

impl From<AiFailure> for WorkFailure {
    fn from(f: AiFailure) -> Self {
        let api = f.to_api_error();
        Self {
            code: f.code(),
            message: api.detail.clone(),
            retryable: !f.is_permanent(),
            ai: Some(f),
        }
    }
}

/// A chat answer: from a provider, or from the rules (`provider = "rules"`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatReply {
    pub reply: String,
    /// `openai`, `huggingface`, `talkbot`, ... or `rules`.
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub language: Language,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Why the rules answered: `not_configured`, `providers_failed` or `emergency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

pub struct AiService {
    pub engine: AiEngine,
}

impl AiService {
    pub fn new(ctx: Arc<HubContext>, config: AiConfig) -> Self {
        Self {
            engine: AiEngine::new(ctx, config),
        }
    }

    pub fn ctx(&self) -> &Arc<HubContext> {
        &self.engine.ctx
    }

    pub fn config(&self) -> &AiConfig {
        &self.engine.config
    }

    /// Redacts when configured; answers the text to send and how many identifiers went.
    pub fn outbound(&self, text: &str) -> (String, usize) {
        if self.config().redact_identifiers {
            let r = redact(text);
            (r.text, r.count)
        } else {
            (text.to_string(), 0)
        }
    }

    /// Runs generate or analyze work; transcription needs [`AiService::execute`].
    pub async fn execute(
        &self,
        work: &Work,
        mode: CallMode,
        meta: &CallMeta,
    ) -> Result<Value, WorkFailure> {
        match work {
            Work::Generate {
                prompt,
                max_tokens,
                temperature,
                language: _,
                redactions,
            } => {
                let req = CompletionRequest {
                    messages: vec![
                        Message::system(
                            "You are a careful assistant for a health-care service. Do not present anything as a diagnosis.",
                        ),
                        Message::user(prompt.clone()),
                    ],
                    max_tokens: *max_tokens,
                    temperature: *temperature,
                    json_schema: None,
                };
                let s = self
                    .engine
                    .complete("generate", &req, None, mode, meta)
                    .await?;
                Ok(json!({
                    "text": s.value.completion.text,
                    "provider": s.provider,
                    "model": s.value.completion.model,
                    "tokens": s.tokens,
                    "finish_reason": s.value.completion.finish_reason,
                    "failed_over_from": s.failed_over_from,
                    "redacted_identifiers": redactions,
                }))
            }
            Work::Analyze {
                text,
                analysis_type,
                patient_context,
                max_tokens,
                temperature,
                language,
                redactions,
            } => {
                let req = medical::request(
                    *analysis_type,
                    text,
                    patient_context,
                    *language,
                    *max_tokens,
                    *temperature,
                );
                let schema = analysis_type.schema();
                let s = self
                    .engine
                    .complete("analyze", &req, Some(&schema), mode, meta)
                    .await?;
                let analysis = s.value.structured.unwrap_or(Value::Null);
                let emergency =
                    *analysis_type == AnalysisType::Triage && analysis["urgency"] == "emergency";
                let mut out = json!({
                    "analysis_type": analysis_type,
                    "analysis": analysis,
                    "notice": medical::notice(*language),
                    "language": language,
                    "provider": s.provider,
                    "model": s.value.completion.model,
                    "tokens": s.tokens,
                    "failed_over_from": s.failed_over_from,
                    "redacted_identifiers": redactions,
                });
                if emergency {
                    out["emergency_instruction"] = json!(
                        rules::answer("emergency", None, Some(*language), &self.config().clinic)
                            .reply
                    );
                }
                Ok(out)
            }
            Work::Transcribe {
                s3_key,
                content_type,
                language,
            } => {
                let audio = self
                    .load_audio(s3_key, content_type.as_deref(), language.clone())
                    .await?;
                let s = self.engine.transcribe(&audio, meta).await?;
                Ok(json!({
                    "text": s.value,
                    "provider": s.provider,
                    "model": s.model,
                    "failed_over_from": s.failed_over_from,
                }))
            }
        }
    }

    async fn load_audio(
        &self,
        key: &str,
        content_type: Option<&str>,
        language: Option<String>,
    ) -> Result<AudioInput, WorkFailure> {
        let fail = |code: &str, message: String, retryable| WorkFailure {
            code: code.into(),
            message,
            retryable,
            ai: None,
        };
        let Some(bucket) = &self.config().bucket else {
            return Err(fail(
                "uploads_bucket_missing",
                "UPLOADS_BUCKET is not configured".into(),
                false,
            ));
        };
        let out = match self
            .ctx()
            .aws
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(fail(
                    "audio_not_found",
                    format!("no object {key:?} in the uploads bucket"),
                    false,
                ));
            }
            Err(e) => {
                return Err(fail(
                    "s3_unavailable",
                    format!("reading the audio failed: {e:?}"),
                    true,
                ));
            }
        };
        if out
            .content_length()
            .is_some_and(|l| l as u64 > MAX_AUDIO_BYTES)
        {
            return Err(fail(
                "audio_too_large",
                "the audio is larger than 25 MB".into(),
                false,
            ));
        }
        let stored_type = out.content_type().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                fail(
                    "s3_unavailable",
                    format!("reading the audio failed: {e}"),
                    true,
                )
            })?
            .into_bytes();
        if bytes.len() as u64 > MAX_AUDIO_BYTES {
            return Err(fail(
                "audio_too_large",
                "the audio is larger than 25 MB".into(),
                false,
            ));
        }
        let filename = key
            .rsplit('/')
            .next()
            .filter(|f| !f.is_empty())
            .unwrap_or("audio.mp3")
            .to_string();
        let content_type = content_type
            .map(str::to_string)
            .or(stored_type.filter(|t| t.starts_with("audio/") || t.starts_with("video/")))
            .unwrap_or_else(|| audio_content_type(&filename).to_string());
        Ok(AudioInput {
            bytes: bytes.to_vec(),
            filename,
            content_type,
            language,
        })
    }

    /// The chat assistant. Emergencies are answered by the rules without asking a model (a
    /// fixed, tested answer beats a generated one there); otherwise the providers in order,
    /// then the rules when none is configured or all failed.
    pub async fn chat(
        &self,
        message: &str,
        context: Option<&str>,
        language: Option<Language>,
        meta: &CallMeta,
    ) -> ChatReply {
        let language = language.unwrap_or_else(|| rules::detect_language(message));
        let clinic = &self.config().clinic;
        if rules::classify(message) == rules::Intent::Emergency {
            return self
                .rules_reply(message, context, language, "emergency", meta)
                .await;
        }
        let (msg, _) = self.outbound(message);
        let ctx_text = context.map(|c| self.outbound(c).0);
        let mut system = format!(
            "You are the virtual assistant of a health clinic. Help patients book, cancel and reschedule appointments and \
             answer questions about opening hours and contact. Be brief and friendly. Never diagnose; for medical questions \
             suggest talking to a doctor; for anything urgent tell them to call emergency services. Answer in {}.",
            language.english_name()
        );
        if let Some(h) = &clinic.hours {
            system.push_str(&format!(" Opening hours: {h}."));
        }
        if let Some(p) = &clinic.phone {
            system.push_str(&format!(" Clinic phone: {p}."));
        }
        let mut messages = vec![Message::system(system)];
        if let Some(c) = ctx_text {
            messages.push(Message::system(format!("Context about the user: {c}")));
        }
        messages.push(Message::user(msg));
        let req = CompletionRequest {
            messages,
            max_tokens: 400,
            temperature: 0.3,
            json_schema: None,
        };
        match self
            .engine
            .complete("chat", &req, None, CallMode::Sync, meta)
            .await
        {
            Ok(s) => ChatReply {
                reply: s.value.completion.text,
                provider: s.provider,
                model: Some(s.value.completion.model),
                language,
                tokens: s.tokens,
                fallback_reason: None,
            },
            Err(AiFailure::NotConfigured) => {
                self.rules_reply(message, context, language, "not_configured", meta)
                    .await
            }
            Err(AiFailure::Failed(_)) => {
                self.rules_reply(message, context, language, "providers_failed", meta)
                    .await
            }
        }
    }

    async fn rules_reply(
        &self,
        message: &str,
        context: Option<&str>,
        language: Language,
        reason: &str,
        meta: &CallMeta,
    ) -> ChatReply {
        let started = std::time::Instant::now();
        let a = rules::answer(message, context, Some(language), &self.config().clinic);
        let mut rec = CallRecord::new("rules", "chat", &meta.request_id);
        rec.outcome = Outcome::Fallback;
        rec.latency = started.elapsed();
        rec.error_code = Some(reason.to_string());
        self.ctx().log.record(&rec).await;
        ChatReply {
            reply: a.reply,
            provider: "rules".into(),
            model: None,
            language: a.language,
            tokens: None,
            fallback_reason: Some(reason.into()),
        }
    }
}

/// A content type from an audio file's extension (what Whisper accepts).
pub fn audio_content_type(filename: &str) -> &'static str {
    match filename
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("mp3" | "mpga" | "mpeg") => "audio/mpeg",
        Some("m4a" | "mp4") => "audio/mp4",
        Some("wav") => "audio/wav",
        Some("webm") => "audio/webm",
        Some("ogg" | "oga") => "audio/ogg",
        Some("flac") => "audio/flac",
        _ => "application/octet-stream",
    }
}
