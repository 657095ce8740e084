//! One message (OTP, pattern or text): sent, stored, answered; and a stored message's status,
//! refreshed from its provider on request.

use std::sync::Arc;

use super::SmsService;
use crate::clock::now_rfc3339;
use crate::sms::model::{BatchView, SendResult, SmsRecord};
use crate::sms::provider::{CONSOLE_SLUG, Outgoing};
use crate::sms::{Phone, SmsContent, SmsError, SmsStatus};

impl SmsService {
    /// Sends one message and stores it; a message no provider took is stored as failed and
    /// the error names its id.
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
        match delivery.result {
            Ok(acc) => {
                record.provider_message_id = acc.provider_message_id;
                record.status = acc.status;
                record.provider_status = acc.provider_status;
                self.store.put_message(&record).await?;
                Ok(SendResult {
                    message_ids: vec![id.clone()],
                    message_id: id,
                    receptor: record.receptor,
                    message_type,
                    provider: record.provider,
                    status: record.status,
                    provider_message_id: record.provider_message_id,
                })
            }
            Err(error) => {
                // Kept so the failure can be looked up by id; the error names it.
                record.error_code = Some(error.code.clone());
                self.store.put_message(&record).await?;
                Err(SmsError::SendFailed {
                    error,
                    message_id: id,
                })
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
}
