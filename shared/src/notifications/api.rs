//! Request and answer shapes of the notifications API, in one place for the function crate
//! and the domain, with the checks that turn a request into domain input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::*;
use super::validate::*;
use crate::clock::now_rfc3339;
use crate::email::TemplateCatalog;
use crate::error::InvalidInput;
use crate::locale::{ShortMessage, ShortTemplate, parse_language};

/// `POST /api/v1/notifications`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendNotification {
    #[schema(schema_with = crate::openapi::user_id)]
    pub user_id: String,
    /// Free-form kind, e.g. `reminder`, `appointment_reminder`, `message` (seed: `lembrete`).
    #[serde(rename = "type")]
    #[schema(schema_with = kind_schema)]
    pub kind: String,
    #[schema(schema_with = title_schema)]
    pub title: String,
    #[schema(schema_with = message_schema)]
    pub message: String,
    /// Extra data for the client (an object, at most 16 KiB as JSON).
    #[serde(default)]
    #[schema(value_type = Option<crate::store::storable::StorableObject>)]
    pub data: Option<Value>,
    /// Channels to use; default all. `in_app` is always included.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Channel>>)]
    pub channels: Option<Vec<String>>,
    /// Overrides the profile's email address for this notification.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_email)]
    pub email: Option<String>,
    /// Overrides the profile's phone number for this notification.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_phone)]
    pub phone: Option<String>,
}

fn kind_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::text(MAX_KIND_CHARS).description(Some(
        "Free-form kind, e.g. `reminder`, `appointment_reminder`, `message` (seed: `lembrete`)",
    ))
}

fn title_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::text(MAX_TITLE_CHARS)
}

fn message_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::text(MAX_MESSAGE_CHARS)
}

impl SendNotification {
    pub fn validate(self, event: &str) -> Result<NewNotification, InvalidInput> {
        validate_user_id("user_id", &self.user_id)?;
        check_len("type", &self.kind, MAX_KIND_CHARS)?;
        check_len("title", &self.title, MAX_TITLE_CHARS)?;
        check_len("message", &self.message, MAX_MESSAGE_CHARS)?;
        let data = match self.data {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(v @ Value::Object(_)) => v,
            Some(_) => return Err(InvalidInput::field("data", "must be a JSON object")),
        };
        crate::store::storable::check("data", &data)?;
        if serde_json::to_vec(&data).map(|b| b.len()).unwrap_or(0) > MAX_DATA_BYTES {
            return Err(InvalidInput::field(
                "data",
                format!("must be at most {MAX_DATA_BYTES} bytes of JSON"),
            ));
        }
        let channels = parse_channels(self.channels.as_deref())?;
        if let Some(e) = &self.email {
            validate_email("email", e)?;
        }
        let phone = self
            .phone
            .as_deref()
            .map(|p| normalize_phone("phone", p))
            .transpose()?;
        Ok(NewNotification {
            user_id: self.user_id,
            kind: self.kind.trim().to_string(),
            title: self.title,
            message: self.message,
            data,
            event: event.to_string(),
            channels,
            email: self.email,
            phone,
            template: None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelSwitches {
    /// Always true: the inbox cannot be turned off.
    pub in_app: bool,
    pub email: bool,
    pub sms: bool,
    pub websocket: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// `GET /api/v1/notifications/preferences`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preferences {
    pub user_id: String,
    pub channels: ChannelSwitches,
    pub contact: Contact,
    pub updated_at: Option<String>,
}

/// `PUT /api/v1/notifications/preferences`: every field optional; what is given replaces
/// the stored value (`contact.email: null` removes the address).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    /// Admin/service only: whose preferences (default: the caller).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_user_id)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub channels: Option<ChannelSwitchesUpdate>,
    #[serde(default)]
    pub contact: Option<ContactUpdate>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSwitchesUpdate {
    /// The inbox cannot be turned off: only `true` (or absent).
    #[schema(schema_with = in_app_switch)]
    pub in_app: Option<bool>,
    pub email: Option<bool>,
    pub sms: Option<bool>,
    pub websocket: Option<bool>,
}

/// `Some(None)` (an explicit `null`) removes the value; absent leaves it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = crate::openapi::optional_email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = crate::openapi::optional_phone)]
    pub phone: Option<Option<String>>,
}

fn in_app_switch() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Boolean, Type::Null]))
        .enum_values(Some([Value::Bool(true), Value::Null]))
}

fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl PreferencesUpdate {
    /// Applies the update to `profile`, validating as it goes.
    pub fn apply(&self, profile: &mut Profile) -> Result<(), InvalidInput> {
        if let Some(ch) = &self.channels {
            if ch.in_app == Some(false) {
                return Err(InvalidInput::field(
                    "channels.in_app",
                    "the in-app inbox cannot be turned off",
                ));
            }
            if let Some(v) = ch.email {
                profile.email_enabled = v;
            }
            if let Some(v) = ch.sms {
                profile.sms_enabled = v;
            }
            if let Some(v) = ch.websocket {
                profile.websocket_enabled = v;
            }
        }
        if let Some(contact) = &self.contact {
            if let Some(email) = &contact.email {
                if let Some(e) = email {
                    validate_email("contact.email", e)?;
                }
                profile.email = email.clone();
            }
            if let Some(phone) = &contact.phone {
                profile.phone = phone
                    .as_deref()
                    .map(|p| normalize_phone("contact.phone", p))
                    .transpose()?;
            }
        }
        profile.updated_at = Some(now_rfc3339());
        Ok(())
    }
}

/// `202` answer of a send.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SendAccepted {
    pub id: String,
    pub user_id: String,
    /// Channels handed to the queue (their outcomes appear on the notification).
    pub channels_queued: Vec<Channel>,
    /// Every requested channel's outcome so far.
    pub channels: BTreeMap<String, ChannelOutcome>,
    pub created_at: String,
}

/// A page of the inbox.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboxPage {
    pub items: Vec<Notification>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/notifications` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only unread notifications.
    pub unread: Option<bool>,
    /// Page size, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Service/admin: whose inbox.
    pub user_id: Option<String>,
}

/// `?user_id=` of the per-user routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Service/admin: whose notifications.
    pub user_id: Option<String>,
}

/// `POST /api/v1/notifications/read-all` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadAll {
    pub user_id: String,
    /// How many notifications were marked read.
    pub marked: u32,
}

/// `POST /api/v1/notifications/appointment-reminder` (seed: `send_appointment_reminder`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentReminder {
    #[schema(schema_with = crate::openapi::user_id)]
    pub user_id: String,
    /// The appointment's id (string or number).
    #[schema(schema_with = appointment_id_schema)]
    pub appointment_id: Value,
    /// `YYYY-MM-DD`.
    #[schema(schema_with = crate::openapi::date)]
    pub date: String,
    /// `HH:MM`.
    #[schema(schema_with = crate::openapi::time)]
    pub time: String,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_short_field)]
    pub patient_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_short_field)]
    pub doctor_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_short_field)]
    pub location: Option<String>,
    /// `fa` (Solar Hijri dates, Persian digits, right to left), `pt-BR` or `en` (default):
    /// the language of the text on every channel.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_language)]
    pub language: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Channel>>)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_email)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_phone)]
    pub phone: Option<String>,
}

/// `POST /api/v1/notifications/appointment-updated`: the seed's `appointment:updated` event.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentUpdated {
    #[schema(schema_with = crate::openapi::user_id)]
    pub user_id: String,
    pub appointment: AppointmentState,
    /// Overrides the default message text.
    #[serde(default)]
    #[schema(schema_with = optional_message_schema)]
    pub message: Option<String>,
    /// `fa`, `pt-BR` or `en` (default): the language of the title and default text.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_language)]
    pub language: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Channel>>)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_email)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_phone)]
    pub phone: Option<String>,
}

/// The seed's `appointment:updated` data: `{id, status, date}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentState {
    #[schema(schema_with = appointment_id_schema)]
    pub id: Value,
    /// e.g. `confirmed`, `cancelled`, `rescheduled` (seed: `confirmado`).
    #[schema(min_length = 1, max_length = 64, pattern = r"[^\s\u0085]")]
    pub status: String,
    /// `YYYY-MM-DD`.
    #[schema(schema_with = crate::openapi::date)]
    pub date: String,
}

/// Renders a short template in the request's language (default `en`) from the shared
/// catalog; the reference goes on the notification for the email channel.
fn localized(
    template: ShortTemplate,
    language: Option<&str>,
    data: Map<String, Value>,
) -> Result<(ShortMessage, TemplateRef), InvalidInput> {
    let language = parse_language(language.unwrap_or("en"))?;
    let message = TemplateCatalog::shared().render_short(template, language, &data)?;
    Ok((
        message,
        TemplateRef {
            template,
            language,
            data,
        },
    ))
}

/// The optional text fields that are present, by name.
fn present(fields: &[(&str, &Option<String>)]) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_string(), Value::String(v.to_string())))
        })
        .collect()
}

/// An appointment id as `check_appointment_id` takes it: a non-blank string of at most 128
/// bytes, or a number.
fn appointment_id_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::OneOfBuilder;
    OneOfBuilder::new()
        .item(
            crate::openapi::text(MAX_APPOINTMENT_ID_BYTES / 4).description(Some(
                "at most 128 bytes of UTF-8 (32 characters always fit)",
            )),
        )
        .item(crate::store::storable::number_schema())
        .description(Some("The appointment's id: a string or a number"))
        .into()
}

fn optional_message_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::nullable(crate::openapi::text(MAX_MESSAGE_CHARS))
}

impl AppointmentReminder {
    /// The reminder as a notification of type `appointment_reminder`, announced as
    /// `notification:new`: title and message from the `appointment_reminder` template in the
    /// request's language, the same template the email and SMS channels send.
    pub fn validate(&self) -> Result<NewNotification, InvalidInput> {
        check_appointment_id("appointment_id", &self.appointment_id)?;
        check_date("date", &self.date)?;
        check_time("time", &self.time)?;
        let mut data = present(&[
            ("patient_name", &self.patient_name),
            ("doctor_name", &self.doctor_name),
            ("location", &self.location),
        ]);
        data.insert("date".into(), self.date.clone().into());
        data.insert("time".into(), self.time.clone().into());
        let (text, template) = localized(
            ShortTemplate::AppointmentReminder,
            self.language.as_deref(),
            data,
        )?;
        let mut new = SendNotification {
            user_id: self.user_id.clone(),
            kind: "appointment_reminder".into(),
            title: text.title,
            message: text.text,
            data: Some(
                serde_json::json!({ "appointment_id": self.appointment_id, "date": self.date, "time": self.time }),
            ),
            channels: self.channels.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
        }
        .validate(EVENT_NOTIFICATION_NEW)?;
        new.template = Some(template);
        Ok(new)
    }
}

impl AppointmentUpdated {
    /// The change as a notification of type `appointment_updated`, pushed as the seed's
    /// `appointment:updated` event; title and default message from the `appointment_updated`
    /// template in the request's language (a known status in the language's words).
    pub fn validate(&self) -> Result<NewNotification, InvalidInput> {
        let a = &self.appointment;
        check_appointment_id("appointment.id", &a.id)?;
        check_date("appointment.date", &a.date)?;
        if a.status.trim().is_empty() || a.status.chars().count() > 64 {
            return Err(InvalidInput::field(
                "appointment.status",
                "must be 1 to 64 characters",
            ));
        }
        let mut data = Map::new();
        data.insert("date".into(), a.date.clone().into());
        data.insert("status".into(), a.status.trim().into());
        let (text, template) = localized(
            ShortTemplate::AppointmentUpdated,
            self.language.as_deref(),
            data,
        )?;
        let mut new = SendNotification {
            user_id: self.user_id.clone(),
            kind: "appointment_updated".into(),
            title: text.title,
            message: self.message.clone().unwrap_or(text.text),
            data: Some(serde_json::json!({ "id": a.id, "status": a.status, "date": a.date })),
            channels: self.channels.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
        }
        .validate(EVENT_APPOINTMENT_UPDATED)?;
        new.template = Some(template);
        Ok(new)
    }
}
