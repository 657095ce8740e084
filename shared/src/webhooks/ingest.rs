//! The receive path (the Helsa `process_webhook`): find the endpoint, verify the raw bytes,
//! store the event once, enqueue its id. Nothing else happens before the answer, so a
//! provider's delivery is acknowledged in a few milliseconds and processing retries on its
//! own schedule (the worker).

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::api::ReceiveAnswer;
use super::delivery_report::{DeliveryReport, ReportRefusal, SMS_DELIVERY_REPORT, param};
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
        let url = super::signature::public_url(
            inbound.headers,
            inbound.path_and_query,
            self.config.public_base_url.as_deref(),
        );
        self.verify(&endpoint, &inbound, &url).await?;

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
        let event_type = event_type(&endpoint, &params, json.as_ref())?;
        let dedupe = dedupe_key(
            &endpoint.verification,
            inbound.headers,
            &url,
            &params,
            stored_body,
        );
        let id = events::event_id(&endpoint.id, &dedupe.key);
        let subscribed = endpoint.subscribes(&event_type);
        let now = crate::clock::now_utc();
        let mut event = WebhookEvent {
            id: id.clone(),
            endpoint_id: endpoint.id.clone(),
            endpoint_slug: endpoint.slug.clone(),
            provider_slug: endpoint.provider_slug.clone(),
            provider_event_id: provider_event_id(inbound.headers, &params, &dedupe),
            dedupe_source: dedupe.source.into(),
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
            .put_new(
                &mut event,
                stored_body,
                now.unix_timestamp(),
                replay_window_secs(&endpoint.verification),
                if subscribed {
                    self.redrive_marker(&id, now.unix_timestamp())
                } else {
                    crate::store::Item::new()
                },
            )
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
        // The event is durable, with its redrive marker: if this message is not sent (an SQS
        // error, or the process stops right here) the sweeper sends it once the marker is
        // due. So the provider is told "accepted" either way, and the stored event is never
        // removed (a provider retry meanwhile is a duplicate the sweeper already owns).
        let detail = match self.enqueue(&id).await {
            Ok(()) => None,
            Err(_) => Some("stored; it will be processed shortly".to_string()),
        };
        tracing::info!(endpoint = %endpoint.slug, event_id = %id, %event_type, enqueued = detail.is_none(), "webhook accepted");
        Ok(ReceiveAnswer {
            status: "accepted",
            event_id: id,
            event_type,
            detail,
        })
    }

    /// The redrive marker stored with a queued event (its queue message as the body), so the
    /// sweeper sends the message if this process never does.
    pub(super) fn redrive_marker(&self, event_id: &str, now: i64) -> crate::store::Item {
        let message = super::model::EventMessage {
            event_id: event_id.to_string(),
        };
        let body = serde_json::to_string(&message).unwrap_or_default();
        crate::redrive::Redrive::new(super::QUEUE_ENV, body)
            .after(self.config.redrive_after)
            .item_attributes(now)
            .into_iter()
            .collect()
    }

    /// Verifies a delivery with the endpoint's keys. A signature that does not match with a
    /// cached secret older than a few seconds is checked once more against a fresh read, so
    /// a rotation done through another instance is seen at once.
    async fn verify(
        &self,
        endpoint: &WebhookEndpoint,
        inbound: &Inbound<'_>,
        url: &str,
    ) -> Result<(), WebhookError> {
        let now = self.now();
        let request = InboundRequest {
            headers: inbound.headers,
            body: inbound.body,
            public_url: url,
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

/// The event's type: SMS delivery reports of the endpoint's own provider by their fields,
/// else the configured field, else `type`/`event_type`/`event` of a JSON body, else
/// `unknown`. Another provider's report (a Kavenegar report posted to a payment gateway's
/// endpoint) is refused: it could only be a forgery or a misconfiguration, and the SMS
/// statuses must not be rewritable from any endpoint.
fn event_type(
    endpoint: &WebhookEndpoint,
    params: &[(String, String)],
    json: Option<&serde_json::Value>,
) -> Result<String, WebhookError> {
    match DeliveryReport::for_endpoint(&endpoint.provider_slug, params) {
        Ok(_) => return Ok(SMS_DELIVERY_REPORT.into()),
        Err(refusal @ ReportRefusal::ProviderMismatch { .. }) => {
            tracing::warn!(endpoint = %endpoint.slug, provider = %endpoint.provider_slug, %refusal, "delivery report refused");
            return Err(WebhookError::ReportRefused(refusal));
        }
        Err(ReportRefusal::NotAReport) => {}
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
            return Ok(t);
        }
    }
    Ok(json
        .and_then(|j| {
            ["type", "event_type", "event"]
                .iter()
                .find_map(|k| j.get(*k).and_then(as_text))
        })
        .unwrap_or_else(|| "unknown".into()))
}

/// What an event is deduplicated on: signed material only, so a captured delivery replayed
/// with a fresh unsigned header (a new `webhook-id` on an HMAC endpoint) maps to the same
/// event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DedupeKey {
    /// Where the key came from (the event's `dedupe_source`).
    source: &'static str,
    key: String,
}

/// Longest `webhook-id` kept as the key as is; longer ones are hashed.
const MAX_ID_KEY_CHARS: usize = 256;

/// The dedupe key of a verified request, per scheme:
/// - Standard Webhooks: the `webhook-id`, which the signature covers;
/// - Twilio: SHA-256 of what Twilio signs, the URL (without a default port, since either form
///   verifies) and the POST parameters sorted by name;
/// - HMAC-SHA256: SHA-256 of the signed bytes, `{timestamp}.{body}` when a timestamp header is
///   configured, else the body;
/// - path token (nothing is signed; the token authenticates the whole request): SHA-256 of
///   the parameters sorted by name (so Kavenegar's GET and POST forms of one report are one
///   event), else of the body.
fn dedupe_key(
    verification: &VerificationConfig,
    headers: &HeaderView<'_>,
    public_url: &str,
    params: &[(String, String)],
    body: &[u8],
) -> DedupeKey {
    let sha = |parts: &[&[u8]]| {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        hex::encode(h.finalize())
    };
    let sorted_params = || {
        let mut sorted: Vec<&(String, String)> = params.iter().collect();
        sorted.sort();
        let mut out = Vec::new();
        for (k, v) in sorted {
            // Length-prefixed, so `a=bc` and `ab=c` differ.
            out.extend_from_slice(format!("{}:{k}{}:{v}", k.len(), v.len()).as_bytes());
        }
        out
    };
    match verification {
        VerificationConfig::StandardWebhooks { .. } => {
            let id = StandardWebhooks::message_id(headers).unwrap_or_default();
            let key = if id.chars().count() <= MAX_ID_KEY_CHARS {
                id.to_string()
            } else {
                sha(&[id.as_bytes()])
            };
            DedupeKey {
                source: "webhook-id",
                key,
            }
        }
        VerificationConfig::Twilio {} => DedupeKey {
            source: "twilio-signed-request",
            // Not the body as such: its field order is not signed (a JSON body's hash is in the
            // signed URL, `?bodySHA256=`).
            key: sha(&[
                canonical_url(public_url).as_bytes(),
                b"\n",
                &sorted_params(),
            ]),
        },
        VerificationConfig::HmacSha256 {
            timestamp_header: Some(name),
            ..
        } => {
            let ts = headers.text(name).map(str::trim).unwrap_or_default();
            DedupeKey {
                source: "hmac-signed-timestamp-body",
                key: sha(&[ts.as_bytes(), b".", body]),
            }
        }
        VerificationConfig::HmacSha256 { .. } => DedupeKey {
            source: "hmac-signed-body",
            key: sha(&[body]),
        },
        VerificationConfig::PathToken {} if !params.is_empty() => DedupeKey {
            source: "request-params-sha256",
            key: sha(&[&sorted_params()]),
        },
        VerificationConfig::PathToken {} => DedupeKey {
            source: "body-sha256",
            key: sha(&[body]),
        },
    }
}

/// The provider's own id for the event, for people reading it (the dedupe key is
/// [`dedupe_key`]): the `webhook-id`, Twilio's `MessageSid:MessageStatus`, Kavenegar's
/// `messageid:status` (one message gets several callbacks, each its own event), else the
/// dedupe key.
fn provider_event_id(
    headers: &HeaderView<'_>,
    params: &[(String, String)],
    dedupe: &DedupeKey,
) -> String {
    if dedupe.source == "webhook-id"
        && let Some(id) = StandardWebhooks::message_id(headers)
    {
        return id.chars().take(MAX_ID_KEY_CHARS).collect();
    }
    if let (Some(sid), Some(status)) = (param(params, "MessageSid"), param(params, "MessageStatus"))
    {
        return format!("{sid}:{status}");
    }
    if let (Some(id), Some(status)) = (param(params, "messageid"), param(params, "status")) {
        return format!("{id}:{status}");
    }
    dedupe.key.clone()
}

/// The URL without its scheme's default port (`https://h:443/p` -> `https://h/p`): Twilio's
/// signature verifies either form, so both must give one dedupe key.
fn canonical_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return url.to_string(),
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match authority.strip_suffix(default_port) {
        Some(host) => format!("{scheme}://{host}{tail}"),
        None => url.to_string(),
    }
}

/// How long a signed delivery stays acceptable: the tolerance on either side of now for
/// schemes with a signed timestamp (a delivery dated `now + tolerance` verifies until
/// `now + 2 x tolerance`). Its dedupe record must live at least that long. `None` for
/// schemes without a signed timestamp, whose records live the retention period.
fn replay_window_secs(verification: &VerificationConfig) -> Option<i64> {
    match verification {
        VerificationConfig::StandardWebhooks { tolerance_seconds }
        | VerificationConfig::HmacSha256 {
            timestamp_header: Some(_),
            tolerance_seconds,
            ..
        } => Some(2 * tolerance_seconds),
        _ => None,
    }
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

    fn hmac(timestamp_header: Option<&str>) -> VerificationConfig {
        VerificationConfig::HmacSha256 {
            signature_header: "x-signature".into(),
            signature_prefix: None,
            timestamp_header: timestamp_header.map(str::to_string),
            tolerance_seconds: 300,
        }
    }

    #[test]
    fn dedupe_keys_come_from_signed_material_only() {
        let url = "https://hooks.example.com/api/integrations/webhook/x";
        let fresh_id = [("webhook-id", "msg_fresh")];
        let with_fresh_id = HeaderView::from_text(&fresh_id);
        let none = HeaderView::default();

        // Standard Webhooks signs its webhook-id: that is the key.
        let sw = VerificationConfig::default();
        assert_eq!(
            dedupe_key(&sw, &with_fresh_id, url, &[], b"x"),
            DedupeKey {
                source: "webhook-id",
                key: "msg_fresh".into()
            }
        );
        let long = "m".repeat(300);
        let long_id = [("webhook-id", long.as_str())];
        assert_eq!(
            dedupe_key(&sw, &HeaderView::from_text(&long_id), url, &[], b"x")
                .key
                .len(),
            64
        );

        // HMAC: an unsigned webhook-id changes nothing; the signed bytes do.
        for config in [hmac(None), hmac(Some("x-ts"))] {
            let a = dedupe_key(&config, &none, url, &[], b"body");
            assert_eq!(dedupe_key(&config, &with_fresh_id, url, &[], b"body"), a);
            assert_ne!(dedupe_key(&config, &none, url, &[], b"body2"), a);
        }
        let ts1 = [("x-ts", "1000")];
        let ts2 = [("x-ts", "1001")];
        let with_ts = hmac(Some("x-ts"));
        assert_eq!(
            dedupe_key(&with_ts, &HeaderView::from_text(&ts1), url, &[], b"b").source,
            "hmac-signed-timestamp-body"
        );
        assert_ne!(
            dedupe_key(&with_ts, &HeaderView::from_text(&ts1), url, &[], b"b"),
            dedupe_key(&with_ts, &HeaderView::from_text(&ts2), url, &[], b"b")
        );
        assert_eq!(
            dedupe_key(&hmac(None), &none, url, &[], b"b").source,
            "hmac-signed-body"
        );

        // Twilio: URL + sorted params, whatever the order or an unsigned header; the default
        // port does not make a second event.
        let twilio = VerificationConfig::Twilio {};
        let p1 = params(&[("MessageSid", "SM1"), ("MessageStatus", "sent")]);
        let p2 = params(&[("MessageStatus", "sent"), ("MessageSid", "SM1")]);
        let a = dedupe_key(
            &twilio,
            &none,
            url,
            &p1,
            b"MessageSid=SM1&MessageStatus=sent",
        );
        assert_eq!(a.source, "twilio-signed-request");
        assert_eq!(
            dedupe_key(
                &twilio,
                &with_fresh_id,
                url,
                &p2,
                b"MessageStatus=sent&MessageSid=SM1"
            ),
            a
        );
        assert_eq!(
            dedupe_key(
                &twilio,
                &none,
                "https://hooks.example.com:443/api/integrations/webhook/x",
                &p1,
                b""
            ),
            a
        );
        let delivered = params(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")]);
        assert_ne!(dedupe_key(&twilio, &none, url, &delivered, b""), a);
        assert_ne!(
            dedupe_key(&twilio, &none, &format!("{url}?x=1"), &p1, b""),
            a
        );

        // Path token: the parameters, so GET and POST forms of a report are one event.
        let token = VerificationConfig::PathToken {};
        let k = params(&[("messageid", "77"), ("status", "10")]);
        assert_eq!(
            dedupe_key(&token, &none, url, &k, b"messageid=77&status=10"),
            dedupe_key(&token, &with_fresh_id, url, &k, b"")
        );
        assert_eq!(
            dedupe_key(&token, &none, url, &[], b"x").source,
            "body-sha256"
        );
    }

    #[test]
    fn provider_event_ids_name_the_providers_ids() {
        let h = HeaderView::default();
        let dedupe = DedupeKey {
            source: "twilio-signed-request",
            key: "k".into(),
        };
        assert_eq!(
            provider_event_id(
                &h,
                &params(&[("MessageSid", "SM1"), ("MessageStatus", "sent")]),
                &dedupe
            ),
            "SM1:sent"
        );
        assert_eq!(
            provider_event_id(
                &h,
                &params(&[("messageid", "77"), ("status", "10")]),
                &dedupe
            ),
            "77:10"
        );
        assert_eq!(provider_event_id(&h, &[], &dedupe), "k");
    }

    #[test]
    fn replay_windows_and_canonical_urls() {
        assert_eq!(
            replay_window_secs(&VerificationConfig::default()),
            Some(600)
        );
        assert_eq!(replay_window_secs(&hmac(Some("x-ts"))), Some(600));
        assert_eq!(replay_window_secs(&hmac(None)), None);
        assert_eq!(canonical_url("https://h:443/p?q"), "https://h/p?q");
        assert_eq!(canonical_url("http://h:80"), "http://h");
        assert_eq!(canonical_url("https://h:8443/p"), "https://h:8443/p");
    }
}
