//! SMS: OTP, pattern (template) and text messages through Kavenegar and Twilio, bulk sends
//! through SQS, stored statuses, delivery reports, and a console fallback.
//!
//! - [`model`]: the request and response types (the SMS function's bodies and answers, the
//!   stored records, the bulk queue's message), in one place.
//! - [`validate`]: checking requests; every wrong field is named ([`crate::error::InvalidInput`]).
//! - [`phone`]: numbers as typed (Iranian national `09…`, `+98…`, `0098…`, Persian and
//!   Arabic-Indic digits, spaces, dashes, parentheses; E.164 elsewhere) normalised to E.164 for
//!   storage and rendered in each provider's form when sent.
//! - [`provider`]: the [`provider::SmsProvider`] trait and its three adapters over the wire
//!   modules in [`crate::providers`]: Kavenegar (`verify/lookup` for OTP and patterns,
//!   `sms/send` for one text to up to 200 receptors, `sms/sendarray` for one text per
//!   receptor, `sms/status`), Twilio (`Messages.json`, bodies of OTP/pattern messages rendered
//!   from local templates) and the console fallback used when neither is configured (logs the
//!   masked number, never the body or token). Every HTTP attempt is written to the integration
//!   log with a masked target; only errors the provider calls retryable are retried, with the
//!   hub's one retry policy ([`crate::retry`]).
//! - [`service::SmsService`]: routing (`+98` numbers to Kavenegar first, the rest to Twilio
//!   first; failover to the other on outage, timeout, throttling or no credit, as
//!   [`crate::providers::ProviderError::should_fail_over`] says), single sends and status,
//!   bulk batches and the worker's chunk processing.
//! - [`store`]: the DynamoDB layout, and [`SmsStore::apply_delivery_report`], which the SMS
//!   callback routes and the webhooks worker both call (after
//!   [`crate::webhooks::process::parse_delivery_report`]) to record a provider's delivery
//!   status.
//! - [`error::SmsError`]: what went wrong, in the capability's terms; the edge maps it to a
//!   problem answer.
//!
//! Everything here takes its dependencies explicitly; `crate::context` wires them from the
//! cold-start state for `main.rs` files and tests.
//!
//! # Storage (HUB_TABLE)
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | message | `SMS#{id}` | `SMS` | E.164 receptor, type, provider, provider id, status; never the body or token. `gsi1pk = SMSREF#{provider}#{provider_message_id}` finds it from a delivery report. TTL `SMS_MESSAGE_TTL_DAYS` (90). |
//! | batch | `SMSBATCH#{id}` | `BATCH` | written after its chunks (the commit); `total`, and atomic counters `queued`, `sent`, `failed`, `unknown`, `delivered`, `undelivered`. |
//! | chunk | `SMSBATCH#{id}` | `CHUNK#{n:05}` | up to 200 receptors of one route with their text(s) and request positions; `state` pending → claimed → done (or abandoned, when its batch was never committed); in the `redrive` index from its write until its claim; after sending the texts are removed and the per-receptor results kept. TTL 7 days. |
//!
//! Bulk message ids are `{batch_id}-{position}` (position in the request), single sends get a
//! UUIDv7.
//!
//! # Bulk: accepted once durable, each receptor sent at most once
//! `POST /bulk` answers 202 only after every chunk item is written (BatchWriteItem) with the
//! redrive marker of its queue message (`crate::redrive`) and then the batch item (the
//! commit). An enqueue (`SendMessageBatch`) that fails after that, or never happens, is not
//! an error: the sweeper re-sends the unclaimed chunks' messages, and the stored answer (and
//! Idempotency-Key) stands for this one batch. A failed durable write answers 503 and frees
//! the key; chunks it left behind are re-driven with `redriven: true`, find no batch item and
//! are abandoned unsent.
//!
//! Queue messages name a chunk (`{"batch_id","chunk"}`), never numbers or text. Before calling
//! a provider the worker claims the chunk with a conditional write (`state = pending` →
//! `claimed`, with a per-attempt token and the time) that also takes it out of the redrive
//! index: the claim is the record "about to send", written before any send. A redelivered or
//! re-driven message finds the chunk `claimed` or `done` and sends nothing (a fresh claim:
//! retried later; `done`: its counters and records completed idempotently). If the worker
//! dies between the claim and the end of the send, the chunk stays `claimed`; once the claim
//! is older than the worker can live (`SMS_CLAIM_STALE_SECONDS`), a redelivery marks its
//! messages `unknown` rather than sending again: for SMS a possible duplicate (a second OTP,
//! a second charge) is worse than a reported `unknown` the caller can check. A receptor whose
//! send was written and whose answer was lost (timeout, reset) is `unknown` too, never sent
//! again; the chunk is not released. A chunk is given back (released, and put back in the
//! redrive index) only when nothing can have gone out: the provider configuration could not
//! be read (always retried; nothing recorded sent or failed), or every receptor was refused
//! for a passing reason (outage, throttling) and SQS deliveries remain
//! (`SMS_CHUNK_MAX_RECEIVES`).

pub mod config;
pub mod error;
pub mod events;
pub mod model;
pub mod phone;
pub mod provider;
pub mod schema;
pub mod service;
pub mod store;
pub mod validate;

pub use config::SmsConfig;
pub use error::SmsError;
pub use model::{ChunkMessage, MessageType, SmsStatus};
pub use phone::{Phone, PhoneError};
pub use provider::{Accepted, Outgoing, SmsProvider};
pub use service::SmsService;
pub use store::SmsStore;

/// Most receptors in one bulk request.
pub const MAX_BULK_RECEPTORS: usize = 10_000;
/// Longest text message accepted (characters); providers split long texts into parts.
pub const MAX_TEXT_CHARS: usize = 1_000;
/// Longest OTP/pattern token (Kavenegar's limit is 100; tokens may not contain whitespace).
pub const MAX_TOKEN_CHARS: usize = 100;

/// What to send. `Debug` never prints tokens or text.
#[derive(Clone, PartialEq, Eq)]
pub enum SmsContent {
    Otp {
        template: String,
        token: String,
    },
    Pattern {
        template: String,
        tokens: [Option<String>; 3],
    },
    Text {
        message: String,
    },
}

impl std::fmt::Debug for SmsContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmsContent::Otp { template, .. } => {
                write!(f, "Otp {{ template: {template:?}, token: <redacted> }}")
            }
            SmsContent::Pattern { template, .. } => write!(
                f,
                "Pattern {{ template: {template:?}, tokens: <redacted> }}"
            ),
            SmsContent::Text { message } => {
                write!(f, "Text {{ message: <{} chars> }}", message.chars().count())
            }
        }
    }
}

impl SmsContent {
    pub fn message_type(&self) -> MessageType {
        match self {
            SmsContent::Otp { .. } => MessageType::Otp,
            SmsContent::Pattern { .. } => MessageType::Pattern,
            SmsContent::Text { .. } => MessageType::Text,
        }
    }

    pub fn template(&self) -> Option<&str> {
        match self {
            SmsContent::Otp { template, .. } | SmsContent::Pattern { template, .. } => {
                Some(template)
            }
            SmsContent::Text { .. } => None,
        }
    }

    /// `token`, `token2`, `token3` (OTP: only the first).
    pub fn tokens(&self) -> [Option<&str>; 3] {
        match self {
            SmsContent::Otp { token, .. } => [Some(token), None, None],
            SmsContent::Pattern { tokens, .. } => [
                tokens[0].as_deref(),
                tokens[1].as_deref(),
                tokens[2].as_deref(),
            ],
            SmsContent::Text { .. } => [None, None, None],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_and_rank() {
        assert_eq!(
            SmsStatus::from_provider("kavenegar", "10"),
            SmsStatus::Delivered
        );
        assert_eq!(SmsStatus::from_provider("kavenegar", "4"), SmsStatus::Sent);
        assert_eq!(
            SmsStatus::from_provider("kavenegar", "14"),
            SmsStatus::Filtered
        );
        assert_eq!(
            SmsStatus::from_provider("twilio", "undelivered"),
            SmsStatus::Undelivered
        );
        assert!(SmsStatus::Delivered.rank() > SmsStatus::Sent.rank());
        assert!(SmsStatus::Sent.rank() > SmsStatus::Queued.rank());
    }
}
