//! The subscriptions worker: fan-out messages become one delivery message per matching
//! subscription; delivery messages become signed POSTs, recorded and retried on the schedule.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{RetrySchedule, SubscriptionsConfig};
use super::delivery::{SendOutcome, Sender, SignedDelivery};
use super::model::{Attempt, Event, PING};
use super::signing::signature_header;
use super::store::{FIRST_ROUND, SubscriptionStore};
use crate::queue::{QueueMessage, WorkError};

/// The subscriptions queue's message bodies (ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueBody {
    /// Send `event_id` to every subscription that wants it.
    Fanout { event_id: String },
    /// Deliver `event_id` to one subscription, in `round` (see [`SubscriptionStore::claim`]).
    Deliver {
        subscription_id: String,
        event_id: String,
        #[serde(default = "first_round")]
        round: String,
        #[serde(default)]
        trigger: Trigger,
    },
}

fn first_round() -> String {
    FIRST_ROUND.to_string()
}

/// Why a delivery happens. A manual retry is one attempt; the others follow the schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    #[default]
    Scheduled,
    Manual,
    Replay,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Manual => "manual",
            Trigger::Replay => "replay",
        }
    }
}

/// The log line (and CloudWatch metric filter) that tells admins the hub disabled a
/// subscription after a long failing streak.
pub const AUTO_DISABLED_LOG: &str = "subscription_auto_disabled";

pub struct DeliveryWorker {
    store: SubscriptionStore,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    sender: Sender,
    schedule: RetrySchedule,
    disable_after: Duration,
    /// How long a claim holds off another worker: the send timeout plus a margin.
    claim_for: Duration,
}

impl DeliveryWorker {
    pub fn new(
        store: SubscriptionStore,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        sender: Sender,
        config: &SubscriptionsConfig,
    ) -> Self {
        Self {
            store,
            sqs,
            queue_url,
            sender,
            schedule: config.schedule.clone(),
            disable_after: config.disable_after,
            claim_for: config.timeout + Duration::from_secs(30),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// One queue message.
    pub async fn handle(&self, message: &QueueMessage) -> Result<(), WorkError> {
        match message.json::<QueueBody>()? {
            QueueBody::Fanout { event_id } => self.fan_out(&event_id).await,
            QueueBody::Deliver {
                subscription_id,
                event_id,
                round,
                trigger,
            } => {
                self.deliver(&subscription_id, &event_id, &round, trigger)
                    .await
            }
        }
    }

    async fn fan_out(&self, event_id: &str) -> Result<(), WorkError> {
        let Some((event, fanned_out)) = self.store.get_event(event_id).await.map_err(retry)? else {
            return Err(WorkError::Poison(format!("unknown event {event_id}")));
        };
        if fanned_out {
            return Ok(());
        }
        let subscriptions = self.store.cached().await.map_err(retry)?;
        let deliveries: Vec<QueueBody> = subscriptions
            .iter()
            .filter(|s| event.event_type != PING && s.wants(&event.event_type))
            .map(|s| QueueBody::Deliver {
                subscription_id: s.id.clone(),
                event_id: event.id.clone(),
                round: first_round(),
                trigger: Trigger::Scheduled,
            })
            .collect();
        crate::queue::send_json_batch(&self.sqs, &self.queue_url, &deliveries)
            .await
            .map_err(retry)?;
        // A crash before this line re-sends the deliveries: their claims make them no-ops.
        self.store
            .mark_fanned_out(event_id, &crate::clock::now_rfc3339_millis())
            .await
            .map_err(retry)?;
        tracing::info!(event_id, event_type = %event.event_type, subscriptions = deliveries.len(), "event fanned out");
        Ok(())
    }

    async fn deliver(
        &self,
        subscription_id: &str,
        event_id: &str,
        round: &str,
        trigger: Trigger,
    ) -> Result<(), WorkError> {
        // Read now, not from the cache: a rotation, a disable or a new URL applies to the
        // very next delivery.
        let Some(sub) = self.store.get(subscription_id).await.map_err(retry)? else {
            return Ok(()); // deleted
        };
        if sub.disabled {
            return Ok(());
        }
        let Some((event, _)) = self.store.get_event(event_id).await.map_err(retry)? else {
            return Ok(()); // expired
        };
        let now = crate::clock::now_secs();
        let Some(done) = self
            .store
            .claim(&sub.id, &event, round, now, self.claim_for)
            .await
            .map_err(retry)?
        else {
            return Ok(()); // delivered, given up, a stale round, or another worker on it
        };
        let outcome = self
            .send(&sub.signing_secrets(now), &sub.url, &event, now)
            .await;
        let attempt = Attempt {
            number: 0, // numbered from the stored count when listed
            at: crate::clock::now_rfc3339_millis(),
            trigger: trigger.as_str().to_string(),
            status_code: outcome.status,
            latency_ms: outcome.latency.as_millis() as u64,
            response: outcome.response.clone(),
            error: outcome.error.clone(),
        };
        let (sub_id, event_id) = (sub.id.as_str(), event.id.as_str());
        let record = |status: &'static str, next: Option<String>| {
            let attempt = &attempt;
            async move {
                self.store
                    .record(sub_id, event_id, round, attempt, status, next.as_deref())
                    .await
                    .map_err(retry)
            }
        };
        if outcome.succeeded() {
            record("succeeded", None).await?;
            if sub.failing_since.is_some() {
                self.store.clear_failing(&sub.id).await.map_err(retry)?;
            }
            return Ok(());
        }
        if outcome.gone() {
            record("failed", None).await?;
            tracing::warn!(subscription_id = %sub.id, "receiver answered 410 Gone; subscription disabled");
            self.store
                .disable(&sub.id, "gone", &crate::clock::now_rfc3339())
                .await
                .map_err(retry)?;
            return Ok(());
        }
        let mut next = match trigger {
            Trigger::Manual => None,
            _ => self.schedule.next_delay(done + 1),
        };
        match sub.failing_since {
            None => self.store.mark_failing(&sub.id, now).await.map_err(retry)?,
            Some(since) if now - since >= self.disable_after.as_secs() as i64 => {
                tracing::error!(
                    subscription_id = %sub.id,
                    failing_since = since,
                    code = AUTO_DISABLED_LOG,
                    "subscription_auto_disabled: deliveries failed for longer than the limit; subscription disabled"
                );
                self.store
                    .disable(&sub.id, "failing", &crate::clock::now_rfc3339())
                    .await
                    .map_err(retry)?;
                next = None;
            }
            Some(_) => {}
        }
        match next {
            Some(delay) => {
                let at = time::OffsetDateTime::now_utc() + delay;
                record("pending", Some(crate::clock::rfc3339_millis(at))).await?;
                Err(WorkError::RetryAfter(
                    delay,
                    format!(
                        "delivery of {} to {} failed ({})",
                        event.id,
                        sub.id,
                        outcome
                            .status
                            .map(|s| s.to_string())
                            .or(outcome.error.clone())
                            .unwrap_or_default()
                    ),
                ))
            }
            None => record("failed", None).await,
        }
    }

    async fn send(&self, secrets: &[&str], url: &str, event: &Event, now: i64) -> SendOutcome {
        let body = event.body();
        let signature = signature_header(secrets, &event.id, now, &body);
        self.sender
            .send(SignedDelivery {
                url,
                webhook_id: &event.id,
                timestamp: now,
                signature: &signature,
                body,
            })
            .await
    }
}

fn retry(e: impl std::fmt::Display) -> WorkError {
    WorkError::Retry(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_bodies_are_tagged_and_default_to_the_first_round() {
        let fanout = serde_json::to_value(QueueBody::Fanout {
            event_id: "evt_1".into(),
        })
        .unwrap();
        assert_eq!(
            fanout,
            serde_json::json!({"kind": "fanout", "event_id": "evt_1"})
        );
        let d: QueueBody = serde_json::from_str(
            r#"{"kind":"deliver","subscription_id":"sub_1","event_id":"evt_1"}"#,
        )
        .unwrap();
        assert_eq!(
            d,
            QueueBody::Deliver {
                subscription_id: "sub_1".into(),
                event_id: "evt_1".into(),
                round: FIRST_ROUND.into(),
                trigger: Trigger::Scheduled
            }
        );
    }
}
