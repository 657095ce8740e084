//! integrations-hub's common crate: the domain and plumbing every Lambda function uses.
//!
//! Functions are thin: `main.rs` builds a [`context::HubContext`] once per cold start and
//! runs a router whose handlers call into this crate. Nothing here depends on Lambda event
//! types except [`http::run`].

pub mod ai;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod context;
pub mod cursor;
pub mod email;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod integration_log;
pub mod mask;
pub mod notifications;
pub mod otp;
pub mod providers;
pub mod queue;
pub mod rate_limit;
pub mod retry;
pub mod secrets;
pub mod sms;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod webhooks;

pub use context::HubContext;
pub use http::problem::{ApiError, ApiResult};
