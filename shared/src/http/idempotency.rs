//! `Idempotency-Key` at the edge: reads the header, runs the work through the domain store
//! (`crate::idempotency`) and answers, marking a replayed answer `Idempotent-Replayed: true`.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;
use crate::error::InvalidInput;
use crate::idempotency::{HEADER, IdempotencyStore, validate_key};

/// The `Idempotency-Key` header, validated: 1 to 255 visible ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(HEADER) else {
        return Ok(None);
    };
    let raw = v
        .to_str()
        .map_err(|_| InvalidInput::field("Idempotency-Key", "must be visible ASCII"))?;
    Ok(Some(validate_key(raw)?))
}

/// The answer of a run: its status and JSON body, and `Idempotent-Replayed: true` when it
/// is the stored answer of an earlier run.
pub fn respond(status: u16, body: &serde_json::Value, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut res = (status, axum::Json(body)).into_response();
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

impl IdempotencyStore {
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
        let key = key_from(headers)?;
        let answer = self
            .execute(key.as_deref(), operation, caller, request, || async {
                work().await.map(|(status, body)| (status.as_u16(), body))
            })
            .await?;
        Ok(respond(answer.status, &answer.body, answer.replayed))
    }
}
