//! Assembly of the subscriptions capability from the cold-start state: the publisher every
//! capability calls, the admin service and the delivery worker.

use super::HubContext;
use crate::config::ConfigError;
use crate::subscriptions::delivery::Sender;
use crate::subscriptions::store::SubscriptionStore;
use crate::subscriptions::{
    DeliveryWorker, EventPublisher, SubscriptionService, SubscriptionsConfig,
};

impl HubContext {
    pub fn subscriptions_config(&self) -> Result<SubscriptionsConfig, ConfigError> {
        SubscriptionsConfig::from_env(&self.env)
    }

    pub fn subscription_store(&self, config: &SubscriptionsConfig) -> SubscriptionStore {
        SubscriptionStore::new(
            self.aws.dynamo.clone(),
            self.config.hub_table.clone(),
            &config.namespace,
            config.cache_ttl,
            config.retention,
        )
    }

    /// The publisher, built once per cold start and shared by every capability of the
    /// function (one cached subscription list). Without `SUBSCRIPTIONS_QUEUE_URL` it is a
    /// no-op (a function not wired to the subscriptions queue), so calling it is always safe.
    /// An unreadable setting also gives a no-op publisher (logged): a capability's cold start
    /// must not fail over another capability's variable.
    pub fn event_publisher(&self) -> EventPublisher {
        self.events
            .get_or_init(|| match self.subscriptions_config() {
                Ok(config) => self.event_publisher_with(&config),
                Err(e) => {
                    tracing::error!(error = %e, "subscriptions settings unreadable; events are not published");
                    let mut config = SubscriptionsConfig::from_env(
                        &crate::config::Env::from_pairs(std::iter::empty::<(String, String)>()),
                    )
                    .expect("defaults parse");
                    config.queue_url = None;
                    self.event_publisher_with(&config)
                }
            })
            .clone()
    }

    pub fn event_publisher_with(&self, config: &SubscriptionsConfig) -> EventPublisher {
        EventPublisher::new(
            self.subscription_store(config),
            self.aws.sqs().clone(),
            config.queue_url.clone(),
            crate::redrive::after_from_env(&self.env),
        )
    }

    pub fn subscription_service(&self, config: &SubscriptionsConfig) -> SubscriptionService {
        SubscriptionService::new(
            self.subscription_store(config),
            self.aws.sqs().clone(),
            config,
        )
    }

    /// The delivery worker; needs `SUBSCRIPTIONS_QUEUE_URL` (it sends the fan-out's deliveries
    /// and reschedules its own messages there).
    pub fn delivery_worker(&self, config: &SubscriptionsConfig) -> anyhow::Result<DeliveryWorker> {
        let queue_url = config
            .queue_url
            .clone()
            .ok_or(ConfigError::Missing("SUBSCRIPTIONS_QUEUE_URL".into()))?;
        Ok(DeliveryWorker::new(
            self.subscription_store(config),
            self.aws.sqs().clone(),
            queue_url,
            Sender::new(config.timeout, config.allow_loopback)?,
            config,
        ))
    }
}
