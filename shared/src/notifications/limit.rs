//! The per-user hourly limit of each channel (defaults: WebSocket 1000/h, email 100/h, SMS
//! 10/h), as far as notifications need it: take a unit before sending, give it back when the
//! send will be retried. The hub's rate limiter implements it (wired in `context`).

use crate::error::{DomainError, ErrorKind};
pub use crate::rate_limit::Channel as LimitChannel;
use crate::rate_limit::RateLimitDecision;

use super::push::BoxFuture;

/// Why a unit could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitRefused {
    /// The limit is used up: 429 `rate_limited`; retrying within the window does not help.
    #[error("{detail}")]
    Limited { detail: String, retry_after: u64 },
    /// The limiter could not decide (its table failed): 500, worth retrying later.
    #[error("{0}")]
    Unavailable(String),
}

impl DomainError for LimitRefused {
    fn kind(&self) -> ErrorKind {
        match self {
            LimitRefused::Limited { .. } => ErrorKind::RateLimited,
            LimitRefused::Unavailable(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            LimitRefused::Limited { .. } => "rate_limited",
            LimitRefused::Unavailable(_) => "internal_error",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            LimitRefused::Limited { retry_after, .. } => Some(*retry_after),
            LimitRefused::Unavailable(_) => None,
        }
    }
}

pub trait ChannelLimit: Send + Sync {
    /// Takes one unit of `user`'s hourly limit on `channel`.
    fn take<'a>(
        &'a self,
        channel: LimitChannel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<RateLimitDecision, LimitRefused>>;

    /// Gives the units of `decision` back.
    fn give_back<'a>(&'a self, decision: &'a RateLimitDecision) -> BoxFuture<'a, ()>;
}
