//! The receive path (the Helsa `process_webhook`): find the endpoint, verify the raw bytes,
//! store the event once, enqueue its id. Nothing else happens before the answer, so a
//! provider's delivery is acknowledged in a few milliseconds and processing retries on its
//! own schedule (the worker).

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::api::ReceiveAnswer;
use super::delivery_report::{DeliveryReport, SMS_DELIVERY_REPORT, param};
use super::error::WebhookError;
use super::events::{self, PutOutcome};
use super::model::*;
use super::registry::EndpointSecret;
use super::registry::validate::validate_slug;
use super::service::WebhookService;
use super::signature::{
    HeaderView, InboundRequest, StandardWebhooks, Verifier, VerifyError, WebhookVerifier,
    form_params,
};

/// A cached secret older than this is read again once when verification fails, so a
/// rotation done through another Lambda instance is seen at once, while a flood of bad
/// signatures costs at most one Secrets Manager read per endpoint per this interval.
const SECRET_RECHECK_AFTER: Duration = Duration::from_secs(5);

/// Headers worth keeping with an event: content type, provider ids and signatures (for
/// audits and re-verification). Never `authorization` or cookies.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-twilio-signature",
    "i-twilio-idempotency-token",
    "x-request-id",
    "x-amzn-trace-id",
];

/// What the HTTP layer hands the receive path.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub method: &'a str,
    pub headers: &'a HeaderView<'a>,
    /// The path as the provider called it (with any trailing slash) plus `?query`.
    pub path_and_query: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    pub path_token: Option<&'a str>,
}

impl WebhookService {
    /// Verifies, stores and enqueues one delivery.
    pub async fn receive(
        &self,
        slug: &str,
        inbound: Inbound<'_>,
    ) -> Result<ReceiveAnswer, WebhookError> {
        let unknown = || WebhookError::UnknownEndpoint(slug.to_string());
        if validate_slug("endpoint_url", slug).is_err() {
            return Err(unknown());
        }
        let endpoint = self
            .registry
            .endpoints
            .cached(slug)
            .await?
            .filter(|e| e.enabled)
            .ok_or_else(unknown)?;
        let is_path_token = matches!(endpoint.verification, VerificationConfig::PathToken {});
        // `/webhook/{slug}/{token}` exists only for path-token endpoints.
        if inbound.path_token.is_some() && !is_path_token {
            return Err(unknown());
        }
        if inbound.body.len() > self.config.max_body_bytes {
            return Err(WebhookError::BodyTooLarge(self.config.max_body_bytes));
        }
        self.verify(&endpoint, &inbound).await?;

        // Verified: only now is the body parsed.
        let stored_body: &[u8] = if inbound.method == "GET" {
            inbound.query.unwrap_or("").as_bytes()
        } else {
            inbound.body
        };
        let params = request_params(&inbound);
        let json: Option<serde_json::Value> = if params.is_empty() {
            serde_json::from_slice(inbound.body).ok()
        } else {
            None
        };
        let event_type = event_type(&endpoint, &params, json.as_ref());
        let (dedupe_source, provider_event_id) = dedupe_key(inbound.headers, &params, stored_body);
        let id = events::event_id(&endpoint.id, &provider_event_id);
        let subscribed = endpoint.subscribes(&event_type);
        let now = crate::clock::now_utc();
        let mut event = WebhookEvent {
            id: id.clone(),
            endpoint_id: endpoint.id.clone(),
            endpoint_slug: endpoint.slug.clone(),
            provider_slug: endpoint.provider_slug.clone(),
            provider_event_id,
            dedupe_source: dedupe_source.into(),
            event_type: event_type.clone(),
            received_at: crate::clock::rfc3339_millis(now),
            method: inbound.method.to_string(),
            headers: kept_headers(inbound.headers, &endpoint.verification),
            body_size: stored_body.len() as u64,
            body_sha256: hex::encode(Sha256::digest(stored_body)),
            body_s3_key: None,
            status: if subscribed {
                EventStatus::Queued
            } else {
                EventStatus::Ignored
            },
            attempts: 0,
            replays: 0,
            last_error: None,
            processed_at: None,
            result: None,
        };
        let outcome = self
            .events
            .put_new(&mut event, stored_body, now.unix_timestamp())
            .await?;
        if outcome == PutOutcome::Duplicate {
            tracing::info!(endpoint = %endpoint.slug, event_id = %id, "duplicate webhook delivery acknowledged");
            return Ok(ReceiveAnswer {
                status: "duplicate",
                event_id: id,
                event_type,
                detail: Some("already received; not processed again".into()),
            });
        }
        if !subscribed {
            tracing::info!(endpoint = %endpoint.slug, event_id = %id, %event_type, "webhook event type not subscribed; recorded and ignored");
            return Ok(ReceiveAnswer {
                status: "ignored",
                event_id: id,
                detail: Some(format!(
                    "event type {event_type:?} is not subscribed by this endpoint; recorded and ignored"
                )),
                event_type,
            });
        }
        if let Err(e) = self.enqueue(&id).await {
            // Without its queue message the event would sit unprocessed while every retry of
            // the provider is answered "duplicate": remove it so the retry starts clean.
            let _ = self.events.delete(&id).await;
            return Err(e);
        }
        tracing::info!(endpoint = %endpoint.slug, event_id = %id, %event_type, "webhook accepted");
        Ok(ReceiveAnswer {
            status: "accepted",
            event_id: id,
            event_type,
            detail: None,
        })
    }

    /// Verifies a delivery with the endpoint's keys. A signature that does not match with a
    /// cached secret older than a few seconds is checked once more against a fresh read, so
    /// a rotation done through another instance is seen at once.
    async fn verify(
        &self,
        endpoint: &WebhookEndpoint,
        inbound: &Inbound<'_>,
    ) -> Result<(), WebhookError> {
        let now = self.now();
        let url = super::signature::public_url(
            inbound.headers,
            inbound.path_and_query,
            self.config.public_base_url.as_deref(),
        );
        let request = InboundRequest {
            headers: inbound.headers,
            body: inbound.body,
            public_url: &url,
            path_token: inbound.path_token,
            now,
        };
        let secrets = &self.registry.secrets;
        let secret = secrets.get(&endpoint.id, false).await?;
        match self
            .verify_with(endpoint, secret.as_deref(), &request)
            .await
        {
            Ok(()) => Ok(()),
            Err(WebhookError::Rejected(VerifyError::Invalid))
                if secrets
                    .age(&endpoint.id)
                    .await
                    .is_some_and(|a| a > SECRET_RECHECK_AFTER) =>
            {
                let fresh = secrets.get(&endpoint.id, true).await?;
                if fresh == secret {
                    return Err(reject(endpoint, VerifyError::Invalid));
                }
                self.verify_with(endpoint, fresh.as_deref(), &request)
                    .await
                    .map_err(|e| log_rejection(endpoint, e))
            }
            Err(e) => Err(log_rejection(endpoint, e)),
        }
    }

    /// Verifies with the endpoint's own secret or, for Twilio endpoints without one, the
    /// twilio provider's auth token (re-read once if it does not match: it may have rotated).
    async fn verify_with(
        &self,
        endpoint: &WebhookEndpoint,
        secret: Option<&EndpointSecret>,
        request: &InboundRequest<'_>,
    ) -> Result<(), WebhookError> {
        let Some(secret) = secret else {
            return match endpoint.verification {
                VerificationConfig::Twilio {} => self.twilio.verify(|v| v.verify(request)).await,
                _ => Err(WebhookError::SecretMissing),
            };
        };
        let keys = secret
            .active(request.now)
            .into_iter()
            .map(str::to_string)
            .collect();
        let verifier = Verifier::for_config(&endpoint.verification, keys).map_err(|e| {
            WebhookError::Internal(format!("endpoint {} secret unusable: {e}", endpoint.slug))
        })?;
        Ok(verifier.verify(request)?)
    }
}

fn reject(endpoint: &WebhookEndpoint, e: VerifyError) -> WebhookError {
    log_rejection(endpoint, e.into())
}

/// Logs a refused delivery (the reason, never the secret or the body).
fn log_rejection(endpoint: &WebhookEndpoint, e: WebhookError) -> WebhookError {
    if let WebhookError::Rejected(reason) = &e {
        tracing::warn!(endpoint = %endpoint.slug, code = reason.code(), %reason, "webhook refused");
    }
    e
}

/// Form fields of a POST body, or the query of a GET (Kavenegar calls back either way).
fn request_params(inbound: &Inbound<'_>) -> Vec<(String, String)> {
    if inbound.method == "GET" {
        return inbound
            .query
            .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
            .unwrap_or_default();
    }
    form_params(inbound.headers, inbound.body)
}

/// The event's type: SMS delivery reports by their fields, else the configured field, else
/// `type`/`event_type`/`event` of a JSON body, else `unknown`.
fn event_type(
    endpoint: &WebhookEndpoint,
    params: &[(String, String)],
    json: Option<&serde_json::Value>,
) -> String {
    if DeliveryReport::is_report(params) {
        return SMS_DELIVERY_REPORT.into();
    }
    let as_text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) if !s.is_empty() => {
            Some(s.chars().take(128).collect::<String>())
        }
        _ => None,
    };
    if let Some(field) = &endpoint.event_type_field {
        let found = if field.starts_with('/') {
            json.and_then(|j| j.pointer(field)).and_then(as_text)
        } else {
            json.and_then(|j| j.get(field))
                .and_then(as_text)
                .or_else(|| param(params, field).map(str::to_string))
        };
        if let Some(t) = found {
            return t;
        }
    }
    json.and_then(|j| {
        ["type", "event_type", "event"]
            .iter()
            .find_map(|k| j.get(*k).and_then(as_text))
    })
    .unwrap_or_else(|| "unknown".into())
}

/// The provider's id for the event. SMS status callbacks carry the message id plus the
/// status: one message gets several callbacks (sent, then delivered), each its own event.
fn dedupe_key(
    headers: &HeaderView<'_>,
    params: &[(String, String)],
    body: &[u8],
) -> (&'static str, String) {
    if let Some(id) = StandardWebhooks::message_id(headers) {
        return ("webhook-id", id.chars().take(256).collect());
    }
    if let (Some(sid), Some(status)) = (param(params, "MessageSid"), param(params, "MessageStatus"))
    {
        return ("MessageSid", format!("{sid}:{status}"));
    }
    if let (Some(id), Some(status)) = (param(params, "messageid"), param(params, "status")) {
        return ("messageid", format!("{id}:{status}"));
    }
    ("body-sha256", hex::encode(Sha256::digest(body)))
}

fn kept_headers(
    headers: &HeaderView<'_>,
    verification: &VerificationConfig,
) -> BTreeMap<String, String> {
    let mut names: Vec<&str> = KEPT_HEADERS.to_vec();
    if let VerificationConfig::HmacSha256 {
        signature_header,
        timestamp_header,
        ..
    } = verification
    {
        names.push(signature_header);
        if let Some(t) = timestamp_header {
            names.push(t);
        }
    }
    names
        .into_iter()
        .filter_map(|n| {
            headers
                .text(n)
                .map(|v| (n.to_string(), v.chars().take(512).collect()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dedupe_keys_follow_the_provider_ids() {
        let h = HeaderView::default();
        assert_eq!(
            dedupe_key(
                &h,
                &params(&[("MessageSid", "SM1"), ("MessageStatus", "sent")]),
                b"x"
            ),
            ("MessageSid", "SM1:sent".into())
        );
        assert_eq!(
            dedupe_key(&h, &params(&[("messageid", "77"), ("status", "10")]), b"x"),
            ("messageid", "77:10".into())
        );
        assert_eq!(dedupe_key(&h, &[], b"x").0, "body-sha256");
        let pairs = [("webhook-id", "msg_1")];
        let h = HeaderView::from_text(&pairs);
        assert_eq!(dedupe_key(&h, &[], b"x"), ("webhook-id", "msg_1".into()));
    }
}
