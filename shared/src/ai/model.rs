//! The AI capability's request and response types, in one place: what the routes take and
//! answer, what a job stores and shows, and the queue message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::medical::{AnalysisType, PatientContext};
use super::rules::Language;

/// The caller's choice of provider (and model) for one call, as the Helsa seed's
/// `AIIntegrationService('openai')`: checked against the provider catalog at intake, stored
/// on a job so the worker uses it too. A call with a choice goes to that provider only (its
/// retries included, but no failover: the caller asked for that one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderChoice {
    /// A catalog slug of kind `ai`.
    pub provider: String,
    /// Passed to the provider as is; `None`: the provider's configured model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// One unit of AI work, as stored on a job. Text fields are already redacted when
/// redaction is on: what is stored is what may leave for a provider. `choice` is absent on
/// jobs stored before it existed (and on every call that leaves the choice to the order).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    Generate {
        prompt: String,
        max_tokens: u32,
        temperature: f32,
        language: Language,
        redactions: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice: Option<ProviderChoice>,
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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice: Option<ProviderChoice>,
    },
    Transcribe {
        s3_key: String,
        content_type: Option<String>,
        language: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice: Option<ProviderChoice>,
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

    /// The provider the caller chose for this work, if any.
    pub fn choice(&self) -> Option<&ProviderChoice> {
        match self {
            Work::Generate { choice, .. }
            | Work::Analyze { choice, .. }
            | Work::Transcribe { choice, .. } => choice.as_ref(),
        }
    }
}

/// Who wrote an answer: a provider (or the rules, by design, for an emergency), or the
/// rules standing in because no provider is configured (`fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    Answered,
    Fallback,
}

/// A chat answer: from a provider, or from the rules (`provider = "rules"`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatReply {
    /// `answered`, or `fallback` when the rules stood in for an unconfigured provider.
    pub status: ReplyStatus,
    pub reply: String,
    /// `openai`, `huggingface`, `talkbot`, ... or `rules`.
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub language: Language,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Why the rules answered: `not_configured` or `emergency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    /// Failed for a passing reason; SQS will deliver it again.
    Retrying,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => JobStatus::Running,
            "retrying" => JobStatus::Retrying,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            _ => JobStatus::Queued,
        }
    }
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// The queue message: the job id and nothing else.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: String,
    /// `generate`, `analyze` or `transcribe`.
    pub kind: String,
    pub status: JobStatus,
    pub created_at: String,
    pub updated_at: String,
    /// Deliveries so far.
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
}

/// Longest prompt or text accepted (characters).
pub const MAX_PROMPT_CHARS: usize = 100_000;
/// Longest chat message or context (characters).
pub const MAX_CHAT_CHARS: usize = 4_000;
/// How long a presigned audio upload URL stays valid.
pub const UPLOAD_URL_TTL: std::time::Duration = std::time::Duration::from_secs(900);

/// Body of `POST /api/integrations/ai/generate` (Helsa's fields plus a few).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    /// The prompt, or the medical text to analyse when `analysis_type` is set.
    #[schema(
        example = "بیمار از سردرد و تب شکایت دارد",
        min_length = 1,
        max_length = 100000,
        pattern = r"[^\s\u0085]"
    )]
    pub prompt: String,
    /// 1..=AI_MAX_TOKENS_LIMIT, default 1000. Above AI_SYNC_MAX_TOKENS (1024) the work runs as a job.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 16384)]
    pub max_tokens: Option<u32>,
    /// 0..=2, default 0.7 (0.2 for analyses).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f32>,
    /// Medical analysis instead of free generation: `symptoms`, `summary`, `triage`, `medications`.
    #[serde(default)]
    pub analysis_type: Option<AnalysisType>,
    #[serde(default)]
    pub patient_context: Option<PatientContext>,
    /// Language of free-text values in an analysis (`en`, `pt-BR`, `fa`); detected when absent.
    #[serde(default)]
    #[schema(value_type = Option<crate::ai::rules::Language>)]
    pub language: Option<String>,
    /// Run as a job even when short.
    #[serde(default, rename = "async")]
    pub run_async: bool,
    /// A provider slug from the catalog (`openai`, `huggingface`, `talkbot`, or an
    /// admin-created AI provider). The call goes to that provider only, with its retries but
    /// no failover to another provider. Without it: the configured order, with failover.
    #[serde(default)]
    #[schema(example = "openai", pattern = "^[a-z0-9][a-z0-9-]{1,39}$")]
    pub provider: Option<String>,
    /// The model for this call, passed to the provider as is (only with `provider`).
    /// Without it: the provider's configured model.
    #[serde(default)]
    #[schema(
        example = "gpt-4o",
        min_length = 1,
        max_length = 200,
        pattern = "^[A-Za-z0-9._:/-]+$"
    )]
    pub model: Option<String>,
    /// The user the work is for (service and admin tokens only).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub user_id: Option<String>,
}

/// Body of `POST /api/integrations/ai/chat` (BluRosiere's `generate_response(message, context)`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    #[schema(example = "Como agendar uma consulta?")]
    pub message: String,
    /// Free text (`"Paciente novo"`) or an object describing the user.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = "Paciente novo")]
    pub context: Option<Value>,
    /// `en`, `pt-BR` or `fa`; detected from the message when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// A provider slug from the catalog (`openai`, `huggingface`, `talkbot`, or an
    /// admin-created AI provider). The call goes to that provider only, with its retries but
    /// no failover to another provider. Without it: the configured order, with failover.
    #[serde(default)]
    #[schema(example = "openai", pattern = "^[a-z0-9][a-z0-9-]{1,39}$")]
    pub provider: Option<String>,
    /// The model for this call, passed to the provider as is (only with `provider`).
    /// Without it: the provider's configured model.
    #[serde(default)]
    #[schema(
        example = "gpt-4o",
        min_length = 1,
        max_length = 200,
        pattern = "^[A-Za-z0-9._:/-]+$"
    )]
    pub model: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

/// Body of `POST /api/integrations/ai/transcriptions`: `s3_key` of audio already in the
/// uploads bucket, or `upload` to get a presigned POST first.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptionBody {
    /// Key in UPLOADS_BUCKET under `ai-audio/` (what `upload` hands out). Users may only name
    /// keys under `ai-audio/{their id}/`; services and admins any key under `ai-audio/`.
    #[serde(default)]
    pub s3_key: Option<String>,
    #[serde(default)]
    pub upload: Option<UploadRequest>,
    /// ISO 639-1 language of the audio (`fa`, `pt`, `en`), passed to the provider.
    #[serde(default)]
    pub language: Option<String>,
    /// A provider slug from the catalog that transcribes (`openai`, `talkbot`). The call goes to that provider only, with its retries but
    /// no failover to another provider. Without it: the configured order, with failover.
    #[serde(default)]
    #[schema(example = "openai", pattern = "^[a-z0-9][a-z0-9-]{1,39}$")]
    pub provider: Option<String>,
    /// The model for this call, passed to the provider as is (only with `provider`).
    /// Without it: the provider's configured model.
    #[serde(default)]
    #[schema(
        example = "whisper-1",
        min_length = 1,
        max_length = 200,
        pattern = "^[A-Za-z0-9._:/-]+$"
    )]
    pub model: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    #[schema(example = "visit.m4a")]
    pub filename: String,
    /// `audio/*` (or `video/mp4`, `video/webm`).
    #[schema(example = "audio/mp4")]
    pub content_type: String,
    /// The file's exact size in bytes (at most 25 MB): S3 refuses any other.
    #[schema(example = 1048576)]
    pub size: u64,
}

/// A presigned upload: POST a form to `upload_url` with every field of `fields`, then the
/// audio as the last field, `file`; then post `s3_key`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    pub upload_url: String,
    pub method: &'static str,
    pub fields: std::collections::BTreeMap<String, String>,
    pub s3_key: String,
    pub expires_in: u64,
    /// The only size S3 accepts for this upload (the policy's `content-length-range`).
    pub size: u64,
}

/// `POST /api/integrations/ai/transcriptions` as `multipart/form-data`: a small audio file
/// posted with the request (at most [`super::MAX_DIRECT_AUDIO_BYTES`], what fits Lambda's
/// request with API Gateway's base64), instead of the presigned `upload` + `s3_key` steps.
/// The edge reads the form into this; the format is decided from the file's bytes.
#[derive(Default, utoipa::ToSchema)]
pub struct TranscriptionForm {
    /// The audio: mp3, mp4/m4a, wav, webm, ogg or flac (decided from its bytes, not from the
    /// part's Content-Type or file name).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// ISO 639-1 language of the audio (`fa`, `pt`, `en`), passed to the provider.
    pub language: Option<String>,
    /// As in the JSON body: a provider that transcribes (`openai`, `talkbot`); no failover.
    pub provider: Option<String>,
    /// As in the JSON body: the transcription model (only with `provider`).
    pub model: Option<String>,
    /// The user the work is for (service and admin tokens only).
    pub user_id: Option<String>,
}
