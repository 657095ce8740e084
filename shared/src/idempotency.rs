//! `Idempotency-Key` on sends: a repeat of a request returns the first result instead of
//! sending a second SMS or email.
//!
//! One item per (operation, caller, key) in the hub table: `pk = IDEM#{operation}#{caller}#{key}`,
//! `sk = IDEM`, TTL 24 h. The first request claims the key with a conditional `PutItem`
//! (one round trip), runs, and stores its answer; a repeat finds the stored answer and gets
//! it back with `Idempotent-Replayed: true`. A repeat that arrives while the first is still
//! running gets 409 (`Retry-After: 1`); a key reused with a different body gets 422. Failed
//! requests release their key so the client can retry with the same one; a claim left behind
//! by a crashed invocation is taken over after [`STALE_CLAIM`].

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub const HEADER: &str = "idempotency-key";
const TTL: Duration = Duration::from_secs(24 * 3600);
/// A claim older than this with no stored answer is assumed abandoned (the Lambda timeout
/// is 29 s for API functions).
pub const STALE_CLAIM: Duration = Duration::from_secs(60);

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
        status: StatusCode,
        body: serde_json::Value,
    },
}

pub struct ClaimedKey {
    pk: String,
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The `Idempotency-Key` header, validated: 1 to 255 visible ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(HEADER) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::invalid_field("Idempotency-Key", "must be visible ASCII"))?
        .trim();
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(s.to_string()))
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
    ) -> Result<Claim, ApiError> {
        let pk = format!("IDEM#{operation}#{caller}#{key}");
        let now = now_secs();
        let s = |v: &str| AttributeValue::S(v.to_string());
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s("IDEM"))
            .item("state", s("running"))
            .item("fingerprint", s(fingerprint))
            .item("claimed_at", AttributeValue::N(now.to_string()))
            .item(
                "expires_at",
                AttributeValue::N((now + TTL.as_secs() as i64).to_string()),
            )
            // Free, or a stale claim nobody completed.
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :running AND claimed_at < :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(
                ":stale",
                AttributeValue::N((now - STALE_CLAIM.as_secs() as i64).to_string()),
            )
            .send()
            .await;
        match put {
            Ok(_) => return Ok(Claim::New(ClaimedKey { pk })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
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
            .await?
            .item
            .unwrap_or_default();
        let get = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        if get("fingerprint") != fingerprint {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request",
            ));
        }
        if get("state") == "done" {
            let status = item
                .get("status")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u16>().ok())
                .and_then(|n| StatusCode::from_u16(n).ok())
                .unwrap_or(StatusCode::OK);
            let body = serde_json::from_str(&get("body")).unwrap_or(serde_json::Value::Null);
            return Ok(Claim::Replay { status, body });
        }
        Err(ApiError::conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being processed",
        )
        .with_header(axum::http::header::RETRY_AFTER, "1"))
    }

    pub async fn complete(
        &self,
        claim: ClaimedKey,
        status: StatusCode,
        body: &serde_json::Value,
    ) -> Result<(), ApiError> {
        let item: HashMap<String, AttributeValue> = HashMap::from([
            ("pk".into(), AttributeValue::S(claim.pk.clone())),
            ("sk".into(), AttributeValue::S("IDEM".into())),
        ]);
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item))
            .update_expression("SET #state = :done, #status = :status, body = :body")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .expression_attribute_values(":status", AttributeValue::N(status.as_u16().to_string()))
            .expression_attribute_values(":body", AttributeValue::S(body.to_string()))
            .send()
            .await?;
        Ok(())
    }

    /// Frees the key after a failed request so the client can retry with it.
    pub async fn release(&self, claim: ClaimedKey) {
        let res = self
            .dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(claim.pk))
            .key("sk", AttributeValue::S("IDEM".into()))
            .send()
            .await;
        if let Err(e) = res {
            tracing::warn!(error = ?e, "could not release an idempotency key; it frees itself after the stale period");
        }
    }

    /// Runs `work` at most once per `Idempotency-Key` (when the header is present) and answers
    /// with its result, or the stored result of the first run. Only successful answers are
    /// stored; an error releases the key.
    pub async fn run<T, F, Fut>(
        &self,
        headers: &HeaderMap,
        operation: &str,
        caller: &str,
        request: &T,
        work: F,
    ) -> Result<Response, ApiError>
    where
        T: serde::Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
    {
        let Some(key) = key_from(headers)? else {
            let (status, body) = work().await?;
            return Ok((status, axum::Json(body)).into_response());
        };
        match self
            .begin(operation, caller, &key, &fingerprint(request))
            .await?
        {
            Claim::Replay { status, body } => {
                let mut res = (status, axum::Json(body)).into_response();
                res.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                Ok(res)
            }
            Claim::New(claim) => match work().await {
                Ok((status, body)) => {
                    if let Err(e) = self.complete(claim, status, &body).await {
                        // The work is done; failing the answer now would invite a duplicate.
                        tracing::error!(error = %e, "could not store an idempotent answer");
                    }
                    Ok((status, axum::Json(body)).into_response())
                }
                Err(e) => {
                    self.release(claim).await;
                    Err(e)
                }
            },
        }
    }
}
