//! A local stand-in for an API Gateway WebSocket API, for `make dev` and the tests.
//!
//! `cargo lambda watch` emulates HTTP APIs but not WebSocket APIs, so this gateway plays the
//! part of API Gateway in front of the `websocket` function:
//!
//! - **Client side** (default `127.0.0.1:8000`): accepts `ws://127.0.0.1:8000/ws/{token}` (the
//!   BluRosiere seed's form), `/ws?token=…` and `/?token=…` (the API Gateway form). Before the
//!   handshake completes it invokes the function's `$connect` route with a real API Gateway
//!   WebSocket event (`requestContext.routeKey`, `eventType: CONNECT`, `connectionId`,
//!   `queryStringParameters.token`; the seed's path token is passed as that query parameter);
//!   a non-2xx answer refuses the handshake with that status, as API Gateway does. Each text
//!   frame invokes `$default` (`eventType: MESSAGE`, `body`) and the function's answer body
//!   goes back to the client (API Gateway does that when the route has a route response, as
//!   the template declares). Closing invokes `$disconnect`.
//! - **Management side** (default `127.0.0.1:8001`, what `WEBSOCKET_MANAGEMENT_ENDPOINT`
//!   points at locally): `POST /@connections/{id}` sends the body to the client,
//!   `DELETE /@connections/{id}` closes it, `GET /@connections/{id}` describes it; an unknown
//!   id answers 410 `GoneException`, like the real API, so stale-connection cleanup works
//!   locally too.
//!
//! How the function is invoked is pluggable ([`Invoker`]): [`HttpInvoker`] calls
//! cargo-lambda's invoke endpoint (`POST {invoke}/2015-03-31/functions/websocket/invocations`);
//! the tests plug in the function's handler in-process.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Largest message the management API accepts (API Gateway: 128 KB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// Runs the websocket function with one API Gateway WebSocket event and returns its answer
/// (an `ApiGatewayProxyResponse` as JSON).
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, String>>;
}

/// cargo-lambda's invoke endpoint (the Lambda Invoke API shape).
pub struct HttpInvoker {
    client: reqwest::Client,
    url: String,
}

impl HttpInvoker {
    /// `invoke_base` e.g. `http://127.0.0.1:9000`; `function` e.g. `websocket`.
    pub fn new(invoke_base: &str, function: &str) -> Self {
        let client = reqwest::Client::builder()
            // The first invocation compiles the function under `cargo lambda watch`.
            .timeout(Duration::from_secs(600))
            .build()
            .expect("an HTTP client");
        Self {
            client,
            url: format!(
                "{}/2015-03-31/functions/{function}/invocations",
                invoke_base.trim_end_matches('/')
            ),
        }
    }
}

impl Invoker for HttpInvoker {
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let res = self
                .client
                .post(&self.url)
                .json(&event)
                .send()
                .await
                .map_err(|e| format!("invoking {}: {e}", self.url))?;
            let status = res.status();
            let body: Value = res
                .json()
                .await
                .map_err(|e| format!("reading the function's answer: {e}"))?;
            if !status.is_success() || body.get("errorType").is_some() {
                return Err(format!("the function failed ({status}): {body}"));
            }
            Ok(body)
        })
    }
}

/// What the connection task sends to its client.
enum Outgoing {
    Frame(Message),
    Close,
}

struct Connection {
    tx: mpsc::UnboundedSender<Outgoing>,
    connected_at: time::OffsetDateTime,
    last_active: time::OffsetDateTime,
    source_ip: String,
    user_agent: Option<String>,
}

/// The gateway's state: the invoker and the open connections.
pub struct Gateway {
    invoker: Arc<dyn Invoker>,
    connections: Mutex<HashMap<String, Connection>>,
    /// `requestContext.domainName` of the events (`127.0.0.1:8000`).
    pub domain: String,
    pub stage: String,
}

impl Gateway {
    pub fn new(invoker: Arc<dyn Invoker>, domain: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            invoker,
            connections: Mutex::new(HashMap::new()),
            domain: domain.into(),
            stage: "local".into(),
        })
    }

    /// Ids of the open connections.
    pub fn connection_ids(&self) -> Vec<String> {
        self.connections
            .lock()
            .expect("lock")
            .keys()
            .cloned()
            .collect()
    }

    fn base_context(
        &self,
        route: &str,
        event_type: &str,
        connection_id: &str,
        connected_at_ms: i64,
    ) -> Value {
        let now = time::OffsetDateTime::now_utc();
        let request_time = now
            .format(time::macros::format_description!(
                "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
            ))
            .unwrap_or_default();
        json!({
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "stage": self.stage,
            "apiId": "local",
            "domainName": self.domain,
            "connectionId": connection_id,
            "connectedAt": connected_at_ms,
            "requestId": uuid::Uuid::new_v4().to_string(),
            "extendedRequestId": uuid::Uuid::new_v4().to_string(),
            "requestTime": request_time,
            "requestTimeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
            "identity": { "sourceIp": "127.0.0.1" },
        })
    }

    /// Invokes the function; `(status, body)` of its answer.
    async fn call(&self, event: Value) -> Result<(u16, Option<String>), String> {
        let answer = self.invoker.invoke(event).await?;
        let status = answer
            .get("statusCode")
            .and_then(Value::as_u64)
            .unwrap_or(200) as u16;
        let body = match answer.get("body") {
            Some(Value::String(s)) => {
                if answer
                    .get("isBase64Encoded")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                } else {
                    Some(s.clone())
                }
            }
            _ => None,
        };
        Ok((status, body))
    }

    fn send(&self, connection_id: &str, out: Outgoing) -> bool {
        let mut conns = self.connections.lock().expect("lock");
        match conns.get_mut(connection_id) {
            Some(c) => c.tx.send(out).is_ok(),
            None => false,
        }
    }
}

/// The client side: `/ws/{token}`, `/ws?token=`, `/?token=`.
pub fn client_router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/ws/{token}", any(connect_with_path_token))
        .route("/ws", any(connect))
        .route("/", any(connect))
        .with_state(gateway)
}

/// The management API (`WEBSOCKET_MANAGEMENT_ENDPOINT`), also under a `/{stage}` prefix.
pub fn management_router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route(
            "/@connections/{id}",
            get(describe)
                .post(post_to_connection)
                .delete(delete_connection),
        )
        .route(
            "/{stage}/@connections/{id}",
            get(describe_staged).post(post_staged).delete(delete_staged),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .with_state(gateway)
}

/// Serves both sides until the listeners fail.
pub async fn serve(
    gateway: Arc<Gateway>,
    client: tokio::net::TcpListener,
    management: tokio::net::TcpListener,
) -> std::io::Result<()> {
    let a = axum::serve(client, client_router(gateway.clone()));
    let b = axum::serve(management, management_router(gateway));
    tokio::try_join!(async { a.await }, async { b.await })?;
    Ok(())
}

async fn connect_with_path_token(
    State(gw): State<Arc<Gateway>>,
    Path(token): Path<String>,
    Query(mut params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    // API Gateway can only pass the token as a query parameter; map the seed's path form onto it.
    params.entry("token".into()).or_insert(token);
    upgrade(gw, params, headers, ws).await
}

async fn connect(
    State(gw): State<Arc<Gateway>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    upgrade(gw, params, headers, ws).await
}

fn new_connection_id() -> String {
    // API Gateway's ids look like `L0SM9cOFvHcCIhw=`: 12 random bytes, base64.
    base64::engine::general_purpose::URL_SAFE.encode(&uuid::Uuid::new_v4().as_bytes()[..12])
}

fn header_map_json(headers: &HeaderMap) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in headers {
        let v = value.to_str().unwrap_or_default().to_string();
        single.insert(name.as_str().to_string(), Value::String(v.clone()));
        multi
            .entry(name.as_str().to_string())
            .or_insert_with(|| Value::Array(vec![]))
            .as_array_mut()
            .expect("array")
            .push(Value::String(v));
    }
    (Value::Object(single), Value::Object(multi))
}

async fn upgrade(
    gw: Arc<Gateway>,
    params: HashMap<String, String>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let connection_id = new_connection_id();
    let connected_at = time::OffsetDateTime::now_utc();
    let connected_ms = (connected_at.unix_timestamp_nanos() / 1_000_000) as i64;
    let (headers_json, multi_headers_json) = header_map_json(&headers);
    let mut context = gw.base_context("$connect", "CONNECT", &connection_id, connected_ms);
    context["identity"]["userAgent"] = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(Value::from)
        .unwrap_or(Value::Null);
    let multi_query: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    let event = json!({
        "headers": headers_json,
        "multiValueHeaders": multi_headers_json,
        "queryStringParameters": if params.is_empty() { Value::Null } else { json!(params) },
        "multiValueQueryStringParameters": if params.is_empty() { Value::Null } else { Value::Object(multi_query) },
        "requestContext": context,
        "isBase64Encoded": false,
    });
    let (status, body) = match gw.call(event).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "$connect invocation failed");
            return (
                StatusCode::BAD_GATEWAY,
                "the websocket function could not be invoked",
            )
                .into_response();
        }
    };
    if !(200..300).contains(&status) {
        tracing::info!(%connection_id, status, "$connect refused the connection");
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        let mut res = (status, body.unwrap_or_default()).into_response();
        res.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return res;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    gw.connections.lock().expect("lock").insert(
        connection_id.clone(),
        Connection {
            tx,
            connected_at,
            last_active: connected_at,
            source_ip: "127.0.0.1".into(),
            user_agent: headers
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        },
    );
    tracing::info!(%connection_id, "connected");
    let gw_failed = gw.clone();
    let id_failed = connection_id.clone();
    ws.on_failed_upgrade(move |e| {
        tracing::warn!(error = %e, "WebSocket upgrade failed");
        gw_failed
            .connections
            .lock()
            .expect("lock")
            .remove(&id_failed);
    })
    .on_upgrade(move |socket| run_connection(gw, connection_id, connected_ms, socket, rx))
}

async fn run_connection(
    gw: Arc<Gateway>,
    connection_id: String,
    connected_ms: i64,
    mut socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut close_code: u16 = 1006;
    let mut reason = "Connection closed abnormally".to_string();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Frame(m)) => {
                    if socket.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close) => {
                    let _ = socket.send(Message::Close(Some(CloseFrame { code: 1000, reason: "Going away".into() }))).await;
                    close_code = 1000;
                    reason = "Connection deleted through the management API".into();
                    break;
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => dispatch_message(&gw, &connection_id, connected_ms, text.to_string()),
                Some(Ok(Message::Binary(bytes))) => dispatch_message(&gw, &connection_id, connected_ms, String::from_utf8_lossy(&bytes).into_owned()),
                Some(Ok(Message::Close(frame))) => {
                    close_code = frame.as_ref().map(|f| f.code).unwrap_or(1005);
                    reason = format!("Client-side close frame status code '{close_code}'");
                    break;
                }
                Some(Ok(_)) => {} // ping/pong: answered by the WebSocket layer
                Some(Err(_)) | None => break,
            },
        }
    }
    gw.connections.lock().expect("lock").remove(&connection_id);
    let mut context = gw.base_context("$disconnect", "DISCONNECT", &connection_id, connected_ms);
    context["disconnectStatusCode"] = json!(close_code);
    context["disconnectReason"] = json!(reason);
    let event = json!({ "requestContext": context, "isBase64Encoded": false });
    if let Err(e) = gw.call(event).await {
        tracing::error!(error = %e, "$disconnect invocation failed");
    }
    tracing::info!(%connection_id, close_code, "disconnected");
}

/// `$default`: invoked off the connection loop so pushes keep flowing meanwhile; the answer
/// body goes back to the client.
fn dispatch_message(gw: &Arc<Gateway>, connection_id: &str, connected_ms: i64, body: String) {
    if let Some(c) = gw.connections.lock().expect("lock").get_mut(connection_id) {
        c.last_active = time::OffsetDateTime::now_utc();
    }
    let gw = gw.clone();
    let connection_id = connection_id.to_string();
    tokio::spawn(async move {
        let mut context = gw.base_context("$default", "MESSAGE", &connection_id, connected_ms);
        context["messageId"] = json!(uuid::Uuid::new_v4().simple().to_string());
        let event = json!({ "requestContext": context, "body": body, "isBase64Encoded": false });
        match gw.call(event).await {
            Ok((_, Some(reply))) if !reply.is_empty() => {
                gw.send(&connection_id, Outgoing::Frame(Message::Text(reply.into())));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "$default invocation failed");
                let err =
                    json!({ "message": "Internal server error", "connectionId": connection_id });
                gw.send(
                    &connection_id,
                    Outgoing::Frame(Message::Text(err.to_string().into())),
                );
            }
        }
    });
}

fn gone(id: &str) -> Response {
    let mut res = (
        StatusCode::GONE,
        axum::Json(json!({ "message": format!("connection {id} is gone") })),
    )
        .into_response();
    res.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("GoneException"),
    );
    res
}

async fn post_to_connection(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let frame = match String::from_utf8(body.to_vec()) {
        Ok(text) => Message::Text(text.into()),
        Err(e) => Message::Binary(e.into_bytes().into()),
    };
    if gw.send(&id, Outgoing::Frame(frame)) {
        StatusCode::OK.into_response()
    } else {
        gone(&id)
    }
}

async fn delete_connection(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    if gw.send(&id, Outgoing::Close) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gone(&id)
    }
}

async fn describe(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let conns = gw.connections.lock().expect("lock");
    let Some(c) = conns.get(&id) else {
        return gone(&id);
    };
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    axum::Json(json!({
        "ConnectedAt": fmt(c.connected_at),
        "LastActiveAt": fmt(c.last_active),
        "Identity": { "SourceIp": c.source_ip, "UserAgent": c.user_agent },
    }))
    .into_response()
}

async fn describe_staged(
    state: State<Arc<Gateway>>,
    Path((_stage, id)): Path<(String, String)>,
) -> Response {
    describe(state, Path(id)).await
}

async fn post_staged(
    state: State<Arc<Gateway>>,
    Path((_stage, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    post_to_connection(state, Path(id), body).await
}

async fn delete_staged(
    state: State<Arc<Gateway>>,
    Path((_stage, id)): Path<(String, String)>,
) -> Response {
    delete_connection(state, Path(id)).await
}
