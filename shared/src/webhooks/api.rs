//! The webhooks API's requests and answers, shared by the function crate (routes, OpenAPI)
//! and the domain. Entities they carry are in [`super::model`].

use serde::{Deserialize, Serialize};

use super::events::EventQuery;
use super::model::{EventStatus, VerificationConfig, WebhookEndpoint, WebhookEvent};
use crate::error::InvalidInput;

/// `POST /api/integrations/webhooks` (the Helsa `register_webhook`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub provider_slug: String,
    pub name: String,
    /// The endpoint's slug (`endpoint_url` in the seed contract).
    #[serde(rename = "endpoint_url")]
    pub slug: String,
    #[serde(default)]
    pub events: Vec<String>,
    pub verification: VerificationConfig,
    /// A provider-issued secret (Standard Webhooks `whsec_…`, an HMAC key, a Twilio auth
    /// token). Omit it to have the hub generate one (returned once) or, for Twilio, to use the
    /// `twilio` provider credentials.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub event_type_field: Option<String>,
    #[serde(default)]
    pub notify_user_id: Option<String>,
    #[serde(default)]
    pub notification_title: Option<String>,
}

/// `PATCH /api/integrations/webhooks/{endpoint_url}`: every field optional.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    pub name: Option<String>,
    pub events: Option<Vec<String>>,
    /// Same scheme only (its settings may change); a new scheme needs a new endpoint.
    pub verification: Option<VerificationConfig>,
    pub event_type_field: Option<String>,
    pub notify_user_id: Option<String>,
    pub notification_title: Option<String>,
    pub enabled: Option<bool>,
}

/// `POST /api/integrations/webhooks/{endpoint_url}/rotate-secret`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the previous secret keeps verifying (0..=604800 s); default
    /// `WEBHOOK_ROTATION_GRACE_SECONDS` (24 h).
    pub grace_period_seconds: Option<i64>,
    /// A provider-issued new secret; omit to have the hub generate one.
    pub secret: Option<String>,
}

/// What registration and rotation answer: the endpoint, its public URL and, when the hub
/// generated it, the secret (shown this once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// The URL to configure at the provider.
    pub public_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// Path-token endpoints: the token is part of the URL and is not shown again; this is
    /// the URL without it.
    pub public_url: String,
}

/// The receive route's success answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiveAnswer {
    /// `accepted`, `duplicate` or `ignored`.
    pub status: &'static str,
    pub event_id: String,
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1..=100, default 50.
    pub limit: Option<i32>,
    pub cursor: Option<String>,
}

/// A page size: 1..=100, default 50.
pub fn page_limit(limit: Option<i32>) -> Result<i32, InvalidInput> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(InvalidInput::field("limit", "must be between 1 and 100"));
    }
    Ok(limit)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    pub items: Vec<EndpointView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    pub status: Option<EventStatus>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, inclusive.
    pub to: Option<String>,
    pub limit: Option<i32>,
    pub cursor: Option<String>,
}

impl EventsQuery {
    /// The store's query, bounds in the stored timestamp format.
    pub fn into_query(self) -> Result<EventQuery, InvalidInput> {
        Ok(EventQuery {
            status: self.status,
            from: sortable_time("from", self.from.as_deref())?,
            to: sortable_time("to", self.to.as_deref())?,
            limit: page_limit(self.limit)?,
            cursor: self.cursor,
        })
    }
}

/// An RFC 3339 bound in the fixed-width format of the events' sort keys.
pub fn sortable_time(field: &str, raw: Option<&str>) -> Result<Option<String>, InvalidInput> {
    raw.map(|r| {
        crate::clock::parse_rfc3339(r)
            .map(crate::clock::rfc3339_millis)
            .ok_or_else(|| {
                InvalidInput::field(
                    field,
                    "must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z",
                )
            })
    })
    .transpose()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub items: Vec<WebhookEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventQueryParams {
    /// Include the raw body (`body_base64`, and `body_text` when it is UTF-8).
    pub include_body: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: WebhookEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayAnswer {
    pub replayed: usize,
    pub event_ids: Vec<String>,
    /// More events matched than one replay takes (`MAX_REPLAY`); replay again from the last one.
    pub truncated: bool,
}

/// Events one range replay re-enqueues at most (the call must finish inside API Gateway's 30 s).
pub const MAX_REPLAY: usize = 500;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRange {
    /// RFC 3339, inclusive.
    pub from: String,
    /// RFC 3339, inclusive.
    pub to: String,
    /// Only events in this status (e.g. `failed`); default all.
    pub status: Option<EventStatus>,
}
