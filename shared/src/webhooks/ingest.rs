//! The receive path (the Helsa `process_webhook`): find the endpoint, verify the raw bytes,
//! store the event once, enqueue its id. Nothing else happens before the answer, so a
//! provider's delivery is acknowledged in a few milliseconds and processing retries on its
//! own schedule (the worker).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use super::events::{self, EventStore, PutOutcome};
use super::model::*;
use super::registry::{self, EndpointRegistry};
use super::signature::{self, InboundRequest, VerifyError, WebhookVerifier};
use super::{Clock, WebhookConfig};
use crate::error::ApiError;

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
    pub headers: &'a HeaderMap,
    /// The path as the provider called it (with any trailing slash) plus `?query`.
    pub path_and_query: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    pub path_token: Option<&'a str>,
}

/// Everything the receive path and the admin replay need, built once per cold start.
pub struct WebhookService {
    pub config: WebhookConfig,
    pub registry: Arc<EndpointRegistry>,
    pub events: EventStore,
    pub sqs: aws_sdk_sqs::Client,
    pub clock: Clock,
}

impl WebhookService {
    pub fn new(ctx: &crate::HubContext, config: WebhookConfig, clock: Clock) -> Self {
        let registry = Arc::new(EndpointRegistry::new(
            ctx.aws.dynamo.clone(),
            ctx.aws.secrets.clone(),
            ctx.config.hub_table.clone(),
            ctx.credentials.clone(),
            ctx.config.secrets_prefix.clone(),
            config.cache_ttl,
        ));
        let events = EventStore::new(
            ctx.aws.dynamo.clone(),
            ctx.aws.s3.clone(),
            ctx.config.hub_table.clone(),
            config.bodies_bucket.clone(),
            config.inline_body_bytes,
            config.retention_days,
        );
        Self {
            config,
            registry,
            events,
            sqs: ctx.aws.sqs.clone(),
            clock,
        }
    }

    /// The URL a provider is given for an endpoint (path tokens appended when known).
    pub fn public_url(
        &self,
        request_headers: &HeaderMap,
        endpoint_url: &str,
        token: Option<&str>,
    ) -> String {
        let path = match token {
            Some(t) => format!("/api/integrations/webhook/{endpoint_url}/{t}"),
            None => format!("/api/integrations/webhook/{endpoint_url}"),
        };
        signature::public_url(
            request_headers,
            &path,
            self.config.public_base_url.as_deref(),
        )
    }

    /// Verifies, stores and enqueues one delivery.
    pub async fn receive(
        &self,
        endpoint_url: &str,
        inbound: Inbound<'_>,
    ) -> Result<(StatusCode, ReceiveAnswer), ApiError> {
        let unknown = || {
            ApiError::not_found(format!("no webhook endpoint {endpoint_url:?}"))
                .with_code("unknown_endpoint")
        };
        if registry::validate_slug("endpoint_url", endpoint_url).is_err() {
            return Err(unknown());
        }
        let endpoint = self
            .registry
            .cached(endpoint_url)
            .await?
            .filter(|e| e.enabled)
            .ok_or_else(unknown)?;
        let is_path_token = matches!(endpoint.verification, VerificationConfig::PathToken {});
        // `/webhook/{slug}/{token}` exists only for path-token endpoints.
        if inbound.path_token.is_some() && !is_path_token {
            return Err(unknown());
        }
        if inbound.body.len() > self.config.max_body_bytes {
            return Err(ApiError::payload_too_large(format!(
                "webhook bodies are limited to {} bytes",
                self.config.max_body_bytes
            )));
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
        let now = time::OffsetDateTime::now_utc();
        let mut event = WebhookEvent {
            id: id.clone(),
            endpoint_id: endpoint.id.clone(),
            endpoint_url: endpoint.endpoint_url.clone(),
            provider_slug: endpoint.provider_slug.clone(),
            provider_event_id,
            dedupe_source: dedupe_source.into(),
            event_type: event_type.clone(),
            received_at: registry::timestamp(now),
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
            tracing::info!(endpoint = %endpoint.endpoint_url, event_id = %id, "duplicate webhook delivery acknowledged");
            return Ok((
                StatusCode::OK,
                ReceiveAnswer {
                    status: "duplicate",
                    event_id: id,
                    event_type,
                    detail: Some("already received; not processed again".into()),
                },
            ));
        }
        if !subscribed {
            tracing::info!(endpoint = %endpoint.endpoint_url, event_id = %id, %event_type, "webhook event type not subscribed; recorded and ignored");
            return Ok((
                StatusCode::OK,
                ReceiveAnswer {
                    status: "ignored",
                    event_id: id,
                    detail: Some(format!(
                        "event type {event_type:?} is not subscribed by this endpoint; recorded and ignored"
                    )),
                    event_type,
                },
            ));
        }
        if let Err(e) = crate::queue::send_json(
            &self.sqs,
            &self.config.queue_url,
            &EventMessage {
                event_id: id.clone(),
            },
        )
        .await
        {
            // Without its queue message the event would sit unprocessed while every retry of
            // the provider is answered "duplicate": remove it so the retry starts clean.
            let _ = self.events.delete(&id).await;
            return Err(ApiError::unavailable(
                "queue_unavailable",
                format!(
                    "could not enqueue the event ({}); retry later",
                    crate::error::DomainError::code(&e)
                ),
            ));
        }
        tracing::info!(endpoint = %endpoint.endpoint_url, event_id = %id, %event_type, "webhook accepted");
        Ok((
            StatusCode::OK,
            ReceiveAnswer {
                status: "accepted",
                event_id: id,
                event_type,
                detail: None,
            },
        ))
    }

    async fn verify(
        &self,
        endpoint: &WebhookEndpoint,
        inbound: &Inbound<'_>,
    ) -> Result<(), ApiError> {
        let now = (self.clock)();
        let url = signature::public_url(
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
        let secret = self.registry.secret(&endpoint.id, false).await?;
        let verifier = self
            .registry
            .verifier(endpoint, secret.as_deref(), now)
            .await?;
        match verifier.verify(&request) {
            Ok(()) => Ok(()),
            // Twilio endpoints on the provider credentials: the auth token may have rotated.
            Err(VerifyError::Invalid)
                if secret.is_none()
                    && endpoint.secret_origin == SecretOrigin::ProviderCredentials
                    && self
                        .registry
                        .recheck_twilio_credentials(SECRET_RECHECK_AFTER)
                        .await? =>
            {
                let verifier = self.registry.verifier(endpoint, None, now).await?;
                verifier.verify(&request).map_err(|e| reject(endpoint, e))
            }
            Err(VerifyError::Invalid)
                if self
                    .registry
                    .secret_age(&endpoint.id)
                    .await
                    .is_some_and(|a| a > SECRET_RECHECK_AFTER) =>
            {
                let fresh = self.registry.secret(&endpoint.id, true).await?;
                if fresh == secret {
                    return Err(VerifyError::Invalid.into());
                }
                let verifier = self
                    .registry
                    .verifier(endpoint, fresh.as_deref(), now)
                    .await?;
                verifier.verify(&request).map_err(|e| reject(endpoint, e))
            }
            Err(e) => Err(reject(endpoint, e)),
        }
    }

    /// Re-enqueues events (admin replay): each goes back to `queued` and its id to the queue.
    pub async fn replay(&self, event_ids: &[String]) -> Result<usize, ApiError> {
        futures::future::try_join_all(event_ids.iter().map(|id| self.events.requeue(id))).await?;
        let messages: Vec<EventMessage> = event_ids
            .iter()
            .map(|id| EventMessage {
                event_id: id.clone(),
            })
            .collect();
        crate::queue::send_json_batch(&self.sqs, &self.config.queue_url, &messages).await?;
        Ok(event_ids.len())
    }
}

fn reject(endpoint: &WebhookEndpoint, e: VerifyError) -> ApiError {
    tracing::warn!(endpoint = %endpoint.endpoint_url, code = e.code(), reason = %e, "webhook refused");
    e.into()
}

/// Form fields of a POST body, or the query of a GET (Kavenegar calls back either way).
fn request_params(inbound: &Inbound<'_>) -> Vec<(String, String)> {
    if inbound.method == "GET" {
        return inbound
            .query
            .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
            .unwrap_or_default();
    }
    signature::form_params(inbound.headers, inbound.body)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

pub const SMS_DELIVERY_REPORT: &str = "sms.delivery_report";

/// The event's type: SMS delivery reports by their fields, else the configured field, else
/// `type`/`event_type`/`event` of a JSON body, else `unknown`.
fn event_type(
    endpoint: &WebhookEndpoint,
    params: &[(String, String)],
    json: Option<&serde_json::Value>,
) -> String {
    if (param(params, "MessageSid").is_some() && param(params, "MessageStatus").is_some())
        || (param(params, "messageid").is_some() && param(params, "status").is_some())
    {
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
    headers: &HeaderMap,
    params: &[(String, String)],
    body: &[u8],
) -> (&'static str, String) {
    if let Some(id) = signature::StandardWebhooks::message_id(headers) {
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
    headers: &HeaderMap,
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
                .get(n)
                .and_then(|v| v.to_str().ok())
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
        let mut h = HeaderMap::new();
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
        h.insert("webhook-id", "msg_1".parse().unwrap());
        assert_eq!(dedupe_key(&h, &[], b"x"), ("webhook-id", "msg_1".into()));
    }
}
