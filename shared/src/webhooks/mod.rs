//! Incoming webhooks (the Helsa `WebhookEndpoint`/`WebhookEvent`, `register_webhook`,
//! `process_webhook`, `verify_signature`).
//!
//! - [`model`]: the entities; [`api`]: the routes' requests and answers; [`error`]: what
//!   can go wrong ([`WebhookError`]).
//! - [`signature`]: the signature schemes as pure functions behind
//!   [`signature::WebhookVerifier`], one file per scheme.
//! - [`registry`]: endpoints (DynamoDB) and their signing secrets (Secrets Manager), cached;
//!   the Twilio auth token from the provider credentials.
//! - [`events`]: durable, deduplicated event records, large bodies in a bucket
//!   (`s3_bodies` on S3, built with the `s3` feature).
//! - [`service`]: the `webhooks` function's service; [`ingest`]: its receive path (verify
//!   the raw bytes, store once, enqueue the id); [`admin`]: its admin operations.
//! - [`process`]: what the worker does with an event (SMS delivery reports, parsed by
//!   [`delivery_report`], go to the SMS capability; notifications).
//!
//! Wiring from the cold-start state: `context/webhooks.rs`.
//!
//! # Storage layout (HUB_TABLE)
//!
//! | item | pk | sk | gsi1pk | gsi1sk |
//! | --- | --- | --- | --- | --- |
//! | endpoint | `WH#EP#{slug}` | `#ENDPOINT` | `WH#ENDPOINTS` | `{created_at}#{slug}` |
//! | event | `WH#EV#{event_id}` | `#EVENT` | `WH#EVENTS#{slug}` | `{received_at}#{event_id}` |
//!
//! An endpoint's slug is its `endpoint_url` in the API and the items (the seed contract's
//! name); in the code it is called what it is, a slug.
//!
//! The event id is derived from the endpoint id and the event's dedupe key
//! (`sha256(endpoint id, dedupe key)`), so deduplication is the event write itself
//! (`attribute_not_exists(pk)`): one conditional `PutItem`, no separate dedupe record. The
//! dedupe key comes from signed material only (see `ingest::dedupe_key`): the `webhook-id`
//! under Standard Webhooks, else a hash of the signed bytes, so a captured delivery replayed
//! with a fresh unsigned id is still a duplicate. Events expire through the table's TTL
//! (`expires_at`) after the retention period, and never before the scheme's replay window
//! (twice the timestamp tolerance) has passed.
//!
//! The same `PutItem` carries the `shared::redrive` marker: if the process stops (or SQS
//! fails) between the store and the enqueue, the sweeper sends the event's message later.
//! The worker claims an event with a conditional write and a claim token, removing the
//! marker in that write, so redelivered and re-driven copies of a message process it once.
//!
//! Signing secrets live in Secrets Manager at `{SECRETS_PREFIX}/webhooks/{endpoint id}` as
//! JSON `{"current": "...", "previous": "...", "previous_expires_at": <unix secs>}`; they are
//! never written to DynamoDB and returned only once, when the hub generates them.
//!
//! # Notifications
//!
//! An endpoint configured with `notify_user_id` turns each processed event into an in-app
//! notification through [`crate::notifications::NotificationStore::create`] (type `webhook`,
//! the endpoint's `notification_title`, data `{webhook_event_id, endpoint_url, event_type,
//! provider_event_id}`). The payload is never copied into it.

pub mod admin;
pub mod api;
pub mod delivery_report;
pub mod error;
pub mod events;
pub mod ingest;
pub mod model;
pub mod process;
pub mod registry;
#[cfg(feature = "s3")]
pub mod s3_bodies;
pub mod service;
pub mod signature;

use crate::config::{ConfigError, Env};

pub use api::*;
pub use error::WebhookError;
pub use model::*;
pub use service::WebhookService;

/// The environment variable of the events queue's URL: where the sweeper re-drives a queued
/// event's message.
pub const QUEUE_ENV: &str = "WEBHOOK_EVENTS_QUEUE_URL";

/// Webhook settings, read once at cold start.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `WEBHOOK_EVENTS_QUEUE_URL`: where accepted event ids go for the worker.
    pub queue_url: String,
    /// `WEBHOOK_BODIES_BUCKET` (default `UPLOADS_BUCKET`): large raw bodies, under `webhooks/`.
    pub bodies_bucket: Option<String>,
    /// `WEBHOOK_INLINE_BODY_BYTES` (default 300 000): larger bodies go to S3 (a DynamoDB
    /// item holds at most 400 KB, with the headers and metadata beside the body).
    pub inline_body_bytes: usize,
    /// `WEBHOOK_MAX_BODY_BYTES` (default 5 MiB, under Lambda's 6 MB request limit): 413 above.
    pub max_body_bytes: usize,
    /// `WEBHOOK_CACHE_TTL_SECONDS` (default 60): endpoint configs and secrets cached this long.
    pub cache_ttl: std::time::Duration,
    /// `WEBHOOK_PUBLIC_BASE_URL`: the public origin providers call (custom domain), used for
    /// the URLs the registry hands out and for Twilio's signed URL. Otherwise rebuilt from
    /// `Host`/`X-Forwarded-Proto`.
    pub public_base_url: Option<String>,
    /// `WEBHOOK_EVENT_RETENTION_DAYS` (default 30): events (and the dedupe window) live this
    /// long, and at least the scheme's replay window.
    pub retention_days: u64,
    /// `WEBHOOK_ROTATION_GRACE_SECONDS` (default 86 400): how long a rotated-out secret verifies.
    pub rotation_grace_secs: i64,
    /// `WEBHOOK_MAX_ATTEMPTS` (default 5, the queue's maxReceiveCount): after this many failed
    /// deliveries the event is marked `failed` and the message goes to the dead-letter queue.
    pub max_attempts: u32,
    /// `WEBHOOK_CLAIM_TIMEOUT_SECONDS` (default 180, the queue's visibility timeout): a
    /// worker's claim older than this is taken over by the next delivery (its worker died).
    pub claim_timeout_secs: i64,
    /// `REDRIVE_AFTER_SECONDS` (default 60): how long after the store the sweeper sends a
    /// queued event's message again if no worker has claimed it.
    pub redrive_after: std::time::Duration,
}

impl WebhookConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            queue_url: env.required(QUEUE_ENV)?,
            bodies_bucket: env
                .optional("WEBHOOK_BODIES_BUCKET")
                .or_else(|| env.optional("UPLOADS_BUCKET")),
            inline_body_bytes: env.parse_or("WEBHOOK_INLINE_BODY_BYTES", 300_000usize)?,
            max_body_bytes: env.parse_or("WEBHOOK_MAX_BODY_BYTES", 5 * 1024 * 1024usize)?,
            cache_ttl: std::time::Duration::from_secs(
                env.parse_or("WEBHOOK_CACHE_TTL_SECONDS", 60u64)?,
            ),
            public_base_url: env.url("WEBHOOK_PUBLIC_BASE_URL")?,
            retention_days: env.parse_or("WEBHOOK_EVENT_RETENTION_DAYS", 30u64)?,
            rotation_grace_secs: env.parse_or("WEBHOOK_ROTATION_GRACE_SECONDS", 86_400i64)?,
            max_attempts: env.parse_or("WEBHOOK_MAX_ATTEMPTS", 5u32)?,
            claim_timeout_secs: env.parse_or("WEBHOOK_CLAIM_TIMEOUT_SECONDS", 180i64)?,
            redrive_after: crate::redrive::after_from_env(env),
        })
    }
}
