//! OpenAPI field schemas of the webhook admin bodies (`#[schema(schema_with = ...)]`),
//! built from the limits `validate.rs` checks.

use utoipa::openapi::schema::ObjectBuilder;

use super::validate::{MAX_EVENT_CHARS, MAX_EVENTS, MAX_NAME_CHARS, SECRET_BYTES, SLUG_PATTERN};
use crate::openapi::{array_of, nullable, string, text};

/// A provider-issued secret every scheme takes: Standard Webhooks wants `whsec_` and the
/// base64 of at least 16 bytes; the others take any 8 to 512 bytes, so this shape (18 to
/// 378 bytes of key, at most 510 characters) fits them all.
pub const SECRET_PATTERN: &str = r"^whsec_(?:[A-Za-z0-9+/]{4}){6,126}$";

/// An endpoint or provider slug.
pub fn slug() -> ObjectBuilder {
    string().pattern(Some(SLUG_PATTERN))
}

pub fn name() -> ObjectBuilder {
    text(MAX_NAME_CHARS)
}

pub fn optional_name() -> ObjectBuilder {
    nullable(name())
}

fn event() -> ObjectBuilder {
    text(MAX_EVENT_CHARS)
}

/// The event types an endpoint accepts (empty: all).
pub fn events() -> utoipa::openapi::schema::ArrayBuilder {
    array_of(event(), 0, MAX_EVENTS)
}

pub fn optional_events() -> utoipa::openapi::schema::ArrayBuilder {
    events().schema_type(utoipa::openapi::schema::SchemaType::Array(vec![
        utoipa::openapi::schema::Type::Array,
        utoipa::openapi::schema::Type::Null,
    ]))
}

pub fn optional_secret() -> ObjectBuilder {
    nullable(
        string()
            .pattern(Some(SECRET_PATTERN))
            .max_length(Some(*SECRET_BYTES.end())),
    )
    .description(Some(
        "A provider-issued secret: for Standard Webhooks `whsec_` + base64 of at least 16 bytes; \
             for the other schemes any 8 to 512 characters (the document shows the form every \
             scheme takes). Omit it to have the hub generate one",
    ))
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::super::validate::{validate_secret, validate_slug};
    use super::*;
    use crate::webhooks::model::VerificationConfig;

    #[test]
    fn patterns_describe_what_the_validation_takes() {
        let secret = format!("whsec_{}", "QUJD".repeat(6));
        assert!(Regex::new(SECRET_PATTERN).unwrap().is_match(&secret));
        for scheme in [
            VerificationConfig::StandardWebhooks {
                tolerance_seconds: 300,
            },
            VerificationConfig::Twilio {},
            VerificationConfig::PathToken {},
        ] {
            validate_secret(&scheme, &secret).unwrap_or_else(|e| panic!("{scheme:?}: {e:?}"));
        }
        let longest = format!("whsec_{}", "QUJD".repeat(126));
        validate_secret(
            &VerificationConfig::StandardWebhooks {
                tolerance_seconds: 300,
            },
            &longest,
        )
        .unwrap();
        let slug = Regex::new(SLUG_PATTERN).unwrap();
        for ok in ["a", "twilio-status", "x_1", &"a".repeat(64)] {
            assert!(slug.is_match(ok), "{ok}");
            validate_slug("s", ok).unwrap();
        }
        for wrong in ["-a", "A", "", &"a".repeat(65)] {
            assert!(!slug.is_match(wrong), "{wrong}");
            assert!(validate_slug("s", wrong).is_err(), "{wrong}");
        }
    }
}
