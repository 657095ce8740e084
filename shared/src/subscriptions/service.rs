//! The admin side: manage subscriptions, look at deliveries, retry and replay.

use std::time::Duration;

use super::config::SubscriptionsConfig;
use super::error::SubscriptionError;
use super::guard::validate_url;
use super::model::*;
use super::signing::new_secret;
use super::store::SubscriptionStore;
use super::worker::{QueueBody, Trigger};
use crate::store::Item;

/// Default and longest rotation grace.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(86_400);
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// Most events one replay re-queues.
pub const MAX_REPLAY: usize = 10_000;
const MAX_DESCRIPTION: usize = 500;

pub struct SubscriptionService {
    store: SubscriptionStore,
    sqs: aws_sdk_sqs::Client,
    queue_url: Option<String>,
    allow_loopback: bool,
}

impl SubscriptionService {
    pub fn new(
        store: SubscriptionStore,
        sqs: aws_sdk_sqs::Client,
        config: &SubscriptionsConfig,
    ) -> Self {
        Self {
            store,
            sqs,
            queue_url: config.queue_url.clone(),
            allow_loopback: config.allow_loopback,
        }
    }

    pub fn store(&self) -> &SubscriptionStore {
        &self.store
    }

    fn check_url(&self, url: &str) -> Result<(), SubscriptionError> {
        validate_url(url, self.allow_loopback)
            .map(|_| ())
            .map_err(|m| SubscriptionError::invalid("url", m))
    }

    fn check_types(types: &[String]) -> Result<(), SubscriptionError> {
        if types.is_empty() {
            return Err(SubscriptionError::invalid(
                "event_types",
                "name at least one event type, or \"*\"",
            ));
        }
        if let Some(bad) = types
            .iter()
            .find(|t| t.as_str() != "*" && !EVENT_TYPES.contains(&t.as_str()))
        {
            return Err(SubscriptionError::invalid(
                "event_types",
                format!(
                    "unknown event type {bad:?} (known: {}, or \"*\")",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn check_description(d: &str) -> Result<(), SubscriptionError> {
        if d.chars().count() > MAX_DESCRIPTION {
            return Err(SubscriptionError::invalid(
                "description",
                format!("at most {MAX_DESCRIPTION} characters"),
            ));
        }
        Ok(())
    }

    pub async fn create(
        &self,
        new: NewSubscription,
    ) -> Result<SubscriptionCreated, SubscriptionError> {
        self.check_url(&new.url)?;
        Self::check_types(&new.event_types)?;
        Self::check_description(&new.description)?;
        let now = crate::clock::now_rfc3339();
        let mut event_types = new.event_types;
        event_types.sort();
        event_types.dedup();
        let sub = Subscription {
            id: new_subscription_id(),
            url: new.url,
            event_types,
            description: new.description,
            disabled: new.disabled,
            disabled_reason: None,
            secret: new_secret(),
            previous_secret: None,
            previous_expires_at: None,
            failing_since: None,
            created_at: now.clone(),
            updated_at: now,
        };
        self.store.put(&sub, true).await?;
        Ok(SubscriptionCreated {
            subscription: sub.view(),
            secret: sub.secret,
        })
    }

    pub async fn list(&self) -> Result<SubscriptionList, SubscriptionError> {
        Ok(SubscriptionList {
            items: self
                .store
                .fresh()
                .await?
                .iter()
                .map(Subscription::view)
                .collect(),
        })
    }

    async fn load(&self, id: &str) -> Result<Subscription, SubscriptionError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| SubscriptionError::NotFound(id.to_string()))
    }

    pub async fn get(&self, id: &str) -> Result<SubscriptionView, SubscriptionError> {
        Ok(self.load(id).await?.view())
    }

    pub async fn update(
        &self,
        id: &str,
        patch: SubscriptionPatch,
    ) -> Result<SubscriptionView, SubscriptionError> {
        let mut sub = self.load(id).await?;
        if let Some(url) = patch.url {
            self.check_url(&url)?;
            sub.url = url;
        }
        if let Some(mut types) = patch.event_types {
            Self::check_types(&types)?;
            types.sort();
            types.dedup();
            sub.event_types = types;
        }
        if let Some(d) = patch.description {
            Self::check_description(&d)?;
            sub.description = d;
        }
        if let Some(disabled) = patch.disabled {
            if !disabled {
                sub.disabled_reason = None;
                sub.failing_since = None;
            }
            sub.disabled = disabled;
        }
        sub.updated_at = crate::clock::now_rfc3339();
        self.store.put(&sub, false).await?;
        Ok(sub.view())
    }

    pub async fn delete(&self, id: &str) -> Result<(), SubscriptionError> {
        if self.store.delete(id).await? {
            Ok(())
        } else {
            Err(SubscriptionError::NotFound(id.to_string()))
        }
    }

    pub async fn rotate(
        &self,
        id: &str,
        request: RotateSecret,
    ) -> Result<SecretRotated, SubscriptionError> {
        let grace = request
            .grace_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_GRACE);
        if grace > MAX_GRACE {
            return Err(SubscriptionError::invalid(
                "grace_seconds",
                format!("at most {} (7 days)", MAX_GRACE.as_secs()),
            ));
        }
        let mut sub = self.load(id).await?;
        let until = crate::clock::now_secs() + grace.as_secs() as i64;
        sub.previous_secret = Some(std::mem::replace(&mut sub.secret, new_secret()));
        sub.previous_expires_at = Some(until);
        sub.updated_at = crate::clock::now_rfc3339();
        self.store.put(&sub, false).await?;
        Ok(SecretRotated {
            id: sub.id.clone(),
            previous_secret_expires_at: sub.view().previous_secret_expires_at.unwrap_or_default(),
            secret: sub.secret,
        })
    }

    fn queue_url(&self) -> Result<&str, SubscriptionError> {
        self.queue_url
            .as_deref()
            .ok_or(SubscriptionError::NotConfigured)
    }

    async fn enabled(&self, id: &str) -> Result<Subscription, SubscriptionError> {
        let sub = self.load(id).await?;
        if sub.disabled {
            return Err(SubscriptionError::Disabled(sub.id));
        }
        Ok(sub)
    }

    /// Sends a `ping` event to this subscription only.
    pub async fn test(&self, id: &str) -> Result<DeliveryQueued, SubscriptionError> {
        let queue_url = self.queue_url()?;
        let sub = self.enabled(id).await?;
        let event = Event {
            id: new_event_id(),
            event_type: PING.to_string(),
            timestamp: crate::clock::now_rfc3339_millis(),
            data: serde_json::json!({ "subscription_id": sub.id }),
        };
        self.store
            .put_event(&event, None, crate::clock::now_secs())
            .await?;
        let body = QueueBody::Deliver {
            subscription_id: sub.id.clone(),
            event_id: event.id.clone(),
            round: super::store::FIRST_ROUND.to_string(),
            trigger: Trigger::Scheduled,
        };
        crate::queue::send_json(&self.sqs, queue_url, &body).await?;
        Ok(DeliveryQueued {
            event_id: event.id,
            subscription_id: sub.id,
        })
    }

    pub async fn messages(
        &self,
        id: &str,
        limit: Option<i32>,
        cursor: Option<&str>,
    ) -> Result<MessagePage, SubscriptionError> {
        self.load(id).await?;
        let start: Option<Item> = match cursor {
            None => None,
            Some(c) => {
                let key: std::collections::HashMap<String, String> = crate::cursor::decode(c)
                    .map_err(|_| {
                        SubscriptionError::invalid("cursor", "is not a cursor this API returned")
                    })?;
                Some(
                    key.into_iter()
                        .map(|(k, v)| (k, crate::store::s(v)))
                        .collect(),
                )
            }
        };
        let limit = limit.unwrap_or(50).clamp(1, 100);
        let (items, last) = self.store.messages(id, limit, start).await?;
        let next_cursor = last.map(|key| {
            let plain: std::collections::HashMap<String, String> = key
                .into_iter()
                .filter_map(|(k, v)| v.as_s().ok().cloned().map(|v| (k, v)))
                .collect();
            crate::cursor::encode(&plain)
        });
        Ok(MessagePage { items, next_cursor })
    }

    pub async fn attempts(
        &self,
        id: &str,
        event_id: &str,
    ) -> Result<AttemptList, SubscriptionError> {
        let (message, mut attempts) = self
            .store
            .message(id, event_id)
            .await?
            .ok_or_else(|| SubscriptionError::MessageNotFound(event_id.to_string()))?;
        for (i, a) in attempts.iter_mut().enumerate() {
            a.number = i as u32 + 1;
        }
        Ok(AttemptList {
            event_id: message.event_id,
            status: message.status,
            items: attempts,
        })
    }

    /// One more attempt of one message, now (outside the schedule; no automatic retries).
    pub async fn retry(
        &self,
        id: &str,
        event_id: &str,
    ) -> Result<DeliveryQueued, SubscriptionError> {
        let queue_url = self.queue_url()?;
        let sub = self.enabled(id).await?;
        self.store
            .message(id, event_id)
            .await?
            .ok_or_else(|| SubscriptionError::MessageNotFound(event_id.to_string()))?;
        let (event, _) = self
            .store
            .get_event(event_id)
            .await?
            .ok_or_else(|| SubscriptionError::MessageNotFound(event_id.to_string()))?;
        let body = self.new_round(&sub, &event, Trigger::Manual).await?;
        crate::queue::send_json(&self.sqs, queue_url, &body).await?;
        Ok(DeliveryQueued {
            event_id: event.id,
            subscription_id: sub.id,
        })
    }

    async fn new_round(
        &self,
        sub: &Subscription,
        event: &Event,
        trigger: Trigger,
    ) -> Result<QueueBody, SubscriptionError> {
        let round = format!("r_{}", uuid::Uuid::new_v4().simple());
        self.store
            .new_round(&sub.id, event, &round, crate::clock::now_secs())
            .await?;
        Ok(QueueBody::Deliver {
            subscription_id: sub.id.clone(),
            event_id: event.id.clone(),
            round,
            trigger,
        })
    }

    /// Delivers again, on the full schedule, every event of the subscription's types
    /// published in `[since, until)`.
    pub async fn replay(
        &self,
        id: &str,
        range: ReplayRange,
    ) -> Result<ReplayAccepted, SubscriptionError> {
        let queue_url = self.queue_url()?;
        let parse = |field: &'static str, v: &str| {
            crate::clock::parse_rfc3339(v)
                .map(crate::clock::rfc3339_millis)
                .ok_or_else(|| SubscriptionError::invalid(field, "expected an RFC 3339 date-time"))
        };
        let since = parse("since", &range.since)?;
        let until = match &range.until {
            Some(u) => parse("until", u)?,
            None => crate::clock::now_rfc3339_millis(),
        };
        if since >= until {
            return Err(SubscriptionError::invalid("until", "must be after since"));
        }
        let sub = self.enabled(id).await?;
        let events = self
            .store
            .events_between(&since, &until, MAX_REPLAY)
            .await?;
        let mut bodies = Vec::new();
        for event in events
            .iter()
            .filter(|e| e.event_type != PING && sub.wants(&e.event_type))
        {
            bodies.push(self.new_round(&sub, event, Trigger::Replay).await?);
        }
        crate::queue::send_json_batch(&self.sqs, queue_url, &bodies).await?;
        Ok(ReplayAccepted {
            queued: bodies.len(),
        })
    }
}
