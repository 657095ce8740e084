//! The rate limiter at the edge: the opt-in route layer, and the `RateLimit-*` headers of an
//! admitted request. The limiter itself is `crate::rate_limit` (no HTTP there).

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};

use super::client_ip::ClientIp;
use super::problem::ApiError;
use crate::auth::JwtVerifier;
use crate::context::HubContext;
use crate::rate_limit::{RateLimitDecision, RateLimiter, Subject};

impl RateLimitDecision {
    /// Adds `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in self.headers() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

impl IntoResponseParts for RateLimitDecision {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        self.apply(res.headers_mut());
        Ok(res)
    }
}

/// State of the route layer: the limiter, and the JWT verifier to key per-user route rules
/// (an invalid or missing token just means no user key; the handler still authenticates).
#[derive(Clone)]
pub struct RouteRateLimit {
    pub limiter: Arc<RateLimiter>,
    pub jwt: Option<Arc<JwtVerifier>>,
}

impl RouteRateLimit {
    pub fn from_context(ctx: &HubContext) -> Self {
        Self {
            limiter: ctx.rate_limiter.clone(),
            jwt: Some(ctx.jwt.clone()),
        }
    }
}

/// Middleware: checks the route rules (`target` = the route pattern, `*`, or a prefix) for
/// the request's route, client IP and (when the bearer token verifies) user; answers 429
/// problems, and adds the `RateLimit-*` headers to admitted answers. Mount it with
/// `route_layer` (so the matched route pattern is known), or use
/// [`RateLimitRouterExt::rate_limited`].
pub async fn enforce_route(
    State(state): State<RouteRateLimit>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let ClientIp(ip) = ClientIp::from_parts(&parts);
    let mut user = None;
    if let (Some(jwt), Some(value)) = (&state.jwt, parts.headers.get(AUTHORIZATION)) {
        user = jwt
            .verify_header(Some(value.as_bytes()))
            .await
            .ok()
            .map(|c| c.user_id);
    }
    let mut subject = Subject::route(route).ip_opt(ip);
    subject.user_id = user;
    match state.limiter.check(&subject).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(decision) => {
            let mut response = next.run(Request::from_parts(parts, body)).await;
            decision.apply(response.headers_mut());
            response
        }
    }
}

/// `Router::new().route(...).rate_limited(&ctx)`: every route declared so far is checked by
/// [`enforce_route`] (routes added after the call are not).
pub trait RateLimitRouterExt {
    fn rate_limited(self, ctx: &HubContext) -> Self;
}

impl<S: Clone + Send + Sync + 'static> RateLimitRouterExt for Router<S> {
    fn rate_limited(self, ctx: &HubContext) -> Self {
        self.route_layer(axum::middleware::from_fn_with_state(
            RouteRateLimit::from_context(ctx),
            enforce_route,
        ))
    }
}
