use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let sms = Arc::new(ctx.sms_service()?);
    shared::queue::run_worker(move |message| {
        let sms = sms.clone();
        async move { sms_worker::handle(&sms, message).await }
    })
    .await
}
