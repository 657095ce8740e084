#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let sms = ctx.sms_service()?;
    let otp = ctx.otp_service(&sms.config)?;
    let state = sms::SmsState::new(ctx, sms, otp);
    shared::http::run(shared::http::app(sms::router(state))).await
}
