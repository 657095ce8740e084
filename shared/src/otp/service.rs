//! The OTP service: send, verify, statistics. Built once per cold start (`context/otp.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::code::{Code, CodeHasher};
use super::delivery::OtpDelivery;
use super::model::{OtpApproved, OtpSent, OtpStatRow, OtpStatistics, rate};
use super::store::{
    Counter, OtpStore, ReceptorPointer, STATUS_APPROVED, STATUS_CANCELED, STATUS_PENDING,
    Verification,
};
use super::{Language, OtpConfig, OtpError, SendOtpRequest, VerifyOtpRequest};
use crate::clock::{Clock, rfc3339};
use crate::error::InvalidInput;
use crate::sms::{Phone, SmsStatus};
use crate::store::StoreError;

/// Most days a statistics request may cover.
pub const MAX_STAT_DAYS: u32 = 366;

/// A checked send request.
#[derive(Debug, Clone)]
pub struct ValidSend {
    pub phone: Phone,
    pub template: String,
    pub language: Language,
}

pub struct OtpService {
    config: OtpConfig,
    store: OtpStore,
    hasher: CodeHasher,
    delivery: OtpDelivery,
    clock: Arc<dyn Clock>,
}

fn utc(ms: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn day_of(t: time::OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn validate_template(t: &str) -> Result<String, InvalidInput> {
    let t = t.trim();
    let ok = (1..=100).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(t.to_string())
    } else {
        Err(InvalidInput::field(
            "template",
            "letters, digits, '_', '-' and '.', at most 100",
        ))
    }
}

impl OtpService {
    pub fn new(
        config: OtpConfig,
        store: OtpStore,
        hasher: CodeHasher,
        delivery: OtpDelivery,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            store,
            hasher,
            delivery,
            clock,
        }
    }

    pub fn config(&self) -> &OtpConfig {
        &self.config
    }

    /// Checks a send request; field errors name the field.
    pub fn validate_send(&self, req: &SendOtpRequest) -> Result<ValidSend, OtpError> {
        let phone =
            Phone::parse(&req.receptor).map_err(|e| InvalidInput::field("receptor", e.0))?;
        if let Some(c) = req.channel.as_deref().map(str::trim)
            && !c.eq_ignore_ascii_case("sms")
        {
            return Err(InvalidInput::field("channel", "only \"sms\" is supported").into());
        }
        let template = validate_template(
            req.template
                .as_deref()
                .unwrap_or(&self.config.default_template),
        )?;
        let language = match req.language.as_deref() {
            None => super::language_for(phone.e164()),
            Some(l) => super::parse_language(l)
                .ok_or_else(|| InvalidInput::field("language", "one of fa, pt-BR, en"))?,
        };
        Ok(ValidSend {
            phone,
            template,
            language,
        })
    }

    /// Makes a code, stores its hash, claims the receptor (the resend cooldown: `cooldown`
    /// since its last send), delivers, and cancels the receptor's previous verification.
    /// A failed delivery leaves no trace: the previous verification and cooldown stand.
    pub async fn send(
        &self,
        req: &ValidSend,
        owner: &str,
        cooldown: Duration,
        request_id: &str,
    ) -> Result<OtpSent, OtpError> {
        let now_ms = self.clock.now_ms();
        let now = utc(now_ms);
        let id = uuid::Uuid::now_v7().to_string();
        let code = Code::generate(self.config.code_length);
        let receptor_key = self.hasher.receptor_key(req.phone.e164()).await?;
        let expires = now + self.config.ttl;
        let verification = Verification {
            id: id.clone(),
            receptor_masked: req.phone.masked(),
            receptor_key: receptor_key.clone(),
            code_hash: self.hasher.hash(&id, &code).await?,
            status: STATUS_PENDING.into(),
            attempts: 0,
            max_attempts: self.config.max_attempts,
            template: req.template.clone(),
            language: req.language.tag().into(),
            provider: None,
            user_id: owner.to_string(),
            day: day_of(now),
            created_at: rfc3339(now),
            code_expires_at: expires.unix_timestamp(),
            approved_at: None,
        };
        self.store.put(&verification).await?;
        let pointer = ReceptorPointer {
            verification_id: id.clone(),
            sent_at_ms: now_ms,
        };
        let pointer_ttl = expires.unix_timestamp() + 86_400;
        let cooldown_ms = cooldown.as_millis() as u64;
        let previous = match self
            .store
            .claim_receptor(&receptor_key, &pointer, cooldown_ms, pointer_ttl)
            .await
        {
            Ok(previous) => previous,
            Err(e) => {
                self.store.delete(&id).await?;
                return Err(match e {
                    StoreError::ConditionFailed => {
                        let last = self.store.receptor(&receptor_key).await?;
                        let until = last.map_or(now_ms, |p| p.sent_at_ms + cooldown_ms);
                        OtpError::ResendTooSoon {
                            retry_after: until.saturating_sub(now_ms).div_ceil(1000),
                        }
                    }
                    e => e.into(),
                });
            }
        };
        let delivered = self
            .delivery
            .deliver(
                &req.phone,
                &req.template,
                &code,
                req.language,
                owner,
                request_id,
            )
            .await;
        let delivered = match delivered {
            Ok(d) => d,
            Err(e) => {
                // Nothing was sent: the previous verification and cooldown stand. A failed
                // clean-up is logged; the caller is told why nothing was sent.
                let (released, deleted) = tokio::join!(
                    self.store
                        .release_receptor(&receptor_key, &id, previous.as_ref(), pointer_ttl),
                    self.store.delete(&id),
                );
                if let Err(cleanup) = released.and(deleted) {
                    tracing::warn!(verification_id = %id, error = %cleanup, "an undelivered verification could not be cleaned up");
                }
                return Err(e);
            }
        };
        // From here the code may have reached the receptor (sent, or `unknown`): the
        // verification stands whatever the table does next, and no error is answered (an
        // error would have the caller send a second code).
        let cancel_previous = async {
            match &previous {
                Some(p) if p.verification_id != id => self.store.cancel(&p.verification_id).await,
                _ => Ok(()),
            }
        };
        let counter = if delivered.status == SmsStatus::Unknown {
            Counter::UnknownSend
        } else {
            Counter::Sends
        };
        let (provider_set, canceled, counted) = tokio::join!(
            self.store.set_provider(&id, &delivered.provider),
            cancel_previous,
            self.store.count(
                &verification.day,
                &req.template,
                &delivered.provider,
                counter
            ),
        );
        if let Err(e) = provider_set {
            tracing::warn!(verification_id = %id, error = %e, "OTP provider not recorded on the verification");
        }
        if let Err(e) = canceled {
            tracing::error!(verification_id = %id, error = %e, "the previous verification of this receptor could not be canceled");
        }
        if let Err(e) = counted {
            tracing::warn!(error = %e, "OTP send statistics not counted");
        }
        tracing::info!(
            verification_id = %id,
            receptor = %verification.receptor_masked,
            provider = %delivered.provider,
            delivery = delivered.status.as_str(),
            sms_message_id = %delivered.message_id,
            "OTP sent"
        );
        Ok(OtpSent {
            verification_id: id,
            receptor: verification.receptor_masked,
            channel: "sms".into(),
            status: STATUS_PENDING.into(),
            delivery: delivered.status,
            sms_message_id: delivered.message_id,
            expires_at: rfc3339(expires),
            resend_after: rfc3339(now + cooldown),
        })
    }

    /// Checks a code. `may_see(owner)` says whether the caller may use a verification made
    /// for `owner` (others' verifications are answered as not found).
    pub async fn verify(
        &self,
        req: &VerifyOtpRequest,
        may_see: impl Fn(&str) -> bool,
    ) -> Result<OtpApproved, OtpError> {
        let code = Code::parse(&req.code)?;
        let id = self.resolve(req).await?;
        let not_found = || OtpError::NotFound(format!("{id:?}"));
        let v = self
            .store
            .get(&id)
            .await?
            .filter(|v| may_see(&v.user_id))
            .ok_or_else(not_found)?;
        let now_ms = self.clock.now_ms();
        let now_secs = (now_ms / 1000) as i64;
        self.state_error(&v, now_secs).map_or(Ok(()), Err)?;
        if !self.hasher.matches(&id, &code, &v.code_hash).await? {
            return Err(match self.store.record_wrong_code(&id, now_secs).await {
                Ok(attempts) => {
                    tracing::info!(verification_id = %id, attempts, "OTP wrong code");
                    let v = Verification { attempts, ..v };
                    self.state_error(&v, now_secs)
                        .unwrap_or(OtpError::InvalidCode {
                            attempts_left: v.max_attempts.saturating_sub(attempts),
                        })
                }
                Err(e) => self.lost_race(&id, e, now_secs).await,
            });
        }
        let approved_at = rfc3339(utc(now_ms));
        if let Err(e) = self.store.approve(&id, now_secs, &approved_at).await {
            return Err(self.lost_race(&id, e, now_secs).await);
        }
        let provider = v.provider.as_deref().unwrap_or("unknown");
        if let Err(e) = self
            .store
            .count(&v.day, &v.template, provider, Counter::Approvals)
            .await
        {
            tracing::warn!(error = %e, "OTP approval statistics not counted");
        }
        tracing::info!(verification_id = %id, "OTP approved");
        Ok(OtpApproved {
            verification_id: id,
            status: STATUS_APPROVED.into(),
            receptor: v.receptor_masked,
            approved_at,
        })
    }

    /// A conditional write on a verification failed: another request changed it first
    /// (approved it, used the last attempt) or it expired meanwhile. Says which.
    async fn lost_race(&self, id: &str, e: StoreError, now_secs: i64) -> OtpError {
        if !matches!(e, StoreError::ConditionFailed) {
            return e.into();
        }
        match self.store.get(id).await {
            Ok(Some(after)) => self
                .state_error(&after, now_secs)
                .unwrap_or(OtpError::AlreadyApproved),
            Ok(None) => OtpError::NotFound(format!("{id:?}")),
            Err(e) => e.into(),
        }
    }

    /// The verification id a request names, directly or through its receptor's latest send.
    async fn resolve(&self, req: &VerifyOtpRequest) -> Result<String, OtpError> {
        let one_of = || {
            InvalidInput::field(
                "verification_id",
                "give verification_id or receptor (one of them)",
            )
        };
        match (req.verification_id.as_deref(), req.receptor.as_deref()) {
            (Some(id), None) => {
                let id = id.trim();
                if id.is_empty() || id.len() > 64 {
                    return Err(InvalidInput::field("verification_id", "1 to 64 characters").into());
                }
                Ok(id.to_string())
            }
            (None, Some(r)) => {
                let phone = Phone::parse(r).map_err(|e| InvalidInput::field("receptor", e.0))?;
                let key = self.hasher.receptor_key(phone.e164()).await?;
                self.store
                    .receptor(&key)
                    .await?
                    .map(|p| p.verification_id)
                    .ok_or_else(|| OtpError::NotFound("for this receptor".into()))
            }
            _ => Err(one_of().into()),
        }
    }

    /// Why a code cannot be checked against this verification now, if it cannot.
    fn state_error(&self, v: &Verification, now_secs: i64) -> Option<OtpError> {
        match v.status.as_str() {
            STATUS_APPROVED => Some(OtpError::AlreadyApproved),
            STATUS_CANCELED => Some(OtpError::Canceled),
            _ if v.code_expires_at <= now_secs => Some(OtpError::Expired),
            _ if v.attempts >= v.max_attempts => Some(OtpError::Locked {
                retry_after: (v.code_expires_at - now_secs).max(1) as u64,
            }),
            _ => None,
        }
    }

    /// Sends, approvals and conversion per template and provider over the last `days` days
    /// (UTC, today included).
    pub async fn statistics(&self, days: u32) -> Result<OtpStatistics, OtpError> {
        if !(1..=MAX_STAT_DAYS).contains(&days) {
            return Err(
                InvalidInput::field("days", format!("between 1 and {MAX_STAT_DAYS}")).into(),
            );
        }
        let today = utc(self.clock.now_ms());
        let from = day_of(today - time::Duration::days(i64::from(days) - 1));
        let to = day_of(today);
        let mut by: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
        for row in self.store.stat_rows(&from, &to).await? {
            let e = by.entry((row.template, row.provider)).or_default();
            e.0 += row.sends;
            e.1 += row.approvals;
            e.2 += row.unknown;
        }
        let rows: Vec<OtpStatRow> = by
            .into_iter()
            .map(
                |((template, provider), (sends, approvals, unknown))| OtpStatRow {
                    template,
                    provider,
                    sends,
                    unknown,
                    approvals,
                    conversion_rate: rate(approvals, sends),
                },
            )
            .collect();
        let sends = rows.iter().map(|r| r.sends).sum();
        let unknown = rows.iter().map(|r| r.unknown).sum();
        let approvals = rows.iter().map(|r| r.approvals).sum();
        Ok(OtpStatistics {
            from,
            to,
            sends,
            unknown,
            approvals,
            conversion_rate: rate(approvals, sends),
            by_template_and_provider: rows,
        })
    }
}
