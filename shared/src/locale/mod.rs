//! Localization: what each audience reads, on every channel.
//!
//! One source of templates: the email templates and the short texts (SMS, in-app,
//! WebSocket) live side by side under `shared/src/email/templates/` and are compiled into one
//! [`crate::email::TemplateCatalog`] per process at cold start
//! ([`crate::email::TemplateCatalog::shared`]). Every template exists in `fa` (right to left),
//! `pt-BR` and `en`.
//!
//! - [`dates`]: Gregorian ISO dates and 24-hour times as each language writes them (Solar
//!   Hijri with Persian digits for `fa`), applied to the `date` and `time` fields of every
//!   template.
//! - [`short`]: the short templates (`appointment_reminder`, `quick_confirmation`,
//!   `risk_alert`, `appointment_updated`): the SMS route's named templates and the text of the
//!   notifications' appointment helpers.

pub mod dates;
pub mod short;

pub use crate::email::Language;
pub use short::{ShortMessage, ShortTemplate, parse_language};
