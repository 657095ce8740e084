#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let runner = std::sync::Arc::new(ctx.ai_job_runner()?);
    shared::queue::run_worker(move |msg| {
        let runner = runner.clone();
        async move { ai_worker::handle(&runner, msg).await }
    })
    .await
}
