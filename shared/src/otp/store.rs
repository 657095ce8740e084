//! The OTP items in HUB_TABLE (layout in the module docs) and their conditional writes.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use crate::store::{Item, StoreError, n, s};

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_APPROVED: &str = "approved";
pub const STATUS_CANCELED: &str = "canceled";
const STATS_PK: &str = "OTPSTAT";
/// Verification items outlive their code by a day (statistics of approvals, support).
const RETENTION_SECS: i64 = 86_400;

/// One verification. Never the code: `code_hash` is keyed (see `code::CodeHasher`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub id: String,
    pub receptor_masked: String,
    pub receptor_key: String,
    pub code_hash: String,
    pub status: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub template: String,
    pub language: String,
    /// Set once delivered: `kavenegar`, `twilio`, `console`.
    #[serde(default)]
    pub provider: Option<String>,
    pub user_id: String,
    /// UTC day of the send (`YYYY-MM-DD`): the statistics row approvals count on.
    pub day: String,
    pub created_at: String,
    /// Unix seconds after which the code is refused.
    pub code_expires_at: i64,
    #[serde(default)]
    pub approved_at: Option<String>,
}

impl Verification {
    fn key(id: &str) -> [(&'static str, AttributeValue); 2] {
        [("pk", s(format!("OTP#{id}"))), ("sk", s("OTP"))]
    }
}

/// A receptor's latest send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceptorPointer {
    pub verification_id: String,
    pub sent_at_ms: u64,
}

fn pointer_key(receptor_key: &str) -> [(&'static str, AttributeValue); 2] {
    [("pk", s(format!("OTPR#{receptor_key}"))), ("sk", s("OTPR"))]
}

pub struct OtpStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
}

impl OtpStore {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            dynamo,
            table: table.into(),
        }
    }

    pub async fn put(&self, v: &Verification) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(v)?;
        item.extend(Verification::key(&v.id).map(|(k, v)| (k.to_string(), v)));
        item.insert("expires_at".into(), n(v.code_expires_at + RETENTION_SECS));
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        Ok(())
    }

    /// One item, read consistently (a verify must see the latest attempts and status).
    async fn get_item(
        &self,
        [(pk, pv), (sk, sv)]: [(&'static str, AttributeValue); 2],
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key(pk, pv)
            .key(sk, sv)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Verification>, StoreError> {
        let item = self.get_item(Verification::key(id)).await?;
        Ok(item.map(serde_dynamo::from_item).transpose()?)
    }

    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let [(pk, pv), (sk, sv)] = Verification::key(id);
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key(pk, pv)
            .key(sk, sv)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DeleteItem", e))?;
        Ok(())
    }

    /// One conditional update of a verification (`condition` may use `:pending` and `:now`).
    async fn update(
        &self,
        id: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        now_secs: i64,
    ) -> Result<Option<Item>, StoreError> {
        let [(pk, pv), (sk, sv)] = Verification::key(id);
        let mut req = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key(pk, pv)
            .key(sk, sv)
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew);
        // DynamoDB refuses names and values an expression does not use.
        let both = format!("{update} {condition}");
        if both.contains("#s") {
            req = req.expression_attribute_names("#s", "status");
        }
        if both.contains(":pending") {
            req = req.expression_attribute_values(":pending", s(STATUS_PENDING));
        }
        if both.contains(":now") {
            req = req.expression_attribute_values(":now", n(now_secs));
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(out.attributes)
    }

    /// Pending, unexpired and not locked: the only state a code can be checked in.
    const CHECKABLE: &'static str =
        "#s = :pending AND attempts < max_attempts AND code_expires_at > :now";

    /// Approves: `ConditionFailed` when another request approved it first (or it expired,
    /// locked or was canceled meanwhile).
    pub async fn approve(&self, id: &str, now_secs: i64, at: &str) -> Result<(), StoreError> {
        self.update(
            id,
            "SET #s = :approved, approved_at = :at",
            Self::CHECKABLE,
            vec![(":approved", s(STATUS_APPROVED)), (":at", s(at))],
            now_secs,
        )
        .await
        .map(drop)
    }

    /// Counts a wrong code; the attempts used so far.
    pub async fn record_wrong_code(&self, id: &str, now_secs: i64) -> Result<u32, StoreError> {
        let item = self
            .update(
                id,
                "ADD attempts :one",
                Self::CHECKABLE,
                vec![(":one", n(1))],
                now_secs,
            )
            .await?;
        item.as_ref()
            .and_then(|i| i.get("attempts"))
            .and_then(|a| a.as_n().ok())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| StoreError::Malformed("attempts missing after update".into()))
    }

    /// Records the provider that took the message.
    pub async fn set_provider(&self, id: &str, provider: &str) -> Result<(), StoreError> {
        self.update(
            id,
            "SET provider = :p",
            "attribute_exists(pk)",
            vec![(":p", s(provider))],
            0,
        )
        .await
        .map(drop)
    }

    /// Cancels a pending verification (a newer send replaced it); no-op in any other state.
    pub async fn cancel(&self, id: &str) -> Result<(), StoreError> {
        match self
            .update(
                id,
                "SET #s = :canceled",
                "#s = :pending",
                vec![(":canceled", s(STATUS_CANCELED))],
                0,
            )
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Points the receptor at a new verification if its last send is at least `cooldown_ms`
    /// old: the resend cooldown as one conditional write. Returns the previous pointer;
    /// `ConditionFailed` inside the cooldown.
    pub async fn claim_receptor(
        &self,
        receptor_key: &str,
        new: &ReceptorPointer,
        cooldown_ms: u64,
        expires_at: i64,
    ) -> Result<Option<ReceptorPointer>, StoreError> {
        let mut item: Item = pointer_key(receptor_key)
            .map(|(k, v)| (k.to_string(), v))
            .into();
        item.insert("verification_id".into(), s(&new.verification_id));
        item.insert("sent_at_ms".into(), n(new.sent_at_ms));
        item.insert("expires_at".into(), n(expires_at));
        let out = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR sent_at_ms <= :cutoff")
            .expression_attribute_values(":cutoff", n(new.sent_at_ms.saturating_sub(cooldown_ms)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        Ok(out.attributes.as_ref().and_then(pointer_of))
    }

    pub async fn receptor(
        &self,
        receptor_key: &str,
    ) -> Result<Option<ReceptorPointer>, StoreError> {
        let item = self.get_item(pointer_key(receptor_key)).await?;
        Ok(item.as_ref().and_then(pointer_of))
    }

    /// Undoes a claim whose delivery failed: the previous pointer back (or none), only if
    /// the pointer is still ours.
    pub async fn release_receptor(
        &self,
        receptor_key: &str,
        ours: &str,
        previous: Option<&ReceptorPointer>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let [(pk, pv), (sk, sv)] = pointer_key(receptor_key);
        let result = match previous {
            Some(p) => self
                .dynamo
                .update_item()
                .table_name(&self.table)
                .key(pk, pv)
                .key(sk, sv)
                .update_expression(
                    "SET verification_id = :prev, sent_at_ms = :at, expires_at = :exp",
                )
                .condition_expression("verification_id = :ours")
                .expression_attribute_values(":prev", s(&p.verification_id))
                .expression_attribute_values(":at", n(p.sent_at_ms))
                .expression_attribute_values(":exp", n(expires_at))
                .expression_attribute_values(":ours", s(ours))
                .send()
                .await
                .map(drop)
                .map_err(|e| StoreError::from_sdk("UpdateItem", e)),
            None => self
                .dynamo
                .delete_item()
                .table_name(&self.table)
                .key(pk, pv)
                .key(sk, sv)
                .condition_expression("verification_id = :ours")
                .expression_attribute_values(":ours", s(ours))
                .send()
                .await
                .map(drop)
                .map_err(|e| StoreError::from_sdk("DeleteItem", e)),
        };
        match result {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Adds one to `sends` or `approvals` of a day's template/provider row (an unknown-outcome
    /// send: to `sends` and `unknown`).
    pub async fn count(
        &self,
        day: &str,
        template: &str,
        provider: &str,
        counter: Counter,
    ) -> Result<(), StoreError> {
        let attributes = counter.attributes();
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(STATS_PK))
            .key("sk", s(format!("{day}#{template}#{provider}")));
        // Names, not the words themselves (`unknown` is one of DynamoDB's reserved words).
        for (k, a) in attributes.iter().enumerate() {
            update = update.expression_attribute_names(format!("#c{k}"), *a);
        }
        update
            .update_expression(format!(
                "ADD {} SET template = :t, provider = :p",
                (0..attributes.len())
                    .map(|k| format!("#c{k} :one"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":t", s(template))
            .expression_attribute_values(":p", s(provider))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    /// The statistics rows of days `from..=to` (`YYYY-MM-DD`).
    pub async fn stat_rows(&self, from: &str, to: &str) -> Result<Vec<StatRow>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(STATS_PK))
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(format!("{to}#\u{10FFFF}")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            for item in page.items.unwrap_or_default() {
                rows.push(serde_dynamo::from_item(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(rows);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Counter {
    Sends,
    /// A send whose outcome is unknown (the provider's answer was lost): counted in `sends`
    /// and in `unknown`.
    UnknownSend,
    Approvals,
}

impl Counter {
    fn attributes(self) -> &'static [&'static str] {
        match self {
            Counter::Sends => &["sends"],
            Counter::UnknownSend => &["sends", "unknown"],
            Counter::Approvals => &["approvals"],
        }
    }
}

/// One day's counters of a template through a provider.
#[derive(Debug, Clone, Deserialize)]
pub struct StatRow {
    pub template: String,
    pub provider: String,
    #[serde(default)]
    pub sends: u64,
    #[serde(default)]
    pub approvals: u64,
    #[serde(default)]
    pub unknown: u64,
}

fn pointer_of(item: &Item) -> Option<ReceptorPointer> {
    Some(ReceptorPointer {
        verification_id: item.get("verification_id")?.as_s().ok()?.clone(),
        sent_at_ms: item.get("sent_at_ms")?.as_n().ok()?.parse().ok()?,
    })
}
