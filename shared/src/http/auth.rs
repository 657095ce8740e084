//! The `Caller` extractor: the bearer token of a request, verified with the function's
//! [`JwtVerifier`](crate::auth::JwtVerifier) (which reads its secret on first use), and the
//! role-checking extractors [`AdminCaller`] and [`ServiceCaller`] for role-restricted routes.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::problem::ApiError;
use crate::auth::{Caller, Role};
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

/// A caller with the `admin` role, or a 403 problem. Checked with the other request-part
/// extractors, before the body is read: a caller without the role learns nothing about what
/// the route accepts (403, never a 422 describing the schema).
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Caller);

/// A caller with the `admin` or `service` role (trusted back ends), or a 403 problem, checked
/// before the body like [`AdminCaller`].
#[derive(Debug, Clone)]
pub struct ServiceCaller(pub Caller);

async fn caller_with<S>(parts: &mut Parts, state: &S, roles: &[Role]) -> Result<Caller, ApiError>
where
    S: HubState + Send + Sync,
{
    let caller = <Caller as FromRequestParts<S>>::from_request_parts(parts, state).await?;
    caller.require(roles)?;
    Ok(caller)
}

impl<S> FromRequestParts<S> for AdminCaller
where
    S: HubState + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        caller_with(parts, state, &[Role::Admin]).await.map(Self)
    }
}

impl<S> FromRequestParts<S> for ServiceCaller
where
    S: HubState + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        caller_with(parts, state, &[Role::Admin, Role::Service])
            .await
            .map(Self)
    }
}
