#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    // Templates compiled and the SMTP transport configured once per cold start.
    let state = email::EmailState::new(ctx)?;
    shared::http::run(shared::http::app(email::router(state))).await
}
