//! The hub's one notion of "now".
//!
//! Code that must be tested across time (rate-limit windows, expiries) takes a [`Clock`];
//! production uses [`SystemClock`], tests inject a [`ManualClock`] to cross boundaries
//! without sleeping. Code that only stamps records uses the free functions below, so every
//! timestamp the hub writes has the same format (RFC 3339 UTC, or Unix seconds for TTLs).

use std::sync::atomic::{AtomicU64, Ordering};

/// Milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        Self(AtomicU64::new(now_ms))
    }

    /// Starts at the system time, rounded down to a whole hour so window positions are
    /// predictable in tests.
    pub fn at_hour_start() -> Self {
        let now = SystemClock.now_ms();
        Self::new(now - now % 3_600_000)
    }

    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// Now, as a UTC date-time.
pub fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Now, in whole seconds since the Unix epoch (DynamoDB TTL attributes, claim times).
pub fn now_secs() -> i64 {
    now_utc().unix_timestamp()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemClock.now_ms()
}

/// Now, as RFC 3339 UTC (`2026-01-20T14:00:00.123Z`): the format of every stored timestamp.
pub fn now_rfc3339() -> String {
    rfc3339(now_utc())
}

/// A date-time as RFC 3339 in UTC. Formatting an `OffsetDateTime` as RFC 3339 cannot fail
/// for years 0-9999; the fallback is only there to avoid a panic path.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Now, as fixed-width RFC 3339 UTC with milliseconds (see [`rfc3339_millis`]).
pub fn now_rfc3339_millis() -> String {
    rfc3339_millis(now_utc())
}

/// A date-time as fixed-width RFC 3339 UTC with milliseconds (`2026-01-20T14:00:00.000Z`):
/// string order is time order, for timestamps inside sort keys.
pub fn rfc3339_millis(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 timestamp (any offset).
pub fn parse_rfc3339(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_in_utc() {
        let t = time::macros::datetime!(2025-01-20 14:00:00 +03:30);
        let s = rfc3339(t);
        assert_eq!(s, "2025-01-20T10:30:00Z");
        assert_eq!(parse_rfc3339(&s), Some(t));
        assert_eq!(rfc3339_millis(t), "2025-01-20T10:30:00.000Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(500);
        assert_eq!(c.now_ms(), 1_500);
    }
}
