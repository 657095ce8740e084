#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let state = uploads::UploadsState::new(ctx)?;
    shared::http::run(shared::http::app(uploads::router(state))).await
}
