//! From a route's body to work: validation (every wrong field a 400 naming it), the
//! caller's choice of provider checked against the catalog (a 422 naming `provider`),
//! language detection, redaction, and the audio checks of transcriptions: audio objects
//! and presigned uploads, or a small file posted with the request (sniffed by its bytes
//! with the uploads module's [`sniff`], stored under `ai-audio/`). Who may act for whom is
//! the edge's (it knows the caller's token).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::AiError;
use super::model::{
    ChatBody, GenerateBody, MAX_CHAT_CHARS, MAX_PROMPT_CHARS, ProviderChoice, TranscriptionBody,
    TranscriptionForm, UPLOAD_URL_TTL, UploadRequest, UploadTicket, Work,
};
use super::roster::Need;
use super::rules::{self, Language};
use super::service::AiService;
use super::{MAX_AUDIO_BYTES, MAX_DIRECT_AUDIO_BYTES};
use crate::error::InvalidInput;
use crate::uploads::Storage;
use crate::uploads::sniff::sniff;

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

/// Longest `model` accepted (model ids are short; HuggingFace's are `org/name[:provider]`).
const MAX_MODEL_CHARS: usize = 200;

/// `provider` and `model` as written, before the catalog is asked: a model needs a provider
/// (model names belong to a provider; failing over with one would send it to another), a
/// slug that cannot be one is unknown (422 naming `provider`), a model is 1-200 characters of
/// `A-Z a-z 0-9 . _ : / -` (it may end up in a URL path: HuggingFace's raw form).
fn choice_input(
    provider: &Option<String>,
    model: &Option<String>,
) -> Result<Option<ProviderChoice>, InvalidInput> {
    if let Some(m) = model {
        let ok = (1..=MAX_MODEL_CHARS).contains(&m.len())
            && !m.contains("..")
            && m.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-'));
        if !ok {
            return Err(InvalidInput::field(
                "model",
                format!("1-{MAX_MODEL_CHARS} characters: letters, digits, '.', '_', ':', '/', '-'"),
            ));
        }
    }
    match (provider, model) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(InvalidInput::field(
            "model",
            "only with `provider` (a model belongs to one provider)",
        )),
        (Some(p), _) => {
            if crate::providers::validate_slug(p).is_err() {
                let message =
                    "not a provider slug (2-40 characters: lowercase letters, digits and dashes)";
                return Err(InvalidInput::unprocessable(
                    "unknown_provider",
                    format!("provider: {message}"),
                )
                .with_field("provider", message));
            }
            Ok(Some(ProviderChoice {
                provider: p.clone(),
                model: model.clone(),
            }))
        }
    }
}

/// `language` of an audio request: ISO 639-1, passed to the provider as is.
fn check_audio_language(language: &Option<String>) -> Result<(), InvalidInput> {
    if language
        .as_ref()
        .is_some_and(|l| l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase()))
    {
        return Err(InvalidInput::field(
            "language",
            "an ISO 639-1 code such as fa, pt or en",
        ));
    }
    Ok(())
}

/// The formats the transcription providers read (OpenAI: flac, mp3, mp4, m4a, ogg, wav,
/// webm), by the type the bytes sniff as: the media type and the file extension sent to the
/// provider (Whisper tells formats by the file name's extension).
fn transcribable(sniffed: &str) -> Option<(&'static str, &'static str)> {
    Some(match sniffed {
        "audio/mpeg" => ("audio/mpeg", "mp3"),
        "audio/m4a" => ("audio/mp4", "m4a"),
        "video/mp4" => ("video/mp4", "mp4"),
        "audio/x-wav" => ("audio/wav", "wav"),
        "video/webm" => ("audio/webm", "webm"),
        "audio/ogg" | "audio/opus" => ("audio/ogg", "ogg"),
        "audio/x-flac" => ("audio/flac", "flac"),
        _ => return None,
    })
}

/// Audio posted with a transcription request, checked and ready to store: its key under
/// the user's `ai-audio/{user}/` prefix (named by the content's hash, so a retried request
/// names the same object and an `Idempotency-Key` replay matches), its bytes and the media
/// type its bytes sniffed as.
pub struct DirectAudio {
    pub key: String,
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
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
    /// A caller's `provider` / `model`, checked as written and then against the catalog
    /// ([`super::roster::Roster::chosen`]): `None` leaves the call to the configured order.
    pub async fn provider_choice(
        &self,
        provider: &Option<String>,
        model: &Option<String>,
        need: Need,
    ) -> Result<Option<ProviderChoice>, AiError> {
        let Some(choice) = choice_input(provider, model)? else {
            return Ok(None);
        };
        self.engine()
            .roster()
            .chosen(self.config(), &choice, need)
            .await?;
        Ok(Some(choice))
    }

    /// Validates a generate body and builds its work, the text redacted here, once: what is
    /// stored on a job is what may leave for a provider. The fields first, then the chosen
    /// provider against the catalog.
    pub async fn generate_work(&self, body: &GenerateBody) -> Result<Work, AiError> {
        let work = self.generate_fields(body)?;
        let chosen = self
            .provider_choice(&body.provider, &body.model, Need::Text)
            .await?;
        Ok(match work {
            Work::Generate {
                prompt,
                max_tokens,
                temperature,
                language,
                redactions,
                ..
            } => Work::Generate {
                prompt,
                max_tokens,
                temperature,
                language,
                redactions,
                choice: chosen,
            },
            Work::Analyze {
                text,
                analysis_type,
                patient_context,
                max_tokens,
                temperature,
                language,
                redactions,
                ..
            } => Work::Analyze {
                text,
                analysis_type,
                patient_context,
                max_tokens,
                temperature,
                language,
                redactions,
                choice: chosen,
            },
            transcribe @ Work::Transcribe { .. } => transcribe,
        })
    }

    /// The generate body's own fields as work, without a provider choice.
    fn generate_fields(&self, body: &GenerateBody) -> Result<Work, InvalidInput> {
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
                choice: None,
            },
            None => Work::Generate {
                prompt: text,
                max_tokens,
                temperature,
                language,
                redactions,
                choice: None,
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
        check_audio_language(&body.language)?;
        choice_input(&body.provider, &body.model)?;
        let own_prefix = format!("ai-audio/{user}/");
        match (body.s3_key, body.upload) {
            (Some(_), Some(_)) | (None, None) => {
                Err(InvalidInput::field("s3_key", "give exactly one of s3_key and upload").into())
            }
            (None, Some(upload)) => {
                if body.provider.is_some() || body.model.is_some() {
                    // The ticket is only the upload; the provider goes with the job.
                    return Err(InvalidInput::field(
                        if body.provider.is_some() {
                            "provider"
                        } else {
                            "model"
                        },
                        "goes with `s3_key` (the job), not with `upload`",
                    )
                    .into());
                }
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
                let choice = self
                    .provider_choice(&body.provider, &body.model, Need::Transcription)
                    .await?;
                let content_type = self.audio_object(&bucket, &key).await?;
                Ok(Transcription::Job(Work::Transcribe {
                    s3_key: key,
                    content_type,
                    language: body.language,
                    choice,
                }))
            }
        }
    }

    /// A small audio file posted with the request for `user` (multipart): the fields
    /// checked as in the JSON body, the file's size against [`MAX_DIRECT_AUDIO_BYTES`] and its
    /// format from its bytes ([`sniff`], as uploads are checked; the part's Content-Type and
    /// file name are not trusted). Answers the audio to store (see
    /// [`Self::store_direct_audio`]) and the job's work, which reads it back like any
    /// `s3_key`. The file name sent to the provider is `audio.{ext}`: the client's name may
    /// carry a patient's name.
    pub async fn direct_transcription(
        &self,
        user: &str,
        form: TranscriptionForm,
    ) -> Result<(DirectAudio, Work), AiError> {
        if self.config().bucket.is_none() {
            return Err(AiError::UploadsUnavailable);
        }
        check_audio_language(&form.language)?;
        choice_input(&form.provider, &form.model)?;
        if form.file.is_empty() {
            return Err(InvalidInput::field("file", "required: the audio, at least 1 byte").into());
        }
        let size = form.file.len() as u64;
        if size > MAX_DIRECT_AUDIO_BYTES {
            return Err(AiError::DirectAudioTooLarge {
                size,
                limit: MAX_DIRECT_AUDIO_BYTES,
            });
        }
        let sniffed = sniff(&form.file);
        let Some((content_type, extension)) = transcribable(sniffed.content_type) else {
            return Err(AiError::NotAudio(sniffed.content_type.to_string()));
        };
        let choice = self
            .provider_choice(&form.provider, &form.model, Need::Transcription)
            .await?;
        let digest = hex::encode(Sha256::digest(&form.file));
        let key = format!("ai-audio/{user}/direct-{}/audio.{extension}", &digest[..32]);
        let work = Work::Transcribe {
            s3_key: key.clone(),
            content_type: Some(content_type.to_string()),
            language: form.language,
            choice,
        };
        Ok((
            DirectAudio {
                key,
                bytes: form.file,
                content_type,
            },
            work,
        ))
    }

    /// Puts checked direct audio in the uploads bucket under `ai-audio/` (the AI role's
    /// prefix; the bucket's lifecycle expires it with the jobs).
    pub async fn store_direct_audio(&self, audio: DirectAudio) -> Result<(), AiError> {
        let bucket = self
            .config()
            .bucket
            .as_ref()
            .ok_or(AiError::UploadsUnavailable)?;
        self.s3()
            .put_object()
            .bucket(bucket)
            .key(&audio.key)
            .content_type(audio.content_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(audio.bytes))
            .send()
            .await
            .map_err(|e| {
                // Nothing is queued yet: the client may simply try again.
                tracing::error!(error = ?e, "could not store posted audio");
                AiError::DependencyUnavailable("the uploads bucket")
            })?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{DomainError, ErrorKind};

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn a_choice_needs_a_slug_and_a_model_needs_a_provider() {
        assert_eq!(choice_input(&None, &None), Ok(None));
        assert_eq!(
            choice_input(&some("openai"), &some("org/Llama-3.1-8B:fast")),
            Ok(Some(ProviderChoice {
                provider: "openai".into(),
                model: some("org/Llama-3.1-8B:fast"),
            }))
        );
        let e = choice_input(&None, &some("gpt-4o")).unwrap_err();
        assert_eq!(
            (e.kind(), e.fields()[0].field.as_str()),
            (ErrorKind::Invalid, "model")
        );
        for bad in ["OpenAI", "o", "-x", "open ai"] {
            let e = choice_input(&some(bad), &None).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unprocessable, "{bad}");
            assert_eq!(
                (e.code(), e.fields()[0].field.as_str()),
                ("unknown_provider", "provider")
            );
        }
        let long = "m".repeat(MAX_MODEL_CHARS + 1);
        for bad in ["", "gpt 4o", "../../admin", "a?b", long.as_str()] {
            let e = choice_input(&some("openai"), &some(bad)).unwrap_err();
            assert_eq!(e.fields()[0].field, "model", "{bad:?}");
        }
    }

    #[test]
    fn only_formats_the_providers_read_are_transcribable() {
        assert_eq!(transcribable("audio/mpeg"), Some(("audio/mpeg", "mp3")));
        assert_eq!(transcribable("audio/m4a"), Some(("audio/mp4", "m4a")));
        assert_eq!(transcribable("audio/x-wav"), Some(("audio/wav", "wav")));
        for other in [
            "image/png",
            "text/plain",
            "audio/midi",
            "audio/amr",
            "video/quicktime",
        ] {
            assert_eq!(transcribable(other), None, "{other}");
        }
        // What the uploads sniffer says of real headers.
        let wav = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00";
        assert_eq!(
            transcribable(sniff(wav).content_type),
            Some(("audio/wav", "wav"))
        );
        assert_eq!(
            transcribable(sniff(b"OggS\x00\x02").content_type).map(|t| t.1),
            Some("ogg")
        );
    }

    #[test]
    fn a_direct_file_fits_a_lambda_request_once_base64_encoded() {
        let encoded = MAX_DIRECT_AUDIO_BYTES.div_ceil(3) * 4;
        let limit = crate::http::LAMBDA_REQUEST_LIMIT as u64;
        assert!(encoded < limit, "{encoded} >= {limit}");
        // The room left is for the form's other parts and the event around the body.
        assert!(limit - encoded >= 64 * 1024, "{}", limit - encoded);
        assert_eq!(MAX_DIRECT_AUDIO_BYTES, 4_653_056);
    }
}
