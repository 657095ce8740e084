//! The AI capability's request and response types, in one place: what the routes take and
//! answer, what a job stores and shows, and the queue message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::medical::{AnalysisType, PatientContext};
use super::rules::Language;

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
