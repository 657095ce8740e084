//! The notifications function: send a notification through every configured channel
//! (BluRosiere's `notification_service`), the appointment helpers, the in-app inbox and the
//! per-user channel preferences.
//!
//! | route | who |
//! | --- | --- |
//! | `POST /api/v1/notifications` | service, admin |
//! | `POST /api/v1/notifications/appointment-reminder` | service, admin |
//! | `POST /api/v1/notifications/appointment-updated` | service, admin |
//! | `GET /api/v1/notifications` (`?unread=true&limit=&cursor=`) | the user; service/admin with `user_id` |
//! | `POST /api/v1/notifications/{id}/read`, `POST /api/v1/notifications/read-all` | same |
//! | `GET`/`PUT /api/v1/notifications/preferences` | same |
//!
//! Sending writes the in-app notification, then queues one SQS message per further channel
//! and answers 202 at once; `functions/notifications-worker` does the sending.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::auth::{Caller, Role};
use shared::http::{ApiJson, ApiPath, ApiQuery};
use shared::notifications::{
    ChannelJob, ChannelOutcome, ChannelStatus, EVENT_APPOINTMENT_UPDATED, EVENT_NOTIFICATION_NEW,
    InboxPage, NewNotification, Notification, NotificationStore, NotificationsConfig, Preferences,
    PreferencesUpdate, SendAccepted, SendNotification,
};
use shared::{ApiError, ApiResult, HubContext};

/// Cold-start state: the hub context, the notification store and the queue.
pub struct NotificationsState {
    pub ctx: Arc<HubContext>,
    pub store: NotificationStore,
    pub queue_url: String,
}

impl NotificationsState {
    pub fn new(ctx: Arc<HubContext>) -> anyhow::Result<Arc<Self>> {
        let config = NotificationsConfig::from_env(&ctx.env)?;
        Self::with_config(ctx, &config)
    }

    pub fn with_config(
        ctx: Arc<HubContext>,
        config: &NotificationsConfig,
    ) -> anyhow::Result<Arc<Self>> {
        let store = NotificationStore::new(
            ctx.aws.dynamo.clone(),
            ctx.config.hub_table.clone(),
            config.ttl,
        );
        Ok(Arc::new(Self {
            queue_url: config.require_queue_url()?,
            store,
            ctx,
        }))
    }
}

impl shared::context::HubState for NotificationsState {
    fn hub(&self) -> &HubContext {
        &self.ctx
    }
}

type St = State<Arc<NotificationsState>>;

pub fn router(state: Arc<NotificationsState>) -> Router {
    Router::new()
        .route("/api/v1/notifications", post(send).get(list))
        .route(
            "/api/v1/notifications/appointment-reminder",
            post(appointment_reminder),
        )
        .route(
            "/api/v1/notifications/appointment-updated",
            post(appointment_updated),
        )
        .route("/api/v1/notifications/read-all", post(read_all))
        .route(
            "/api/v1/notifications/preferences",
            get(get_preferences).put(put_preferences),
        )
        .route("/api/v1/notifications/{id}/read", post(read_one))
        .with_state(state)
}

/// Writes the notification and queues its channels. A queue failure does not lose the
/// notification: the inbox has it, and the channels it could not queue are recorded
/// `failed` / `queue_unavailable`.
pub async fn deliver(state: &NotificationsState, new: NewNotification) -> ApiResult<SendAccepted> {
    let profile = state.store.profile(&new.user_id).await?;
    let (mut record, queued) = state.store.create(new, &profile).await?;
    let jobs: Vec<ChannelJob> = queued
        .iter()
        .map(|c| ChannelJob {
            notification_id: record.id.clone(),
            user_id: record.user_id.clone(),
            channel: *c,
        })
        .collect();
    let mut channels_queued = queued.clone();
    let queued_ok = jobs.is_empty()
        || {
            match shared::queue::send_json_batch(&state.ctx.aws.sqs, &state.queue_url, &jobs).await
            {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!(error = %e, notification_id = %record.id, "could not queue notification channels");
                    false
                }
            }
        };
    if !queued_ok {
        channels_queued.clear();
        for c in &queued {
            let outcome = ChannelOutcome::new(ChannelStatus::Failed).with_code(
                "queue_unavailable",
                "the channel could not be queued; the in-app notification was kept",
            );
            if let Err(e) = state
                .store
                .record(&record.user_id, &record.id, *c, &outcome)
                .await
            {
                tracing::error!(error = %e, "could not record a queue failure");
            }
            record.channels.insert(c.as_str().to_string(), outcome);
        }
    }
    tracing::info!(notification_id = %record.id, queued = channels_queued.len(), "notification accepted");
    Ok(SendAccepted {
        id: record.id.clone(),
        user_id: record.user_id.clone(),
        channels_queued,
        channels: record.channels.clone(),
        created_at: record.created_at.clone(),
    })
}

async fn accept(
    state: &NotificationsState,
    headers: &HeaderMap,
    operation: &str,
    caller: &Caller,
    request: &impl Serialize,
    new: NewNotification,
) -> ApiResult<Response> {
    state
        .ctx
        .idempotency
        .run(headers, operation, &caller.user_id, request, || async {
            let accepted = deliver(state, new).await?;
            Ok((
                StatusCode::ACCEPTED,
                serde_json::to_value(accepted).map_err(ApiError::internal)?,
            ))
        })
        .await
}

#[utoipa::path(post, path = "/api/v1/notifications", operation_id = "send_notification", tag = "notifications", security(("bearerAuth" = [])),
    request_body = SendNotification,
    description = "Sends a notification: in-app always; email, SMS and WebSocket where requested (default: all), allowed by the user's preferences and with a contact. Answers 202 at once; each channel's outcome is recorded on the notification. Service or admin. Honours Idempotency-Key.",
    responses((status = 202, body = SendAccepted), (status = 400, body = shared::error::Problem, content_type = "application/problem+json"), (status = 403, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn send(
    State(state): St,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendNotification>,
) -> ApiResult<Response> {
    caller.require(&[Role::Service, Role::Admin])?;
    let new = body.clone().validate(EVENT_NOTIFICATION_NEW)?;
    accept(&state, &headers, "notifications.send", &caller, &body, new).await
}

/// `POST /api/v1/notifications/appointment-reminder` (seed: `send_appointment_reminder`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentReminder {
    pub user_id: String,
    /// The appointment's id (string or number).
    #[schema(value_type = String)]
    pub appointment_id: Value,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `HH:MM`.
    pub time: String,
    #[serde(default)]
    pub patient_name: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// `POST /api/v1/notifications/appointment-updated`: the seed's `appointment:updated` event.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentUpdated {
    pub user_id: String,
    pub appointment: AppointmentState,
    /// Overrides the default message text.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// The seed's `appointment:updated` data: `{id, status, date}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentState {
    #[schema(value_type = String)]
    pub id: Value,
    /// e.g. `confirmed`, `cancelled`, `rescheduled` (seed: `confirmado`).
    pub status: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

fn check_appointment_id(field: &str, id: &Value) -> ApiResult<()> {
    match id {
        Value::String(s) if !s.trim().is_empty() && s.len() <= 128 => Ok(()),
        Value::Number(_) => Ok(()),
        _ => Err(ApiError::invalid_field(
            field,
            "must be a non-empty string (at most 128 characters) or a number",
        )),
    }
}

fn check_date(field: &str, date: &str) -> ApiResult<()> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, &format)
        .map(|_| ())
        .map_err(|_| ApiError::invalid_field(field, "must be a date as YYYY-MM-DD"))
}

fn check_time(field: &str, t: &str) -> ApiResult<()> {
    let format = time::macros::format_description!("[hour]:[minute]");
    time::Time::parse(t, &format)
        .map(|_| ())
        .map_err(|_| ApiError::invalid_field(field, "must be a time as HH:MM"))
}

#[utoipa::path(post, path = "/api/v1/notifications/appointment-reminder", operation_id = "send_appointment_reminder", tag = "notifications", security(("bearerAuth" = [])),
    request_body = AppointmentReminder,
    description = "An appointment reminder (type `appointment_reminder`) through every channel, announced over WebSocket as `notification:new`. Service or admin.",
    responses((status = 202, body = SendAccepted), (status = 400, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn appointment_reminder(
    State(state): St,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppointmentReminder>,
) -> ApiResult<Response> {
    caller.require(&[Role::Service, Role::Admin])?;
    check_appointment_id("appointment_id", &body.appointment_id)?;
    check_date("date", &body.date)?;
    check_time("time", &body.time)?;
    let greeting = match body
        .patient_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => format!("Hello {name}, this"),
        None => "This".to_string(),
    };
    let request = SendNotification {
        user_id: body.user_id.clone(),
        kind: "appointment_reminder".into(),
        title: "Appointment reminder".into(),
        message: format!(
            "{greeting} is a reminder of your appointment on {} at {}.",
            body.date, body.time
        ),
        data: Some(
            serde_json::json!({ "appointment_id": body.appointment_id, "date": body.date, "time": body.time }),
        ),
        channels: body.channels.clone(),
        email: body.email.clone(),
        phone: body.phone.clone(),
    };
    let new = request.validate(EVENT_NOTIFICATION_NEW)?;
    accept(
        &state,
        &headers,
        "notifications.appointment_reminder",
        &caller,
        &body,
        new,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/notifications/appointment-updated", operation_id = "send_appointment_updated", tag = "notifications", security(("bearerAuth" = [])),
    request_body = AppointmentUpdated,
    description = "An appointment changed: a notification of type `appointment_updated` whose WebSocket event is the seed's `{\"type\":\"appointment:updated\",\"data\":{\"id\",\"status\",\"date\"}}`. Service or admin.",
    responses((status = 202, body = SendAccepted), (status = 400, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn appointment_updated(
    State(state): St,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppointmentUpdated>,
) -> ApiResult<Response> {
    caller.require(&[Role::Service, Role::Admin])?;
    let a = &body.appointment;
    check_appointment_id("appointment.id", &a.id)?;
    check_date("appointment.date", &a.date)?;
    if a.status.trim().is_empty() || a.status.chars().count() > 64 {
        return Err(ApiError::invalid_field(
            "appointment.status",
            "must be 1 to 64 characters",
        ));
    }
    let request = SendNotification {
        user_id: body.user_id.clone(),
        kind: "appointment_updated".into(),
        title: "Appointment updated".into(),
        message: body
            .message
            .clone()
            .unwrap_or_else(|| format!("Your appointment on {} is now {}.", a.date, a.status)),
        data: Some(serde_json::json!({ "id": a.id, "status": a.status, "date": a.date })),
        channels: body.channels.clone(),
        email: body.email.clone(),
        phone: body.phone.clone(),
    };
    let new = request.validate(EVENT_APPOINTMENT_UPDATED)?;
    accept(
        &state,
        &headers,
        "notifications.appointment_updated",
        &caller,
        &body,
        new,
    )
    .await
}

/// Whose inbox: the caller's, or `user_id` for service/admin.
fn subject(caller: &Caller, user_id: Option<&str>) -> ApiResult<String> {
    match user_id {
        None => Ok(caller.user_id.clone()),
        Some(u) => {
            shared::notifications::validate_user_id("user_id", u)?;
            if caller.can_act_for(u) {
                Ok(u.to_string())
            } else {
                Err(ApiError::forbidden(
                    "a user can only read and change its own notifications",
                ))
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct InboxQuery {
    /// Only unread notifications.
    pub unread: Option<bool>,
    /// Page size, 1..=100 (default 20).
    pub limit: Option<i32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Service/admin: whose inbox.
    pub user_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "list_notifications", tag = "notifications", security(("bearerAuth" = [])),
    params(InboxQuery), description = "The in-app inbox, newest first, paged with a cursor.",
    responses((status = 200, body = InboxPage), (status = 400, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): St,
    caller: Caller,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> ApiResult<Json<InboxPage>> {
    let user = subject(&caller, q.user_id.as_deref())?;
    Ok(Json(
        state
            .store
            .list(
                &user,
                q.unread.unwrap_or(false),
                q.limit,
                q.cursor.as_deref(),
            )
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UserQuery {
    /// Service/admin: whose notifications.
    pub user_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", operation_id = "mark_notification_read", tag = "notifications", security(("bearerAuth" = [])),
    params(("id" = String, Path), UserQuery),
    responses((status = 200, body = Notification), (status = 404, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn read_one(
    State(state): St,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<Notification>> {
    let user = subject(&caller, q.user_id.as_deref())?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::not_found(format!("no notification {id}")));
    }
    Ok(Json(state.store.mark_read(&user, &id).await?.view()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadAll {
    pub user_id: String,
    /// How many notifications were marked read.
    pub marked: u32,
}

#[utoipa::path(post, path = "/api/v1/notifications/read-all", operation_id = "mark_all_notifications_read", tag = "notifications", security(("bearerAuth" = [])),
    params(UserQuery), responses((status = 200, body = ReadAll)))]
pub async fn read_all(
    State(state): St,
    caller: Caller,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<ReadAll>> {
    let user = subject(&caller, q.user_id.as_deref())?;
    let marked = state.store.mark_all_read(&user).await?;
    Ok(Json(ReadAll {
        user_id: user,
        marked,
    }))
}

#[utoipa::path(get, path = "/api/v1/notifications/preferences", operation_id = "get_notification_preferences", tag = "notifications", security(("bearerAuth" = [])),
    params(UserQuery), responses((status = 200, body = Preferences)))]
pub async fn get_preferences(
    State(state): St,
    caller: Caller,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<Preferences>> {
    let user = subject(&caller, q.user_id.as_deref())?;
    Ok(Json(state.store.profile(&user).await?.view(&user)))
}

#[utoipa::path(put, path = "/api/v1/notifications/preferences", operation_id = "put_notification_preferences", tag = "notifications", security(("bearerAuth" = [])),
    request_body = PreferencesUpdate,
    description = "Turns channels on or off and sets the contact used for email and SMS. Fields not given keep their value; `contact.email: null` removes the address. `in_app` cannot be turned off.",
    responses((status = 200, body = Preferences), (status = 400, body = shared::error::Problem, content_type = "application/problem+json")))]
pub async fn put_preferences(
    State(state): St,
    caller: Caller,
    ApiJson(body): ApiJson<PreferencesUpdate>,
) -> ApiResult<Json<Preferences>> {
    let user = subject(&caller, body.user_id.as_deref())?;
    let mut profile = state.store.profile(&user).await?;
    body.apply(&mut profile)?;
    state.store.put_profile(&user, &profile).await?;
    Ok(Json(profile.view(&user)))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    send,
    appointment_reminder,
    appointment_updated,
    list,
    read_one,
    read_all,
    get_preferences,
    put_preferences
))]
struct NotificationsApi;

/// This function's routes, for the merged OpenAPI document served by `docs`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <NotificationsApi as utoipa::OpenApi>::openapi()
}
