//! The admin operations of the webhooks service: register, inspect, rotate, list events,
//! replay. The routes (`functions/webhooks`) check the caller is an admin and call these.

use base64::Engine;

use super::api::*;
use super::error::WebhookError;
use super::events::EventQuery;
use super::model::{VerificationConfig, WebhookEndpoint, WebhookEvent};
use super::service::WebhookService;
use super::signature::HeaderView;
use crate::error::InvalidInput;

impl WebhookService {
    /// Registers an endpoint (the Helsa `register_webhook`); `headers` give the public URL's
    /// origin when `WEBHOOK_PUBLIC_BASE_URL` is not set.
    pub async fn register(
        &self,
        new: NewEndpoint,
        headers: &HeaderView<'_>,
    ) -> Result<EndpointCreated, WebhookError> {
        let (endpoint, secret) = self.registry.create(new).await?;
        tracing::info!(endpoint = %endpoint.slug, scheme = endpoint.verification.scheme(), "webhook endpoint registered");
        Ok(self.created(endpoint, secret, headers))
    }

    /// Rotates the endpoint's secret at the service's clock.
    pub async fn rotate_secret(
        &self,
        slug: &str,
        req: RotateSecret,
        headers: &HeaderView<'_>,
    ) -> Result<EndpointCreated, WebhookError> {
        let (endpoint, secret) = self
            .registry
            .rotate(slug, req, self.now(), self.config.rotation_grace_secs)
            .await?;
        tracing::info!(endpoint = %endpoint.slug, "webhook secret rotated");
        Ok(self.created(endpoint, secret, headers))
    }

    /// The answer to a registration or rotation: a path token goes into the URL.
    fn created(
        &self,
        endpoint: WebhookEndpoint,
        secret: Option<String>,
        headers: &HeaderView<'_>,
    ) -> EndpointCreated {
        let token = secret
            .as_deref()
            .filter(|_| matches!(endpoint.verification, VerificationConfig::PathToken {}));
        let public_url = self.public_url(headers, &endpoint.slug, token);
        EndpointCreated {
            endpoint,
            public_url,
            secret,
        }
    }

    pub fn view(&self, endpoint: WebhookEndpoint, headers: &HeaderView<'_>) -> EndpointView {
        let public_url = self.public_url(headers, &endpoint.slug, None);
        EndpointView {
            endpoint,
            public_url,
        }
    }

    pub async fn list_endpoints(
        &self,
        page: PageQuery,
        headers: &HeaderView<'_>,
    ) -> Result<EndpointList, WebhookError> {
        let (items, next_cursor) = self
            .registry
            .endpoints
            .list(page_limit(page.limit)?, page.cursor.as_deref())
            .await?;
        Ok(EndpointList {
            items: items.into_iter().map(|e| self.view(e, headers)).collect(),
            next_cursor,
        })
    }

    /// An endpoint's events, newest first.
    pub async fn list_events(
        &self,
        slug: &str,
        query: EventsQuery,
    ) -> Result<EventList, WebhookError> {
        let query = query.into_query()?;
        self.registry.endpoints.require(slug).await?;
        let (items, next_cursor) = self.events.list(slug, &query).await?;
        Ok(EventList { items, next_cursor })
    }

    /// One event of an endpoint, with its raw body when asked.
    pub async fn event(
        &self,
        slug: &str,
        event_id: &str,
        include_body: bool,
    ) -> Result<EventDetail, WebhookError> {
        if !include_body {
            return Ok(EventDetail {
                event: self.event_of(slug, event_id).await?,
                body_text: None,
                body_base64: None,
            });
        }
        let (event, body) = self
            .events
            .get_with_body(event_id)
            .await?
            .filter(|(e, _)| e.endpoint_slug == slug)
            .ok_or_else(|| unknown_event(slug, event_id))?;
        let body_base64 = Some(base64::engine::general_purpose::STANDARD.encode(&body));
        let body_text = String::from_utf8(body).ok();
        Ok(EventDetail {
            event,
            body_text,
            body_base64,
        })
    }

    async fn event_of(&self, slug: &str, event_id: &str) -> Result<WebhookEvent, WebhookError> {
        self.events
            .get(event_id)
            .await?
            .filter(|e| e.endpoint_slug == slug)
            .ok_or_else(|| unknown_event(slug, event_id))
    }

    /// Re-enqueues one event.
    pub async fn replay_event(
        &self,
        slug: &str,
        event_id: &str,
    ) -> Result<ReplayAnswer, WebhookError> {
        let event = self.event_of(slug, event_id).await?;
        let replayed = self.replay(std::slice::from_ref(&event.id)).await?;
        Ok(ReplayAnswer {
            replayed,
            event_ids: vec![event.id],
            truncated: false,
        })
    }

    /// Re-enqueues the endpoint's events in a time range (at most [`MAX_REPLAY`]).
    pub async fn replay_range(
        &self,
        slug: &str,
        range: ReplayRange,
    ) -> Result<ReplayAnswer, WebhookError> {
        let from = sortable_time("from", Some(&range.from))?;
        let to = sortable_time("to", Some(&range.to))?;
        if from > to {
            return Err(InvalidInput::field("to", "must not be before `from`").into());
        }
        self.registry.endpoints.require(slug).await?;
        let mut ids = Vec::new();
        let mut cursor = None;
        let mut truncated = false;
        loop {
            let q = EventQuery {
                status: range.status,
                from: from.clone(),
                to: to.clone(),
                limit: 100,
                cursor,
            };
            let (page, next) = self.events.list(slug, &q).await?;
            ids.extend(page.into_iter().map(|e| e.id));
            if ids.len() >= MAX_REPLAY {
                truncated = ids.len() > MAX_REPLAY || next.is_some();
                ids.truncate(MAX_REPLAY);
                break;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let replayed = if ids.is_empty() {
            0
        } else {
            self.replay(&ids).await?
        };
        Ok(ReplayAnswer {
            replayed,
            event_ids: ids,
            truncated,
        })
    }
}

fn unknown_event(slug: &str, event_id: &str) -> WebhookError {
    WebhookError::UnknownEvent {
        endpoint_slug: slug.to_string(),
        event_id: event_id.to_string(),
    }
}
