use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let sweeper = Arc::new(sweeper::Sweeper::new(&ctx));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let sweeper = sweeper.clone();
            async move { sweeper.run().await.map_err(lambda_runtime::Error::from) }
        },
    ))
    .await
}
