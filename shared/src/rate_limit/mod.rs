//! Rate limiting: rules as data, exact atomic counters in DynamoDB, standard headers.
//!
//! # Using it (SMS, email, uploads, AI, WebSocket, webhooks)
//!
//! Call the limiter before doing the work, with everything you know about who is asking:
//!
//! ```text
//! use shared::rate_limit::{Channel, Subject};
//!
//! let decision = ctx
//!     .rate_limiter
//!     .check(&Subject::channel(Channel::SmsOtp).user(&caller.user_id).receptor(&body.receptor).ip_opt(client_ip))
//!     .await?; // Err = 429 problem `rate_limited` with Retry-After and RateLimit-* headers
//! // ... send ...
//! Ok((decision, Json(answer)))     // RateLimitDecision is IntoResponseParts (shared::http): adds RateLimit-* headers
//! ```
//!
//! - Every enabled rule whose target covers the subject's channel (a rule on `sms` also
//!   covers `sms_otp`) and whose scope key the subject carries (user id, receptor, IP;
//!   `service` always) is checked. A subject without a user id skips per-user rules, so pass
//!   the user the work is done *for* (a service token acting for user X passes X).
//! - Several units at once (a bulk SMS to 40 numbers): [`RateLimiter::check_cost`].
//! - Work that failed before reaching the provider can give its units back with
//!   [`RateLimiter::refund`] (optional; a failed send otherwise counts).
//! - Any route can opt into a per-route / per-IP check with the router extension
//!   `shared::http::RateLimitRouterExt::rate_limited` (`Router::new().route(..).rate_limited(&ctx)`);
//!   public routes that are cheap to flood should (`/health`, SMS callbacks). The client IP
//!   comes from `shared::http::ClientIp`. This module is the domain side only: the route
//!   layer, the client IP and the response headers live at the edge (`shared::http`).
//! - Headers: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the
//!   current window ends), `RateLimit-Policy` (`{limit};w={window}`), on success and on 429;
//!   the 429 also carries `Retry-After` (seconds until a retry would pass, absent other use).
//!
//! # Algorithm: sliding-window counter, one `UpdateItem`
//!
//! Time is cut into fixed windows of `window_seconds`; window `N` starts at `N * window`.
//! The estimate of use over the last `window` seconds at time `t` is
//! `count(N) + count(N-1) * (1 - elapsed_in_N / window)` (Cloudflare's sliding-window
//! counter: the previous window's requests are assumed evenly spread). A request is
//! admitted when the estimate including it is at most `limit`.
//!
//! Counters live in RATE_LIMIT_TABLE, one item per (namespace, rule, scope key):
//! `pk = {namespace}#{rule_id}#{scope}:{key}`, `sk = w{window_seconds}` (changing a rule's
//! window starts fresh counters), with one attribute per window, `c{N}`, and `expires_at`
//! (TTL) = end of window `N+1` (+ min(60 s, window) for clock skew), after which no count in
//! the item matters. The
//! namespace is the stack name (`SECRETS_PREFIX`), so stacks or tests sharing a table never
//! share counters. User ids are stored as given; receptors and IPs are stored as a SHA-256
//! prefix (no phone numbers in the table); receptors are normalised to their last 10 digits
//! so `+98912...`, `0098912...` and `0912...` count as one number.
//!
//! One check is ONE `UpdateItem`:
//! `ADD c{N} :cost SET expires_at = :exp REMOVE c{N-2}, c{N-3}`, condition
//! `(attribute_not_exists(c{N}) OR c{N} <= :limit - :cost) AND (attribute_not_exists(expires_at) OR expires_at > :now)`,
//! `ReturnValues = ALL_NEW` (the new `c{N}` *and* `c{N-1}` come back from the same item) and
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD`.
//!
//! - DynamoDB serialises updates to one item, so concurrent requests get distinct counts
//!   1, 2, 3, ...; each compares *its own* count plus the weighted previous window with the
//!   limit. With limit 10 and 50 concurrent requests exactly 10 pass (tested against moto).
//! - The condition caps the current window at `limit` (a hammering client cannot grow it),
//!   and a request denied by it is not counted (no second round trip).
//! - The one case the condition cannot decide is the weighted previous window (expressions
//!   have no arithmetic on attributes): a request admitted by the condition but over the
//!   limit once `c{N-1}` is weighted is denied and its units are given back with a second
//!   `UpdateItem` (`ADD c{N} -cost`). So: one round trip per admitted request and per request
//!   denied by the cap; two for a request denied by the previous window's share. Between the
//!   increment and the refund another request may see the extra units and be denied: the
//!   error is always on the strict side (never more than `limit` admitted).
//! - An item whose `expires_at` has passed but which DynamoDB has not deleted yet (TTL
//!   deletion is lazy; moto never deletes) fails the condition; the limiter then replaces it
//!   with a fresh `PutItem` (conditional on it still being expired). That keeps items from
//!   collecting stale `c{N}` attributes forever; it costs a second round trip only for the
//!   first request after the key was idle for a whole window. Together with the `REMOVE` of
//!   `c{N-2}`/`c{N-3}` this bounds an item at two counters.
//!
//! Trade-offs considered: a plain fixed window is one `ADD` too but admits up to `2 * limit`
//! around a window boundary; GCRA needs `max(tat, now)`, which one update expression cannot
//! compute, so it costs two round trips whenever the guessed branch is wrong (every first
//! request after idleness and half of a burst); a per-request log (ring of timestamps) is
//! exact but makes items grow with the limit (1000 entries for WebSocket) and every request
//! rewrite the list. The sliding-window counter keeps items at three small attributes and
//! its error is bounded by the "evenly spread" assumption about the previous window.
//!
//! Busy rules (limit >= 100) lease a few units per instance where deferred writes run (on
//! Lambda): the update takes `cost + k` units and later requests are admitted from memory,
//! with refills after the answer. See `lease` for why the limit still holds.
//!
//! Several matching rules (e.g. OTP: per user and per receptor) are checked concurrently,
//! one `UpdateItem` each; if any denies, the units taken by the others are refunded.
//! A DynamoDB failure fails closed: 503 `rate_limit_unavailable` (an SMS must not go out
//! unlimited because the counter table is unreachable).
//!
//! # Rules
//!
//! [`RateLimitRule`]s live in HUB_TABLE (`pk = RULE`, `sk = {id}`), merged over the built-in
//! [`default_rules`], cached per instance for `RATE_LIMIT_RULES_TTL_SECONDS` (default 30).
//! Admin API: `functions/providers/src/rate_limits.rs`.

mod error;
mod lease;
pub mod rules;
pub mod schema;
mod subject;
mod window;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::config::{ConfigError, Env};
use crate::store::StoreError;

pub use self::error::RateLimitError;
pub use self::rules::{
    Channel, NewRateLimitRule, RateLimitRule, RateLimitRulePatch, RuleStore, Scope, Target,
    default_rules,
};
pub use self::subject::Subject;
use self::window::Window;
pub use crate::clock::{Clock, ManualClock, SystemClock};

/// The standard quota headers (lower case, as the edge sends them).
pub const HEADER_LIMIT: &str = "ratelimit-limit";
pub const HEADER_REMAINING: &str = "ratelimit-remaining";
pub const HEADER_RESET: &str = "ratelimit-reset";
pub const HEADER_POLICY: &str = "ratelimit-policy";

/// The quota state reported to the client: the most constrained rule that applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub rule_id: String,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the current window ends.
    pub reset_secs: u64,
    pub window_seconds: u64,
}

impl Quota {
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (HEADER_LIMIT, self.limit.to_string()),
            (HEADER_REMAINING, self.remaining.to_string()),
            (HEADER_RESET, self.reset_secs.to_string()),
            (
                HEADER_POLICY,
                format!("{};w={}", self.limit, self.window_seconds),
            ),
        ]
    }
}

/// An admitted request. Put it in the response (the edge makes it `IntoResponseParts`, and
/// `apply` adds the `RateLimit-*` headers to a response). `quota` is None when no rule
/// applied (no headers are added).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitDecision {
    pub quota: Option<Quota>,
    /// Counters taken, for [`RateLimiter::refund`].
    taken: Vec<Taken>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Taken {
    pk: String,
    sk: String,
    attr: String,
    cost: u64,
    /// Taken from this instance's lease of that window (a refund goes back to the lease).
    leased_in: Option<u64>,
}

impl RateLimitDecision {
    /// The `RateLimit-*` headers of the answer; none when no rule applied.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        self.quota.as_ref().map(Quota::headers).unwrap_or_default()
    }
}

/// Limiter settings read at cold start.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `RATE_LIMIT_TABLE` (required).
    pub counters_table: String,
    /// HUB_TABLE, where rules are stored.
    pub rules_table: String,
    /// `RATE_LIMIT_RULES_TTL_SECONDS`, default 30.
    pub rules_ttl: Duration,
    /// `RATE_LIMIT_NAMESPACE`, default the stack name (`SECRETS_PREFIX`).
    pub namespace: String,
}

impl RateLimitConfig {
    pub fn from_env(env: &Env, hub: &crate::config::HubConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            counters_table: env.required("RATE_LIMIT_TABLE")?,
            rules_table: hub.hub_table.clone(),
            rules_ttl: Duration::from_secs(env.parse_or("RATE_LIMIT_RULES_TTL_SECONDS", 30u64)?),
            namespace: env
                .optional("RATE_LIMIT_NAMESPACE")
                .unwrap_or_else(|| hub.secrets_prefix.clone()),
        })
    }
}

/// Checks subjects against the rules with atomic counters in DynamoDB. Built once per cold
/// start (`HubContext::rate_limiter`).
pub struct RateLimiter {
    dynamo: aws_sdk_dynamodb::Client,
    config: RateLimitConfig,
    rules: RuleStore,
    clock: Arc<dyn Clock>,
    /// Units of busy rules this instance holds (`lease`): warm checks without a round trip.
    leases: Arc<lease::Leases>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The outcome of one rule's counter update.
enum RuleOutcome {
    Admitted {
        quota: Quota,
        taken: Taken,
    },
    Denied {
        quota: Quota,
        retry_after: u64,
        rule: RateLimitRule,
    },
}

impl RateLimiter {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, config: RateLimitConfig) -> Self {
        let rules = RuleStore::new(dynamo.clone(), config.rules_table.clone(), config.rules_ttl);
        Self {
            dynamo,
            config,
            rules,
            clock: Arc::new(SystemClock),
            leases: Arc::default(),
        }
    }

    pub fn from_env(
        env: &Env,
        hub: &crate::config::HubConfig,
        dynamo: aws_sdk_dynamodb::Client,
    ) -> Result<Self, ConfigError> {
        Ok(Self::new(dynamo, RateLimitConfig::from_env(env, hub)?))
    }

    /// Replaces the clock (tests cross window boundaries with a [`ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// The rule store (admin API, cache invalidation).
    pub fn rules(&self) -> &RuleStore {
        &self.rules
    }

    /// One use of the subject's channel or route. `Err(Limited)` is the 429 to return.
    pub async fn check(&self, subject: &Subject) -> Result<RateLimitDecision, RateLimitError> {
        self.check_cost(subject, 1).await
    }

    /// `cost` uses at once (e.g. a bulk SMS to `cost` numbers): admitted only if all fit.
    pub async fn check_cost(
        &self,
        subject: &Subject,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError> {
        let cost = cost.max(1);
        let rules = self.rules.effective().await?;
        let applicable: Vec<(&RateLimitRule, String)> = rules
            .iter()
            .filter(|r| r.enabled && r.target.covers(&subject.target))
            .filter_map(|r| subject.key_for(r.scope).map(|k| (r, k)))
            .collect();
        if applicable.is_empty() {
            return Ok(RateLimitDecision::default());
        }
        let now_ms = self.clock.now_ms();
        let outcomes = futures::future::join_all(
            applicable
                .iter()
                .map(|(rule, key)| self.check_rule(rule, key, cost, now_ms)),
        )
        .await;
        let mut admitted: Vec<(Quota, Taken)> = Vec::new();
        let mut denied: Option<(Quota, u64, RateLimitRule)> = None;
        let mut failure: Option<RateLimitError> = None;
        for outcome in outcomes {
            match outcome {
                Ok(RuleOutcome::Admitted { quota, taken }) => admitted.push((quota, taken)),
                Ok(RuleOutcome::Denied {
                    quota,
                    retry_after,
                    rule,
                }) => {
                    if denied.as_ref().is_none_or(|(_, r, _)| retry_after > *r) {
                        denied = Some((quota, retry_after, rule));
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        if denied.is_some() || failure.is_some() {
            // All or nothing: give back what the other rules took.
            let taken: Vec<Taken> = admitted.into_iter().map(|(_, t)| t).collect();
            self.refund_taken(&taken).await;
            if let Some(e) = failure {
                return Err(e);
            }
            let (quota, retry_after, rule) = denied.expect("checked above");
            return Err(too_many(quota, retry_after, &rule, cost));
        }
        let quota = admitted
            .iter()
            .map(|(q, _)| q.clone())
            .min_by_key(|q| (q.remaining, std::cmp::Reverse(q.reset_secs)));
        Ok(RateLimitDecision {
            quota,
            taken: admitted.into_iter().map(|(_, t)| t).collect(),
        })
    }

    /// Gives back the units an admitted decision took (the work did not happen).
    pub async fn refund(&self, decision: &RateLimitDecision) {
        self.refund_taken(&decision.taken).await;
    }

    async fn refund_taken(&self, taken: &[Taken]) {
        for t in taken {
            if let Some(index) = t.leased_in {
                self.leases.give_back(&t.pk, &t.sk, index, t.cost);
            }
        }
        let counted = taken.iter().filter(|t| t.leased_in.is_none());
        futures::future::join_all(counted.map(|t| {
            give_back_units(
                &self.dynamo,
                &self.config.counters_table,
                (&t.pk, &t.sk),
                &t.attr,
                t.cost,
            )
        }))
        .await;
    }

    fn counter_key(&self, rule: &RateLimitRule, key: &str) -> (String, String) {
        (
            format!(
                "{}#{}#{}:{}",
                self.config.namespace,
                rule.id,
                rule.scope.as_str(),
                key
            ),
            format!("w{}", rule.window_seconds),
        )
    }

    async fn check_rule(
        &self,
        rule: &RateLimitRule,
        key: &str,
        cost: u64,
        now_ms: u64,
    ) -> Result<RuleOutcome, RateLimitError> {
        let window = Window::at(now_ms, rule.window_seconds);
        if cost > rule.limit {
            let quota = window.quota(rule, 0);
            return Ok(RuleOutcome::Denied {
                quota,
                retry_after: rule.window_seconds,
                rule: rule.clone(),
            });
        }
        let (pk, sk) = self.counter_key(rule, key);
        // Busy rules lease a few units per instance where deferred writes run (see `lease`).
        let k = if crate::deferred::active().is_some() {
            lease::lease_size(rule.limit)
        } else {
            0
        };
        if k > 0
            && let Some(got) = self.leases.take(&pk, &sk, window.index, cost, k)
        {
            if got.refill {
                self.queue_refill(rule, &pk, &sk, k, now_ms);
            }
            let remaining =
                window.remaining(got.db_count, got.db_previous, rule.limit) + got.units_left;
            return Ok(RuleOutcome::Admitted {
                quota: window.quota(rule, remaining),
                taken: Taken {
                    pk,
                    sk,
                    attr: format!("c{}", window.index),
                    cost,
                    leased_in: Some(window.index),
                },
            });
        }
        // Extra units to lease with this update, when they fit under the cap and no refill of
        // this window was already refused.
        let mut extra =
            if k > 0 && cost + k <= rule.limit && !self.leases.exhausted(&pk, &sk, window.index) {
                k
            } else {
                0
            };
        let cur = format!("c{}", window.index);
        let now_secs = now_ms / 1000;
        // A retry covers the race where another request replaced the same expired item, and
        // a lease that did not fit (then the request asks for its own cost only).
        for _ in 0..4 {
            let take = cost + extra;
            let added = add_units(
                &self.dynamo,
                &self.config.counters_table,
                rule.limit,
                (&pk, &sk),
                &window,
                take,
                now_secs,
            )
            .await;
            match added {
                Ok((count, previous)) => {
                    let taken = Taken {
                        pk: pk.clone(),
                        sk: sk.clone(),
                        attr: cur.clone(),
                        cost,
                        leased_in: None,
                    };
                    if window.admits(count, previous, rule.limit) {
                        if extra > 0 {
                            self.leases.grant(
                                &pk,
                                &sk,
                                (window.index, window.end_ms()),
                                extra,
                                (count, previous),
                                now_ms,
                            );
                        }
                        let remaining = window.remaining(count, previous, rule.limit) + extra;
                        return Ok(RuleOutcome::Admitted {
                            quota: window.quota(rule, remaining),
                            taken,
                        });
                    }
                    if extra > 0 && window.admits(count - extra, previous, rule.limit) {
                        // The request fits, its lease does not: give the extra units back.
                        self.refund_taken(&[Taken {
                            cost: extra,
                            ..taken.clone()
                        }])
                        .await;
                        let remaining = window.remaining(count - extra, previous, rule.limit);
                        return Ok(RuleOutcome::Admitted {
                            quota: window.quota(rule, remaining),
                            taken,
                        });
                    }
                    // Over the limit once the previous window's share is counted: give back.
                    self.refund_taken(&[Taken {
                        cost: take,
                        ..taken
                    }])
                    .await;
                    let before = count.saturating_sub(take);
                    let retry_after = window.retry_after(before, previous, cost, rule.limit);
                    return Ok(RuleOutcome::Denied {
                        quota: window.quota(rule, 0),
                        retry_after,
                        rule: rule.clone(),
                    });
                }
                Err(Added::Failed(e)) => return Err(e),
                Err(Added::Expired) => {
                    // Stale item (TTL not applied yet): start it afresh.
                    if self
                        .replace_expired(&pk, &sk, &cur, take, &window, now_secs)
                        .await?
                    {
                        if extra > 0 {
                            self.leases.grant(
                                &pk,
                                &sk,
                                (window.index, window.end_ms()),
                                extra,
                                (take, 0),
                                now_ms,
                            );
                        }
                        let quota = window.quota(rule, rule.limit - cost);
                        return Ok(RuleOutcome::Admitted {
                            quota,
                            taken: Taken {
                                pk,
                                sk,
                                attr: cur,
                                cost,
                                leased_in: None,
                            },
                        });
                    }
                    continue;
                }
                Err(Added::Capped { count, previous }) => {
                    if extra > 0 && count + cost <= rule.limit {
                        // Room for the request but not for a lease.
                        extra = 0;
                        continue;
                    }
                    let retry_after = window.retry_after(count, previous, cost, rule.limit);
                    return Ok(RuleOutcome::Denied {
                        quota: window.quota(rule, 0),
                        retry_after,
                        rule: rule.clone(),
                    });
                }
            }
        }
        Err(RateLimitError::Unavailable(
            "the rate limiter could not settle a counter; retry shortly",
        ))
    }

    /// Queues a refill of this instance's lease, to run after the answer (`crate::deferred`).
    fn queue_refill(&self, rule: &RateLimitRule, pk: &str, sk: &str, k: u64, now_ms: u64) {
        let (dynamo, table, leases) = (
            self.dynamo.clone(),
            self.config.counters_table.clone(),
            self.leases.clone(),
        );
        let (pk, sk, limit, window) = (
            pk.to_string(),
            sk.to_string(),
            rule.limit,
            Window::at(now_ms, rule.window_seconds),
        );
        let refill = async move {
            let added = add_units(
                &dynamo,
                &table,
                limit,
                (&pk, &sk),
                &window,
                k,
                now_ms / 1000,
            )
            .await;
            match added {
                Ok((count, previous)) if window.admits(count, previous, limit) => {
                    leases.refilled(&pk, &sk, window.index, Some((k, count, previous)));
                }
                Ok(_) => {
                    // Over once the previous window's share counts: give them back.
                    let attr = format!("c{}", window.index);
                    give_back_units(&dynamo, &table, (&pk, &sk), &attr, k).await;
                    leases.refilled(&pk, &sk, window.index, None);
                }
                Err(Added::Capped { .. }) => leases.refilled(&pk, &sk, window.index, None),
                Err(Added::Expired) | Err(Added::Failed(_)) => leases.refill_failed(&pk, &sk),
            }
        };
        if let Err(refill) = crate::deferred::defer(refill) {
            // Not reached: leases exist only where deferring is active. Run it detached
            // rather than lose the flag.
            tokio::spawn(refill);
        }
    }

    /// Replaces an expired counter item; false when another request got there first.
    async fn replace_expired(
        &self,
        pk: &str,
        sk: &str,
        cur: &str,
        cost: u64,
        window: &Window,
        now_secs: u64,
    ) -> Result<bool, RateLimitError> {
        let result = self
            .dynamo
            .put_item()
            .table_name(&self.config.counters_table)
            .item("pk", AttributeValue::S(pk.into()))
            .item("sk", AttributeValue::S(sk.into()))
            .item(cur, num(cost as i64))
            .item("expires_at", num(window.expires_at() as i64))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", num(now_secs as i64))
            .send()
            .await;
        match result.map_err(|e| StoreError::from_sdk("PutItem", e)) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Why a counter update did not add its units.
enum Added {
    /// The cap refused them: the window's count and the previous window's, as stored.
    Capped {
        count: u64,
        previous: u64,
    },
    /// The item outlived its windows (TTL deletion is lazy): replace it.
    Expired,
    Failed(RateLimitError),
}

/// One conditional `UpdateItem`: `ADD c{N} :take` if the window stays at most `limit`, drops
/// the windows that no longer matter, and answers the current and previous windows' counts
/// after the update.
async fn add_units(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    limit: u64,
    (pk, sk): (&str, &str),
    window: &Window,
    take: u64,
    now_secs: u64,
) -> Result<(u64, u64), Added> {
    let cur = format!("c{}", window.index);
    // Windows N-2 and N-3 can no longer matter; dropping them in the same update keeps a
    // live item at two counters (an item idle longer than that has expired, see above).
    let stale = [
        format!("c{}", window.index as i64 - 2),
        format!("c{}", window.index as i64 - 3),
    ];
    let result = dynamo
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .key("sk", AttributeValue::S(sk.to_string()))
        .update_expression("ADD #cur :cost SET expires_at = :exp REMOVE #stale2, #stale3")
        .condition_expression(
            "(attribute_not_exists(#cur) OR #cur <= :cap) AND (attribute_not_exists(expires_at) OR expires_at > :now)",
        )
        .expression_attribute_names("#cur", &cur)
        .expression_attribute_names("#stale2", &stale[0])
        .expression_attribute_names("#stale3", &stale[1])
        .expression_attribute_values(":cost", num(take as i64))
        .expression_attribute_values(":cap", num((limit - take) as i64))
        .expression_attribute_values(":exp", num(window.expires_at() as i64))
        .expression_attribute_values(":now", num(now_secs as i64))
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(out) => Ok(window_counts(&out.attributes.unwrap_or_default(), window)),
        Err(e) => {
            let Some(old) = conditional_failure_item(&e) else {
                return Err(Added::Failed(unavailable(e)));
            };
            let expired = old
                .get("expires_at")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok());
            if expired.is_some_and(|at| at <= now_secs) {
                return Err(Added::Expired);
            }
            let (count, previous) = window_counts(&old, window);
            Err(Added::Capped { count, previous })
        }
    }
}

/// The counts of `window` (`c{N}`) and of the one before (`c{N-1}`) in a counter item.
fn window_counts(attrs: &HashMap<String, AttributeValue>, window: &Window) -> (u64, u64) {
    let count = read_num(attrs, &format!("c{}", window.index));
    let previous = if window.index == 0 {
        0
    } else {
        read_num(attrs, &format!("c{}", window.index - 1))
    };
    (count, previous)
}

/// Gives `units` back to a counter (`ADD c{N} -units`): a refund, or units a check took and
/// could not use. Best effort: a lost give-back only errs on the strict side.
async fn give_back_units(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    (pk, sk): (&str, &str),
    attr: &str,
    units: u64,
) {
    let result = dynamo
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .key("sk", AttributeValue::S(sk.to_string()))
        .update_expression("ADD #cur :neg")
        .condition_expression("attribute_exists(#cur)")
        .expression_attribute_names("#cur", attr)
        .expression_attribute_values(":neg", num(-(units as i64)))
        .send()
        .await;
    match result.map_err(|e| StoreError::from_sdk("UpdateItem", e)) {
        // The window may have been reset meanwhile; a lost refund only errs strict.
        Ok(_) | Err(StoreError::ConditionFailed) => {}
        Err(e) => tracing::warn!(error = %e, "rate-limit refund failed"),
    }
}

fn unavailable(e: impl std::fmt::Debug) -> RateLimitError {
    tracing::error!(error = ?e, "rate-limit counter update failed");
    RateLimitError::Unavailable("the rate limiter is unavailable; retry shortly")
}

/// The item returned with a failed condition, or None for any other error.
fn conditional_failure_item<R>(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        R,
    >,
) -> Option<HashMap<String, AttributeValue>> {
    match e.as_service_error() {
        Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
            Some(c.item.clone().unwrap_or_default())
        }
        _ => None,
    }
}

fn num(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn read_num(attrs: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    attrs
        .get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0) as u64
}

fn too_many(quota: Quota, retry_after: u64, rule: &RateLimitRule, cost: u64) -> RateLimitError {
    let what = match &rule.target {
        Target::Channel(c) => format!("{} sends", c.as_str()),
        Target::Route(_) => "requests".to_string(),
    };
    let detail = if cost > rule.limit {
        format!(
            "this request needs {cost} units but the limit is {} {what} per {} per {} s",
            rule.limit,
            rule.scope.as_str(),
            rule.window_seconds
        )
    } else {
        format!(
            "rate limit exceeded: at most {} {what} per {} per {} s (rule {}); retry in {retry_after} s",
            rule.limit,
            rule.scope.as_str(),
            rule.window_seconds,
            rule.id
        )
    };
    RateLimitError::Limited {
        detail,
        retry_after,
        quota,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_counter_table_is_named() {
        let env = Env::from_pairs([
            ("HUB_TABLE", "h"),
            ("LOGS_TABLE", "l"),
            ("SECRETS_PREFIX", "p"),
        ]);
        let hub = crate::config::HubConfig::from_env(&env).unwrap();
        let err = RateLimitConfig::from_env(&env, &hub)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "missing required environment variable RATE_LIMIT_TABLE"
        );
        let env = Env::from_pairs([
            ("RATE_LIMIT_TABLE", "c"),
            ("RATE_LIMIT_RULES_TTL_SECONDS", "soon"),
        ]);
        let err = RateLimitConfig::from_env(&env, &hub)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RATE_LIMIT_RULES_TTL_SECONDS"), "{err}");
        let ok =
            RateLimitConfig::from_env(&Env::from_pairs([("RATE_LIMIT_TABLE", "c")]), &hub).unwrap();
        assert_eq!((ok.namespace.as_str(), ok.rules_ttl.as_secs()), ("p", 30));
    }
}
