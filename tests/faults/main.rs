//! The fault suite: the hub's real adapters against the moto server and wiremock, with faults
//! injected under the AWS SDK (`hub_tests::faults`) and at the providers. Every scenario ends
//! with a `Row::report()` asserting nothing lost, nothing sent twice, no false status; the rows
//! make the matrix in docs/reliability.md (`make reliability`).

mod ai;
mod bulk;
mod email;
mod harness;
mod notifications;
mod redrive;
/// The real SMTP sink of the email tests (`scripts/smtp_sink.py`).
#[path = "../email/sink.rs"]
#[allow(dead_code)]
mod sink;
mod sms;
mod webhooks;

/// The hub table's redrive index is one shard shared by every test on the emulator, and a
/// sweep sends every due item of a queue variable to the sweeping test's own queue (and pushes
/// its due time). Tests that write webhook-queue items and sweep hold this for their whole run,
/// so one does not take the other's items.
pub static WEBHOOK_SWEEPS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
