//! integrations-hub's common crate: the domain and plumbing every Lambda function uses.
//!
//! Functions are thin: `main.rs` builds a [`context::HubContext`] once per cold start (the
//! composition root) and runs a router whose handlers call into this crate. Layers and the
//! error flow: docs/architecture.md. Only the edge modules, [`http`] (HTTP and API Gateway)
//! and [`worker`] (SQS events), use axum, `http` or Lambda types.

// Capabilities that keep their data in S3 (audio and job payloads; uploaded files) exist in
// builds with the `s3` feature only: the functions that serve them enable it.
#[cfg(feature = "s3")]
pub mod ai;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod context;
pub mod cursor;
pub mod deferred;
pub mod email;
pub mod error;
pub mod fallback;
pub mod http;
pub mod idempotency;
pub mod integration_log;
pub mod locale;
pub mod mask;
pub mod notifications;
pub mod openapi;
pub mod otp;
pub mod providers;
pub mod queue;
pub mod rate_limit;
pub mod redrive;
pub mod retry;
pub mod secrets;
pub mod sms;
pub mod store;
pub mod subscriptions;
pub mod telemetry;
#[cfg(feature = "s3")]
pub mod uploads;
pub mod webhooks;
pub mod worker;

pub use context::HubContext;
pub use http::problem::{ApiError, ApiResult};
