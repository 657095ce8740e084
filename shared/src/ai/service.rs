//! What the AI routes and the worker do, independent of HTTP and SQS: the work items
//! (`generate`, `analyze`, `transcribe`) run through the [`AiEngine`], and the chat
//! assistant with its rule-based fallback.

use serde_json::{Value, json};

use super::engine::{AiEngine, CallMeta, CallMode};
use super::medical::{self, AnalysisType};
use super::model::{ChatReply, ProviderChoice, ReplyStatus, Work};
use super::provider::{AudioInput, CompletionRequest, Message};
use super::redact::redact;
use super::rules::{self, Language};
use super::{AiConfig, AiError, MAX_AUDIO_BYTES};
use crate::integration_log::{CallRecord, IntegrationLog, Outcome};
use crate::uploads::s3::S3Storage;

pub struct AiService {
    engine: AiEngine,
    /// Audio to transcribe is read from the uploads bucket.
    s3: aws_sdk_s3::Client,
    /// Signs the audio uploads' POST policies (exact `content-length-range`); `None` without
    /// UPLOADS_BUCKET.
    audio_uploads: Option<S3Storage>,
    /// The rule-based chat answers are logged too.
    log: IntegrationLog,
}

impl AiService {
    pub fn new(
        engine: AiEngine,
        s3: aws_sdk_s3::Client,
        audio_uploads: Option<S3Storage>,
        log: IntegrationLog,
    ) -> Self {
        Self {
            engine,
            s3,
            audio_uploads,
            log,
        }
    }

    pub fn config(&self) -> &AiConfig {
        self.engine.config()
    }

    pub(super) fn engine(&self) -> &AiEngine {
        &self.engine
    }

    pub(super) fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    pub(super) fn audio_uploads(&self) -> Option<&S3Storage> {
        self.audio_uploads.as_ref()
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

    /// Runs a piece of work (transcription reads its audio from the uploads bucket first).
    pub async fn execute(
        &self,
        work: &Work,
        mode: CallMode,
        meta: &CallMeta,
    ) -> Result<Value, AiError> {
        match work {
            Work::Generate {
                prompt,
                max_tokens,
                temperature,
                language,
                redactions,
                choice,
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
                let s = match self
                    .engine
                    .complete("generate", &req, None, choice.as_ref(), mode, meta)
                    .await
                {
                    Ok(s) => s,
                    // Every integration is optional: without a provider, and where the
                    // deployment allows it (`AI_FALLBACK`), the rules answer (as the chat
                    // does), marked `fallback` so the client knows no model wrote it. A
                    // chosen provider without credentials is `ProviderNotConfigured`, not
                    // this: the caller asked for that provider, not for any answer.
                    Err(AiError::NotConfigured) if self.config().rules_fallback => {
                        return Ok(self.rules_generate(prompt, *language, meta).await);
                    }
                    Err(e) => return Err(e),
                };
                Ok(json!({
                    "status": "answered",
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
                choice,
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
                    .complete("analyze", &req, Some(&schema), choice.as_ref(), mode, meta)
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
                choice,
            } => {
                let audio = self
                    .load_audio(s3_key, content_type.as_deref(), language.clone())
                    .await?;
                let s = self
                    .engine
                    .transcribe(&audio, choice.as_ref(), meta)
                    .await?;
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
    ) -> Result<AudioInput, AiError> {
        let Some(bucket) = &self.config().bucket else {
            return Err(AiError::UploadsUnavailable);
        };
        let out = match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(AiError::AudioNotFound(key.to_string()));
            }
            Err(e) => {
                return Err(AiError::ObjectStore {
                    operation: "GetObject",
                    message: format!("{e:?}"),
                });
            }
        };
        let too_large = |size: u64| AiError::AudioTooLarge {
            size,
            limit: MAX_AUDIO_BYTES,
        };
        if let Some(size) = out.content_length().map(|l| l.max(0) as u64)
            && size > MAX_AUDIO_BYTES
        {
            return Err(too_large(size));
        }
        let stored_type = out.content_type().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| AiError::ObjectStore {
                operation: "GetObject",
                message: e.to_string(),
            })?
            .into_bytes();
        if bytes.len() as u64 > MAX_AUDIO_BYTES {
            return Err(too_large(bytes.len() as u64));
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
    /// fixed, tested answer beats a generated one there), whatever provider was chosen;
    /// otherwise the chosen provider, or the providers in order, then the rules only when
    /// none is configured (and none was chosen) and the deployment allows the fallback
    /// (`AI_FALLBACK`). Failing providers, or credentials or a catalog that cannot be read,
    /// are errors: a fallback is configuration, not an error path.
    pub async fn chat(
        &self,
        message: &str,
        context: Option<&str>,
        language: Option<Language>,
        choice: Option<&ProviderChoice>,
        meta: &CallMeta,
    ) -> Result<ChatReply, AiError> {
        let language = language.unwrap_or_else(|| rules::detect_language(message));
        let clinic = &self.config().clinic;
        if rules::classify(message) == rules::Intent::Emergency {
            return Ok(self
                .rules_reply("chat", message, context, language, "emergency", meta)
                .await);
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
            .complete("chat", &req, None, choice, CallMode::Sync, meta)
            .await
        {
            Ok(s) => Ok(ChatReply {
                status: ReplyStatus::Answered,
                reply: s.value.completion.text,
                provider: s.provider,
                model: Some(s.value.completion.model),
                language,
                tokens: s.tokens,
                fallback_reason: None,
            }),
            Err(AiError::NotConfigured) if self.config().rules_fallback => Ok(self
                .rules_reply("chat", message, context, language, "not_configured", meta)
                .await),
            Err(e) => Err(e),
        }
    }

    /// `generate` without any provider configured: the rule-based assistant's answer to the
    /// prompt, shaped like a generated one (`text`, `provider: "rules"`) with
    /// `fallback_reason: "not_configured"`.
    async fn rules_generate(&self, prompt: &str, language: Language, meta: &CallMeta) -> Value {
        let reply = self
            .rules_reply("generate", prompt, None, language, "not_configured", meta)
            .await;
        json!({
            "status": reply.status,
            "text": reply.reply,
            "provider": reply.provider,
            "language": reply.language,
            "fallback_reason": reply.fallback_reason,
        })
    }

    async fn rules_reply(
        &self,
        operation: &str,
        message: &str,
        context: Option<&str>,
        language: Language,
        reason: &str,
        meta: &CallMeta,
    ) -> ChatReply {
        let started = std::time::Instant::now();
        let a = rules::answer(message, context, Some(language), &self.config().clinic);
        let mut rec = CallRecord::new("rules", operation, &meta.request_id);
        rec.outcome = Outcome::Fallback;
        rec.latency = started.elapsed();
        rec.error_code = Some(reason.to_string());
        self.log.record(&rec).await;
        ChatReply {
            // An emergency is the rules' answer by design, every other rules answer a fallback.
            status: if reason == "emergency" {
                ReplyStatus::Answered
            } else {
                ReplyStatus::Fallback
            },
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
