//! Pushing events to a user's WebSocket connections through the API Gateway Management API
//! (behind [`ConnectionGateway`]; the SDK client is `management_api::ManagementApi`, in builds
//! with the `apigw-management` feature). A connection that answers 410 Gone is stale (its
//! client went away without a `$disconnect` reaching us) and is removed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use super::connections::ConnectionStore;
use super::error::NotificationError;
use super::limit::{ChannelLimit, LimitChannel};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a post to one connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// 410: the connection no longer exists.
    #[error("connection gone")]
    Gone,
    #[error("{0}")]
    Other(String),
}

/// The API Gateway Management API, as far as pushing needs it.
pub trait ConnectionGateway: Send + Sync {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), PostError>>;
    fn delete<'a>(&'a self, connection_id: &'a str) -> BoxFuture<'a, Result<(), PostError>>;
}

/// What one push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Connections the event reached.
    pub delivered: u32,
    /// Stale connections (410) removed.
    pub removed: u32,
    /// Connections that failed otherwise (kept; they may recover).
    pub failed: u32,
}

/// Sends events to every connection of a user; built once per cold start.
#[derive(Clone)]
pub struct Pusher {
    pub connections: ConnectionStore,
    gateway: Arc<dyn ConnectionGateway>,
    limiter: Arc<dyn ChannelLimit>,
}

impl Pusher {
    pub fn new(
        connections: ConnectionStore,
        gateway: Arc<dyn ConnectionGateway>,
        limiter: Arc<dyn ChannelLimit>,
    ) -> Self {
        Self {
            connections,
            gateway,
            limiter,
        }
    }

    /// Pushes `event` (already JSON) to all of `user`'s connections concurrently, after
    /// counting one WebSocket message against the user's hourly limit (1000/h by default;
    /// [`NotificationError::Limit`] when exhausted). Connections answering 410 are removed.
    pub async fn push(
        &self,
        user: &str,
        event: &serde_json::Value,
    ) -> Result<PushReport, NotificationError> {
        let connections = self.connections.list(user).await?;
        if connections.is_empty() {
            return Ok(PushReport::default());
        }
        self.limiter.take(LimitChannel::Websocket, user).await?;
        let payload = Bytes::from(
            serde_json::to_vec(event).map_err(|e| NotificationError::Internal(e.to_string()))?,
        );
        let posts = connections.iter().map(|c| {
            let payload = payload.clone();
            async move { (c, self.gateway.post(&c.connection_id, payload).await) }
        });
        let results = futures::future::join_all(posts).await;
        let mut report = PushReport::default();
        let mut gone = Vec::new();
        for (c, result) in results {
            match result {
                Ok(()) => report.delivered += 1,
                Err(PostError::Gone) => gone.push(c),
                Err(PostError::Other(reason)) => {
                    tracing::warn!(connection_id = %c.connection_id, %reason, "push to a WebSocket connection failed");
                    report.failed += 1;
                }
            }
        }
        let removals = gone
            .iter()
            .map(|c| self.connections.remove(user, &c.connection_id));
        for r in futures::future::join_all(removals).await {
            match r {
                Ok(()) => report.removed += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove a stale WebSocket connection")
                }
            }
        }
        Ok(report)
    }
}
