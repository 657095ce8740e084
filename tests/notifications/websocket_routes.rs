//! WebSocket: `$connect` with good and bad tokens, `$default` ping and unknown actions,
//! `$disconnect`, pushes to every connection and stale-connection cleanup, all through the
//! local gateway with a real WebSocket client.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shared::auth::Role;
use shared::notifications::{ConnectionGateway, ManagementApi, PostError, Pusher};
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::{Setup, connect, eventually, next_json, send_text};

#[tokio::test]
async fn connect_accepts_a_good_token_in_the_seed_path_and_the_query_and_refuses_bad_ones() {
    let s = Setup::new().await;
    let w1 = s.user("ws-user-1");
    let token = s.hub.token(&w1, Role::User);

    // The seed's form and API Gateway's form both connect and store the connection.
    let mut seed_form = connect(&s, &format!("/ws/{token}"))
        .await
        .expect("connect with /ws/{token}");
    let _query_form = connect(&s, &format!("/?token={token}"))
        .await
        .expect("connect with ?token=");
    let _ws_query_form = connect(&s, &format!("/ws?token={token}"))
        .await
        .expect("connect with /ws?token=");
    let stored = s.ws_state.connections.list(&w1).await.unwrap();
    assert_eq!(stored.len(), 3, "{stored:?}");
    let mut live = s.gateway.connection_ids();
    live.sort();
    let mut ids: Vec<String> = stored.iter().map(|c| c.connection_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, live, "the stored ids are the gateway's connection ids");

    // Bad tokens: the handshake is refused with 401 and nothing is stored.
    let other_secret =
        shared::auth::issue_token(b"not-the-hub-secret", "intruder", Role::User, 600);
    for path in [
        format!("/ws/{other_secret}"),
        "/ws/not-a-jwt".to_string(),
        "/".to_string(),
        "/ws?token=".to_string(),
    ] {
        match connect(&s, &path).await {
            Err(WsError::Http(res)) => assert_eq!(res.status(), 401, "{path}"),
            Err(e) => panic!("{path}: unexpected error {e}"),
            Ok(_) => panic!("{path}: connected with a bad token"),
        }
    }
    assert!(
        s.ws_state
            .connections
            .list("intruder")
            .await
            .unwrap()
            .is_empty()
    );

    // $default: ping answers pong; unknown actions and non-JSON answer an error message.
    send_text(&mut seed_form, r#"{"action":"ping"}"#).await;
    assert_eq!(
        next_json(&mut seed_form, Duration::from_secs(5))
            .await
            .unwrap(),
        json!({"type":"pong"})
    );
    send_text(&mut seed_form, r#"{"action":"subscribe"}"#).await;
    let err = next_json(&mut seed_form, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "unknown_action");
    send_text(&mut seed_form, "hello").await;
    assert_eq!(
        next_json(&mut seed_form, Duration::from_secs(5))
            .await
            .unwrap()["code"],
        "invalid_message"
    );

    // $disconnect removes the connection (both items).
    seed_form.close(None).await.unwrap();
    eventually("the closed connection is removed", || async {
        s.ws_state.connections.list(&w1).await.unwrap().len() == 2
    })
    .await;
}

#[tokio::test]
async fn the_handler_reads_real_api_gateway_events() {
    let s = Setup::new().await;
    let w2 = s.user("ws-user-2");
    let token = s.hub.token(&w2, Role::User);
    // The shape API Gateway sends for $connect (trimmed to what matters).
    let connect_event = json!({
        "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com"},
        "queryStringParameters": {"token": token},
        "multiValueQueryStringParameters": {"token": [token]},
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "connectionId": "L0SM9cOFvHcCIhw=",
            "connectedAt": 1_700_000_000_000_i64, "requestTimeEpoch": 1_700_000_000_000_i64,
            "stage": "dev", "apiId": "abc", "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "messageDirection": "IN", "requestId": "r1", "identity": {"sourceIp": "203.0.113.9"}
        },
        "isBase64Encoded": false
    });
    let res = websocket::handle(
        &s.ws_state,
        serde_json::from_value(connect_event.clone()).unwrap(),
    )
    .await;
    assert_eq!(res.status_code, 200);
    let stored = s.ws_state.connections.list(&w2).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].connection_id, "L0SM9cOFvHcCIhw=");
    let ttl = stored[0].expires_at - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (7000..=7200).contains(&ttl),
        "connection TTL about two hours, got {ttl}s"
    );

    let mut no_token = connect_event.clone();
    no_token["queryStringParameters"] = serde_json::Value::Null;
    no_token["multiValueQueryStringParameters"] = serde_json::Value::Null;
    no_token["requestContext"]["connectionId"] = json!("other=");
    let res = websocket::handle(&s.ws_state, serde_json::from_value(no_token).unwrap()).await;
    assert_eq!(res.status_code, 401);

    let mut disconnect = connect_event;
    disconnect["requestContext"]["routeKey"] = json!("$disconnect");
    disconnect["requestContext"]["eventType"] = json!("DISCONNECT");
    disconnect["requestContext"]["disconnectStatusCode"] = json!(1001);
    let res = websocket::handle(&s.ws_state, serde_json::from_value(disconnect).unwrap()).await;
    assert_eq!(res.status_code, 200);
    assert!(s.ws_state.connections.list(&w2).await.unwrap().is_empty());
}

#[tokio::test]
async fn push_reaches_every_connection_and_a_410_removes_stale_ones() {
    let s = Setup::new().await;
    let w3 = s.user("ws-user-3");
    let token = s.hub.token(&w3, Role::User);
    let mut phone = connect(&s, &format!("/ws/{token}")).await.unwrap();
    let mut laptop = connect(&s, &format!("/?token={token}")).await.unwrap();
    // A connection whose client vanished without a $disconnect: the gateway answers 410.
    s.ws_state
        .connections
        .put(&w3, "vanished-conn=")
        .await
        .unwrap();
    assert_eq!(s.ws_state.connections.list(&w3).await.unwrap().len(), 3);

    let gateway = Arc::new(ManagementApi::new(&s.hub.ctx.aws.sdk_config, &s.management));
    assert_eq!(
        gateway.post("vanished-conn=", bytes_of("x")).await,
        Err(PostError::Gone),
        "the management API answers 410 for unknown ids"
    );
    let pusher = Pusher::new(
        s.ws_state.connections.clone(),
        gateway,
        s.hub.ctx.rate_limiter.clone(),
    );
    let event = json!({"type": "appointment:updated", "data": {"id": 456, "status": "confirmed", "date": "2025-01-20"}});
    let report = pusher.push(&w3, &event).await.unwrap();
    assert_eq!((report.delivered, report.removed, report.failed), (2, 1, 0));
    assert_eq!(
        next_json(&mut phone, Duration::from_secs(5)).await.unwrap(),
        event
    );
    assert_eq!(
        next_json(&mut laptop, Duration::from_secs(5))
            .await
            .unwrap(),
        event
    );
    let left: Vec<String> = s
        .ws_state
        .connections
        .list(&w3)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&"vanished-conn=".to_string()));

    // Nobody connected: nothing to do, nothing counted.
    let report = pusher.push("nobody-here", &event).await.unwrap();
    assert_eq!(report.delivered, 0);
}

#[tokio::test]
async fn the_management_api_deletes_and_describes_connections() {
    let s = Setup::new().await;
    let w4 = s.user("ws-user-4");
    let token = s.hub.token(&w4, Role::User);
    let mut client = connect(&s, &format!("/ws/{token}")).await.unwrap();
    let id = s.gateway.connection_ids().pop().unwrap();
    let http = reqwest::Client::new();
    let described: serde_json::Value = http
        .get(format!("{}/@connections/{id}", s.management))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(described["Identity"]["SourceIp"], "127.0.0.1");
    assert!(described["ConnectedAt"].is_string());
    let gateway = ManagementApi::new(&s.hub.ctx.aws.sdk_config, &s.management);
    gateway.delete(&id).await.unwrap();
    assert!(
        next_json(&mut client, Duration::from_secs(5))
            .await
            .is_none(),
        "the client is closed"
    );
    eventually("$disconnect after a management delete", || async {
        s.ws_state.connections.list(&w4).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(gateway.delete(&id).await, Err(PostError::Gone));
}

fn bytes_of(s: &str) -> bytes::Bytes {
    bytes::Bytes::from(s.to_string())
}

#[tokio::test]
async fn pushes_count_against_the_users_1000_an_hour_websocket_limit() {
    let s = Setup::new().await;
    let w5 = s.user("ws-user-5");
    let token = s.hub.token(&w5, Role::User);
    let mut client = connect(&s, &format!("/ws/{token}")).await.unwrap();
    let event = json!({"type": "notification:new", "data": {"id": "1", "title": "t", "message": "m", "type": "x"}});
    let gateway = Arc::new(ManagementApi::new(&s.hub.ctx.aws.sdk_config, &s.management));
    let pusher = Pusher::new(
        s.ws_state.connections.clone(),
        gateway,
        s.hub.ctx.rate_limiter.clone(),
    );
    assert_eq!(pusher.push(&w5, &event).await.unwrap().delivered, 1);
    assert_eq!(
        next_json(&mut client, Duration::from_secs(5))
            .await
            .unwrap(),
        event
    );
    // 999 more this hour (taken in one go) reach the default 1000/h ...
    let subject = shared::rate_limit::Subject::channel(shared::rate_limit::Channel::Websocket)
        .user(w5.clone());
    let decision = s
        .hub
        .ctx
        .rate_limiter
        .check_cost(&subject, 999)
        .await
        .expect("the 1000 messages an hour are not used up yet");
    assert_eq!(
        decision.quota.as_ref().map(|q| (q.limit, q.remaining)),
        Some((1000, 0))
    );
    // ... so the next push is refused and nothing reaches the client.
    let err = shared::ApiError::from(pusher.push(&w5, &event).await.unwrap_err());
    assert_eq!((err.status.as_u16(), err.code), (429, "rate_limited"));
    assert!(
        next_json(&mut client, Duration::from_millis(300))
            .await
            .is_none()
    );

    // Through the worker: the WebSocket channel is recorded failed / rate_limited (not retried).
    let res = s.send(json!({"user_id": w5, "type": "t", "title": "T", "message": "M", "channels": ["websocket"]})).await;
    let id = res.json()["id"].as_str().unwrap().to_string();
    s.drain().await;
    let n = s.notification(&w5, &id).await;
    assert_eq!(n["channels"]["websocket"]["status"], "failed", "{n}");
    assert_eq!(n["channels"]["websocket"]["code"], "rate_limited");
    assert_eq!(n["channels"]["websocket"]["attempts"], 1);
}

#[tokio::test]
async fn the_http_invoker_sends_real_connect_events_to_the_invoke_endpoint() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // cargo-lambda's invoke endpoint, answering as a function that refuses the token.
    let invoke = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2015-03-31/functions/websocket/invocations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"statusCode": 401, "body": "{\"type\":\"error\",\"code\":\"invalid_token\"}"}),
        ))
        .mount(&invoke)
        .await;
    let client = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let management = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = client.local_addr().unwrap().port();
    let gw = ws_gateway::Gateway::new(
        Arc::new(ws_gateway::HttpInvoker::new(&invoke.uri(), "websocket")),
        format!("127.0.0.1:{port}"),
    );
    tokio::spawn(ws_gateway::serve(gw, client, management));
    match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/some.jwt.token")).await
    {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected a refused handshake, got {:?}", other.map(|_| ())),
    }
    let requests = invoke.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let event: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(event["requestContext"]["routeKey"], "$connect");
    assert_eq!(event["requestContext"]["eventType"], "CONNECT");
    assert_eq!(event["queryStringParameters"]["token"], "some.jwt.token");
    assert!(
        event["requestContext"]["connectionId"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    // The event is what aws_lambda_events reads as an API Gateway WebSocket request.
    let parsed: aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest =
        serde_json::from_value(event).unwrap();
    assert_eq!(
        parsed.request_context.route_key.as_deref(),
        Some("$connect")
    );
}
