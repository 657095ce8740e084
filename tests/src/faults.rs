//! Fault injection at the AWS SDK's HTTP layer, for the fault suite (`tests/faults`).
//!
//! [`Faults`] is a set of rules shared by the test and the context it builds
//! ([`crate::TestHub::faulty_ctx_of`]). Every AWS call that context makes goes through
//! [`FaultyHttpClient`], which names the operation (`X-Amz-Target`'s `PutItem`,
//! `SendMessageBatch`, `GetSecretValue`...; S3 and other REST services as `s3:PUT`, ...),
//! counts it, and fails the calls a rule selects in one of the ways AWS really fails:
//! an error answer before anything happened, a reset connection, or the worst case, the call
//! executed by AWS and its answer lost on the way back. The SDK's own retries see these
//! faults like real ones (so a rule must fail at least three calls to make an operation fail).
//!
//! [`Row::report`] records one scenario's outcome for the matrix in docs/reliability.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// How a selected call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// AWS answers 500 `InternalFailure`; the operation did not run.
    Unavailable,
    /// AWS answers 400 `ThrottlingException`; the operation did not run.
    Throttle,
    /// The connection is reset before the request reaches AWS.
    Reset,
    /// AWS runs the operation, then the answer is lost: the client sees a timeout.
    LostAnswer,
}

/// One rule: fail `times` calls of `operation`, starting with its `nth` call (1-based).
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: String,
    pub kind: FaultKind,
    pub nth: u32,
    pub times: u32,
}

impl Fault {
    fn new(operation: &str, kind: FaultKind) -> Self {
        Self {
            operation: operation.to_string(),
            kind,
            nth: 1,
            times: u32::MAX,
        }
    }
    pub fn unavailable(operation: &str) -> Self {
        Self::new(operation, FaultKind::Unavailable)
    }
    pub fn throttle(operation: &str) -> Self {
        Self::new(operation, FaultKind::Throttle)
    }
    pub fn reset(operation: &str) -> Self {
        Self::new(operation, FaultKind::Reset)
    }
    pub fn lost_answer(operation: &str) -> Self {
        Self::new(operation, FaultKind::LostAnswer)
    }
    /// Start failing at the `n`-th call of the operation (1-based, counted per [`Faults`]).
    pub fn nth(mut self, n: u32) -> Self {
        self.nth = n.max(1);
        self
    }
    /// Fail `k` calls, then let calls through again.
    pub fn times(mut self, k: u32) -> Self {
        self.times = k;
        self
    }
    fn selects(&self, operation: &str, call: u32) -> bool {
        self.operation == operation
            && call >= self.nth
            && u64::from(call) < u64::from(self.nth) + u64::from(self.times)
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Fault>,
    calls: HashMap<String, u32>,
    injected: HashMap<String, u32>,
    log: Vec<String>,
}

/// The rules and the call counts of one faulty context (cheap to clone; clones share state).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn inject(&self, fault: Fault) -> &Self {
        self.0.lock().unwrap().rules.push(fault);
        self
    }
    /// Removes every rule (counts are kept): the dependency heals.
    pub fn clear(&self) {
        self.0.lock().unwrap().rules.clear();
    }
    /// Calls of `operation` made so far, failed ones included (SDK retries count).
    pub fn calls(&self, operation: &str) -> u32 {
        self.0
            .lock()
            .unwrap()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
    /// Calls of `operation` a rule failed.
    pub fn injected(&self, operation: &str) -> u32 {
        self.0
            .lock()
            .unwrap()
            .injected
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
    /// Every call in order (`operation` or `operation!kind` when failed).
    pub fn log(&self) -> Vec<String> {
        self.0.lock().unwrap().log.clone()
    }
    /// Counts the call and says how it must fail, if at all.
    fn on_call(&self, operation: &str) -> Option<FaultKind> {
        let mut state = self.0.lock().unwrap();
        let call = {
            let c = state.calls.entry(operation.to_string()).or_insert(0);
            *c += 1;
            *c
        };
        let kind = state
            .rules
            .iter()
            .find(|r| r.selects(operation, call))
            .map(|r| r.kind);
        match kind {
            Some(k) => {
                *state.injected.entry(operation.to_string()).or_insert(0) += 1;
                state.log.push(format!("{operation}!{k:?}"));
            }
            None => state.log.push(operation.to_string()),
        }
        kind
    }
}

/// The operation a request performs: the `X-Amz-Target` action of JSON protocols (DynamoDB,
/// SQS, Secrets Manager), else `<service>:<METHOD>` from the host or path (S3 and REST APIs).
pub fn operation_of(request: &HttpRequest) -> String {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let uri = request.uri();
    let service = if uri.contains("execute-api") || uri.contains("@connections") {
        "apigw"
    } else {
        "s3"
    };
    format!("{service}:{}", request.method())
}

fn error_response(status: u16, error_type: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{error_type}","message":"injected by the fault suite"}}"#);
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("status"),
        SdkBody::from(body),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
        .headers_mut()
        .insert("x-amzn-errortype", error_type.to_string());
    response
}

/// An SDK HTTP client that applies [`Faults`] in front of a real one.
#[derive(Debug, Clone)]
pub struct FaultyHttpClient {
    inner: SharedHttpClient,
    faults: Faults,
}

impl FaultyHttpClient {
    /// In front of a plain HTTP client (the local emulator speaks http).
    pub fn new(faults: Faults) -> Self {
        Self {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            faults,
        }
    }
    pub fn shared(self) -> SharedHttpClient {
        SharedHttpClient::new(self)
    }
}

impl HttpClient for FaultyHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = operation_of(&request);
        match self.faults.on_call(&operation) {
            None => self.inner.call(request),
            Some(FaultKind::Unavailable) => {
                HttpConnectorFuture::ready(Ok(error_response(500, "InternalFailure")))
            }
            Some(FaultKind::Throttle) => {
                HttpConnectorFuture::ready(Ok(error_response(400, "ThrottlingException")))
            }
            Some(FaultKind::Reset) => HttpConnectorFuture::ready(Err(ConnectorError::io(
                format!("connection reset (injected) during {operation}").into(),
            ))),
            Some(FaultKind::LostAnswer) => {
                let sent = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    // AWS runs it; only the answer is lost.
                    let _ = sent.await;
                    Err(ConnectorError::timeout(
                        format!("answer lost (injected) after {operation} ran").into(),
                    ))
                })
            }
        }
    }
}

/// One scenario's outcome for the reliability matrix (docs/reliability.md). Counts come from
/// what really happened: provider requests received by wiremock, statuses read back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub scenario: &'static str,
    /// Provider sends (or worker executions) that happened.
    pub sends: usize,
    /// Units of work accepted but never processed.
    pub lost: usize,
    /// Sends beyond one per receptor / channel / job / event.
    pub duplicates: usize,
    /// Statuses that say something that did not happen (`sent` when not sent, ...).
    pub wrong_statuses: usize,
}

impl Row {
    /// Asserts the guarantees (nothing lost, nothing twice, no false status) and writes the
    /// row to `$RELIABILITY_DIR` (default `target/reliability`) for scripts/reliability_matrix.py.
    pub fn report(self) {
        let dir = std::env::var("RELIABILITY_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../target/reliability").to_string()
        });
        if std::fs::create_dir_all(&dir).is_ok() {
            let name: String = self
                .scenario
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let _ = std::fs::write(
                format!("{dir}/{name}.json"),
                serde_json::to_vec_pretty(&self).expect("row json"),
            );
        }
        assert_eq!(
            (self.lost, self.duplicates, self.wrong_statuses),
            (0, 0, 0),
            "{}: lost, duplicates, wrong statuses must be 0 ({self:?})",
            self.scenario
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_select_the_nth_call_for_k_calls() {
        let f = Fault::unavailable("PutItem").nth(2).times(2);
        assert!(!f.selects("PutItem", 1));
        assert!(f.selects("PutItem", 2));
        assert!(f.selects("PutItem", 3));
        assert!(!f.selects("PutItem", 4));
        assert!(!f.selects("GetItem", 2));
        assert!(Fault::reset("Query").selects("Query", 1_000_000));
    }

    #[test]
    fn faults_count_calls_and_injections_per_operation() {
        let faults = Faults::new();
        faults.inject(Fault::throttle("SendMessage").nth(2).times(1));
        assert_eq!(faults.on_call("SendMessage"), None);
        assert_eq!(faults.on_call("SendMessage"), Some(FaultKind::Throttle));
        assert_eq!(faults.on_call("SendMessage"), None);
        assert_eq!(faults.on_call("PutItem"), None);
        assert_eq!(faults.calls("SendMessage"), 3);
        assert_eq!(faults.injected("SendMessage"), 1);
        faults.inject(Fault::reset("PutItem"));
        faults.clear();
        assert_eq!(faults.on_call("PutItem"), None);
        assert_eq!(
            faults.log(),
            [
                "SendMessage",
                "SendMessage!Throttle",
                "SendMessage",
                "PutItem",
                "PutItem"
            ]
        );
    }
}
