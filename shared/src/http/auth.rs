//! The `Caller` extractor: the bearer token of a request, verified with the function's
//! [`JwtVerifier`](crate::auth::JwtVerifier) (which reads its secret on first use).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::problem::ApiError;
use crate::auth::Caller;
use crate::context::HubState;

/// The bearer token's caller, or a 401 problem.
impl<S> FromRequestParts<S> for Caller
where
    S: HubState + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).map(|v| v.as_bytes());
        Ok(state.hub().jwt.verify_header(header).await?)
    }
}

/// `Option<Caller>`: `None` without an Authorization header; a present but bad token is
/// still a 401 (a client that sends a token expects it to count).
impl<S> OptionalFromRequestParts<S> for Caller
where
    S: HubState + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts.headers.contains_key(AUTHORIZATION) {
            <Caller as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}
