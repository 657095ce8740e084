use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let ctx = shared::HubContext::from_env().await?;
    let config = ctx.subscriptions_config()?;
    let worker = Arc::new(ctx.delivery_worker(&config)?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let worker = worker.clone();
            async move {
                Ok::<_, lambda_runtime::Error>(
                    subscriptions_worker::handle_event(&worker, event.payload).await,
                )
            }
        },
    ))
    .await
}
