//! Assembly of the email capability from the cold-start state: the one place it meets
//! [`HubContext`].

use super::HubContext;
use crate::email::{EmailConfig, EmailService};

impl HubContext {
    /// The email service: SMTP from `SMTP_*`/`FROM_EMAIL` (password through the credential
    /// store) or the console fallback, the integration log, `EMAIL_*` retry settings.
    pub fn email_service(&self) -> anyhow::Result<EmailService> {
        Ok(EmailService::from_config(
            EmailConfig::from_env(&self.env)?,
            self.credentials.clone(),
            self.log.clone(),
        )?
        .with_events(self.event_publisher()))
    }
}
