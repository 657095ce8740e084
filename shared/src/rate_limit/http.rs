//! The HTTP side: the client IP extractor and the opt-in route layer.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{RateLimiter, Subject};
use crate::auth::JwtVerifier;
use crate::context::HubContext;

/// The client's IP address. On API Gateway (and `cargo lambda watch`) it is the request
/// context's `sourceIp`, which the client cannot forge; without a Lambda request context
/// (tests, other proxies) the first `X-Forwarded-For` entry, then `X-Real-IP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    pub fn from_parts(parts: &Parts) -> Self {
        use lambda_http::request::RequestContext;
        let from_context = parts
            .extensions
            .get::<RequestContext>()
            .and_then(|ctx| match ctx {
                RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
                RequestContext::WebSocket(c) => c.identity.source_ip.clone(),
                #[allow(unreachable_patterns)]
                _ => None,
            });
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty() && v.len() <= 64)
        };
        ClientIp(
            from_context
                .filter(|ip| !ip.is_empty())
                .or_else(|| header("x-forwarded-for"))
                .or_else(|| header("x-real-ip")),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::from_parts(parts))
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
    let user = state.jwt.as_ref().and_then(|jwt| {
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        jwt.verify(token.trim()).ok().map(|c| c.user_id)
    });
    let mut subject = Subject::route(route).ip_opt(ip);
    subject.user_id = user;
    match state.limiter.check(&subject).await {
        Err(problem) => problem.into_response(),
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
