//! Assembly of the OTP capability from the cold-start state.

use std::sync::Arc;

use super::HubContext;
use crate::clock::{Clock, SystemClock};
use crate::otp::code::CodeHasher;
use crate::otp::delivery::OtpDelivery;
use crate::otp::store::OtpStore;
use crate::otp::{OtpConfig, OtpService};
use crate::secrets::SecretsManagerSource;
use crate::sms::SmsConfig;

impl HubContext {
    /// The OTP service over the SMS settings `sms` (its OTP texts localized per language).
    /// The HMAC key is read from Secrets Manager on first use.
    pub fn otp_service(&self, sms: &SmsConfig) -> anyhow::Result<OtpService> {
        let config = OtpConfig::from_env(&self.env, &self.config.secrets_prefix)?;
        self.otp_service_with(sms, config, Arc::new(SystemClock))
    }

    /// The same with given settings and clock (tests cross expiries and cooldowns without
    /// sleeping).
    pub fn otp_service_with(
        &self,
        sms: &SmsConfig,
        config: OtpConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<OtpService> {
        let hasher = CodeHasher::new(
            Arc::new(SecretsManagerSource::new(self.aws.secrets.clone())),
            config.key_secret_id.clone(),
        );
        let minutes = config.ttl.as_secs().div_ceil(60);
        let delivery = OtpDelivery::new(sms, minutes, |c| self.sms_service_with(c))?;
        Ok(OtpService::new(
            config,
            OtpStore::new(self.aws.dynamo.clone(), self.config.hub_table.clone()),
            hasher,
            delivery,
            clock,
        ))
    }
}
