use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let state = websocket::WebsocketState::new(ctx)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        let state = state.clone();
        async move { Ok::<_, lambda_runtime::Error>(websocket::handle(&state, event.payload).await) }
    }))
    .await
}
