//! The OpenAPI schemas of the rate-limit rule bodies, from the constants and lists the
//! validation (`rules.rs`) uses. A `receptor` rule is only valid for the SMS channels and
//! the OTP send route, so a new rule is one `oneOf` branch per kind of scope.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

use super::rules::{
    Channel, MAX_DESCRIPTION_CHARS, MAX_LIMIT, MAX_ROUTE_CHARS, MAX_WINDOW_SECONDS,
    NewRateLimitRule, OTP_SEND_ROUTE, Scope,
};
use crate::openapi::{closed_object, nullable, one_of, one_of_strings, string};

/// A route pattern `Target::parse` takes: `*`, or a path starting with `/`, without
/// whitespace or control characters, `*` only at the end (at most `MAX_ROUTE_CHARS` bytes; the pattern is ASCII).
pub const ROUTE_PATTERN: &str = r"^(?:\*|/[!-)+-~]*\*?)$";
/// A stored rule's id (`validate_id`).
pub const RULE_ID_PATTERN: &str = r"^[a-z0-9-]{1,64}$";

fn scopes(scopes: &[Scope]) -> ObjectBuilder {
    string().enum_values(Some(
        scopes
            .iter()
            .map(|s| serde_json::to_value(s).expect("a scope serialises to a string")),
    ))
}

/// Any target: a channel or a route pattern.
pub fn target() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(one_of_strings(&Channel::ALL.map(Channel::as_str)))
        .item(
            string()
                .pattern(Some(ROUTE_PATTERN))
                .max_length(Some(MAX_ROUTE_CHARS)),
        )
        .description(Some(
            "A channel (`sms`, `sms_otp`, `email`, `upload`, `websocket`, `ai`) or a route pattern (`/api/...`, `*` only at the end, or `*` for every route)",
        ))
        .examples(["sms"])
        .into()
}

/// `target()` or absent / `null` (a patch).
pub fn optional_target() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(one_of_strings(&Channel::ALL.map(Channel::as_str)))
        .item(
            string()
                .pattern(Some(ROUTE_PATTERN))
                .max_length(Some(MAX_ROUTE_CHARS)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

pub fn limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_LIMIT))
        .description(Some(
            "Uses per window, 1..=10000000 (disable a rule with `enabled: false`)",
        ))
}

pub fn window_seconds() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_WINDOW_SECONDS))
        .description(Some("The sliding window, 1..=604800 seconds (7 days)"))
}

/// `limit()` or absent / `null` (a patch).
pub fn optional_limit() -> ObjectBuilder {
    nullable(limit())
}

/// `window_seconds()` or absent / `null` (a patch).
pub fn optional_window() -> ObjectBuilder {
    nullable(window_seconds())
}

pub fn description() -> ObjectBuilder {
    nullable(string().max_length(Some(MAX_DESCRIPTION_CHARS)))
}

fn branch(title: &str, scope: ObjectBuilder, target: impl Into<RefOr<Schema>>) -> Schema {
    closed_object()
        .title(Some(title))
        .property(
            "id",
            nullable(string().pattern(Some(RULE_ID_PATTERN))).description(Some(
                "Optional id (`[a-z0-9-]`, 1..64); generated when absent. A built-in id (`default-...`) answers 409: update the built-in instead",
            )),
        )
        .property("scope", scope)
        .property("target", target)
        .property("limit", limit())
        .property("window_seconds", window_seconds())
        .property(
            "enabled",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some("Default true")),
        )
        .property("description", description())
        .required("scope")
        .required("target")
        .required("limit")
        .required("window_seconds")
        .into()
}

impl utoipa::PartialSchema for NewRateLimitRule {
    fn schema() -> RefOr<Schema> {
        one_of(
            "Body of `POST /api/integrations/rate-limits`. A `receptor` rule counts per phone number, so it applies to the SMS channels and the OTP send route only.",
            [
                branch(
                    "per user, IP or service",
                    scopes(&[Scope::User, Scope::Ip, Scope::Service]),
                    target(),
                ),
                branch(
                    "per receptor",
                    scopes(&[Scope::Receptor]),
                    one_of_strings(&[
                        Channel::Sms.as_str(),
                        Channel::SmsOtp.as_str(),
                        OTP_SEND_ROUTE,
                    ]),
                ),
            ],
        )
    }
}

impl utoipa::ToSchema for NewRateLimitRule {}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;
    use crate::rate_limit::rules::Target;

    #[test]
    fn route_pattern_describes_targets_the_parser_takes() {
        let re = Regex::new(ROUTE_PATTERN).unwrap();
        for ok in [
            "*",
            "/",
            "/api/integrations/sms/otp/send",
            "/api/*",
            "/a-b_c.d~!$",
        ] {
            assert!(re.is_match(ok), "{ok}");
            Target::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for wrong in ["api", "/a b", "/a*b", "**"] {
            assert!(!re.is_match(wrong), "{wrong}");
        }
        for c in Channel::ALL {
            assert_eq!(Target::parse(c.as_str()), Ok(Target::Channel(c)));
        }
    }

    #[test]
    fn branches_cover_the_scopes() {
        let v =
            serde_json::to_value(<NewRateLimitRule as utoipa::PartialSchema>::schema()).unwrap();
        let mut scopes: Vec<String> = v["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| b["properties"]["scope"]["enum"].as_array().unwrap().clone())
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        scopes.sort();
        assert_eq!(scopes, ["ip", "receptor", "service", "user"]);
    }
}
