//! Rate-limit rules: data, not code. Built-in defaults apply without any admin action;
//! admins add rules or override a default (same `id`) through the providers function.
//!
//! Storage: HUB_TABLE, `pk = RULE`, `sk = {id}`, the rule's fields as attributes. A stored
//! rule whose id is a built-in id overrides that default; deleting it restores the default.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RateLimitError;
use crate::error::InvalidInput;
use crate::store::{CachedPartition, Item, StoreError};

/// Partition key of rule items in HUB_TABLE.
pub const RULE_PK: &str = "RULE";
/// Largest accepted window: one week.
pub const MAX_WINDOW_SECONDS: u64 = 7 * 86_400;
/// Largest accepted limit.
pub const MAX_LIMIT: u64 = 10_000_000;
/// Longest route pattern of a rule's target, in bytes.
pub const MAX_ROUTE_CHARS: usize = 512;
/// Longest rule description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// What a rule counts per: the key of its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Per authenticated user (the user a send is made for).
    User,
    /// Per receiving phone number (SMS pumping protection). Only with `sms` / `sms_otp`
    /// (and the OTP send route: its resend cooldown).
    Receptor,
    /// Per client IP address.
    Ip,
    /// One counter for the whole hub service: all callers together (protects a provider
    /// account's quota or caps total spend).
    Service,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Receptor => "receptor",
            Scope::Ip => "ip",
            Scope::Service => "service",
        }
    }
}

/// A capability whose use is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Any SMS (text, pattern, bulk). Rules on `sms` also count OTP sends.
    Sms,
    /// One-time-password SMS only.
    SmsOtp,
    Email,
    Upload,
    /// WebSocket messages.
    Websocket,
    Ai,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Sms,
        Channel::SmsOtp,
        Channel::Email,
        Channel::Upload,
        Channel::Websocket,
        Channel::Ai,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::SmsOtp => "sms_otp",
            Channel::Email => "email",
            Channel::Upload => "upload",
            Channel::Websocket => "websocket",
            Channel::Ai => "ai",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether a rule on `self` counts a use of `used`: a rule on `sms` counts OTP SMS too.
    pub fn covers(self, used: Channel) -> bool {
        self == used || (self == Channel::Sms && used == Channel::SmsOtp)
    }
}

/// What a rule limits: a channel, or a route pattern (exact path as declared in the router,
/// e.g. `/api/integrations/webhook/{endpoint}`, or a prefix ending in `*`, e.g. `/api/*`;
/// `*` alone is every route that opts into the route layer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Channel(Channel),
    Route(String),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        let s = s.trim();
        if let Some(c) = Channel::parse(s) {
            return Ok(Target::Channel(c));
        }
        if s == "*" || s.starts_with('/') {
            if s.len() > MAX_ROUTE_CHARS {
                return Err("a route pattern is at most 512 characters".into());
            }
            if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("a route pattern must not contain spaces".into());
            }
            if s.contains('*') && !s.ends_with('*') {
                return Err("`*` is only allowed at the end of a route pattern".into());
            }
            return Ok(Target::Route(s.to_string()));
        }
        Err(format!(
            "must be a channel ({}) or a route pattern starting with `/` (or `*` for every route)",
            Channel::ALL.map(Channel::as_str).join(", ")
        ))
    }

    /// Whether this target covers a use of `used`.
    pub fn covers(&self, used: &Target) -> bool {
        match (self, used) {
            (Target::Channel(rule), Target::Channel(used)) => rule.covers(*used),
            (Target::Route(pattern), Target::Route(route)) => match pattern.strip_suffix('*') {
                Some(prefix) => route.starts_with(prefix),
                None => pattern == route,
            },
            _ => false,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Channel(c) => f.write_str(c.as_str()),
            Target::Route(r) => f.write_str(r),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Target::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A limit: at most `limit` uses of `target` per `scope` key in any sliding window of
/// `window_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RateLimitRule {
    /// Stable id. Built-ins start with `default-`.
    pub id: String,
    pub scope: Scope,
    /// A channel (`sms`, `sms_otp`, `email`, `upload`, `websocket`, `ai`) or a route pattern.
    #[schema(value_type = String, example = "sms")]
    pub target: Target,
    pub limit: u64,
    pub window_seconds: u64,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// True for the built-in defaults (also when an admin has overridden one).
    #[serde(default)]
    pub builtin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

fn builtin(
    id: &str,
    scope: Scope,
    target: Target,
    limit: u64,
    window_seconds: u64,
    description: &str,
) -> RateLimitRule {
    RateLimitRule {
        id: id.into(),
        scope,
        target,
        limit,
        window_seconds,
        enabled: true,
        description: Some(description.into()),
        builtin: true,
        updated_at: None,
    }
}

/// The OTP routes, as the sms function declares them.
pub const OTP_SEND_ROUTE: &str = "/api/integrations/sms/otp/send";
pub const OTP_VERIFY_ROUTE: &str = "/api/integrations/sms/otp/verify";
/// The SMS status route, metered when it asks the provider (`?refresh=true`).
pub const SMS_STATUS_ROUTE: &str = "/api/integrations/sms/{message_id}";

/// The defaults present without admin action (BluRosiere's per-user hourly limits, plus
/// SMS-pumping and public-route protection). See docs/rate-limiting.md for the reasoning.
pub fn default_rules() -> Vec<RateLimitRule> {
    use Channel::*;
    vec![
        builtin(
            "default-email-user",
            Scope::User,
            Target::Channel(Email),
            100,
            3600,
            "BluRosiere: email 100/hour per user",
        ),
        builtin(
            "default-sms-user",
            Scope::User,
            Target::Channel(Sms),
            10,
            3600,
            "BluRosiere: SMS 10/hour per user (OTP included)",
        ),
        builtin(
            "default-upload-user",
            Scope::User,
            Target::Channel(Upload),
            20,
            3600,
            "BluRosiere: uploads 20/hour per user",
        ),
        builtin(
            "default-websocket-user",
            Scope::User,
            Target::Channel(Websocket),
            1000,
            3600,
            "BluRosiere: WebSocket messages 1000/hour per user",
        ),
        builtin(
            "default-ai-user",
            Scope::User,
            Target::Channel(Ai),
            500,
            3600,
            "Cost protection: 500 AI requests/hour per user (generation, chat, transcription)",
        ),
        builtin(
            "default-otp-receptor",
            Scope::Receptor,
            Target::Channel(SmsOtp),
            5,
            3600,
            "SMS pumping protection: 5 OTP/hour per receiving number",
        ),
        // OTP verification service (issue 15): sends also count on default-sms-user and
        // default-otp-receptor. The resend rule is read by the OTP service as a minimum
        // spacing of window/limit seconds between sends to one number, enforced exactly by
        // its conditional write (a sliding window would stretch a 60 s cooldown to 120 s).
        builtin(
            "default-otp-resend",
            Scope::Receptor,
            Target::Route(OTP_SEND_ROUTE.into()),
            1,
            60,
            "OTP resend cooldown: one code per receiving number per 60 s",
        ),
        builtin(
            "default-otp-ip",
            Scope::Ip,
            Target::Channel(SmsOtp),
            20,
            3600,
            "OTP sends: 20/hour per client IP",
        ),
        builtin(
            "default-otp-verify-ip",
            Scope::Ip,
            Target::Route(OTP_VERIFY_ROUTE.into()),
            60,
            3600,
            "OTP checks: 60/hour per client IP (each code also locks after OTP_MAX_ATTEMPTS wrong tries)",
        ),
        builtin(
            "default-sms-refresh-user",
            Scope::User,
            Target::Route(SMS_STATUS_ROUTE.into()),
            120,
            3600,
            "SMS status refreshes (?refresh=true, one provider call each): 120/hour per user",
        ),
        builtin(
            "default-route-ip",
            Scope::Ip,
            Target::Route("*".into()),
            300,
            60,
            "Flood protection: 300 requests/minute per client IP on routes that opt into the route layer (public routes)",
        ),
    ]
}

/// Body of `POST /api/integrations/rate-limits`. Its OpenAPI schema is in `schema.rs`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewRateLimitRule {
    /// Optional id (`[a-z0-9-]`, 1..64); generated when absent. Using a built-in id
    /// (`default-...`) is refused: update the built-in instead.
    #[serde(default)]
    pub id: Option<String>,
    pub scope: Scope,
    pub target: String,
    pub limit: u64,
    pub window_seconds: u64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}

/// Body of `PATCH /api/integrations/rate-limits/{id}`: only the fields present change.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRulePatch {
    pub scope: Option<Scope>,
    #[schema(schema_with = super::schema::optional_target)]
    pub target: Option<String>,
    #[schema(schema_with = super::schema::optional_limit)]
    pub limit: Option<u64>,
    #[schema(schema_with = super::schema::optional_window)]
    pub window_seconds: Option<u64>,
    pub enabled: Option<bool>,
    #[schema(schema_with = super::schema::description)]
    pub description: Option<String>,
}

fn validate_id(id: &str) -> Result<(), InvalidInput> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::field(
            "id",
            "must be 1 to 64 characters of a-z, 0-9 and -",
        ))
    }
}

/// Checks a rule's fields; every problem is reported with its field name (422).
fn validate(rule: &RateLimitRule, raw_target: Option<&str>) -> Result<(), InvalidInput> {
    let mut errors: Vec<(&str, String)> = Vec::new();
    if rule.limit == 0 || rule.limit > MAX_LIMIT {
        errors.push((
            "limit",
            format!("must be between 1 and {MAX_LIMIT} (disable a rule with enabled: false)"),
        ));
    }
    if rule.window_seconds == 0 || rule.window_seconds > MAX_WINDOW_SECONDS {
        errors.push((
            "window_seconds",
            format!("must be between 1 and {MAX_WINDOW_SECONDS}"),
        ));
    }
    if let Some(Err(e)) = raw_target.map(Target::parse) {
        errors.push(("target", e));
    }
    if rule.scope == Scope::Receptor
        && !matches!(rule.target, Target::Channel(Channel::Sms | Channel::SmsOtp))
        && rule.target != Target::Route(OTP_SEND_ROUTE.into())
        && raw_target.is_none_or(|r| Target::parse(r).is_ok())
    {
        errors.push((
            "scope",
            format!(
                "receptor is only meaningful for the sms and sms_otp channels and {OTP_SEND_ROUTE}"
            ),
        ));
    }
    if rule
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        errors.push((
            "description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if errors.is_empty() {
        return Ok(());
    }
    let detail = errors
        .iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut err = InvalidInput::unprocessable("invalid_rule", detail);
    for (f, m) in errors {
        err = err.with_field(f, m);
    }
    Err(err)
}

/// The rules: built-ins merged with stored rules, cached in memory for `ttl` (default 30 s,
/// `RATE_LIMIT_RULES_TTL_SECONDS`) so checks do not read the table per request. Writes
/// through this store invalidate this instance's cache at once; other Lambda instances see
/// a change within `ttl`.
pub struct RuleStore {
    partition: CachedPartition<RateLimitRule>,
}

/// Stored rules over the built-ins: a stored built-in id overrides the default.
fn merge_stored(items: Vec<Item>) -> Result<Vec<RateLimitRule>, StoreError> {
    let mut merged = default_rules();
    for item in items {
        let stored = match serde_dynamo::from_item::<_, RateLimitRule>(item) {
            Ok(rule) => rule,
            // One bad item must not switch every limit off: skip it, loudly.
            Err(e) => {
                tracing::error!(error = %e, "skipping an unreadable rate-limit rule item");
                continue;
            }
        };
        match merged.iter_mut().find(|r| r.id == stored.id) {
            Some(r) => {
                *r = RateLimitRule {
                    builtin: true,
                    ..stored
                }
            }
            None => merged.push(RateLimitRule {
                builtin: false,
                ..stored
            }),
        }
    }
    Ok(merged)
}

impl RuleStore {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: String, ttl: Duration) -> Self {
        Self {
            partition: CachedPartition::new(dynamo, table, RULE_PK, ttl, merge_stored),
        }
    }

    /// The effective rules (enabled or not), from the cache when fresh.
    pub async fn effective(&self) -> Result<Arc<Vec<RateLimitRule>>, StoreError> {
        self.partition.get().await
    }

    /// Reads the table now (admin listings) and refreshes the cache.
    pub async fn reload(&self) -> Result<Arc<Vec<RateLimitRule>>, StoreError> {
        self.partition.reload().await
    }

    /// Drops the cache: the next check reads the table.
    pub async fn invalidate(&self) {
        self.partition.invalidate().await;
    }

    pub async fn get(&self, id: &str) -> Result<Option<RateLimitRule>, StoreError> {
        Ok(self.reload().await?.iter().find(|r| r.id == id).cloned())
    }

    pub async fn require(&self, id: &str) -> Result<RateLimitRule, RateLimitError> {
        self.get(id)
            .await?
            .ok_or_else(|| RateLimitError::RuleNotFound(id.to_string()))
    }

    pub async fn create(&self, new: NewRateLimitRule) -> Result<RateLimitRule, RateLimitError> {
        let id = match new.id {
            Some(id) => {
                validate_id(&id)?;
                if default_rules().iter().any(|r| r.id == id) {
                    return Err(RateLimitError::RuleExists(format!(
                        "{id:?} is a built-in rule; update it with PATCH instead"
                    )));
                }
                id
            }
            None => format!("rule-{}", uuid::Uuid::now_v7().simple()),
        };
        let target = Target::parse(&new.target).unwrap_or(Target::Route("*".into()));
        let rule = RateLimitRule {
            id,
            scope: new.scope,
            target,
            limit: new.limit,
            window_seconds: new.window_seconds,
            enabled: new.enabled,
            description: new.description,
            builtin: false,
            updated_at: Some(crate::clock::now_rfc3339()),
        };
        validate(&rule, Some(&new.target))?;
        self.write(&rule, true).await?;
        Ok(rule)
    }

    pub async fn update(
        &self,
        id: &str,
        patch: RateLimitRulePatch,
    ) -> Result<RateLimitRule, RateLimitError> {
        let mut rule = self.require(id).await?;
        if let Some(s) = patch.scope {
            rule.scope = s;
        }
        if let Some(t) = &patch.target {
            rule.target = Target::parse(t).unwrap_or(Target::Route("*".into()));
        }
        if let Some(l) = patch.limit {
            rule.limit = l;
        }
        if let Some(w) = patch.window_seconds {
            rule.window_seconds = w;
        }
        if let Some(e) = patch.enabled {
            rule.enabled = e;
        }
        if let Some(d) = patch.description {
            rule.description = Some(d);
        }
        rule.updated_at = Some(crate::clock::now_rfc3339());
        validate(&rule, patch.target.as_deref())?;
        self.write(&rule, false).await?;
        Ok(rule)
    }

    /// Deletes a stored rule. For a built-in id this removes the admin's override, restoring
    /// the default (a built-in cannot be removed, only disabled). 404 when nothing matches.
    pub async fn delete(&self, id: &str) -> Result<(), RateLimitError> {
        let existed = self.partition.delete(id).await?;
        if existed || default_rules().iter().any(|r| r.id == id) {
            Ok(())
        } else {
            Err(RateLimitError::RuleNotFound(id.to_string()))
        }
    }

    async fn write(&self, rule: &RateLimitRule, must_be_new: bool) -> Result<(), RateLimitError> {
        let item: Item = serde_dynamo::to_item(rule).map_err(StoreError::from)?;
        match self.partition.put(&rule.id, item, must_be_new).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(RateLimitError::RuleExists(format!(
                "a rule with id {:?} already exists",
                rule.id
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DomainError;

    #[test]
    fn targets_parse_and_match() {
        assert_eq!(
            Target::parse("sms_otp").unwrap(),
            Target::Channel(Channel::SmsOtp)
        );
        assert!(Target::parse("fax").is_err());
        assert!(Target::parse("/a/*/b").is_err());
        let sms = Target::Channel(Channel::Sms);
        assert!(sms.covers(&Target::Channel(Channel::SmsOtp)));
        assert!(!Target::Channel(Channel::SmsOtp).covers(&sms));
        let any = Target::Route("*".into());
        assert!(any.covers(&Target::Route("/health".into())));
        assert!(!any.covers(&sms));
        let prefix = Target::Route("/api/integrations/webhook/*".into());
        assert!(prefix.covers(&Target::Route(
            "/api/integrations/webhook/{endpoint}".into()
        )));
        assert!(!prefix.covers(&Target::Route("/api/integrations/sms/send".into())));
    }

    #[test]
    fn defaults_match_the_seed() {
        let d = default_rules();
        let find = |id: &str| d.iter().find(|r| r.id == id).unwrap().clone();
        assert_eq!(
            (
                find("default-email-user").limit,
                find("default-email-user").window_seconds
            ),
            (100, 3600)
        );
        assert_eq!(find("default-sms-user").limit, 10);
        assert_eq!(find("default-upload-user").limit, 20);
        assert_eq!(find("default-websocket-user").limit, 1000);
        for r in &d {
            validate(r, None).unwrap();
        }
    }

    #[test]
    fn validation_names_fields() {
        let mut r = default_rules()[0].clone();
        r.limit = 0;
        r.window_seconds = 0;
        r.scope = Scope::Receptor;
        let e = validate(&r, None).unwrap_err();
        let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["limit", "window_seconds", "scope"]);
        assert_eq!(e.kind(), crate::error::ErrorKind::Unprocessable);
    }
}
