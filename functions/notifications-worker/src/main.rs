#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let dispatcher = notifications_worker::dispatcher(&ctx)?;
    shared::queue::run_worker(move |message| {
        let dispatcher = dispatcher.clone();
        async move { notifications_worker::handle(&dispatcher, message).await }
    })
    .await
}
