use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let processor = Arc::new(ctx.webhook_processor()?);
    shared::queue::run_worker(move |message| {
        let processor = processor.clone();
        async move { webhook_worker::handle(&processor, message).await }
    })
    .await
}
