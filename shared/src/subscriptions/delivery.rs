//! One POST of a signed event to a subscriber: the client (built once per cold start) follows
//! no redirects, uses no proxy, resolves through the SSRF guard, gives up after the timeout and
//! reads at most 1 KB of the answer.

use std::time::{Duration, Instant};

use super::guard::{GuardedResolver, RefusedAddress, check_before_send};
use super::signing::{HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP};

/// How much of an answer body is read and recorded.
pub const RESPONSE_CAP: usize = 1024;

/// What one try gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    pub status: Option<u16>,
    pub latency: Duration,
    pub response: Option<String>,
    pub error: Option<String>,
}

impl SendOutcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// 410 Gone: the receiver asks to be unsubscribed.
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }

    fn error(started: Instant, error: impl Into<String>) -> Self {
        Self {
            status: None,
            latency: started.elapsed(),
            response: None,
            error: Some(error.into()),
        }
    }
}

/// The signed request to send.
#[derive(Debug, Clone)]
pub struct SignedDelivery<'a> {
    pub url: &'a str,
    pub webhook_id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: Vec<u8>,
}

/// The delivery HTTP client.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl Sender {
    pub fn new(timeout: Duration, allow_loopback: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the guard.
            .no_proxy()
            .dns_resolver(GuardedResolver { allow_loopback })
            .user_agent(concat!(
                "integrations-hub-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            client,
            allow_loopback,
        })
    }

    /// POSTs the delivery; never fails, the outcome says what happened.
    pub async fn send(&self, d: SignedDelivery<'_>) -> SendOutcome {
        let started = Instant::now();
        // Again at send time: the URL was checked when stored, but the rules may be stricter
        // here (a subscription created on a laxer stage, a changed setting).
        if let Err(reason) = check_before_send(d.url, self.allow_loopback) {
            return SendOutcome::error(started, format!("refused URL: {reason}"));
        }
        let result = self
            .client
            .post(d.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(HEADER_WEBHOOK_ID, d.webhook_id)
            .header(HEADER_WEBHOOK_TIMESTAMP, d.timestamp.to_string())
            .header(HEADER_WEBHOOK_SIGNATURE, d.signature)
            .body(d.body)
            .send()
            .await;
        let mut response = match result {
            Ok(r) => r,
            Err(e) => return SendOutcome::error(started, describe(&e)),
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut read_error = None;
        while body.len() < RESPONSE_CAP {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(describe(&e));
                    break;
                }
            }
        }
        body.truncate(RESPONSE_CAP);
        // The rest of the body is never read: dropping the response closes the connection.
        SendOutcome {
            status: Some(status),
            latency: started.elapsed(),
            response: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
            error: read_error,
        }
    }
}

/// A short, secret-free account of a transport error (the URL is the subscriber's own).
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<RefusedAddress>() {
            return format!("refused address: {refused}");
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text.chars().take(300).collect()
    }
}
