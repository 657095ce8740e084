//! Checking what callers send: every wrong field is named, numbers are normalised.

use std::collections::HashSet;
use std::sync::Arc;

use super::model::{BulkRequest, MessageType, SendRequest};
use super::{MAX_BULK_RECEPTORS, MAX_TEXT_CHARS, MAX_TOKEN_CHARS, Phone, SmsConfig, SmsContent};
use crate::email::TemplateCatalog;
use crate::error::InvalidInput;
use crate::locale::{ShortTemplate, parse_language};

/// At most this many wrong entries of a bulk request are listed.
const MAX_LISTED_ERRORS: usize = 20;

fn validate_token(
    field: &str,
    v: &Option<String>,
    required: bool,
) -> Result<Option<String>, InvalidInput> {
    match v.as_deref().map(str::trim) {
        None | Some("") if required => Err(InvalidInput::field(
            field,
            "is required for this message_type",
        )),
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > MAX_TOKEN_CHARS => {
            Err(InvalidInput::field(field, "at most 100 characters"))
        }
        Some(t) if t.chars().any(char::is_whitespace) => Err(InvalidInput::field(
            field,
            "must not contain spaces (Kavenegar rejects them)",
        )),
        Some(t) => Ok(Some(t.to_string())),
    }
}

fn validate_template(v: Option<&str>) -> Result<String, InvalidInput> {
    let t = v.unwrap_or_default().trim();
    if t.is_empty() {
        return Err(InvalidInput::field(
            "template",
            "is required for this message_type",
        ));
    }
    if t.len() > 100
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(InvalidInput::field(
            "template",
            "letters, digits, '_', '-' and '.', at most 100",
        ));
    }
    Ok(t.to_string())
}

fn validate_text(field: &str, v: &str) -> Result<String, InvalidInput> {
    if v.trim().is_empty() {
        return Err(InvalidInput::field(field, "must not be empty"));
    }
    if v.chars().count() > MAX_TEXT_CHARS {
        return Err(InvalidInput::field(
            field,
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(v.to_string())
}

impl SendRequest {
    /// Checks the request; field errors name the field.
    /// A named template's unknown name, language or missing field is a 422 naming it.
    pub fn validate(&self, config: &SmsConfig) -> Result<(Phone, SmsContent), InvalidInput> {
        let phone = Phone::parse(&self.receptor).map_err(|e| e.for_field("receptor"))?;
        let Some(message_type) = self.message_type else {
            return Ok((phone, self.named_template()?));
        };
        for (f, present) in [
            ("language", self.language.is_some()),
            ("data", self.data.is_some()),
        ] {
            if present {
                return Err(InvalidInput::field(
                    f,
                    "is used by named templates, which take no message_type",
                ));
            }
        }
        let content = match message_type {
            MessageType::Otp => self.otp(config)?,
            MessageType::Pattern => self.pattern()?,
            MessageType::Text => self.text()?,
        };
        Ok((phone, content))
    }

    /// Refuses a field this message type does not use.
    fn reject(&self, field: &str, present: bool) -> Result<(), InvalidInput> {
        if present {
            let kind = self
                .message_type
                .map_or("named templates", MessageType::as_str);
            Err(InvalidInput::field(
                field,
                format!("is not used by message_type {kind}"),
            ))
        } else {
            Ok(())
        }
    }

    /// No `message_type`: the hub's named template (`template`, `language`, `data`) rendered
    /// from the shared catalog, sent as a text message.
    fn named_template(&self) -> Result<SmsContent, InvalidInput> {
        let Some(name) = self.template.as_deref() else {
            return Err(InvalidInput::field(
                "message_type",
                "is required: otp, pattern or text; or give a named `template` with `language` and `data`",
            ));
        };
        for (f, present) in [
            ("token", self.token.is_some()),
            ("token2", self.token2.is_some()),
            ("token3", self.token3.is_some()),
            ("message", self.message.is_some()),
        ] {
            if present {
                return Err(InvalidInput::field(
                    f,
                    "is not used by named templates (their text comes from `template` and `data`)",
                ));
            }
        }
        let template = ShortTemplate::parse(name)?;
        let language = parse_language(self.language.as_deref().unwrap_or("en"))?;
        let rendered = TemplateCatalog::shared().render_short(
            template,
            language,
            &self.data.clone().unwrap_or_default(),
        )?;
        Ok(SmsContent::Text {
            message: rendered.text,
        })
    }

    fn otp(&self, config: &SmsConfig) -> Result<SmsContent, InvalidInput> {
        self.reject("message", self.message.is_some())?;
        self.reject("token2", self.token2.is_some())?;
        self.reject("token3", self.token3.is_some())?;
        let template = validate_template(Some(
            self.template.as_deref().unwrap_or(&config.otp_template),
        ))?;
        let token = validate_token("token", &self.token, true)?.unwrap_or_default();
        Ok(SmsContent::Otp { template, token })
    }

    fn pattern(&self) -> Result<SmsContent, InvalidInput> {
        self.reject("message", self.message.is_some())?;
        let template = validate_template(self.template.as_deref())?;
        let tokens = [
            validate_token("token", &self.token, true)?,
            validate_token("token2", &self.token2, false)?,
            validate_token("token3", &self.token3, false)?,
        ];
        Ok(SmsContent::Pattern { template, tokens })
    }

    fn text(&self) -> Result<SmsContent, InvalidInput> {
        for (f, present) in [
            ("template", self.template.is_some()),
            ("token", self.token.is_some()),
            ("token2", self.token2.is_some()),
            ("token3", self.token3.is_some()),
        ] {
            self.reject(f, present)?;
        }
        let message = self
            .message
            .as_deref()
            .ok_or_else(|| InvalidInput::field("message", "is required for message_type text"))?;
        Ok(SmsContent::Text {
            message: validate_text("message", message)?,
        })
    }
}

/// One receptor of a bulk request: its position in the request, number and text.
pub type BulkItem = (u32, Phone, Arc<SmsContent>);

/// A bulk request, checked: receptors in order with their text.
pub struct ValidBulk {
    pub items: Vec<BulkItem>,
    pub duplicates_removed: usize,
}

/// The fields at fault while reading a bulk request, in order.
type EntryErrors = Vec<(String, String)>;

impl BulkRequest {
    pub fn validate(&self) -> Result<ValidBulk, InvalidInput> {
        let mut errors = EntryErrors::new();
        let bulk = match (&self.receptors, &self.message, &self.messages) {
            (Some(receptors), Some(message), None) => one_text(receptors, message, &mut errors)?,
            (None, None, Some(messages)) => {
                check_count("messages", messages.len())?;
                let items = messages
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| text_entry(i, &m.receptor, &m.message, &mut errors))
                    .collect();
                ValidBulk {
                    items,
                    duplicates_removed: 0,
                }
            }
            _ => {
                return Err(InvalidInput::new(
                    "invalid_bulk",
                    "send either `receptors` with one `message`, or `messages` (a list of {receptor, message})",
                )
                .with_field("receptors", "give receptors + message, or messages"));
            }
        };
        match entries_error(errors) {
            Some(e) => Err(e),
            None => Ok(bulk),
        }
    }
}

/// `receptors` + one `message`: repeated numbers are sent once.
fn one_text(
    receptors: &[String],
    message: &str,
    errors: &mut EntryErrors,
) -> Result<ValidBulk, InvalidInput> {
    let text = Arc::new(SmsContent::Text {
        message: validate_text("message", message)?,
    });
    check_count("receptors", receptors.len())?;
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    let mut duplicates_removed = 0;
    for (i, r) in receptors.iter().enumerate() {
        match Phone::parse(r) {
            Ok(p) if !seen.insert(p.clone()) => duplicates_removed += 1,
            Ok(p) => items.push((i as u32, p, text.clone())),
            Err(e) => errors.push((format!("receptors[{i}]"), e.0.to_string())),
        }
    }
    Ok(ValidBulk {
        items,
        duplicates_removed,
    })
}

/// One `messages[i]` entry; its wrong fields go to `errors`.
fn text_entry(
    i: usize,
    receptor: &str,
    message: &str,
    errors: &mut EntryErrors,
) -> Option<BulkItem> {
    let phone =
        Phone::parse(receptor).map_err(|e| (format!("messages[{i}].receptor"), e.0.to_string()));
    let text = validate_text(&format!("messages[{i}].message"), message)
        .map_err(|e| (e.fields[0].field.clone(), e.fields[0].message.clone()));
    match (phone, text) {
        (Ok(p), Ok(t)) => Some((i as u32, p, Arc::new(SmsContent::Text { message: t }))),
        (p, t) => {
            errors.extend(p.err().into_iter().chain(t.err()));
            None
        }
    }
}

/// One 400 listing the first wrong entries, or `None` when every entry is right.
fn entries_error(errors: EntryErrors) -> Option<InvalidInput> {
    let total = errors.len();
    let mut listed = errors.into_iter().take(MAX_LISTED_ERRORS);
    let (field, message) = listed.next()?;
    let mut e = InvalidInput::field(field, message);
    e.detail = format!(
        "{total} invalid entr{} (the first 20 are listed)",
        if total == 1 { "y" } else { "ies" }
    );
    Some(listed.fold(e, |e, (f, m)| e.with_field(f, m)))
}

fn check_count(field: &str, n: usize) -> Result<(), InvalidInput> {
    if n == 0 {
        return Err(InvalidInput::field(field, "must not be empty"));
    }
    if n > MAX_BULK_RECEPTORS {
        return Err(InvalidInput::field(
            field,
            format!("at most {MAX_BULK_RECEPTORS} receptors per batch"),
        ));
    }
    Ok(())
}
