//! Assembly of the SMS capability from the cold-start state: the one place it meets
//! [`HubContext`].

use super::HubContext;
use crate::sms::provider::Adapter;
use crate::sms::{SmsConfig, SmsService, SmsStore, config};

impl HubContext {
    /// The SMS service with the settings of the environment (`SMS_*`).
    pub fn sms_service(&self) -> anyhow::Result<SmsService> {
        self.sms_service_with(SmsConfig::from_env(&self.env)?)
    }

    /// The SMS service with the given settings (tests, benches).
    pub fn sms_service_with(&self, config: SmsConfig) -> anyhow::Result<SmsService> {
        let store = self.sms_store_with(config.message_ttl);
        let adapter = Adapter {
            http: self.http().clone(),
            // A clone shares the context catalog's cache.
            catalog: self.catalog.clone(),
            credentials: self.credentials.clone(),
            log: self.log.clone(),
            retry: config.retry,
        };
        Ok(SmsService::new(
            config,
            store,
            adapter,
            self.aws.sqs().clone(),
        ))
    }

    /// The SMS items of the hub table, kept `SMS_MESSAGE_TTL_DAYS` (for code that records
    /// delivery reports without sending, such as the webhooks worker).
    pub fn sms_store(&self) -> anyhow::Result<SmsStore> {
        Ok(self.sms_store_with(config::message_ttl_from_env(&self.env)?))
    }

    /// Status changes, sends and batch completions are announced through the function's
    /// event publisher (a no-op where `SUBSCRIPTIONS_QUEUE_URL` is not set).
    pub(super) fn sms_store_with(&self, message_ttl: std::time::Duration) -> SmsStore {
        SmsStore::new(
            self.aws.dynamo.clone(),
            self.config.hub_table.clone(),
            message_ttl,
        )
        .with_events(self.event_publisher())
    }
}
