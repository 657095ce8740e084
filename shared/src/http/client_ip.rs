//! The client's IP address, for per-IP rate limits.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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
