//! `Idempotency-Key` on sends: a repeat of a request returns the first result instead of
//! sending a second SMS or email.
//!
//! One item per (operation, caller, key) in the hub table: `pk = IDEM#{operation}#{caller}#{key}`,
//! `sk = IDEM`, TTL 24 h. The first request claims the key with a conditional `PutItem`
//! (one round trip), runs, and stores its answer; a repeat finds the stored answer and gets
//! it back (the edge marks it `Idempotent-Replayed: true`). A repeat that arrives while the
//! first is still running gets 409 (`Retry-After: 1`); a key reused with a different body
//! gets 422. Failed requests release their key so the client can retry with the same one; a
//! claim left behind by a crashed invocation is taken over after [`STALE_CLAIM`].
//!
//! This is the domain side (a key is a `&str`, an answer a status number and a JSON body);
//! reading the header and building the response is `crate::http::idempotency`.

use std::future::Future;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::store::{StoreError, n, s};

pub const HEADER: &str = "idempotency-key";
const TTL: Duration = Duration::from_secs(24 * 3600);
/// A claim older than this with no stored answer is assumed abandoned (the Lambda timeout
/// is 29 s for API functions).
pub const STALE_CLAIM: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The `Idempotency-Key` itself is wrong (400 `invalid_field`).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// 422 `idempotency_key_reused`.
    #[error("this Idempotency-Key was already used with a different request")]
    KeyReused,
    /// 409 `idempotency_in_progress`, `Retry-After: 1`.
    #[error("a request with this Idempotency-Key is still being processed")]
    InProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for IdempotencyError {
    fn kind(&self) -> ErrorKind {
        match self {
            IdempotencyError::Invalid(e) => e.kind(),
            IdempotencyError::KeyReused => ErrorKind::Unprocessable,
            IdempotencyError::InProgress => ErrorKind::Conflict,
            IdempotencyError::Store(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            IdempotencyError::Invalid(e) => e.code(),
            IdempotencyError::KeyReused => "idempotency_key_reused",
            IdempotencyError::InProgress => "idempotency_in_progress",
            IdempotencyError::Store(e) => e.code(),
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            IdempotencyError::Invalid(e) => e.fields(),
            _ => Vec::new(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        matches!(self, IdempotencyError::InProgress).then_some(1)
    }
}

#[derive(Clone)]
pub struct IdempotencyStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
}

/// What `begin` found.
pub enum Claim {
    /// The key is ours: run the request, then `complete` or `release`.
    New(ClaimedKey),
    /// The request already ran: this is its answer.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
}

pub struct ClaimedKey {
    pk: String,
}

/// The answer of an idempotent run.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    /// True when this is the stored answer of an earlier run.
    pub replayed: bool,
}

/// What `validate_key` accepts, for the OpenAPI document (ECMA-262 / `regex` syntax).
pub const KEY_PATTERN: &str = r"^[!-~]{1,255}$";

/// An `Idempotency-Key` value, validated: 1 to 255 visible ASCII characters.
pub fn validate_key(raw: &str) -> Result<String, InvalidInput> {
    let key = raw.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(InvalidInput::field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(key.to_string())
}

/// A fingerprint of the request, so a key reused for a different request is caught.
pub fn fingerprint<T: serde::Serialize>(request: &T) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(request).unwrap_or_default(),
    ))
}

impl IdempotencyStore {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            dynamo,
            table: table.into(),
        }
    }

    pub async fn begin(
        &self,
        operation: &str,
        caller: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, IdempotencyError> {
        let pk = format!("IDEM#{operation}#{caller}#{key}");
        let now = crate::clock::now_secs();
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s("IDEM"))
            .item("state", s("running"))
            .item("fingerprint", s(fingerprint))
            .item("claimed_at", n(now))
            .item("expires_at", n(now + TTL.as_secs() as i64))
            // Free, or a stale claim nobody completed.
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :running AND claimed_at < :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":stale", n(now - STALE_CLAIM.as_secs() as i64))
            .send()
            .await;
        match put.map_err(|e| StoreError::from_sdk("PutItem", e)) {
            Ok(_) => return Ok(Claim::New(ClaimedKey { pk })),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
        let item = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s("IDEM"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?
            .item
            .unwrap_or_default();
        let get = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        if get("fingerprint") != fingerprint {
            return Err(IdempotencyError::KeyReused);
        }
        if get("state") == "done" {
            let status = item
                .get("status")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u16>().ok())
                .filter(|n| (100..=999).contains(n))
                .unwrap_or(200);
            let body = serde_json::from_str(&get("body")).unwrap_or(serde_json::Value::Null);
            return Ok(Claim::Replay { status, body });
        }
        Err(IdempotencyError::InProgress)
    }

    /// Stores the answer of a claimed key (`status` as a number; an HTTP status converts).
    pub async fn complete(
        &self,
        claim: ClaimedKey,
        status: impl Into<u16>,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let status: u16 = status.into();
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&claim.pk))
            .key("sk", s("IDEM"))
            .update_expression("SET #state = :done, #status = :status, body = :body")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":status", n(status))
            .expression_attribute_values(":body", s(body.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    /// Frees the key after a failed request so the client can retry with it.
    pub async fn release(&self, claim: ClaimedKey) {
        let res = self
            .dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(claim.pk))
            .key("sk", s("IDEM"))
            .send()
            .await;
        if let Err(e) = res {
            tracing::warn!(error = ?e, "could not release an idempotency key; it frees itself after the stale period");
        }
    }

    /// Runs `work` at most once per key (when there is one) and gives its answer, or the
    /// stored answer of the first run. Only successful answers are stored; an error releases
    /// the key.
    pub async fn execute<T, F, Fut, E>(
        &self,
        key: Option<&str>,
        operation: &str,
        caller: &str,
        request: &T,
        work: F,
    ) -> Result<Answer, E>
    where
        T: serde::Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(u16, serde_json::Value), E>>,
        E: From<IdempotencyError>,
    {
        let answer = |(status, body), replayed| Answer {
            status,
            body,
            replayed,
        };
        let Some(key) = key else {
            return Ok(answer(work().await?, false));
        };
        match self
            .begin(operation, caller, key, &fingerprint(request))
            .await?
        {
            Claim::Replay { status, body } => Ok(answer((status, body), true)),
            Claim::New(claim) => match work().await {
                Ok((status, body)) => {
                    if let Err(e) = self.complete(claim, status, &body).await {
                        // The work is done; failing the answer now would invite a duplicate.
                        tracing::error!(error = %e, "could not store an idempotent answer");
                    }
                    Ok(answer((status, body), false))
                }
                Err(e) => {
                    self.release(claim).await;
                    Err(e)
                }
            },
        }
    }
}

#[cfg(test)]
mod key_pattern_tests {
    #[test]
    fn key_pattern_is_what_validate_key_accepts() {
        let re = regex::Regex::new(super::KEY_PATTERN).unwrap();
        let long_ok = "~".repeat(255);
        let too_long = "k".repeat(256);
        for key in ["a", "order-42_x", &long_ok, "", "a b", "é", &too_long] {
            assert_eq!(
                re.is_match(key),
                super::validate_key(key).is_ok(),
                "{key:?}"
            );
        }
    }
}
