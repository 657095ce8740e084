//! Email templates: appointment reminder, confirmation and cancellation, password recovery and
//! a generic message, each in fa (right-to-left), pt-BR and en, each with an HTML and a text
//! part.
//!
//! The templates are embedded in the binary (`include_str!`) and compiled into one minijinja
//! [`Environment`] when [`TemplateCatalog::new`] runs at cold start; a send only renders.
//! Files under `templates/`:
//! - `{template}.{lang}.txt`: the text part; it also sets the subject with
//!   `{% set subject %}...{% endset %}` (so subject and text share one translation file);
//! - `{template}.{lang}.html`: the HTML part, extending `layout.html`, which carries
//!   `<html lang=".." dir="..">` from the language (never from caller data).
//!
//! - `short/{template}.{lang}.txt`: the short texts of SMS, in-app and WebSocket
//!   ([`crate::locale::short`]), compiled into the same environment: one source of templates.
//!
//! Dates and times reach every template as the reader writes them ([`crate::locale::dates`]):
//! `date` (Gregorian `YYYY-MM-DD`) becomes `۱۴۰۳/۱۱/۰۱` (Solar Hijri, Persian digits) in fa,
//! `20/01/2025` in pt-BR and `20 January 2025` in en; `time` (`HH:MM`) gets Persian digits in
//! fa, and so do numbers. A `date` or `time` in another shape is a 422 naming the field.
//!
//! HTML files are autoescaped (caller data such as a patient's name containing `<script>`
//! arrives as text); text files are not escaped (they are `text/plain`). Undefined variables
//! are errors when printed (semi-strict mode), and every template declares its required fields
//! so a missing one is reported by name before rendering.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value as TemplateValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::EmailError;

/// Longest accepted value of one template field, in characters.
pub const MAX_FIELD_CHARS: usize = 2_000;
/// Longest accepted `message` of the generic template, in characters.
pub const MAX_MESSAGE_CHARS: usize = 20_000;

/// The templates the hub knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateName {
    AppointmentReminder,
    AppointmentConfirmation,
    AppointmentCancellation,
    PasswordRecovery,
    Generic,
}

impl TemplateName {
    pub const ALL: [TemplateName; 5] = [
        TemplateName::AppointmentReminder,
        TemplateName::AppointmentConfirmation,
        TemplateName::AppointmentCancellation,
        TemplateName::PasswordRecovery,
        TemplateName::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateName::AppointmentReminder => "appointment_reminder",
            TemplateName::AppointmentConfirmation => "appointment_confirmation",
            TemplateName::AppointmentCancellation => "appointment_cancellation",
            TemplateName::PasswordRecovery => "password_recovery",
            TemplateName::Generic => "generic",
        }
    }

    /// Fields the caller must give in `data`.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            TemplateName::AppointmentReminder
            | TemplateName::AppointmentConfirmation
            | TemplateName::AppointmentCancellation => &["date", "time"],
            TemplateName::PasswordRecovery => &["name", "reset_url"],
            TemplateName::Generic => &["subject", "message"],
        }
    }

    /// Fields the template uses when present.
    pub fn optional_fields(self) -> &'static [&'static str] {
        match self {
            // Without `patient_name` the greeting is the language's "dear patient".
            TemplateName::AppointmentReminder => &["patient_name", "doctor_name", "location"],
            TemplateName::AppointmentConfirmation => {
                &["patient_name", "doctor_name", "location", "appointment_id"]
            }
            TemplateName::AppointmentCancellation => {
                &["patient_name", "doctor_name", "reason", "reschedule_url"]
            }
            TemplateName::PasswordRecovery => &["expires_in_minutes"],
            TemplateName::Generic => &["name", "action_url", "action_label"],
        }
    }

    /// Fields rendered as link targets: they must be http(s) URLs, because autoescaping
    /// does not stop a `javascript:` URL in an `href`.
    pub(crate) fn url_fields(self) -> &'static [&'static str] {
        match self {
            TemplateName::AppointmentCancellation => &["reschedule_url"],
            TemplateName::PasswordRecovery => &["reset_url"],
            TemplateName::Generic => &["action_url"],
            _ => &[],
        }
    }
}

impl fmt::Display for TemplateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateName {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        TemplateName::ALL
            .into_iter()
            .find(|t| t.as_str() == wanted)
            .ok_or_else(|| EmailError::UnknownTemplate(s.to_string()))
    }
}

/// The languages every template exists in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Language {
    #[serde(rename = "fa")]
    Fa,
    #[serde(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "en")]
    En,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Fa, Language::PtBr, Language::En];

    /// The BCP 47 tag, as written in `lang=` and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Fa => "fa",
            Language::PtBr => "pt-BR",
            Language::En => "en",
        }
    }

    pub fn is_rtl(self) -> bool {
        self == Language::Fa
    }

    fn dir(self) -> &'static str {
        if self.is_rtl() { "rtl" } else { "ltr" }
    }

    fn align(self) -> &'static str {
        if self.is_rtl() { "right" } else { "left" }
    }

    /// Fonts that mail clients commonly have and that carry the script well.
    fn font(self) -> &'static str {
        match self {
            Language::Fa => "Tahoma, 'Segoe UI', Vazirmatn, Arial, sans-serif",
            _ => "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
        }
    }
}

impl FromStr for Language {
    type Err = EmailError;

    /// Accepts the tags case-insensitively, `_` for `-`, and `pt` for pt-BR.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "fa" | "fa-ir" => Ok(Language::Fa),
            "pt-br" | "pt" => Ok(Language::PtBr),
            "en" | "en-us" | "en-gb" => Ok(Language::En),
            _ => Err(EmailError::UnknownLanguage(s.to_string())),
        }
    }
}

/// A rendered email: subject, text part and HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub language: Language,
}

macro_rules! template_files {
    ($($name:literal),* $(,)?) => {
        &[$(
            (concat!($name, ".en.txt"), include_str!(concat!("templates/", $name, ".en.txt"))),
            (concat!($name, ".en.html"), include_str!(concat!("templates/", $name, ".en.html"))),
            (concat!($name, ".pt-BR.txt"), include_str!(concat!("templates/", $name, ".pt-BR.txt"))),
            (concat!($name, ".pt-BR.html"), include_str!(concat!("templates/", $name, ".pt-BR.html"))),
            (concat!($name, ".fa.txt"), include_str!(concat!("templates/", $name, ".fa.txt"))),
            (concat!($name, ".fa.html"), include_str!(concat!("templates/", $name, ".fa.html"))),
        )*]
    };
}

const TEMPLATE_FILES: &[(&str, &str)] = template_files!(
    "appointment_reminder",
    "appointment_confirmation",
    "appointment_cancellation",
    "password_recovery",
    "generic",
);
const LAYOUT: &str = include_str!("templates/layout.html");

/// The compiled templates. Build once per cold start; rendering is read-only and shared.
pub struct TemplateCatalog {
    env: Environment<'static>,
}

impl fmt::Debug for TemplateCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateCatalog")
            .field("templates", &(TEMPLATE_FILES.len() + 1))
            .finish()
    }
}

impl TemplateCatalog {
    /// Compiles every template. Fails only if a shipped template has a syntax error (a bug
    /// the unit tests catch).
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()?,
        );
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_filter("paragraphs", paragraphs);
        env.add_template("layout.html", LAYOUT)?;
        for (name, source) in TEMPLATE_FILES
            .iter()
            .chain(crate::locale::short::SHORT_FILES)
        {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// The process's catalog, compiled on first use (at cold start) and shared by every
    /// capability that renders: the SMS route's named templates, the notifications'
    /// appointment helpers. Panics only if a shipped template does not compile, which the
    /// unit tests rule out.
    pub fn shared() -> Arc<TemplateCatalog> {
        static CATALOG: OnceLock<Arc<TemplateCatalog>> = OnceLock::new();
        CATALOG
            .get_or_init(|| {
                Arc::new(TemplateCatalog::new().expect("the shipped templates compile"))
            })
            .clone()
    }

    /// The compiled templates, for the renderers of the other template kinds.
    pub(crate) fn env(&self) -> &Environment<'static> {
        &self.env
    }

    /// Checks `data` against the template's fields: required ones present and non-empty,
    /// values strings or numbers within bounds, link fields http(s) URLs.
    pub fn validate(
        &self,
        template: TemplateName,
        data: &Map<String, Value>,
    ) -> Result<(), EmailError> {
        for field in template.required_fields() {
            match data.get(*field) {
                None | Some(Value::Null) => {
                    return Err(EmailError::MissingData {
                        template,
                        field: field.to_string(),
                    });
                }
                Some(Value::String(s)) if s.trim().is_empty() => {
                    return Err(EmailError::MissingData {
                        template,
                        field: field.to_string(),
                    });
                }
                _ => {}
            }
        }
        let used = template
            .required_fields()
            .iter()
            .chain(template.optional_fields());
        for field in used {
            let Some(value) = data.get(*field) else {
                continue;
            };
            let max = if *field == "message" {
                MAX_MESSAGE_CHARS
            } else {
                MAX_FIELD_CHARS
            };
            match value {
                Value::Null | Value::Number(_) | Value::Bool(_) => {}
                Value::String(s) if s.chars().count() > max => {
                    return Err(EmailError::InvalidData {
                        field: field.to_string(),
                        reason: format!("longer than {max} characters"),
                    });
                }
                Value::String(_) => {}
                Value::Array(_) | Value::Object(_) => {
                    return Err(EmailError::InvalidData {
                        field: field.to_string(),
                        reason: "must be a string or a number".into(),
                    });
                }
            }
        }
        for field in ["date", "time"] {
            if let Some(value) = data.get(field).filter(|v| !v.is_null()) {
                crate::locale::dates::check_field(field, value).map_err(|reason| {
                    EmailError::InvalidData {
                        field: field.to_string(),
                        reason,
                    }
                })?;
            }
        }
        for field in template.url_fields() {
            if let Some(Value::String(url)) = data.get(*field) {
                let lower = url.trim().to_ascii_lowercase();
                if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                    return Err(EmailError::InvalidData {
                        field: field.to_string(),
                        reason: "must be an http(s) URL".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Validates `data` and renders subject, text and HTML.
    pub fn render(
        &self,
        template: TemplateName,
        language: Language,
        data: &Map<String, Value>,
    ) -> Result<RenderedEmail, EmailError> {
        self.validate(template, data)?;
        // Only the template's declared fields reach it; `null` means absent. The presentation
        // variables come last so caller data cannot override them.
        let mut ctx = Map::new();
        for field in template
            .required_fields()
            .iter()
            .chain(template.optional_fields())
        {
            let value = match data.get(*field) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => Value::String(s.trim().to_string()),
                Some(v) => v.clone(),
            };
            // Dates, times and numbers as the reader writes them (checked by `validate`).
            let value = crate::locale::dates::localize_field(field, &value, language).map_err(
                |reason| EmailError::InvalidData {
                    field: field.to_string(),
                    reason,
                },
            )?;
            ctx.insert(field.to_string(), value);
        }
        ctx.insert("lang".into(), language.tag().into());
        ctx.insert("dir".into(), language.dir().into());
        ctx.insert("align".into(), language.align().into());
        ctx.insert("font".into(), language.font().into());

        let text_name = format!("{template}.{}.txt", language.tag());
        let html_name = format!("{template}.{}.html", language.tag());
        let render_err =
            |e: minijinja::Error| EmailError::Render(format!("{template}/{}: {e}", language.tag()));

        let text_template = self.env.get_template(&text_name).map_err(render_err)?;
        let captured = text_template
            .render_captured(TemplateValue::from(minijinja::value::Serde(&ctx)))
            .map_err(render_err)?;
        let subject = captured
            .state()
            .lookup("subject")
            .map(|v| v.to_string())
            .ok_or_else(|| EmailError::Render(format!("{text_name} does not set a subject")))?;
        let subject = one_line(&subject);
        if subject.is_empty() {
            return Err(EmailError::MissingData {
                template,
                field: "subject".into(),
            });
        }
        let text = tidy_text(&captured.into_output());

        ctx.insert("subject".into(), Value::String(subject.clone()));
        let html = self
            .env
            .get_template(&html_name)
            .and_then(|t| t.render(TemplateValue::from(minijinja::value::Serde(&ctx))))
            .map_err(render_err)?;
        Ok(RenderedEmail {
            subject,
            text,
            html,
            language,
        })
    }
}

/// A header value on one line: control characters and runs of whitespace become one space.
pub fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text parts: no trailing spaces (except the `-- ` signature separator), at most one blank
/// line in a row, one final newline.
fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.trim_matches('\n').lines() {
        let line = if line == "-- " { line } else { line.trim_end() };
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `message | paragraphs`: escapes the text and keeps its line breaks as `<br>`.
fn paragraphs(value: String) -> TemplateValue {
    let escaped = minijinja::HtmlEscape(value.trim()).to_string();
    TemplateValue::from_safe_string(escaped.replace("\r\n", "\n").replace('\n', "<br>\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn sample(t: TemplateName) -> Map<String, Value> {
        data(match t {
            TemplateName::PasswordRecovery => {
                json!({"name": "Ana", "reset_url": "https://app.example/reset?t=1&u=2", "expires_in_minutes": 30})
            }
            TemplateName::Generic => {
                json!({"subject": "Hi", "message": "Line 1\nLine 2", "name": "Ana", "action_url": "https://app.example"})
            }
            _ => {
                json!({"patient_name": "Ana", "date": "2025-01-20", "time": "14:00", "doctor_name": "Dr. Reza",
                "location": "Room 3", "appointment_id": "A-1", "reason": "doctor ill", "reschedule_url": "https://app.example/book"})
            }
        })
    }

    #[test]
    fn every_template_renders_in_every_language_with_direction() {
        let catalog = TemplateCatalog::new().unwrap();
        for t in TemplateName::ALL {
            for lang in Language::ALL {
                let r = catalog
                    .render(t, lang, &sample(t))
                    .unwrap_or_else(|e| panic!("{t} {lang:?}: {e}"));
                assert!(
                    !r.subject.is_empty() && !r.subject.contains('\n'),
                    "{t} {lang:?} subject {:?}",
                    r.subject
                );
                assert!(
                    r.text.contains("Ana")
                        || t == TemplateName::Generic && r.text.contains("Line 1"),
                    "{t} {lang:?}: {}",
                    r.text
                );
                let dir = if lang == Language::Fa { "rtl" } else { "ltr" };
                assert!(
                    r.html
                        .contains(&format!("<html lang=\"{}\" dir=\"{dir}\">", lang.tag())),
                    "{t} {lang:?}: {}",
                    r.html
                );
                assert!(!r.text.contains("{{") && !r.html.contains("{{"));
                assert!(
                    !r.text.contains("&amp;"),
                    "text parts are not escaped: {}",
                    r.text
                );
            }
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let catalog = TemplateCatalog::new().unwrap();
        let d = data(
            json!({"patient_name": "<script>alert(1)</script>", "date": "2025-01-20", "time": "14:00"}),
        );
        let r = catalog
            .render(TemplateName::AppointmentReminder, Language::En, &d)
            .unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("Dear <script>alert(1)</script>,"));
    }

    #[test]
    fn generic_message_keeps_line_breaks_escaped() {
        let catalog = TemplateCatalog::new().unwrap();
        let d = data(json!({"subject": "a\r\nBcc: x@y.z", "message": "one <b>\ntwo"}));
        let r = catalog
            .render(TemplateName::Generic, Language::PtBr, &d)
            .unwrap();
        assert_eq!(r.subject, "a Bcc: x@y.z", "a subject never spans lines");
        assert!(r.html.contains("one &lt;b&gt;<br>\ntwo"), "{}", r.html);
    }

    #[test]
    fn missing_and_bad_fields_are_named() {
        let catalog = TemplateCatalog::new().unwrap();
        let err = catalog
            .render(
                TemplateName::AppointmentReminder,
                Language::Fa,
                &data(json!({"patient_name": "x", "date": "d"})),
            )
            .unwrap_err();
        assert!(
            matches!(&err, EmailError::MissingData { field, .. } if field == "time"),
            "{err:?}"
        );
        let err = catalog
            .render(
                TemplateName::PasswordRecovery,
                Language::En,
                &data(json!({"name": "x", "reset_url": "javascript:alert(1)"})),
            )
            .unwrap_err();
        assert!(
            matches!(&err, EmailError::InvalidData { field, .. } if field == "reset_url"),
            "{err:?}"
        );
        let err = catalog
            .render(
                TemplateName::Generic,
                Language::En,
                &data(json!({"subject": "s", "message": {"a": 1}})),
            )
            .unwrap_err();
        assert!(
            matches!(&err, EmailError::InvalidData { field, .. } if field == "message"),
            "{err:?}"
        );
    }

    #[test]
    fn dates_times_and_numbers_read_as_each_language_writes_them() {
        let catalog = TemplateCatalog::new().unwrap();
        let d = data(json!({"date": "2025-01-20", "time": "14:00"}));
        let t = TemplateName::AppointmentReminder;
        let fa = catalog.render(t, Language::Fa, &d).unwrap();
        assert_eq!(fa.subject, "یادآوری نوبت: ۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰");
        assert!(fa.text.starts_with("بیمار گرامی،"), "{}", fa.text);
        // (HTML escaping writes `/` as `&#x2f;`; mail clients show `/`.)
        assert!(
            fa.html
                .contains("<strong>۱۴۰۳&#x2f;۱۱&#x2f;۰۱</strong> ساعت <strong>۱۴:۰۰</strong>"),
            "{}",
            fa.html
        );
        let pt = catalog.render(t, Language::PtBr, &d).unwrap();
        assert_eq!(pt.subject, "Lembrete de consulta: 20/01/2025 às 14:00");
        assert!(pt.text.starts_with("Olá,\n"), "{}", pt.text);
        let en = catalog.render(t, Language::En, &d).unwrap();
        assert_eq!(en.subject, "Appointment reminder: 20 January 2025 at 14:00");
        assert!(en.text.starts_with("Dear patient,"), "{}", en.text);
        let recovery = data(
            json!({"name": "Ali", "reset_url": "https://app.example/r", "expires_in_minutes": 30}),
        );
        let fa = catalog
            .render(TemplateName::PasswordRecovery, Language::Fa, &recovery)
            .unwrap();
        assert!(fa.text.contains("۳۰ دقیقه"), "{}", fa.text);
        for bad in ["1403-11-01", "20/01/2025"] {
            let err = catalog
                .render(
                    t,
                    Language::Fa,
                    &data(json!({"date": bad, "time": "14:00"})),
                )
                .unwrap_err();
            assert!(
                matches!(&err, EmailError::InvalidData { field, .. } if field == "date"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn names_and_languages_parse() {
        assert_eq!("pt_br".parse::<Language>().unwrap(), Language::PtBr);
        assert_eq!("FA".parse::<Language>().unwrap(), Language::Fa);
        assert!("de".parse::<Language>().is_err());
        assert_eq!(
            "Appointment_Reminder".parse::<TemplateName>().unwrap(),
            TemplateName::AppointmentReminder
        );
        assert!("welcome".parse::<TemplateName>().is_err());
    }
}
