//! The sliding-window counter's arithmetic: where `now` falls in a rule's fixed windows, the
//! weighted estimate, the quota headers' numbers and `Retry-After`.

use super::{Quota, RateLimitRule};

/// Position of `now` in a rule's fixed windows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) index: u64,
    now_ms: u64,
    len_ms: u64,
}

impl Window {
    pub(super) fn at(now_ms: u64, window_seconds: u64) -> Self {
        let len_ms = window_seconds.max(1) * 1000;
        Self {
            index: now_ms / len_ms,
            now_ms,
            len_ms,
        }
    }

    pub(super) fn start_ms(&self) -> u64 {
        self.index * self.len_ms
    }

    pub(super) fn end_ms(&self) -> u64 {
        self.start_ms() + self.len_ms
    }

    /// Share of the previous window still inside the sliding window, in [0, 1].
    pub(super) fn previous_weight(&self) -> f64 {
        1.0 - (self.now_ms - self.start_ms()) as f64 / self.len_ms as f64
    }

    pub(super) fn estimate(&self, count: u64, previous: u64) -> f64 {
        count as f64 + previous as f64 * self.previous_weight()
    }

    pub(super) fn admits(&self, count: u64, previous: u64, limit: u64) -> bool {
        self.estimate(count, previous) <= limit as f64 + 1e-9
    }

    pub(super) fn remaining(&self, count: u64, previous: u64, limit: u64) -> u64 {
        (limit as f64 - self.estimate(count, previous))
            .floor()
            .max(0.0) as u64
    }

    /// Counters of window N matter until window N+1 ends; slack for clock skew between
    /// instances (a minute, at most one window, so a live item is never older than N-2).
    pub(super) fn expires_at(&self) -> u64 {
        (self.end_ms() + self.len_ms + self.len_ms.min(60_000)) / 1000
    }

    pub(super) fn reset_secs(&self) -> u64 {
        (self.end_ms() - self.now_ms).div_ceil(1000).max(1)
    }

    pub(super) fn quota(&self, rule: &RateLimitRule, remaining: u64) -> Quota {
        Quota {
            rule_id: rule.id.clone(),
            limit: rule.limit,
            remaining,
            reset_secs: self.reset_secs(),
            window_seconds: rule.window_seconds,
        }
    }

    /// Seconds until a request of `cost` would be admitted if nothing else happened, given
    /// `count` units already admitted in this window and `previous` in the last one.
    pub(super) fn retry_after(&self, count: u64, previous: u64, cost: u64, limit: u64) -> u64 {
        let len = self.len_ms as f64;
        let at_ms = if count + cost <= limit && previous > 0 {
            // Later in this window, once enough of the previous window has slid out.
            let weight_needed = (limit - count - cost) as f64 / previous as f64;
            self.start_ms() as f64 + len * (1.0 - weight_needed)
        } else {
            // In the next window, where this window's count becomes the decaying share.
            let share = if count == 0 {
                0.0
            } else {
                (1.0 - (limit.saturating_sub(cost)) as f64 / count as f64).max(0.0)
            };
            self.end_ms() as f64 + len * share
        };
        let wait_ms = (at_ms - self.now_ms as f64).max(0.0);
        ((wait_ms / 1000.0).ceil() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_estimate_and_retry_after() {
        // 25% into a 100 s window: 75% of the previous window still counts.
        let w = Window::at(1_000_000 + 25_000, 100);
        assert_eq!(w.index, 10);
        assert!((w.estimate(2, 8) - 8.0).abs() < 1e-9);
        assert!(w.admits(2, 8, 8));
        assert!(!w.admits(3, 8, 8));
        assert_eq!(w.remaining(1, 8, 10), 3);
        // limit 8, 2 used now, 8 before: one more fits when weight <= 5/8, i.e. at 37.5 s.
        assert_eq!(w.retry_after(2, 8, 1, 8), 13);
        // Current window full: wait for the next one, where 10 used decays: 1 + 10*(1-f) <= 10.
        assert_eq!(w.retry_after(10, 0, 1, 10), 75 + 10);
        assert_eq!(w.reset_secs(), 75);
        assert_eq!(w.expires_at(), 1_200 + 60);
        assert_eq!(Window::at(1_000, 10).expires_at(), 20 + 10);
    }
}
