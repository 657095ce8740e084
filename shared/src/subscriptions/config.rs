//! The subscriptions capability's settings, read once at cold start.

use std::time::Duration;

use crate::config::{ConfigError, Env};

/// When each delivery attempt happens, as the delay after the previous failure. Svix's
/// schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts, ~27.5 h).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(
            [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }
}

/// SQS keeps a message invisible for at most 12 hours.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

impl RetrySchedule {
    /// How many attempts a round makes.
    pub fn attempts(&self) -> u32 {
        self.0.len() as u32
    }

    /// The delay before attempt `done + 1` after `done` failed attempts of this round, or
    /// `None` when the round is over.
    pub fn next_delay(&self, done: u32) -> Option<Duration> {
        self.0.get(done as usize).map(|d| (*d).min(MAX_VISIBILITY))
    }

    /// `0,5,300,...` seconds (`SUBSCRIPTIONS_RETRY_SCHEDULE`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let delays = raw
            .split(',')
            .map(|s| s.trim().parse::<u64>().map(Duration::from_secs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("expected comma-separated seconds: {e}"))?;
        if delays.is_empty() || delays.iter().any(|d| *d > MAX_VISIBILITY) {
            return Err("1 or more delays, each at most 43200 s (SQS's 12 h)".into());
        }
        Ok(Self(delays))
    }
}

#[derive(Debug, Clone)]
pub struct SubscriptionsConfig {
    /// `SUBSCRIPTIONS_QUEUE_URL`. Absent: publishing is a no-op (a function not wired to the
    /// queue yet) and the admin API refuses to queue deliveries.
    pub queue_url: Option<String>,
    pub schedule: RetrySchedule,
    /// Plain `http://` to loopback addresses and resolution to loopback are allowed
    /// (`STAGE=local`, or `SUBSCRIPTIONS_ALLOW_LOOPBACK=true`); never private ranges.
    pub allow_loopback: bool,
    /// Per-delivery timeout (`SUBSCRIPTIONS_TIMEOUT_SECONDS`, 15 s).
    pub timeout: Duration,
    /// A subscription failing this long is disabled (`SUBSCRIPTIONS_DISABLE_AFTER_SECONDS`,
    /// 5 days).
    pub disable_after: Duration,
    /// How long events, messages and attempts are kept (`SUBSCRIPTIONS_RETENTION_DAYS`, 30).
    pub retention: Duration,
    /// How long a function trusts its cached subscription list
    /// (`SUBSCRIPTIONS_CACHE_TTL_SECONDS`, 30 s): a new subscription gets events within it.
    pub cache_ttl: Duration,
    /// Suffix of the subscription and event partitions (`SUBSCRIPTIONS_NAMESPACE`, empty):
    /// lets parallel tests share one table without seeing each other's subscriptions.
    pub namespace: String,
}

impl SubscriptionsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let local = env.optional("STAGE").is_none_or(|s| s == "local");
        let schedule = match env.optional("SUBSCRIPTIONS_RETRY_SCHEDULE") {
            None => RetrySchedule::default(),
            Some(raw) => RetrySchedule::parse(&raw).map_err(|reason| ConfigError::Invalid {
                name: "SUBSCRIPTIONS_RETRY_SCHEDULE".into(),
                reason,
            })?,
        };
        Ok(Self {
            queue_url: env.optional("SUBSCRIPTIONS_QUEUE_URL"),
            schedule,
            allow_loopback: env.bool_or("SUBSCRIPTIONS_ALLOW_LOOPBACK", local)?,
            timeout: Duration::from_secs(env.parse_or("SUBSCRIPTIONS_TIMEOUT_SECONDS", 15u64)?),
            disable_after: Duration::from_secs(
                env.parse_or("SUBSCRIPTIONS_DISABLE_AFTER_SECONDS", 5 * 86_400u64)?,
            ),
            retention: Duration::from_secs(
                env.parse_or("SUBSCRIPTIONS_RETENTION_DAYS", 30u64)? * 86_400,
            ),
            cache_ttl: Duration::from_secs(env.parse_or("SUBSCRIPTIONS_CACHE_TTL_SECONDS", 30u64)?),
            namespace: env.optional("SUBSCRIPTIONS_NAMESPACE").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_svix() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.next_delay(0), Some(Duration::ZERO));
        assert_eq!(s.next_delay(1), Some(Duration::from_secs(5)));
        assert_eq!(s.next_delay(7), Some(Duration::from_secs(36_000)));
        assert_eq!(s.next_delay(8), None);
    }

    #[test]
    fn schedule_parses_and_refuses_beyond_sqs_limit() {
        assert_eq!(
            RetrySchedule::parse("0, 2").unwrap().0,
            vec![Duration::ZERO, Duration::from_secs(2)]
        );
        assert!(RetrySchedule::parse("0,50000").is_err());
        assert!(RetrySchedule::parse("soon").is_err());
    }

    #[test]
    fn loopback_follows_the_stage() {
        let c = SubscriptionsConfig::from_env(&Env::from_pairs([("STAGE", "prod")])).unwrap();
        assert!(!c.allow_loopback);
        let c = SubscriptionsConfig::from_env(&Env::from_pairs([("STAGE", "local")])).unwrap();
        assert!(c.allow_loopback);
        assert_eq!(c.timeout, Duration::from_secs(15));
    }
}
