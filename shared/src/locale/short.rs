//! Short texts: a title and one line of text per template and language, for the channels that
//! carry a line rather than a letter: SMS, the in-app inbox and WebSocket.
//!
//! They sit beside the email templates (`shared/src/email/templates/short/{name}.{lang}.txt`)
//! and are compiled into the same [`TemplateCatalog`] at cold start. Each file sets its title
//! with `{% set title %}...{% endset %}`; its output is the text. Field values reach the
//! templates localized ([`super::dates`]): dates and times as the reader writes them, numbers
//! in Persian digits for `fa`, `status` and `risk_level` as words of the language.
//!
//! | template | required `data` | optional `data` | email form |
//! | --- | --- | --- | --- |
//! | `appointment_reminder` | `date`, `time` | `patient_name`, `doctor_name`, `location` | `appointment_reminder` |
//! | `quick_confirmation` | `date`, `time` | `patient_name`, `doctor_name`, `appointment_id` | `appointment_confirmation` |
//! | `risk_alert` | `patient_name`, `risk_level` (`low`, `moderate`, `high`, `critical`) | `detail`, `contact_phone` | generic |
//! | `appointment_updated` | `date`, `status` | `time`, `patient_name` | generic |
//!
//! A missing field, a wrong value, an unknown template or language is a 422 naming the field
//! (`data.time`, `template`, `language`), with the email route's codes.

use std::fmt;

use minijinja::Value as TemplateValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::dates;
use crate::email::templates::one_line;
use crate::email::{Language, TemplateCatalog, TemplateName};
use crate::error::InvalidInput;
use crate::sms::MAX_TEXT_CHARS;

/// Longest accepted value of one field of a short template, in characters.
pub const MAX_SHORT_FIELD_CHARS: usize = 500;

/// The short templates (the SMS route's named templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShortTemplate {
    AppointmentReminder,
    QuickConfirmation,
    RiskAlert,
    AppointmentUpdated,
}

impl ShortTemplate {
    pub const ALL: [ShortTemplate; 4] = [
        ShortTemplate::AppointmentReminder,
        ShortTemplate::QuickConfirmation,
        ShortTemplate::RiskAlert,
        ShortTemplate::AppointmentUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShortTemplate::AppointmentReminder => "appointment_reminder",
            ShortTemplate::QuickConfirmation => "quick_confirmation",
            ShortTemplate::RiskAlert => "risk_alert",
            ShortTemplate::AppointmentUpdated => "appointment_updated",
        }
    }

    /// Fields the caller must give in `data`.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            ShortTemplate::AppointmentReminder | ShortTemplate::QuickConfirmation => {
                &["date", "time"]
            }
            ShortTemplate::RiskAlert => &["patient_name", "risk_level"],
            ShortTemplate::AppointmentUpdated => &["date", "status"],
        }
    }

    /// Fields the template uses when present.
    pub fn optional_fields(self) -> &'static [&'static str] {
        match self {
            ShortTemplate::AppointmentReminder => &["patient_name", "doctor_name", "location"],
            ShortTemplate::QuickConfirmation => &["patient_name", "doctor_name", "appointment_id"],
            ShortTemplate::RiskAlert => &["detail", "contact_phone"],
            ShortTemplate::AppointmentUpdated => &["time", "patient_name"],
        }
    }

    /// The email template that carries the same message in full, with the same fields; the
    /// others go out by email as the `generic` template (their title and text) in the same
    /// language.
    pub fn email_template(self) -> Option<TemplateName> {
        match self {
            ShortTemplate::AppointmentReminder => Some(TemplateName::AppointmentReminder),
            ShortTemplate::QuickConfirmation => Some(TemplateName::AppointmentConfirmation),
            ShortTemplate::RiskAlert | ShortTemplate::AppointmentUpdated => None,
        }
    }

    /// A template by name; an unknown one is a 422 naming `template` with the choices.
    pub fn parse(name: &str) -> Result<Self, InvalidInput> {
        let wanted = name.trim().to_ascii_lowercase();
        ShortTemplate::ALL
            .into_iter()
            .find(|t| t.as_str() == wanted)
            .ok_or_else(|| {
                InvalidInput::unprocessable(
                    "unknown_template",
                    format!("there is no SMS template {name:?}"),
                )
                .with_field(
                    "template",
                    format!(
                        "one of {}",
                        ShortTemplate::ALL.map(ShortTemplate::as_str).join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for ShortTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A language by tag (`fa`, `pt-BR`, `en`, as the email route reads them); an unknown one is
/// a 422 naming `language`.
pub fn parse_language(tag: &str) -> Result<Language, InvalidInput> {
    tag.parse::<Language>().map_err(|_| {
        InvalidInput::unprocessable(
            "unknown_language",
            format!("templates are not available in {tag:?}"),
        )
        .with_field(
            "language",
            format!("one of {}", Language::ALL.map(Language::tag).join(", ")),
        )
    })
}

/// A rendered short template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortMessage {
    /// The in-app and WebSocket title.
    pub title: String,
    /// The SMS body, and the in-app and WebSocket message.
    pub text: String,
    pub language: Language,
}

macro_rules! short_files {
    ($($name:literal),* $(,)?) => {
        &[$(
            (concat!("short/", $name, ".en.txt"), include_str!(concat!("../email/templates/short/", $name, ".en.txt"))),
            (concat!("short/", $name, ".pt-BR.txt"), include_str!(concat!("../email/templates/short/", $name, ".pt-BR.txt"))),
            (concat!("short/", $name, ".fa.txt"), include_str!(concat!("../email/templates/short/", $name, ".fa.txt"))),
        )*]
    };
}

/// The short template files, compiled by [`TemplateCatalog::new`] with the email templates.
pub(crate) const SHORT_FILES: &[(&str, &str)] = short_files!(
    "appointment_reminder",
    "quick_confirmation",
    "risk_alert",
    "appointment_updated",
);

fn missing(template: ShortTemplate, field: &str) -> InvalidInput {
    InvalidInput::unprocessable(
        "missing_template_data",
        format!("template {template} needs data.{field}"),
    )
    .with_field(
        format!("data.{field}"),
        format!("required by template {template}"),
    )
}

fn invalid(field: &str, reason: impl Into<String>) -> InvalidInput {
    let reason = reason.into();
    InvalidInput::unprocessable("invalid_template_data", format!("data.{field}: {reason}"))
        .with_field(format!("data.{field}"), reason)
}

/// The clinical risk levels, as each language writes them (`risk_alert`).
fn risk_label(value: &str, language: Language) -> Option<&'static str> {
    let level = match value.trim().to_lowercase().as_str() {
        "low" | "baixo" | "baixa" | "کم" => 0,
        "moderate" | "medium" | "moderado" | "moderada" | "médio" | "medio" | "média" | "media"
        | "متوسط" => 1,
        "high" | "alto" | "alta" | "بالا" | "زیاد" => 2,
        "critical" | "crítico" | "critico" | "crítica" | "critica" | "بحرانی" => 3,
        _ => return None,
    };
    let labels: [&str; 4] = match language {
        Language::En => ["low", "moderate", "high", "critical"],
        Language::PtBr => ["baixo", "moderado", "alto", "crítico"],
        Language::Fa => ["کم", "متوسط", "بالا", "بحرانی"],
    };
    Some(labels[level])
}

/// Common appointment statuses (`appointment_updated`), as each language writes them: the
/// seed sends `confirmado`, other back ends `confirmed`. An unknown status is shown as given.
fn status_label(value: &str, language: Language) -> Option<&'static str> {
    let status = match value.trim().to_lowercase().as_str() {
        "confirmed" | "confirmado" | "confirmada" | "تأیید شده" | "تایید شده" => 0,
        "cancelled" | "canceled" | "cancelado" | "cancelada" | "لغو شده" => 1,
        "rescheduled" | "remarcado" | "remarcada" | "reagendado" | "reagendada" => 2,
        "completed" | "concluído" | "concluido" | "concluída" | "concluida" | "realizado"
        | "realizada" | "انجام شده" => 3,
        "pending" | "pendente" | "در انتظار" => 4,
        "scheduled" | "agendado" | "agendada" | "ثبت شده" => 5,
        _ => return None,
    };
    // pt-BR agrees with "consulta" (feminine).
    let labels: [&str; 6] = match language {
        Language::En => [
            "confirmed",
            "cancelled",
            "rescheduled",
            "completed",
            "pending",
            "scheduled",
        ],
        Language::PtBr => [
            "confirmada",
            "cancelada",
            "remarcada",
            "concluída",
            "pendente",
            "agendada",
        ],
        Language::Fa => [
            "تأیید شده",
            "لغو شده",
            "جابه‌جا شده",
            "انجام شده",
            "در انتظار تأیید",
            "ثبت شده",
        ],
    };
    Some(labels[status])
}

impl TemplateCatalog {
    /// Validates `data` against the short template and renders its title and text in
    /// `language`. Every field error names `data.{field}`.
    pub fn render_short(
        &self,
        template: ShortTemplate,
        language: Language,
        data: &Map<String, Value>,
    ) -> Result<ShortMessage, InvalidInput> {
        for field in template.required_fields() {
            match data.get(*field) {
                None | Some(Value::Null) => return Err(missing(template, field)),
                Some(Value::String(s)) if s.trim().is_empty() => {
                    return Err(missing(template, field));
                }
                _ => {}
            }
        }
        let mut ctx = Map::new();
        for field in template
            .required_fields()
            .iter()
            .chain(template.optional_fields())
        {
            let value = match data.get(*field) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if s.chars().count() > MAX_SHORT_FIELD_CHARS => {
                    return Err(invalid(
                        field,
                        format!("longer than {MAX_SHORT_FIELD_CHARS} characters"),
                    ));
                }
                Some(Value::String(s)) => Value::String(s.trim().to_string()),
                Some(v @ Value::Number(_)) => v.clone(),
                Some(_) => return Err(invalid(field, "must be a string or a number")),
            };
            let text = value.as_str().map(str::to_string).unwrap_or_default();
            let localized = match *field {
                "risk_level" => Value::String(
                    risk_label(&text, language)
                        .ok_or_else(|| invalid(field, "one of low, moderate, high, critical"))?
                        .to_string(),
                ),
                "status" => match status_label(&text, language) {
                    Some(label) => Value::String(label.to_string()),
                    None => value,
                },
                _ => dates::localize_field(field, &value, language)
                    .map_err(|reason| invalid(field, reason))?,
            };
            ctx.insert(field.to_string(), localized);
        }
        ctx.insert("lang".into(), language.tag().into());

        let name = format!("short/{template}.{}.txt", language.tag());
        let failed = |e: minijinja::Error| {
            // A shipped template that does not render is a bug the unit tests catch.
            tracing::error!(template = %name, error = %e, "short template failed to render");
            InvalidInput::unprocessable(
                "template_render_failed",
                format!(
                    "template {template} could not be rendered in {}",
                    language.tag()
                ),
            )
            .with_field("template", "could not be rendered")
        };
        let captured = self
            .env()
            .get_template(&name)
            .and_then(|t| t.render_captured(TemplateValue::from(minijinja::value::Serde(&ctx))))
            .map_err(failed)?;
        let title = captured
            .state()
            .lookup("title")
            .map(|v| one_line(&v.to_string()))
            .unwrap_or_default();
        let text = one_line(&captured.into_output());
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(InvalidInput::unprocessable(
                "invalid_template_data",
                format!("the rendered text is longer than {MAX_TEXT_CHARS} characters"),
            )
            .with_field(
                "data",
                format!(
                    "shorten the fields: the text must stay within {MAX_TEXT_CHARS} characters"
                ),
            ));
        }
        Ok(ShortMessage {
            title,
            text,
            language,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn full(t: ShortTemplate) -> Map<String, Value> {
        data(match t {
            ShortTemplate::RiskAlert => {
                json!({"patient_name": "João Silva", "risk_level": "high", "detail": "PA 180/110", "contact_phone": "+5511999999999"})
            }
            ShortTemplate::AppointmentUpdated => {
                json!({"date": "2025-01-20", "time": "14:00", "status": "confirmado", "patient_name": "João Silva"})
            }
            _ => {
                json!({"date": "2025-01-20", "time": "14:00", "patient_name": "João Silva", "doctor_name": "Dra. Ana",
                       "location": "Sala 3", "appointment_id": 456})
            }
        })
    }

    #[test]
    fn every_short_template_renders_in_every_language_on_one_line() {
        let catalog = TemplateCatalog::shared();
        for t in ShortTemplate::ALL {
            for lang in Language::ALL {
                let m = catalog
                    .render_short(t, lang, &full(t))
                    .unwrap_or_else(|e| panic!("{t} {lang:?}: {e}"));
                assert!(!m.title.is_empty(), "{t} {lang:?}");
                assert!(m.text.contains("João Silva"), "{t} {lang:?}: {}", m.text);
                assert!(
                    !m.text.contains('\n') && !m.text.contains("{{"),
                    "{}",
                    m.text
                );
                assert!(
                    m.text.chars().count() <= 160 * 2,
                    "{t} {lang:?}: {}",
                    m.text
                );
            }
            // Only the required fields: still a sentence.
            let required: Map<String, Value> = full(t)
                .into_iter()
                .filter(|(k, _)| t.required_fields().contains(&k.as_str()))
                .collect();
            catalog
                .render_short(t, Language::En, &required)
                .unwrap_or_else(|e| panic!("{t} with required fields only: {e}"));
        }
    }

    #[test]
    fn the_seed_reminder_reads_in_each_calendar() {
        let catalog = TemplateCatalog::shared();
        let d = data(json!({"date": "2025-01-20", "time": "14:00"}));
        let t = ShortTemplate::AppointmentReminder;
        let fa = catalog.render_short(t, Language::Fa, &d).unwrap();
        assert_eq!(fa.title, "یادآوری نوبت");
        assert_eq!(fa.text, "یادآوری نوبت شما در تاریخ ۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰.");
        let pt = catalog.render_short(t, Language::PtBr, &d).unwrap();
        assert_eq!(pt.text, "Lembrete da sua consulta em 20/01/2025 às 14:00.");
        let en = catalog.render_short(t, Language::En, &d).unwrap();
        assert_eq!(
            en.text,
            "This is a reminder of your appointment on 20 January 2025 at 14:00."
        );
    }

    #[test]
    fn words_and_numbers_follow_the_language() {
        let catalog = TemplateCatalog::shared();
        let risk = catalog
            .render_short(
                ShortTemplate::RiskAlert,
                Language::PtBr,
                &full(ShortTemplate::RiskAlert),
            )
            .unwrap();
        assert!(
            risk.text
                .starts_with("Alerta de risco alto para João Silva."),
            "{}",
            risk.text
        );
        let updated = catalog
            .render_short(
                ShortTemplate::AppointmentUpdated,
                Language::En,
                &data(json!({"date": "2025-01-20", "status": "confirmado"})),
            )
            .unwrap();
        assert_eq!(
            updated.text,
            "Your appointment on 20 January 2025 is now confirmed."
        );
        let unknown = catalog
            .render_short(
                ShortTemplate::AppointmentUpdated,
                Language::PtBr,
                &data(json!({"date": "2025-01-20", "status": "em análise"})),
            )
            .unwrap();
        assert!(
            unknown.text.ends_with("agora está em análise."),
            "{}",
            unknown.text
        );
        let fa = catalog
            .render_short(
                ShortTemplate::QuickConfirmation,
                Language::Fa,
                &data(json!({"date": "2025-01-20", "time": "09:30", "appointment_id": 456})),
            )
            .unwrap();
        assert!(fa.text.contains("۱۴۰۳/۱۱/۰۱ ساعت ۰۹:۳۰"), "{}", fa.text);
        assert!(fa.text.contains("شماره پیگیری: ۴۵۶"), "{}", fa.text);
    }

    #[test]
    fn wrong_input_is_a_422_naming_the_field() {
        let catalog = TemplateCatalog::shared();
        let field = |e: InvalidInput| (e.code, e.fields[0].field.clone(), e.unprocessable);
        let e = catalog
            .render_short(
                ShortTemplate::AppointmentReminder,
                Language::PtBr,
                &data(json!({"date": "2025-01-20"})),
            )
            .unwrap_err();
        assert_eq!(
            field(e),
            ("missing_template_data", "data.time".into(), true)
        );
        let e = catalog
            .render_short(
                ShortTemplate::AppointmentReminder,
                Language::PtBr,
                &data(json!({"date": "20/01/2025", "time": "14:00"})),
            )
            .unwrap_err();
        assert_eq!(
            field(e),
            ("invalid_template_data", "data.date".into(), true)
        );
        let e = catalog
            .render_short(
                ShortTemplate::RiskAlert,
                Language::En,
                &data(json!({"patient_name": "x", "risk_level": "spicy"})),
            )
            .unwrap_err();
        assert_eq!(
            field(e),
            ("invalid_template_data", "data.risk_level".into(), true)
        );
        let e = ShortTemplate::parse("welcome").unwrap_err();
        assert_eq!(
            field(e.clone()),
            ("unknown_template", "template".into(), true)
        );
        assert!(e.fields[0].message.contains("risk_alert"));
        let e = parse_language("de").unwrap_err();
        assert_eq!(field(e), ("unknown_language", "language".into(), true));
        assert_eq!(
            ShortTemplate::parse("Risk_Alert").unwrap(),
            ShortTemplate::RiskAlert
        );
    }
}
