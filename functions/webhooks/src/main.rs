#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let state = webhooks::WebhooksState::from_context(ctx)?;
    shared::http::run(shared::http::app(webhooks::router(state))).await
}
