//! Notifications: multi-channel sending through the emulator's SQS and the worker, channel
//! preferences, the inbox, and WebSocket connections through the local gateway
//! (`tools/ws-gateway`, started in-process on free ports and invoking the websocket
//! function's handler in-process) with a real WebSocket client.

mod auth_order;
mod inbox;
mod localized;
mod sending;
#[allow(dead_code)]
#[path = "../email/sink.rs"]
mod sink;
mod websocket_routes;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use futures::{SinkExt, StreamExt};
use hub_tests::TestHub;
use serde_json::Value;
use shared::http::HubService;
use shared::notifications::{Dispatcher, NotificationsConfig};
use tokio_tungstenite::tungstenite::Message;
use ws_gateway::{BoxFuture, Gateway, Invoker};

/// Calls the websocket function's handler in-process with the gateway's event (through JSON,
/// as Lambda would deliver it).
pub struct InProcess(pub Arc<websocket::WebsocketState>);

impl Invoker for InProcess {
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let request: ApiGatewayWebsocketProxyRequest =
                serde_json::from_value(event).map_err(|e| format!("not a WebSocket event: {e}"))?;
            let response = websocket::handle(&self.0, request).await;
            serde_json::to_value(response).map_err(|e| e.to_string())
        })
    }
}

/// Everything a notifications test needs: the hub, its own queue, the function, the worker,
/// and a running local WebSocket gateway.
pub struct Setup {
    pub hub: TestHub,
    pub queue_url: String,
    pub config: NotificationsConfig,
    pub svc: HubService,
    pub dispatcher: Arc<Dispatcher>,
    pub ws_state: Arc<websocket::WebsocketState>,
    pub gateway: Arc<Gateway>,
    /// `ws://127.0.0.1:{port}`
    pub ws_base: String,
    /// The management API (`WEBSOCKET_MANAGEMENT_ENDPOINT`).
    pub management: String,
}

impl Setup {
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    pub async fn with_env(overrides: &[(&str, String)]) -> Self {
        let client = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let management_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_port = client.local_addr().unwrap().port();
        let management = format!(
            "http://127.0.0.1:{}",
            management_listener.local_addr().unwrap().port()
        );
        let mut env: Vec<(&str, String)> = vec![
            ("WEBSOCKET_MANAGEMENT_ENDPOINT", management.clone()),
            ("NOTIFICATION_MAX_ATTEMPTS", "2".into()),
        ];
        env.extend(overrides.iter().cloned());
        let hub = TestHub::with_env(&env).await;
        let queue_url = hub_tests::create_queue(&hub, "NOTIFICATIONS_QUEUE_URL").await;
        let mut config = NotificationsConfig::from_env(&hub.ctx.env).unwrap();
        config.queue_url = Some(queue_url.clone());
        let state =
            notifications::NotificationsState::with_config(hub.ctx_of("notifications"), &config)
                .unwrap();
        let svc = shared::http::app(notifications::router(state));
        let dispatcher = Arc::new(
            hub.ctx_of("notifications-worker")
                .notification_dispatcher(&config),
        );
        let ws_state = websocket::WebsocketState::new(hub.ctx_of("websocket")).unwrap();
        let gateway = Gateway::new(
            Arc::new(InProcess(ws_state.clone())),
            format!("127.0.0.1:{ws_port}"),
        );
        tokio::spawn(ws_gateway::serve(
            gateway.clone(),
            client,
            management_listener,
        ));
        Self {
            hub,
            queue_url,
            config,
            svc,
            dispatcher,
            ws_state,
            gateway,
            ws_base: format!("ws://127.0.0.1:{ws_port}"),
            management,
        }
    }

    /// Plays SQS -> worker until the queue is empty, including messages a worker handed back
    /// for a retry (invisible for the test queue's 1 s visibility timeout); returns the
    /// worker invocations.
    pub async fn drain(&self) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName;
        let mut invocations = 0;
        for _ in 0..10 {
            let d = self.dispatcher.clone();
            invocations += hub_tests::drain_queue(
                self.hub.ctx_of("notifications-worker").aws.sqs(),
                &self.queue_url,
                20,
                move |event| {
                    let d = d.clone();
                    async move { notifications_worker::handle_event(&d, event).await }
                },
            )
            .await;
            let attrs = self
                .hub
                .ctx
                .aws
                .sqs()
                .get_queue_attributes()
                .queue_url(&self.queue_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .unwrap();
            let count = |name: QueueAttributeName| {
                attrs
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            };
            if count(QueueAttributeName::ApproximateNumberOfMessages)
                + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        invocations
    }

    /// A user id of this test run (the emulator's table outlives test runs).
    pub fn user(&self, name: &str) -> String {
        format!("{name}-{}", &self.hub.prefix[5..15])
    }

    pub fn service_token(&self) -> String {
        self.hub.token("scheduler", shared::auth::Role::Service)
    }

    pub async fn send(&self, body: Value) -> hub_tests::TestResponse {
        let token = self.service_token();
        hub_tests::send(
            &self.svc,
            hub_tests::json_req("POST", "/api/v1/notifications", Some(&token), &body),
        )
        .await
    }

    /// The notification as its user sees it in the inbox.
    pub async fn notification(&self, user: &str, id: &str) -> Value {
        let token = self.hub.token(user, shared::auth::Role::User);
        let res = hub_tests::send(
            &self.svc,
            hub_tests::get("/api/v1/notifications?limit=100", Some(&token)),
        )
        .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        res.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("notification {id} not in {user}'s inbox"))
    }
}

pub type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects a real WebSocket client to the gateway at `path` (e.g. `/ws/{token}`).
pub async fn connect(
    setup: &Setup,
    path: &str,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    tokio_tungstenite::connect_async(format!("{}{path}", setup.ws_base))
        .await
        .map(|(ws, _)| ws)
}

/// The next text message as JSON, or None after `wait`.
pub async fn next_json(client: &mut Client, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, client.next())
            .await
            .ok()??;
        match msg.ok()? {
            Message::Text(t) => {
                return Some(serde_json::from_str(t.as_str()).expect("a JSON message"));
            }
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

pub async fn send_text(client: &mut Client, text: &str) {
    client
        .send(Message::Text(text.into()))
        .await
        .expect("send a WebSocket message");
}

/// Waits until `check` holds (eventual effects such as `$disconnect`), up to 5 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
