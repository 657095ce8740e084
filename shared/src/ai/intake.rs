//! From a route's body to work: validation (every wrong field a 400 naming it), language
//! detection, redaction, and the audio object checks and presigned uploads of
//! transcriptions. Who may act for whom is the edge's (it knows the caller's token).

use serde_json::Value;

use super::MAX_AUDIO_BYTES;
use super::error::AiError;
use super::model::{
    ChatBody, GenerateBody, MAX_CHAT_CHARS, MAX_PROMPT_CHARS, TranscriptionBody, UPLOAD_URL_TTL,
    UploadRequest, UploadTicket, Work,
};
use super::rules::{self, Language};
use super::service::AiService;
use crate::error::InvalidInput;
use crate::uploads::Storage;

/// A language tag of ours (`en`, `pt-BR`, `fa`), or a 400 naming `field`.
pub fn parse_language(raw: &Option<String>, field: &str) -> Result<Option<Language>, InvalidInput> {
    match raw {
        None => Ok(None),
        Some(l) => Language::parse(l)
            .map(Some)
            .ok_or_else(|| InvalidInput::field(field.to_string(), "one of en, pt-BR, fa")),
    }
}

/// A chat request's context as text (a string, or an object as JSON) and its language.
pub fn chat_input(body: &ChatBody) -> Result<(Option<String>, Option<Language>), InvalidInput> {
    if body.message.trim().is_empty() {
        return Err(InvalidInput::field("message", "must not be empty"));
    }
    if body.message.chars().count() > MAX_CHAT_CHARS {
        return Err(InvalidInput::field(
            "message",
            format!("at most {MAX_CHAT_CHARS} characters"),
        ));
    }
    let context = match &body.context {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(InvalidInput::field("context", "a string or an object")),
    };
    if context
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CHAT_CHARS)
    {
        return Err(InvalidInput::field(
            "context",
            format!("at most {MAX_CHAT_CHARS} characters"),
        ));
    }
    Ok((context, parse_language(&body.language, "language")?))
}

/// What a transcription request turns into.
pub enum Transcription {
    /// A valid upload request: the edge charges it a unit of the caller's AI rate limit, then
    /// asks [`AiService::upload_ticket`] for the presigned POST.
    Upload(UploadRequest),
    /// A job to queue for audio already in the bucket.
    Job(Work),
}

fn valid_filename(name: &str) -> bool {
    (1..=120).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// An upload request's filename, media type and size, each a 400 (413 over 25 MB) naming it.
fn check_upload(upload: &UploadRequest) -> Result<(), AiError> {
    if !valid_filename(&upload.filename) {
        return Err(InvalidInput::field(
            "upload.filename",
            "1-120 characters: letters, digits, '.', '-', '_'",
        )
        .into());
    }
    let ct = upload.content_type.to_ascii_lowercase();
    if !(ct.starts_with("audio/") || ct == "video/mp4" || ct == "video/webm") || ct.len() > 100 {
        return Err(InvalidInput::field(
            "upload.content_type",
            "an audio/* type (or video/mp4, video/webm)",
        )
        .into());
    }
    if upload.size == 0 {
        return Err(
            InvalidInput::field("upload.size", "the file's size in bytes, at least 1").into(),
        );
    }
    if upload.size > MAX_AUDIO_BYTES {
        return Err(AiError::AudioTooLarge {
            size: upload.size,
            limit: MAX_AUDIO_BYTES,
        });
    }
    Ok(())
}

impl AiService {
    /// Validates a generate body and builds its work, the text redacted here, once: what is
    /// stored on a job is what may leave for a provider.
    pub fn generate_work(&self, body: &GenerateBody) -> Result<Work, InvalidInput> {
        let config = self.config();
        let chars = body.prompt.chars().count();
        if body.prompt.trim().is_empty() {
            return Err(InvalidInput::field("prompt", "must not be empty"));
        }
        if chars > MAX_PROMPT_CHARS {
            return Err(InvalidInput::field(
                "prompt",
                format!("at most {MAX_PROMPT_CHARS} characters (got {chars})"),
            ));
        }
        let max_tokens = body.max_tokens.unwrap_or(1000);
        if max_tokens == 0 || max_tokens > config.max_tokens_limit {
            return Err(InvalidInput::field(
                "max_tokens",
                format!("must be between 1 and {}", config.max_tokens_limit),
            ));
        }
        let temperature = body.temperature.unwrap_or(if body.analysis_type.is_some() {
            0.2
        } else {
            0.7
        });
        if !(0.0..=2.0).contains(&temperature) || !temperature.is_finite() {
            return Err(InvalidInput::field(
                "temperature",
                "must be between 0 and 2",
            ));
        }
        if body.patient_context.is_some() && body.analysis_type.is_none() {
            return Err(InvalidInput::field(
                "patient_context",
                "only with analysis_type",
            ));
        }
        let patient = body.patient_context.clone().unwrap_or_default();
        if let Err((field, msg)) = patient.validate() {
            return Err(InvalidInput::field(field, msg));
        }
        let language = parse_language(&body.language, "language")?
            .unwrap_or_else(|| rules::detect_language(&body.prompt));
        let (text, redactions) = self.outbound(&body.prompt);
        Ok(match body.analysis_type {
            Some(analysis_type) => Work::Analyze {
                text,
                analysis_type,
                patient_context: patient,
                max_tokens,
                temperature,
                language,
                redactions,
            },
            None => Work::Generate {
                prompt: text,
                max_tokens,
                temperature,
                language,
                redactions,
            },
        })
    }

    /// Whether work runs as a job: asked for, or too long for the API's time limit.
    pub fn runs_async(&self, body: &GenerateBody) -> bool {
        body.run_async || body.max_tokens.unwrap_or(1000) > self.config().sync_max_tokens
    }

    /// A transcription request for `user`: a checked upload request (for a presigned POST
    /// under `ai-audio/{user}/`), or a job for an audio object under `ai-audio/` (users only
    /// their own; `privileged` callers any).
    pub async fn transcription(
        &self,
        user: &str,
        privileged: bool,
        body: TranscriptionBody,
    ) -> Result<Transcription, AiError> {
        let Some(bucket) = self.config().bucket.clone() else {
            return Err(AiError::UploadsUnavailable);
        };
        if body
            .language
            .as_ref()
            .is_some_and(|l| l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase()))
        {
            return Err(
                InvalidInput::field("language", "an ISO 639-1 code such as fa, pt or en").into(),
            );
        }
        let own_prefix = format!("ai-audio/{user}/");
        match (body.s3_key, body.upload) {
            (Some(_), Some(_)) | (None, None) => {
                Err(InvalidInput::field("s3_key", "give exactly one of s3_key and upload").into())
            }
            (None, Some(upload)) => {
                check_upload(&upload)?;
                Ok(Transcription::Upload(upload))
            }
            (Some(key), None) => {
                if key.is_empty() || key.len() > 1024 || key.contains("..") {
                    return Err(InvalidInput::field("s3_key", "1-1024 characters, no '..'").into());
                }
                // The AI role reads audio under ai-audio/ only (template.yaml).
                if !key.starts_with("ai-audio/") {
                    return Err(InvalidInput::field(
                        "s3_key",
                        "an audio object under ai-audio/ (get one with `upload`)",
                    )
                    .into());
                }
                if !privileged && !key.starts_with(&own_prefix) {
                    return Err(AiError::Forbidden(format!(
                        "users may only transcribe their own uploads (keys under {own_prefix})"
                    )));
                }
                let content_type = self.audio_object(&bucket, &key).await?;
                Ok(Transcription::Job(Work::Transcribe {
                    s3_key: key,
                    content_type,
                    language: body.language,
                }))
            }
        }
    }

    /// The presigned POST for a checked upload request of `user`: a new key under
    /// `ai-audio/{user}/`, exactly the declared size.
    pub async fn upload_ticket(
        &self,
        user: &str,
        upload: &UploadRequest,
    ) -> Result<UploadTicket, AiError> {
        let storage = self.audio_uploads().ok_or(AiError::UploadsUnavailable)?;
        let ct = upload.content_type.to_ascii_lowercase();
        let key = format!(
            "ai-audio/{user}/{}/{}",
            uuid::Uuid::new_v4().simple(),
            upload.filename
        );
        let post = storage
            .presign_upload(&key, &ct, upload.size, UPLOAD_URL_TTL)
            .await
            .map_err(|e| AiError::internal(format!("presigning: {e:?}")))?
            .ok_or_else(|| AiError::internal("the S3 backend did not presign"))?;
        Ok(UploadTicket {
            upload_url: post.url,
            method: "POST",
            fields: post.fields,
            s3_key: key,
            expires_in: UPLOAD_URL_TTL.as_secs(),
            size: upload.size,
        })
    }

    /// Checks the audio object exists, is not empty and not too big; answers its stored
    /// media type when it is audio or video.
    async fn audio_object(&self, bucket: &str, key: &str) -> Result<Option<String>, AiError> {
        let head = match self.s3().head_object().bucket(bucket).key(key).send().await {
            Ok(h) => h,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                return Err(AiError::AudioNotFound(key.to_string()));
            }
            Err(e) => return Err(AiError::internal(format!("HeadObject: {e:?}"))),
        };
        let size = head.content_length().unwrap_or(0).max(0) as u64;
        if size == 0 {
            return Err(InvalidInput::field("s3_key", "the object is empty").into());
        }
        if size > MAX_AUDIO_BYTES {
            return Err(AiError::AudioTooLarge {
                size,
                limit: MAX_AUDIO_BYTES,
            });
        }
        Ok(head
            .content_type()
            .filter(|t| t.starts_with("audio/") || t.starts_with("video/"))
            .map(str::to_string))
    }
}
