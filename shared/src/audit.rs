//! The admin audit trail (Helsa's "log all activities"): who changed what, and when.
//!
//! Every admin change (a provider created, updated or deleted, credentials put, a rate-limit
//! rule changed, a webhook endpoint registered, rotated or removed) records one entry: the
//! caller's user id and role, an action name (`provider.updated`), the target
//! (`provider:kavenegar`) and the NAMES of the fields it set. Values never enter the trail:
//! a credential put records `["api_key", "sender"]`, not the key.
//!
//! Entries live in the logs table under one partition (`AUDIT`), sorted by time: admin changes
//! are rare (a few a day), far below what one partition takes, and one partition lists newest
//! first with a single Query. They expire after `AUDIT_RETENTION_DAYS` (default 400: a year
//! plus a margin for yearly reviews).
//!
//! The entry is written after the change succeeded. If the write fails the change stands (the
//! admin's retry must not apply it twice) and the entry goes to the function's log at ERROR
//! level instead, where the log-based alarm sees it.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::InvalidInput;
use crate::store::{StoreError, n, s};

const PARTITION: &str = "AUDIT";
/// Default retention of audit entries.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);

/// One recorded admin change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    /// RFC 3339 with milliseconds.
    pub at: String,
    /// The caller's user id (the token's `sub`).
    pub actor: String,
    /// The caller's role.
    pub role: String,
    /// What happened: `provider.created`, `provider.updated`, `provider.deleted`,
    /// `credentials.put`, `rate_limit.created`, `rate_limit.updated`, `rate_limit.deleted`,
    /// `webhook_endpoint.registered`, `webhook_endpoint.updated`, `webhook_endpoint.rotated`,
    /// `webhook_endpoint.deleted`, `subscription.created`, `subscription.updated`,
    /// `subscription.deleted`, `subscription.rotated`, `subscription.message_retried`,
    /// `subscription.replayed`.
    pub action: String,
    /// What it happened to: `provider:kavenegar`, `rate_limit:sms-per-user`, `webhook_endpoint:ep_...`.
    pub target: String,
    /// Names of the fields the change set; never their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl AuditEntry {
    pub fn new(caller: &Caller, action: &str, target: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            at: crate::clock::now_rfc3339_millis(),
            actor: caller.user_id.clone(),
            role: caller.role.as_str().to_string(),
            action: action.to_string(),
            target: target.into(),
            fields: Vec::new(),
            request_id: None,
        }
    }

    /// The names of the fields set (sorted, so entries compare and read the same way).
    pub fn fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut fields: Vec<String> = names.into_iter().map(Into::into).collect();
        fields.sort();
        fields.dedup();
        self.fields = fields;
        self
    }

    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
}

/// Listing filters: newest first.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only actions starting with this (`provider.` or `credentials.put`).
    pub action: Option<String>,
    /// Only entries at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Page size, 1..=100 (default 50).
    pub limit: Option<i32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Why an audit listing was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Cursor(#[from] crate::cursor::InvalidCursor),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::DomainError for AuditError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            Self::Invalid(e) => e.kind(),
            Self::Cursor(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::Cursor(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }
    fn fields(&self) -> Vec<crate::error::FieldError> {
        match self {
            Self::Invalid(e) => e.fields(),
            Self::Cursor(e) => e.fields(),
            Self::Store(e) => e.fields(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Store(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// The audit trail in the logs table.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    retention: Duration,
}

impl AuditTrail {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: String, retention: Duration) -> Self {
        Self {
            dynamo,
            table,
            retention,
        }
    }

    /// Writes the entry; on failure the entry is logged at ERROR level (never values: the
    /// entry holds none) and the error returned for callers that want it.
    pub async fn record(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&entry)
            .map_err(|e| StoreError::Malformed(format!("audit entry: {e}")))?;
        item.insert("pk".into(), s(PARTITION));
        item.insert("sk".into(), s(format!("{}#{}", entry.at, entry.id)));
        item.insert(
            "expires_at".into(),
            n(crate::clock::now_secs() + self.retention.as_secs() as i64),
        );
        let res = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e));
        if let Err(e) = &res {
            tracing::error!(
                audit.action = %entry.action,
                audit.target = %entry.target,
                audit.actor = %entry.actor,
                audit.fields = ?entry.fields,
                audit.at = %entry.at,
                error = %e,
                "audit entry not stored; the change itself succeeded"
            );
        }
        res.map(|_| ())
    }

    /// Entries newest first.
    pub async fn list(&self, q: &AuditQuery) -> Result<AuditPage, AuditError> {
        let limit = q.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(InvalidInput::field("limit", "must be between 1 and 100").into());
        }
        if let Some(since) = &q.since
            && crate::clock::parse_rfc3339(since).is_none()
        {
            return Err(InvalidInput::field("since", "must be an RFC 3339 date-time").into());
        }
        let mut query = self
            .dynamo
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .limit(limit)
            .expression_attribute_values(":pk", s(PARTITION));
        query = match &q.since {
            Some(since) => query
                .key_condition_expression("pk = :pk AND sk >= :since")
                .expression_attribute_values(":since", s(since)),
            None => query.key_condition_expression("pk = :pk"),
        };
        if let Some(action) = &q.action {
            query = query
                .filter_expression("begins_with(#action, :action)")
                .expression_attribute_names("#action", "action")
                .expression_attribute_values(":action", s(action));
        }
        if let Some(cursor) = &q.cursor {
            let key: HashMap<String, String> = crate::cursor::decode(cursor)?;
            query = query
                .set_exclusive_start_key(Some(key.into_iter().map(|(k, v)| (k, s(v))).collect()));
        }
        let out = query
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        let items = out
            .items()
            .iter()
            .map(|item| {
                serde_dynamo::from_item(item.clone())
                    .map_err(|e| StoreError::Malformed(format!("audit entry: {e}")))
            })
            .collect::<Result<Vec<AuditEntry>, _>>()?;
        let next_cursor = out.last_evaluated_key().map(|key| {
            let key: HashMap<String, String> = key
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                .collect();
            crate::cursor::encode(&key)
        });
        Ok(AuditPage { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn an_entry_names_fields_never_values() {
        let caller = Caller {
            user_id: "admin-1".into(),
            role: Role::Admin,
        };
        let e = AuditEntry::new(&caller, "credentials.put", "provider:kavenegar")
            .fields(["sender", "api_key", "api_key"]);
        assert_eq!(e.fields, ["api_key", "sender"]);
        assert_eq!(e.actor, "admin-1");
        assert_eq!(e.role, "admin");
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"target\":\"provider:kavenegar\""), "{json}");
    }
}
