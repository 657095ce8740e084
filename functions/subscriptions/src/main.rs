#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let state = subscriptions::SubscriptionsState::new(ctx)?;
    shared::http::run(shared::http::app(subscriptions::router(state))).await
}
