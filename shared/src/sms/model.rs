//! The SMS capability's request and response types, in one place: what the SMS function
//! reads and answers, what the store keeps, and what the bulk queue carries. The function
//! crate and the domain both use these; none of them knows about HTTP.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The three kinds of message (the Helsa `message_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// A one-time code: Kavenegar `verify/lookup` with `template` and `token`.
    Otp,
    /// A template with `token`..`token3`.
    Pattern,
    /// Free text (`message`).
    Text,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Otp => "otp",
            MessageType::Pattern => "pattern",
            MessageType::Text => "text",
        }
    }
}

/// A message's status, the same words whichever provider sent it. The provider's own status
/// is kept beside it (`provider_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsStatus {
    /// Accepted by the provider, waiting to go out.
    Queued,
    Scheduled,
    /// Handed to the operator.
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Canceled,
    /// Blocked by the operator (Kavenegar 14: the receptor blocks promotional SMS).
    Filtered,
    /// Whether it went out is unknown: the provider's answer was lost after the request was
    /// written (timeout, reset), or a worker stopped between sending and recording. Never
    /// re-sent; a status lookup or a delivery report may still settle it.
    Unknown,
    /// Logged by the console fallback (no provider configured, and the deployment allows
    /// it: `SMS_FALLBACK=console`, or the local stage): nothing was sent.
    Fallback,
}

impl SmsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsStatus::Queued => "queued",
            SmsStatus::Scheduled => "scheduled",
            SmsStatus::Sent => "sent",
            SmsStatus::Delivered => "delivered",
            SmsStatus::Undelivered => "undelivered",
            SmsStatus::Failed => "failed",
            SmsStatus::Canceled => "canceled",
            SmsStatus::Filtered => "filtered",
            SmsStatus::Unknown => "unknown",
            SmsStatus::Fallback => "fallback",
        }
    }

    /// Order of progress: a report never moves a message backwards (callbacks arrive out
    /// of order, and a refresh can race a callback).
    pub fn rank(self) -> u8 {
        match self {
            // Below everything: any status the provider reports settles it.
            SmsStatus::Unknown => 0,
            SmsStatus::Queued | SmsStatus::Scheduled => 1,
            SmsStatus::Sent => 2,
            _ => 3,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() == 3
    }

    /// Kavenegar's delivery statuses (`sms/status`, callbacks, send answers).
    pub fn from_kavenegar(code: i64) -> SmsStatus {
        match code {
            1 => SmsStatus::Queued,
            2 => SmsStatus::Scheduled,
            4 | 5 => SmsStatus::Sent,
            6 => SmsStatus::Failed,
            10 => SmsStatus::Delivered,
            11 => SmsStatus::Undelivered,
            13 => SmsStatus::Canceled,
            14 => SmsStatus::Filtered,
            100 => SmsStatus::Failed,
            _ => SmsStatus::Unknown,
        }
    }

    /// Twilio's message statuses.
    pub fn from_twilio(status: &str) -> SmsStatus {
        match status {
            "accepted" | "queued" | "sending" => SmsStatus::Queued,
            "scheduled" => SmsStatus::Scheduled,
            "sent" => SmsStatus::Sent,
            "delivered" | "read" => SmsStatus::Delivered,
            "undelivered" => SmsStatus::Undelivered,
            "failed" => SmsStatus::Failed,
            "canceled" => SmsStatus::Canceled,
            _ => SmsStatus::Unknown,
        }
    }

    /// A provider's status as it arrives in a report (Kavenegar: a number, Twilio: a word).
    pub fn from_provider(provider: &str, status: &str) -> SmsStatus {
        match provider {
            crate::providers::kavenegar::SLUG => status
                .trim()
                .parse()
                .map(SmsStatus::from_kavenegar)
                .unwrap_or(SmsStatus::Unknown),
            crate::providers::twilio::SLUG => SmsStatus::from_twilio(status.trim()),
            _ => SmsStatus::Unknown,
        }
    }
}

/// `POST /api/integrations/sms/send`: the Helsa body (`message_type` `otp`, `pattern` or
/// `text`), or a named hub template rendered in a language (no `message_type`; `template`,
/// `language`, `data`), like the email route's templates. Its OpenAPI schema, one shape per
/// `message_type` and per named template, is in `schema.rs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// `09123456789`, `+989123456789`, `0098…`, Persian/Arabic digits, or E.164 for other countries.
    pub receptor: String,
    /// `otp`, `pattern` or `text`; omitted for a named template (`template` + `data`).
    pub message_type: Option<MessageType>,
    /// OTP: the provider template (default `SMS_OTP_TEMPLATE`, `verify`); pattern: required.
    /// Without `message_type`: the hub's named template, `appointment_reminder`,
    /// `quick_confirmation`, `risk_alert` or `appointment_updated`, sent as a text.
    pub template: Option<String>,
    /// Named templates: `fa` (Solar Hijri dates, Persian digits), `pt-BR` or `en` (default).
    pub language: Option<String>,
    /// Named templates: the template's fields, e.g. `{"date": "2025-01-20", "time": "14:00"}`
    /// (`date` Gregorian `YYYY-MM-DD`, `time` `HH:MM`; written in the reader's calendar).
    pub data: Option<Map<String, Value>>,
    /// OTP code / first pattern token (no whitespace, at most 100 characters).
    pub token: Option<String>,
    pub token2: Option<String>,
    pub token3: Option<String>,
    /// The text of a `text` message (at most 1000 characters).
    pub message: Option<String>,
    /// The user a service sends for (counts against that user's SMS limit).
    pub user_id: Option<String>,
}

/// The answer to a send.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SendResult {
    pub message_id: String,
    pub message_ids: Vec<String>,
    /// E.164.
    pub receptor: String,
    pub message_type: MessageType,
    /// `kavenegar`, `twilio` or `console`.
    pub provider: String,
    /// `queued`/`sent`/...: the provider accepted it; `unknown`: the provider's answer was
    /// lost after the request was written (it may have gone out; it is not sent again, see
    /// `reason`); `fallback`: logged by the console fallback, nothing was sent.
    pub status: SmsStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Why the status is `unknown` (the provider error code, e.g. `kavenegar_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// False when the provider took the message but its record could not be written (the
    /// table throttled past every retry): the answer is the only record, `GET` by id answers
    /// 404, and the message is not sent again.
    #[serde(default = "stored_default")]
    pub stored: bool,
}

fn stored_default() -> bool {
    true
}

/// `POST /api/integrations/sms/bulk`: one `message` for all `receptors`, or `messages`.
/// Its OpenAPI schema is in `schema.rs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub receptors: Option<Vec<String>>,
    pub message: Option<String>,
    pub messages: Option<Vec<BulkMessage>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkMessage {
    #[schema(schema_with = super::schema::bulk_receptor)]
    pub receptor: String,
    #[schema(schema_with = super::schema::bulk_message_text)]
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkAccepted {
    pub batch_id: String,
    pub status: String,
    /// Messages queued (after removing repeated receptors of a one-text batch).
    pub total: usize,
    pub duplicates_removed: usize,
    pub chunks: usize,
    /// Message ids are `{batch_id}-{position}`, position in the request's list.
    pub message_id_prefix: String,
}

/// A message as stored (and as `GET /sms/{id}` answers it). No body, no token.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmsRecord {
    pub id: String,
    /// E.164.
    pub receptor: String,
    pub message_type: MessageType,
    /// `kavenegar`, `twilio` or `console`.
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    pub status: SmsStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// Who asked for it (the caller, or the user a service sent it for).
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A bulk batch with its counters.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchRecord {
    pub id: String,
    pub total: u64,
    pub chunks: u64,
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Messages whose provider answer was lost after the request was written (or whose
    /// worker stopped mid-send): maybe sent, never sent again. A status lookup or a delivery
    /// report may settle them later.
    #[serde(default)]
    pub unknown: i64,
    /// Messages only logged by the console fallback (no provider configured, where the
    /// deployment allows it): nothing was sent.
    #[serde(default)]
    pub fallback: i64,
    #[serde(default)]
    pub delivered: i64,
    #[serde(default)]
    pub undelivered: i64,
    pub user_id: String,
    pub created_at: String,
}

/// A batch as `GET /api/integrations/sms/batches/{id}` answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    #[serde(flatten)]
    pub batch: BatchRecord,
    /// `queued` (nothing sent yet), `processing`, `completed`.
    pub status: String,
}

impl From<BatchRecord> for BatchView {
    fn from(batch: BatchRecord) -> Self {
        let status = if batch.queued <= 0 {
            "completed"
        } else if batch.sent + batch.failed + batch.unknown + batch.fallback == 0 {
            "queued"
        } else {
            "processing"
        };
        BatchView {
            status: status.into(),
            batch,
        }
    }
}

/// `GET /api/integrations/sms/{message_id}` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Ask the provider for the current status (Kavenegar `sms/status`, Twilio message fetch).
    #[serde(default)]
    pub refresh: bool,
}

/// The query of Kavenegar's delivery callback (GET; a POST may carry them in the body).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KavenegarReportQuery {
    pub messageid: Option<String>,
    pub status: Option<String>,
}

/// The answer to a delivery report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportApplied {
    /// False when the hub does not know the message or the status was not newer.
    pub applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SmsStatus>,
}

impl ReportApplied {
    /// From what applying a report changed: the message id and its new status, if any.
    pub fn from_applied(applied: Option<(String, SmsStatus)>) -> Self {
        let (message_id, status) = applied.unzip();
        Self {
            applied: message_id.is_some(),
            message_id,
            status,
        }
    }
}

/// The SQS body of a bulk chunk: ids only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkMessage {
    pub batch_id: String,
    pub chunk: u32,
    /// Set on the body the re-drive sweeper sends (`shared::redrive`): the chunk was written
    /// but its batch may never have been committed (the request failed part-way and answered
    /// 503), so the worker checks the batch before sending.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redriven: bool,
}
