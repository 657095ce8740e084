//! Writes that can wait until the answer is on its way: the integration log entry and its hourly
//! counters. On Lambda they run after the runtime has handed the answer to Lambda and before it
//! asks for the next event.
//!
//! Why this works (the custom-runtime pattern of Lambda's "run code after returning a response"):
//! a Lambda runtime answers an invocation by POSTing the response to the Runtime API, and Lambda
//! sends it to the caller at once; the execution environment is frozen only when the runtime
//! asks for its next event (`GET /runtime/invocation/next`). [`FlushAfterResponseLayer`] wraps the
//! whole `lambda_runtime` invocation service (handler *and* response POST), so its future runs
//! the queued writes after the POST and before the runtime loop asks for the next event: the
//! client does not wait for them, and the environment cannot freeze with one pending.
//!
//! The runtime processes one invocation at a time (`lambda_runtime::Runtime::run`), so the queue
//! holds exactly the current invocation's writes. The same code path runs under AWS, under
//! `cargo lambda watch` (its Runtime API emulator) and under the cold-start harness
//! (benches/coldstart.py), which all speak the Runtime API.
//!
//! An earlier version used an internal extension (`lambda-extension`) that waited for the
//! handler's request id; under `cargo lambda watch` its `INVOKE` ids did not match the handler's
//! and flushes waited for the deadline. The layer needs no id matching and no second loop.
//!
//! What it cannot save: a write queued by an invocation whose process dies (out of memory, a
//! timeout kill) before the flush; the same invocation's inline write would have died with it,
//! and then the client would not have had its answer either. Deferred writes are only the
//! integration log and counters (observability), never a unit of work or a delivery record.
//!
//! Nothing is deferred unless [`activate`] was called: in-process tests, benches and the SQS
//! workers await every write inline, as before.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use lambda_runtime::LambdaInvocation;

type Write = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The writes queued by the current invocation.
#[derive(Default)]
pub struct DeferredWrites {
    pending: Mutex<Vec<Write>>,
}

static ACTIVE: OnceLock<DeferredWrites> = OnceLock::new();

/// Turns deferring on for this process: from now on [`defer`] queues writes, and someone must
/// [`flush`] them (the [`FlushAfterResponseLayer`] around the runtime, or a bench that plays it).
pub fn activate() -> &'static DeferredWrites {
    ACTIVE.get_or_init(DeferredWrites::default)
}

/// The process's deferred writes, once [`activate`]d.
pub fn active() -> Option<&'static DeferredWrites> {
    ACTIVE.get()
}

/// Queues `write` to run after the answer is sent. When deferring is not active the write is
/// handed back unrun (`Err`) and the caller awaits it itself.
pub fn defer<F>(write: F) -> Result<(), F>
where
    F: Future<Output = ()> + Send + 'static,
{
    match ACTIVE.get() {
        Some(d) => {
            d.push(Box::pin(write));
            Ok(())
        }
        None => Err(write),
    }
}

/// Runs the queued writes if deferring is active; how many ran.
pub async fn flush() -> usize {
    match ACTIVE.get() {
        Some(d) => d.flush().await,
        None => 0,
    }
}

impl DeferredWrites {
    fn push(&self, write: Write) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(write);
    }

    /// How many writes are queued.
    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs every queued write concurrently; returns how many ran. Writes queued while these
    /// run (none today) are run too, so the queue is empty when this returns.
    pub async fn flush(&self) -> usize {
        let mut ran = 0;
        loop {
            let writes: Vec<Write> =
                std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
            if writes.is_empty() {
                return ran;
            }
            ran += writes.len();
            futures::future::join_all(writes).await;
        }
    }
}

/// Wraps the runtime's invocation service (handler plus the response POST to the Runtime API)
/// so that the invocation's deferred writes run after the answer is posted and before the
/// runtime asks for the next event. Add it last (`Runtime::layer`), so it is the outermost.
#[derive(Clone, Copy, Default)]
pub struct FlushAfterResponseLayer;

impl<S> tower::Layer<S> for FlushAfterResponseLayer {
    type Service = FlushAfterResponse<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FlushAfterResponse { inner }
    }
}

/// See [`FlushAfterResponseLayer`].
#[derive(Clone)]
pub struct FlushAfterResponse<S> {
    inner: S,
}

impl<S> tower::Service<LambdaInvocation> for FlushAfterResponse<S>
where
    S: tower::Service<LambdaInvocation, Response = ()>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let answered = self.inner.call(invocation);
        Box::pin(async move {
            // The handler ran and its answer was posted (or posting failed): either way the
            // writes it queued belong to this invocation and must run before the next one.
            let outcome = answered.await;
            let ran = flush().await;
            if ran > 0 {
                tracing::trace!(writes = ran, "deferred writes flushed after the answer");
            }
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn flush_runs_every_queued_write_once_and_empties_the_queue() {
        let writes = DeferredWrites::default();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let ran = ran.clone();
            writes.push(Box::pin(async move {
                ran.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "nothing runs before the flush"
        );
        assert_eq!(writes.flush().await, 3);
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert!(writes.is_empty());
        assert_eq!(writes.flush().await, 0, "a second flush runs nothing again");
        assert_eq!(ran.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn without_activation_writes_are_handed_back() {
        // Unit tests never activate deferring (only `shared::http::run` does).
        assert!(defer(async {}).is_err());
    }
}
