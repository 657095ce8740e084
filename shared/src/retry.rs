//! One retry policy for every outside call: exponential backoff with full jitter (from
//! `backon`, so workers that failed together do not retry together), a cap on attempts and on
//! each delay, and the provider's `Retry-After` honoured when it gives one.
//!
//! What is worth retrying is the caller's decision (a throttled provider is; a send that may
//! have gone out is not), passed as `retryable`.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Retryable};

/// How many attempts, and how long to wait between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The first wait; each next one doubles, with jitter.
    pub base_delay: Duration,
    /// No single wait is longer than this, whatever the provider asks.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub const ONCE: Self = Self {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }

    /// Runs `attempt` until it succeeds, fails with an error `retryable` refuses, or the
    /// attempts run out. `retry_after` reads a wait the error asks for (capped at
    /// `max_delay`); `on_retry` sees each error that will be retried and the wait before the
    /// next attempt (for logging).
    pub async fn run<T, E, F, Fut>(
        &self,
        attempt: F,
        retryable: impl Fn(&E) -> bool,
        retry_after: impl Fn(&E) -> Option<Duration>,
        on_retry: impl Fn(&E, Duration),
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let max_delay = self.max_delay;
        attempt
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(retryable)
            .adjust(move |e, planned| {
                planned.map(|d| retry_after(e).map_or(d, |asked| asked.min(max_delay)))
            })
            .notify(on_retry)
            .await
    }

    /// The wait before retry number `attempt` (1-based), for callers that schedule retries
    /// themselves (SQS visibility, delayed messages): exponential with jitter, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.backoff()
            .nth(attempt.saturating_sub(1) as usize)
            .unwrap_or(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn retries_only_what_is_retryable_and_stops_at_the_cap() {
        let calls = AtomicU32::new(0);
        let r: Result<(), &str> = fast(3)
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("busy")
                },
                |e| *e == "busy",
                |_| None,
                |_, _| {},
            )
            .await;
        assert_eq!(r, Err("busy"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let r: Result<(), &str> = fast(3)
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("refused")
                },
                |e| *e == "busy",
                |_| None,
                |_, _| {},
            )
            .await;
        assert_eq!(r, Err("refused"));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a final error is not retried"
        );
    }

    #[tokio::test]
    async fn succeeds_after_transient_failures_and_honours_retry_after_within_the_cap() {
        let calls = AtomicU32::new(0);
        let waits = std::sync::Mutex::new(Vec::new());
        let r: Result<u32, &str> = fast(4)
            .run(
                || async {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    if n < 3 { Err("busy") } else { Ok(n) }
                },
                |_| true,
                |_| Some(Duration::from_secs(60)),
                |_, d| waits.lock().unwrap().push(d),
            )
            .await;
        assert_eq!(r, Ok(3));
        let waits = waits.into_inner().unwrap();
        assert_eq!(waits.len(), 2);
        assert!(
            waits.iter().all(|d| *d == Duration::from_millis(5)),
            "{waits:?}"
        );
    }

    #[test]
    fn delays_grow_and_stay_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 1..12 {
            assert!(p.delay(attempt) <= Duration::from_secs(2), "{attempt}");
        }
    }
}
