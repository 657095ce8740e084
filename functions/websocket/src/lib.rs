//! The WebSocket API's routes (API Gateway WebSocket API, Lambda proxy integration):
//!
//! - `$connect`: authenticates the JWT in the `token` query parameter
//!   (`wss://…/{stage}?token=…`; API Gateway cannot take it from the path as the seed's
//!   `/ws/{token}` does, the local gateway maps that form onto the query parameter) and
//!   stores the connection for its user (TTL 2 h). A bad token answers 401, which API
//!   Gateway turns into a refused handshake.
//! - `$disconnect`: removes the connection.
//! - `$default`: `{"action":"ping"}` answers `{"type":"pong"}` (the route has a route response,
//!   so the body goes back to the client); anything else answers an error message
//!   `{"type":"error","code":…,"message":…}`.
//!
//! Pushing events to connections is not done here but by the notifications worker through
//! the management API (`shared::notifications::push`).

use std::sync::Arc;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use serde_json::{Value, json};
use shared::HubContext;
use shared::notifications::ConnectionStore;

/// Cold-start state.
pub struct WebsocketState {
    pub ctx: Arc<HubContext>,
    pub connections: ConnectionStore,
}

impl WebsocketState {
    pub fn new(ctx: Arc<HubContext>) -> anyhow::Result<Arc<Self>> {
        let connections = ctx.connection_store(&ctx.notifications_config()?);
        Ok(Arc::new(Self { ctx, connections }))
    }
}

fn respond(status: i64, body: Value) -> ApiGatewayProxyResponse {
    let mut res = ApiGatewayProxyResponse::default();
    res.status_code = status;
    res.headers.insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    res.body = Some(Body::Text(body.to_string()));
    res
}

fn error_message(code: &str, message: impl Into<String>) -> Value {
    json!({ "type": "error", "code": code, "message": message.into() })
}

/// Handles one WebSocket event, whatever its route.
pub async fn handle(
    state: &WebsocketState,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let ctx = &event.request_context;
    let route = ctx.route_key.as_deref().unwrap_or("$default");
    let Some(connection_id) = ctx.connection_id.clone().filter(|c| !c.is_empty()) else {
        return respond(
            400,
            error_message(
                "missing_connection_id",
                "the event has no requestContext.connectionId",
            ),
        );
    };
    match route {
        "$connect" => connect(state, &event, &connection_id).await,
        "$disconnect" => match state.connections.remove_by_id(&connection_id).await {
            Ok(user) => {
                tracing::info!(connection_id = %connection_id, known = user.is_some(), "websocket disconnected");
                respond(200, json!({ "type": "disconnected" }))
            }
            Err(e) => {
                tracing::error!(error = %e, "could not remove a WebSocket connection");
                respond(
                    500,
                    error_message("internal", "could not remove the connection"),
                )
            }
        },
        _ => message(event.body.as_deref()),
    }
}

async fn connect(
    state: &WebsocketState,
    event: &ApiGatewayWebsocketProxyRequest,
    connection_id: &str,
) -> ApiGatewayProxyResponse {
    let Some(token) = event
        .query_string_parameters
        .first("token")
        .filter(|t| !t.is_empty())
    else {
        return respond(
            401,
            error_message("missing_token", "connect with ?token=<JWT>"),
        );
    };
    let caller = match state.ctx.jwt.verify(token).await {
        Ok(c) => c,
        Err(e) => {
            let code = shared::error::DomainError::code(&e);
            return respond(401, error_message(code, e.to_string()));
        }
    };
    match state.connections.put(&caller.user_id, connection_id).await {
        Ok(_) => {
            tracing::info!(connection_id = %connection_id, "websocket connected");
            respond(
                200,
                json!({ "type": "connected", "user_id": caller.user_id }),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store a WebSocket connection");
            respond(
                500,
                error_message("internal", "could not store the connection"),
            )
        }
    }
}

/// `$default`: the only client action is `ping`.
fn message(body: Option<&str>) -> ApiGatewayProxyResponse {
    let parsed: Option<Value> = body.and_then(|b| serde_json::from_str(b).ok());
    let Some(msg) = parsed.filter(Value::is_object) else {
        return respond(
            200,
            error_message(
                "invalid_message",
                "messages are JSON objects like {\"action\":\"ping\"}",
            ),
        );
    };
    match msg.get("action").and_then(Value::as_str) {
        Some("ping") => respond(200, json!({ "type": "pong" })),
        Some(other) => respond(
            200,
            error_message(
                "unknown_action",
                format!("unknown action {other:?}; the supported action is \"ping\""),
            ),
        ),
        None => respond(
            200,
            error_message(
                "invalid_message",
                "the message has no \"action\"; send {\"action\":\"ping\"}",
            ),
        ),
    }
}
