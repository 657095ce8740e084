use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let service = shared::http::app(health::router(Arc::new(health::HealthState::new(ctx))));
    shared::http::run(service).await
}
