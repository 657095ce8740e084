//! Structured JSON logs through `tracing`.
//!
//! The Lambda runtime opens a span per invocation carrying `requestId`; the JSON formatter
//! writes the current span's fields on every line, so each log line names its request.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once. `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`) sets the level.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(filter))
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
