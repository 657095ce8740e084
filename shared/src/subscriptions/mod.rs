//! Event subscriptions: signed outgoing webhooks from the hub to client apps (what Svix,
//! Convoy and Hookdeck do), so clients stop polling.
//!
//! - A [`Subscription`] is a client URL, the event types it wants (exact names or `*`) and its
//!   Standard Webhooks signing secret (current, plus the previous one during a rotation grace).
//!   Subscriptions live in one hub-table partition read through a [`crate::store::CachedPartition`],
//!   so publishing on a warm instance reads nothing.
//! - A capability announces what happened with [`EventPublisher::publish`]: nothing at all when
//!   no enabled subscription wants the type; otherwise one `PutItem` (the event, with the
//!   `shared::redrive` marker) and one `SendMessage` (`{kind: fanout, event_id}`).
//! - The worker ([`DeliveryWorker`]) fans a fan-out message into one delivery message per
//!   matching subscription (`SendMessageBatch`, ten a call) and delivers each: claim (a
//!   conditional update: a redelivered message for a delivered event does nothing), sign
//!   ([`signing`]), POST through the SSRF-guarded client ([`delivery`]), record the attempt.
//!   A failure reschedules the message with `ChangeMessageVisibility` on the Svix schedule
//!   ([`RetrySchedule`]); 410 disables the subscription; one failing for 5 days is disabled and
//!   logged for the alarm.
//! - The admin side ([`SubscriptionService`]) creates, lists, rotates, tests, lists messages and
//!   attempts, retries one message and replays a time range.
//!
//! docs/subscriptions.md has the event catalogue, the retry schedule and receiver snippets.

pub mod config;
pub mod delivery;
pub mod error;
pub mod guard;
pub mod model;
pub mod publisher;
pub mod service;
pub mod signing;
pub mod store;
pub mod worker;

pub use config::{RetrySchedule, SubscriptionsConfig};
pub use error::SubscriptionError;
pub use model::*;
pub use publisher::{EventPublisher, keyed_event_id};
pub use service::SubscriptionService;
pub use worker::{DeliveryWorker, QueueBody};
