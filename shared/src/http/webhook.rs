//! The HTTP side of incoming provider calls (webhooks and SMS delivery callbacks): the
//! request's headers as the webhook verifiers read them, and a failed verification as its
//! problem.

use axum::http::{HeaderMap, header};

use super::problem::ApiError;
use crate::webhooks::WebhookError;
use crate::webhooks::signature::HeaderView;

/// The request headers as the webhooks domain reads them.
pub fn header_view(headers: &HeaderMap) -> HeaderView<'_> {
    HeaderView::new(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
}

/// A provider call's failure as a problem. Verification failures are 401s without
/// `WWW-Authenticate: Bearer`: a provider cannot fix them with a JWT.
pub fn provider_call_problem(e: impl Into<WebhookError>) -> ApiError {
    let mut problem = ApiError::from(e.into());
    problem
        .headers
        .retain(|(name, _)| name != header::WWW_AUTHENTICATE);
    problem
}
