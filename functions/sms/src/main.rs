#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let sms = ctx.sms_service()?;
    let state = sms::SmsState::new(ctx, sms);
    shared::http::run(shared::http::app(sms::router(state))).await
}
