//! `ws-gateway`: the local WebSocket gateway started by `make dev` (see the crate docs).
//!
//! Settings (environment): `WS_GATEWAY_PORT` (8000), `WS_MANAGEMENT_PORT` (8001),
//! `WS_INVOKE_URL` (`http://127.0.0.1:9000`, cargo-lambda's invoke endpoint),
//! `WS_FUNCTION` (`websocket`). Everything listens on 127.0.0.1 only.

use std::sync::Arc;

use anyhow::Context;
use ws_gateway::{Gateway, HttpInvoker};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = setting("WS_GATEWAY_PORT", "8000")
        .parse()
        .context("WS_GATEWAY_PORT must be a port number")?;
    let management_port: u16 = setting("WS_MANAGEMENT_PORT", "8001")
        .parse()
        .context("WS_MANAGEMENT_PORT must be a port number")?;
    let invoke = setting("WS_INVOKE_URL", "http://127.0.0.1:9000");
    let function = setting("WS_FUNCTION", "websocket");
    let client = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let management = tokio::net::TcpListener::bind(("127.0.0.1", management_port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{management_port}"))?;
    let gateway = Gateway::new(
        Arc::new(HttpInvoker::new(&invoke, &function)),
        format!("127.0.0.1:{port}"),
    );
    tracing::info!(
        "WebSocket gateway: ws://127.0.0.1:{port}/ws/{{token}} (or ?token=) -> {invoke} function {function}; management API http://127.0.0.1:{management_port}/@connections/{{id}}"
    );
    tokio::select! {
        r = ws_gateway::serve(gateway, client, management) => r.context("serving")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
