//! Writes that can wait until the answer is on its way: the integration log entry and its hourly
//! counters. On Lambda they leave the critical path through an internal extension.
//!
//! How it works (Lambda's internal-extension pattern): at cold start [`register`] registers an
//! extension for `INVOKE` events in this process, before the runtime asks for its first event.
//! During an invocation, [`defer`] queues a write instead of awaiting it; when the handler has
//! produced its answer, the HTTP edge marks the request done ([`DeferredWrites::request_done`]).
//! The runtime sends the answer to the client while the extension, woken by the same
//! invocation's `INVOKE` event, waits for that request to be done and then runs the queued
//! writes. Lambda freezes the environment only after the runtime AND every extension asked for
//! their next event, so a queued write always completes before the freeze: nothing is lost, and
//! the client does not wait for it.
//!
//! It is opt-in (`DEFERRED_WRITES=extension`) until verified on AWS. Everywhere else (tests,
//! workers, a local runtime, or the setting absent), nothing is registered and [`defer`] answers `false`: callers then
//! await the write inline, as before.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

type Write = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The queued writes of the current invocation and the requests whose answer is ready.
#[derive(Default)]
pub struct DeferredWrites {
    pending: Mutex<Vec<Write>>,
    done: Mutex<HashSet<String>>,
    notify: Notify,
}

static ACTIVE: OnceLock<Arc<DeferredWrites>> = OnceLock::new();

/// The process's deferred writes, once the extension is registered.
pub fn active() -> Option<&'static Arc<DeferredWrites>> {
    ACTIVE.get()
}

/// Queues `write` to run after the answer is sent. Returns `false` (and drops nothing: the
/// future is handed back unrun by not being taken) when deferring is not active; the caller
/// then awaits the write itself.
pub fn defer<F>(write: F) -> Result<(), F>
where
    F: Future<Output = ()> + Send + 'static,
{
    match ACTIVE.get() {
        Some(d) => {
            d.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Box::pin(write));
            Ok(())
        }
        None => Err(write),
    }
}

impl DeferredWrites {
    /// The answer to `request_id` is ready: its extension may flush.
    pub fn request_done(&self, request_id: &str) {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request_id.to_string());
        self.notify.notify_waiters();
    }

    /// Waits until `request_id` is done (or `wait` has passed: an event the runtime rejected
    /// before it reached the handler never gets marked), then runs every queued write.
    pub async fn flush_after(&self, request_id: &str, wait: Duration) -> usize {
        let waited = tokio::time::timeout(wait, async {
            loop {
                let notified = self.notify.notified();
                if self
                    .done
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(request_id)
                {
                    return;
                }
                notified.await;
            }
        })
        .await;
        if waited.is_err() {
            tracing::warn!(
                request_id,
                "deferred writes: the request was never marked done; flushing anyway"
            );
        }
        self.flush().await
    }

    /// Runs every queued write concurrently; returns how many ran.
    pub async fn flush(&self) -> usize {
        let writes: Vec<Write> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let n = writes.len();
        futures::future::join_all(writes).await;
        n
    }
}

/// The registered extension's event loop, to run beside the runtime.
pub type ExtensionLoop = Pin<Box<dyn Future<Output = Result<(), lambda_extension::Error>> + Send>>;

/// Registers the flushing extension when running on Lambda (`AWS_LAMBDA_RUNTIME_API`) with
/// `DEFERRED_WRITES=extension`, and returns its event loop. Must run before the runtime's first
/// `next` (Lambda refuses later registrations). A registration that fails or hangs (a local
/// runtime without the Extensions API) leaves deferring off: writes stay inline.
pub async fn register() -> Option<ExtensionLoop> {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API")?;
    // Opt-in until measured on AWS: under `cargo lambda watch` the extension's INVOKE events
    // carry request ids the handler never sees (and some arrive twice), so every flush waited
    // for its deadline. Off, writes stay inline and nothing changes.
    if std::env::var("DEFERRED_WRITES").ok().as_deref() != Some("extension") {
        return None;
    }
    let writes = Arc::new(DeferredWrites::default());
    let for_events = writes.clone();
    let processor = lambda_extension::service_fn(move |event: lambda_extension::LambdaEvent| {
        let writes = for_events.clone();
        async move {
            if let lambda_extension::NextEvent::Invoke(invoke) = event.next {
                // Leave a margin before the function's deadline for the writes themselves.
                let now_ms = crate::clock::now_ms();
                let wait = Duration::from_millis(invoke.deadline_ms.saturating_sub(now_ms))
                    .saturating_sub(Duration::from_millis(1_500))
                    .max(Duration::from_millis(100));
                writes.flush_after(&invoke.request_id, wait).await;
            }
            Ok::<(), lambda_extension::Error>(())
        }
    });
    let registration = lambda_extension::Extension::new()
        .with_extension_name("hub-deferred-writes")
        .with_events(&["INVOKE"])
        .with_events_processor(processor)
        .register();
    match tokio::time::timeout(Duration::from_secs(2), registration).await {
        Ok(Ok(registered)) => {
            let _ = ACTIVE.set(writes);
            tracing::debug!("deferred writes: internal extension registered");
            Some(Box::pin(registered.run()))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "deferred writes: extension registration failed; writing inline");
            None
        }
        Err(_) => {
            tracing::warn!("deferred writes: extension registration timed out; writing inline");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn writes_run_only_once_their_request_is_done() {
        let writes = Arc::new(DeferredWrites::default());
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let ran = ran.clone();
            writes.pending.lock().unwrap().push(Box::pin(async move {
                ran.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let flusher = {
            let writes = writes.clone();
            tokio::spawn(async move { writes.flush_after("req-1", Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "nothing runs before the answer"
        );
        writes.request_done("req-1");
        assert_eq!(flusher.await.unwrap(), 3);
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert!(writes.pending.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_request_never_marked_done_is_flushed_after_the_wait() {
        let writes = DeferredWrites::default();
        writes.pending.lock().unwrap().push(Box::pin(async {}));
        assert_eq!(
            writes.flush_after("never", Duration::from_millis(20)).await,
            1
        );
    }

    #[test]
    fn without_the_extension_writes_are_handed_back() {
        // No extension is registered in unit tests.
        assert!(defer(async {}).is_err());
    }
}
