#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let service = ctx.webhook_service()?;
    let state = webhooks::WebhooksState::new(ctx, service);
    shared::http::run(shared::http::app(webhooks::router(state))).await
}
