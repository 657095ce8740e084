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
use serde::Serialize;
use shared::auth::Caller;
use shared::http::ServiceCaller;
use shared::http::{ApiJson, ApiPath, ApiQuery};
use shared::notifications::{
    AppointmentReminder, AppointmentUpdated, EVENT_NOTIFICATION_NEW, InboxPage, InboxQuery,
    NewNotification, Notification, NotificationError, NotificationService, NotificationsConfig,
    Preferences, PreferencesUpdate, ReadAll, SendAccepted, SendNotification, UserQuery,
};
use shared::{ApiError, ApiResult, HubContext};

/// Cold-start state: the hub context (authentication, idempotency) and the sending service.
pub struct NotificationsState {
    pub ctx: Arc<HubContext>,
    pub service: NotificationService,
}

impl NotificationsState {
    pub fn new(ctx: Arc<HubContext>) -> anyhow::Result<Arc<Self>> {
        let config = ctx.notifications_config()?;
        Self::with_config(ctx, &config)
    }

    pub fn with_config(
        ctx: Arc<HubContext>,
        config: &NotificationsConfig,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            service: ctx.notification_service(config)?,
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
            let accepted = state.service.deliver(new).await?;
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
    responses((status = 202, body = SendAccepted), (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json"), (status = 403, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn send(
    State(state): St,
    ServiceCaller(caller): ServiceCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendNotification>,
) -> ApiResult<Response> {
    let new = body.clone().validate(EVENT_NOTIFICATION_NEW)?;
    accept(&state, &headers, "notifications.send", &caller, &body, new).await
}

#[utoipa::path(post, path = "/api/v1/notifications/appointment-reminder", operation_id = "send_appointment_reminder", tag = "notifications", security(("bearerAuth" = [])),
    request_body = AppointmentReminder,
    description = "An appointment reminder (type `appointment_reminder`) through every channel, announced over WebSocket as `notification:new`. The text is the `appointment_reminder` template in `language` (`fa`, `pt-BR` or `en`, the default) on every channel: in-app and WebSocket title and message, the SMS text, and the localized `appointment_reminder` email. Dates and times as the reader writes them: fa `۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰` (Solar Hijri, Persian digits), pt-BR `20/01/2025 às 14:00`, en `20 January 2025 at 14:00`. Service or admin.",
    responses((status = 202, body = SendAccepted), (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json"), (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`unknown_language` (field `language`)")))]
pub async fn appointment_reminder(
    State(state): St,
    ServiceCaller(caller): ServiceCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppointmentReminder>,
) -> ApiResult<Response> {
    let new = body.validate()?;
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
    description = "An appointment changed: a notification of type `appointment_updated` whose WebSocket event is the seed's `{\"type\":\"appointment:updated\",\"data\":{\"id\",\"status\",\"date\"}}`. Title and default message are the `appointment_updated` template in `language` (`fa`, `pt-BR` or `en`, the default; known statuses such as `confirmed`/`confirmado` in the language's words); the email is the generic template in that language. Service or admin.",
    responses((status = 202, body = SendAccepted), (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json"), (status = 422, body = shared::http::problem::Problem, content_type = "application/problem+json", description = "`unknown_language` (field `language`)")))]
pub async fn appointment_updated(
    State(state): St,
    ServiceCaller(caller): ServiceCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppointmentUpdated>,
) -> ApiResult<Response> {
    let new = body.validate()?;
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

#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "list_notifications", tag = "notifications", security(("bearerAuth" = [])),
    params(InboxQuery), description = "The in-app inbox, newest first, paged with a cursor.",
    responses((status = 200, body = InboxPage), (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): St,
    caller: Caller,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> ApiResult<Json<InboxPage>> {
    let user = subject(&caller, q.user_id.as_deref())?;
    Ok(Json(
        state
            .service
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

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", operation_id = "mark_notification_read", tag = "notifications", security(("bearerAuth" = [])),
    params(("id" = String, Path), UserQuery),
    responses((status = 200, body = Notification), (status = 404, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn read_one(
    State(state): St,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<Notification>> {
    let user = subject(&caller, q.user_id.as_deref())?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(NotificationError::NotFound(id).into());
    }
    Ok(Json(state.service.mark_read(&user, &id).await?.view()))
}

#[utoipa::path(post, path = "/api/v1/notifications/read-all", operation_id = "mark_all_notifications_read", tag = "notifications", security(("bearerAuth" = [])),
    params(UserQuery), responses((status = 200, body = ReadAll)))]
pub async fn read_all(
    State(state): St,
    caller: Caller,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<ReadAll>> {
    let user = subject(&caller, q.user_id.as_deref())?;
    let marked = state.service.mark_all_read(&user).await?;
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
    Ok(Json(state.service.store.profile(&user).await?.view(&user)))
}

#[utoipa::path(put, path = "/api/v1/notifications/preferences", operation_id = "put_notification_preferences", tag = "notifications", security(("bearerAuth" = [])),
    request_body = PreferencesUpdate,
    description = "Turns channels on or off and sets the contact used for email and SMS. Fields not given keep their value; `contact.email: null` removes the address. `in_app` cannot be turned off.",
    responses((status = 200, body = Preferences), (status = 400, body = shared::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn put_preferences(
    State(state): St,
    caller: Caller,
    ApiJson(body): ApiJson<PreferencesUpdate>,
) -> ApiResult<Json<Preferences>> {
    let user = subject(&caller, body.user_id.as_deref())?;
    let mut profile = state.service.store.profile(&user).await?;
    body.apply(&mut profile)?;
    state.service.store.put_profile(&user, &profile).await?;
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
