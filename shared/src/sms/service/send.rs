//! One message (OTP, pattern or text): sent, stored, answered; and a stored message's status,
//! refreshed from its provider on request (an `unknown` one through the provider's lookup
//! by our reference when it has no provider id).

use std::sync::Arc;

use std::time::Duration;

use super::SmsService;
use crate::clock::now_rfc3339;
use crate::retry::RetryPolicy;
use crate::sms::model::{BatchView, SendResult, SmsRecord};
use crate::sms::provider::{Accepted, CONSOLE_SLUG, Outgoing};
use crate::sms::{Phone, SmsContent, SmsError, SmsStatus, events};
use crate::store::StoreError;

/// Writes of a message record after its send: DynamoDB throttling is waited out for a few
/// seconds (on top of the SDK's own retries) rather than answered as an error, because an
/// error would make the caller send the message again.
const RECORD_AFTER_SEND: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(2),
};

impl SmsService {
    /// Sends one message and stores it. The answer says what happened:
    /// - a provider took it: its status (`queued`, `sent`, ...);
    /// - its answer was lost after the request was written: `unknown` with a `reason`,
    ///   unless the provider's status lookup by our reference settles it at once; never sent
    ///   again, never failed over;
    /// - the console fallback logged it: `fallback`;
    /// - every provider refused it: [`SmsError::SendFailed`], stored as failed and named by id;
    /// - no provider could be asked (the configuration could not be read, or none is
    ///   configured): an error, nothing stored, nothing sent.
    ///
    /// When the record cannot be written after a send (the table throttles past every
    /// retry) the answer still says what was sent, with `stored: false`: an error here
    /// would have the caller send it a second time.
    pub async fn send(
        &self,
        phone: Phone,
        content: SmsContent,
        user_id: &str,
        request_id: &str,
    ) -> Result<SendResult, SmsError> {
        let id = uuid::Uuid::now_v7().to_string();
        let message_type = content.message_type();
        let items = [Outgoing {
            message_id: id.clone(),
            phone: phone.clone(),
            content: Arc::new(content),
        }];
        let delivery = self.deliver(request_id, &items).await.remove(0);
        let now = now_rfc3339();
        let mut record = SmsRecord {
            id: id.clone(),
            receptor: phone.e164().to_string(),
            message_type,
            provider: delivery.provider.to_string(),
            provider_message_id: None,
            status: SmsStatus::Failed,
            provider_status: None,
            error_code: None,
            batch_id: None,
            user_id: user_id.to_string(),
            created_at: now.clone(),
            updated_at: now,
        };
        let accepted = match delivery.result {
            Ok(acc) => acc,
            Err(e) if e.is_ambiguous() => {
                record.error_code = Some(e.code.clone());
                self.reconcile_lost_answer(delivery.provider, request_id, &items[0], &e)
                    .await
            }
            Err(e) if delivery.never_attempted() => {
                return Err(if e.code == super::NOT_CONFIGURED {
                    SmsError::NotConfigured
                } else {
                    SmsError::Provider(e)
                });
            }
            Err(error) => {
                // Kept so the failure can be looked up by id; the error names it. Nothing
                // was sent, so a failed write here is only logged.
                record.error_code = Some(error.code.clone());
                if let Err(e) = self.store.put_message(&record).await {
                    tracing::error!(message_id = %id, error = %e, "the failed message's record could not be written");
                }
                self.announce_logged(events::FAILED, &record).await;
                return Err(SmsError::SendFailed {
                    error,
                    message_id: id,
                });
            }
        };
        record.provider_message_id = accepted.provider_message_id;
        record.status = accepted.status;
        record.provider_status = accepted.provider_status;
        if record.status != SmsStatus::Unknown {
            record.error_code = None;
        }
        let stored = self.record_after_send(&record).await;
        // A provider took it: `unknown` may not have gone out and the console sent nothing.
        if !matches!(record.status, SmsStatus::Unknown | SmsStatus::Fallback) {
            self.announce_logged(events::SENT, &record).await;
        }
        Ok(SendResult {
            message_ids: vec![id.clone()],
            message_id: id,
            receptor: record.receptor,
            message_type,
            provider: record.provider,
            status: record.status,
            provider_message_id: record.provider_message_id,
            reason: (record.status == SmsStatus::Unknown)
                .then(|| record.error_code.clone())
                .flatten(),
            stored,
        })
    }

    /// Announces a single send's outcome. The message already went (or definitely did not):
    /// failing the request over the announcement would invite the caller to send it again,
    /// so a failure is logged.
    async fn announce_logged(&self, event: &str, record: &SmsRecord) {
        let data = events::message_data(record, record.status, None);
        if let Err(e) = self.store.announce(event, &record.id, data).await {
            tracing::error!(message_id = %record.id, event, error = %e, "SMS event not published");
        }
    }

    /// The provider's answer to a send was lost: ask it by our own reference (Kavenegar
    /// `localid`) what became of the message. Anything but a clear answer keeps it
    /// `unknown`: it is never sent again.
    async fn reconcile_lost_answer(
        &self,
        provider: &str,
        request_id: &str,
        item: &Outgoing,
        lost: &crate::providers::ProviderError,
    ) -> Accepted {
        let unknown = Accepted {
            provider_message_id: None,
            status: SmsStatus::Unknown,
            provider_status: None,
        };
        let Some(p) = self.provider(provider) else {
            return unknown;
        };
        match p.reconcile(request_id, item).await {
            Ok(Some(found)) => {
                tracing::info!(provider, code = %lost.code, "a send whose answer was lost was found at the provider");
                found
            }
            Ok(None) => {
                tracing::warn!(provider, code = %lost.code, "SMS outcome unknown: the provider's answer was lost and it cannot say what became of the message; not sending it again");
                unknown
            }
            Err(e) => {
                tracing::warn!(provider, code = %lost.code, lookup = %e.code, "SMS outcome unknown: the status lookup failed too; not sending it again");
                unknown
            }
        }
    }

    /// Writes the record of a message a provider took (or may have taken), waiting out
    /// transient table errors; answers whether it is stored.
    async fn record_after_send(&self, record: &SmsRecord) -> bool {
        let written = RECORD_AFTER_SEND
            .run(
                || self.store.put_message(record),
                StoreError::is_transient,
                |_| None,
                |e, wait| tracing::warn!(message_id = %record.id, error = %e, wait_ms = wait.as_millis() as u64, "the message's record could not be written yet; retrying"),
            )
            .await;
        match written {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(message_id = %record.id, provider = %record.provider, status = record.status.as_str(), provider_message_id = record.provider_message_id.as_deref().unwrap_or(""), error = %e, "the message went to its provider but its record could not be written; answered with stored=false");
                false
            }
        }
    }

    /// A stored message, when `visible` lets the caller see it.
    pub async fn message(
        &self,
        id: &str,
        visible: impl Fn(&SmsRecord) -> bool,
    ) -> Result<SmsRecord, SmsError> {
        self.store
            .get_message(id)
            .await?
            .filter(visible)
            .ok_or_else(|| SmsError::MessageNotFound(id.to_string()))
    }

    /// A batch with its counters, when `visible` lets the caller see it.
    pub async fn batch(
        &self,
        id: &str,
        visible: impl Fn(&BatchView) -> bool,
    ) -> Result<BatchView, SmsError> {
        self.store
            .get_batch(id)
            .await?
            .map(BatchView::from)
            .filter(visible)
            .ok_or_else(|| SmsError::BatchNotFound(id.to_string()))
    }

    /// The stored message, refreshed from its provider (Kavenegar `sms/status`, Twilio
    /// message fetch).
    pub async fn refresh(
        &self,
        mut record: SmsRecord,
        request_id: &str,
    ) -> Result<SmsRecord, SmsError> {
        if record.status == SmsStatus::Unknown && record.provider_message_id.is_none() {
            return self.refresh_unknown(record, request_id).await;
        }
        let (Some(pid), Some(provider)) = (
            record.provider_message_id.clone(),
            self.provider(&record.provider).cloned(),
        ) else {
            return Ok(record);
        };
        if provider.slug() == CONSOLE_SLUG {
            return Ok(record);
        }
        let acc = provider
            .fetch_status(request_id, &pid)
            .await
            .map_err(SmsError::Provider)?;
        let provider_status = acc.provider_status.clone().unwrap_or_default();
        if self
            .store
            .record_status(&record.id, acc.status, &provider_status, None)
            .await?
        {
            record.status = acc.status;
            record.provider_status = acc.provider_status;
            record.updated_at = now_rfc3339();
        }
        Ok(record)
    }

    /// An `unknown` message without a provider id: asks the provider by our reference
    /// (Kavenegar `localid`); when it knows the message, the record gets its id and status.
    async fn refresh_unknown(
        &self,
        mut record: SmsRecord,
        request_id: &str,
    ) -> Result<SmsRecord, SmsError> {
        let (Some(provider), Ok(phone)) = (
            self.provider(&record.provider).cloned(),
            Phone::from_stored(&record.receptor),
        ) else {
            return Ok(record);
        };
        let item = Outgoing {
            message_id: record.id.clone(),
            phone,
            content: Arc::new(SmsContent::Text {
                message: String::new(),
            }),
        };
        let Some(found) = provider
            .reconcile(request_id, &item)
            .await
            .map_err(SmsError::Provider)?
        else {
            return Ok(record);
        };
        if self
            .store
            .settle_unknown(&record.id, &record.provider, &found)
            .await?
        {
            record.provider_message_id = found.provider_message_id;
            record.status = found.status;
            record.provider_status = found.provider_status;
            record.error_code = None;
            record.updated_at = now_rfc3339();
        }
        Ok(record)
    }
}
