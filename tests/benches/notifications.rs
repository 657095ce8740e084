//! Notifications latency against the moto server, in-process:
//! - `POST /api/v1/notifications` (JWT, validation, profile `GetItem`, notification `PutItem`,
//!   one `SendMessage` for all the notification's channels): what the caller waits for;
//! - one WebSocket channel message through the worker (claim `UpdateItem`, connections `Query`,
//!   rate-limit `UpdateItem`, `PostToConnection` to the local gateway, outcome `UpdateItem`), and
//!   the time until a real WebSocket client connected to the gateway has the event.
//!
//!   cd /work/main && set -a && . .local/test4570.env && set +a
//!   cargo test -p hub-tests --bench notifications    # debug build; BENCH_CALLS=100 by default

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use futures::StreamExt;
use hub_tests::TestHub;
use serde_json::{Value, json};
use shared::auth::Role;
use shared::notifications::{Channel, ChannelJob, NotificationsConfig};
use ws_gateway::{BoxFuture, Gateway, Invoker};

struct InProcess(Arc<websocket::WebsocketState>);

impl Invoker for InProcess {
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let request: ApiGatewayWebsocketProxyRequest =
                serde_json::from_value(event).map_err(|e| e.to_string())?;
            serde_json::to_value(websocket::handle(&self.0, request).await)
                .map_err(|e| e.to_string())
        })
    }
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let client_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let management_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_port = client_listener.local_addr().unwrap().port();
    let management = format!(
        "http://127.0.0.1:{}",
        management_listener.local_addr().unwrap().port()
    );
    let hub = TestHub::with_env(&[("WEBSOCKET_MANAGEMENT_ENDPOINT", management)]).await;
    let queue_url = hub_tests::create_queue(&hub, "NOTIFICATIONS_QUEUE_URL").await;
    let mut config = NotificationsConfig::from_env(&hub.ctx.env).unwrap();
    config.queue_url = Some(queue_url);
    let svc = shared::http::app(notifications::router(
        notifications::NotificationsState::with_config(hub.ctx_of("notifications"), &config)
            .unwrap(),
    ));
    let dispatcher = hub
        .ctx_of("notifications-worker")
        .notification_dispatcher(&config);
    let ws_state = websocket::WebsocketState::new(hub.ctx_of("websocket")).unwrap();
    let gateway = Gateway::new(
        Arc::new(InProcess(ws_state)),
        format!("127.0.0.1:{ws_port}"),
    );
    tokio::spawn(ws_gateway::serve(
        gateway,
        client_listener,
        management_listener,
    ));

    let user = format!("bench-{}", &hub.prefix[5..15]);
    let user_token = hub.token(&user, Role::User);
    let service = hub.token("bench-service", Role::Service);
    let (mut client, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{ws_port}/ws/{user_token}"))
            .await
            .unwrap();

    let body = json!({"user_id": user, "type": "lembrete", "title": "Nova Notificação", "message": "Você tem uma nova mensagem", "channels": ["websocket"]});
    let mut post_times = Vec::with_capacity(calls);
    let mut ids = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let res = hub_tests::send(
            &svc,
            hub_tests::json_req("POST", "/api/v1/notifications", Some(&service), &body),
        )
        .await;
        post_times.push(start.elapsed());
        assert_eq!(res.status, 202);
        ids.push(res.json()["id"].as_str().unwrap().to_string());
    }

    let mut worker_times = Vec::with_capacity(calls);
    let mut delivered_times = Vec::with_capacity(calls);
    for (i, id) in ids.iter().enumerate() {
        let job = ChannelJob {
            notification_id: id.clone(),
            user_id: user.clone(),
            channel: Channel::Websocket,
        };
        let mut record = SqsMessage::default();
        record.message_id = Some(format!("bench-{i}"));
        record.body = Some(serde_json::to_string(&job).unwrap());
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        let mut event = SqsEvent::default();
        event.records.push(record);
        let start = Instant::now();
        let (response, delivered) = tokio::join!(
            notifications_worker::handle_event(&dispatcher, event),
            async {
                let msg = tokio::time::timeout(Duration::from_secs(10), client.next())
                    .await
                    .expect("the event arrives")
                    .unwrap()
                    .unwrap();
                (start.elapsed(), msg)
            }
        );
        worker_times.push(start.elapsed());
        assert!(response.batch_item_failures.is_empty());
        let event: Value = serde_json::from_str(delivered.1.to_text().unwrap()).unwrap();
        assert_eq!(event["data"]["id"], id.as_str());
        delivered_times.push(delivered.0);
    }

    // Parts of the worker path, to see where the time goes.
    let subject = shared::rate_limit::Subject::channel(shared::rate_limit::Channel::Websocket)
        .user(user.clone());
    let connections = hub.ctx.connection_store(&config);
    let api = shared::notifications::ManagementApi::new(
        &hub.ctx.aws.sdk_config,
        config.management_endpoint.as_deref().unwrap(),
    );
    let conn_id = connections.list(&user).await.unwrap()[0]
        .connection_id
        .clone();
    let (mut limiter_times, mut list_times, mut post_only, mut get_times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in ids.iter().take(20) {
        let t = Instant::now();
        hub.ctx.rate_limiter.check(&subject).await.ok();
        limiter_times.push(t.elapsed());
        let t = Instant::now();
        connections.list(&user).await.unwrap();
        list_times.push(t.elapsed());
        let t = Instant::now();
        hub.ctx
            .aws
            .dynamo
            .get_item()
            .table_name(&hub.ctx.config.hub_table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("NOTIF#{user}")),
            )
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(id.clone()))
            .send()
            .await
            .unwrap();
        get_times.push(t.elapsed());
        let t = Instant::now();
        use shared::notifications::ConnectionGateway;
        api.post(&conn_id, bytes::Bytes::from_static(b"{}"))
            .await
            .unwrap();
        post_only.push(t.elapsed());
        client.next().await;
    }
    hub_tests::bench::report("  rate limiter check", limiter_times);
    hub_tests::bench::report("  connections Query", list_times);
    hub_tests::bench::report("  GetItem (reference round trip)", get_times);
    hub_tests::bench::report("  PostToConnection (local gateway)", post_only);

    println!(
        "notifications against moto at {}",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default()
    );
    hub_tests::bench::report("POST /api/v1/notifications (202)", post_times);
    hub_tests::bench::report("worker: one websocket channel message", worker_times);
    hub_tests::bench::report(
        "worker start -> client has notification:new",
        delivered_times,
    );
}
