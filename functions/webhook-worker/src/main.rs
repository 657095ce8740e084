#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let worker = webhook_worker::worker(&ctx)?;
    shared::queue::run_worker(move |message| {
        let worker = worker.clone();
        async move { worker.handle(message).await }
    })
    .await
}
