//! The notifications worker: one SQS message = one channel (email, SMS, WebSocket) of one
//! notification. The logic lives in `shared::notifications::dispatch`; this crate wires the
//! channel senders from the configuration at cold start.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::HubContext;
use shared::notifications::dispatch::WebsocketSender;
use shared::notifications::{
    Channel, ConnectionStore, Dispatcher, ManagementApi, NotificationStore, NotificationsConfig,
    Pusher,
};

/// Builds the dispatcher: every channel gets its sender, or is marked unavailable with the
/// reason (its messages then end `failed` / `channel_unavailable`).
pub fn dispatcher(ctx: &Arc<HubContext>) -> anyhow::Result<Arc<Dispatcher>> {
    let config = NotificationsConfig::from_env(&ctx.env)?;
    Ok(Arc::new(dispatcher_with(ctx, &config)?))
}

pub fn dispatcher_with(
    ctx: &Arc<HubContext>,
    config: &NotificationsConfig,
) -> anyhow::Result<Dispatcher> {
    let store = NotificationStore::new(
        ctx.aws.dynamo.clone(),
        ctx.config.hub_table.clone(),
        config.ttl,
    );
    let mut d = Dispatcher::new(store, config.max_attempts);
    d = match &config.management_endpoint {
        Some(endpoint) => {
            let connections = ConnectionStore::new(
                ctx.aws.dynamo.clone(),
                ctx.config.hub_table.clone(),
                config.connection_ttl,
            );
            let gateway = Arc::new(ManagementApi::new(&ctx.aws.sdk_config, endpoint));
            let pusher = Pusher::new(connections, gateway, ctx.rate_limiter.clone());
            d.with_sender(Channel::Websocket, Arc::new(WebsocketSender(pusher)))
        }
        None => d.with_unavailable(
            Channel::Websocket,
            "WEBSOCKET_MANAGEMENT_ENDPOINT is not set",
        ),
    };
    d = shared::notifications::senders::attach(d, ctx)?;
    Ok(d)
}

/// One Lambda invocation: the batch, with partial failures reported.
pub async fn handle(dispatcher: &Dispatcher, event: SqsEvent) -> SqsBatchResponse {
    shared::queue::process_batch(event, |m| dispatcher.handle(m)).await
}
