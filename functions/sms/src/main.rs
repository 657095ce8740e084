#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let state = sms::SmsState::new(ctx)?;
    shared::http::run(shared::http::app(sms::router(state))).await
}
