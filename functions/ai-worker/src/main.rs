#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let worker = std::sync::Arc::new(ai_worker::Worker::new(ctx)?);
    shared::queue::run_worker(move |msg| {
        let worker = worker.clone();
        async move { worker.handle(msg).await }
    })
    .await
}
