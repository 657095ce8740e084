//! The email capability's request and response types, in one place: the route's body, the
//! service's request (also what the notifications worker sends), the receipt, the template
//! list.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::mailer::Delivery;
use super::templates::{Language, TemplateName};
use crate::error::InvalidInput;

/// What to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailContent {
    /// A template rendered in a language; `data` holds its fields.
    Template {
        template: String,
        language: String,
        data: Map<String, Value>,
    },
    /// A plain-text message (the seed's `send_email(to, subject, body)`).
    Plain { subject: String, body: String },
}

/// One email to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailRequest {
    pub to: String,
    pub content: EmailContent,
    /// Ties the integration-log entries to the request (API request id, queue message id).
    pub request_id: String,
}

/// What happened to an email: `sent` (the SMTP server accepted it) or `fallback` (SMTP is not
/// configured and the deployment allows the console log: nothing left the hub).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Sent,
    Fallback,
}

/// What happened to a sent email. Safe to return and to store: the address is masked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmailReceipt {
    /// `sent` only when the SMTP server accepted the message; `fallback` when it was logged.
    pub status: EmailStatus,
    /// Our `Message-ID` (without angle brackets); also the integration log's `reference`.
    pub message_id: String,
    pub delivery: Delivery,
    /// The recipient, masked.
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// SMTP attempts made (1 unless a temporary failure was retried; 1 for the console).
    pub attempts: u32,
    /// RFC 3339 time the message was accepted.
    pub sent_at: String,
}

/// Body of `POST /api/integrations/email/send`: either `template` (+ `language`, `data`) or
/// `subject` + `body`.
/// Its OpenAPI schema, one shape per template plus the plain message, is in `schema.rs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendEmailBody {
    /// Recipient address, e.g. `patient@example.com`.
    pub to: Option<String>,
    /// `appointment_reminder`, `appointment_confirmation`, `appointment_cancellation`,
    /// `password_recovery` or `generic`.
    pub template: Option<String>,
    /// `fa` (right-to-left), `pt-BR` or `en` (default `en`).
    pub language: Option<String>,
    /// The template's fields (see `GET /api/integrations/email/templates`).
    pub data: Option<Map<String, Value>>,
    /// Plain email: the subject.
    pub subject: Option<String>,
    /// Plain email: the text body.
    pub body: Option<String>,
    /// The user the email is sent for; it counts against that user's hourly email limit
    /// (default: the caller).
    pub user_id: Option<String>,
}

impl SendEmailBody {
    /// The service request, or a 400 naming the field when the shape is wrong.
    pub fn to_request(&self, request_id: &str) -> Result<EmailRequest, InvalidInput> {
        let to = self
            .to
            .clone()
            .ok_or_else(|| InvalidInput::field("to", "required: the recipient's address"))?;
        let content = match (&self.template, &self.subject, &self.body) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(InvalidInput::field(
                    "template",
                    "give either `template` (with `language` and `data`) or `subject` and `body`, not both",
                ));
            }
            (Some(template), None, None) => EmailContent::Template {
                template: template.clone(),
                language: self.language.clone().unwrap_or_else(|| "en".into()),
                data: self.data.clone().unwrap_or_default(),
            },
            (None, subject, body) => {
                if self.data.is_some() || self.language.is_some() {
                    return Err(InvalidInput::field(
                        "template",
                        "`data` and `language` need a `template`",
                    ));
                }
                let subject = subject.clone().ok_or_else(|| {
                    InvalidInput::field(
                        "subject",
                        "required for a plain email (or give a `template`)",
                    )
                })?;
                let body = body.clone().ok_or_else(|| {
                    InvalidInput::field("body", "required for a plain email (or give a `template`)")
                })?;
                EmailContent::Plain { subject, body }
            }
        };
        Ok(EmailRequest {
            to,
            content,
            request_id: request_id.to_string(),
        })
    }
}

/// One template as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateInfo {
    pub name: TemplateName,
    pub required_fields: Vec<&'static str>,
    pub optional_fields: Vec<&'static str>,
    pub languages: Vec<Language>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateInfo>,
    /// `smtp`; `console` when SMTP is not configured and the fallback is allowed;
    /// `not_configured` when neither.
    pub delivery: Delivery,
}
