//! Building blocks for request schemas the `ToSchema` derive cannot state: a field's
//! constraints taken from the same constants the validation uses (`schema_with` functions),
//! and bodies whose required fields depend on another field (`oneOf` branches). The
//! document then says what the validation accepts, so a client generated from it, or a
//! fuzzer, sends requests the hub takes.
//!
//! Patterns are ECMA-262 regular expressions as JSON Schema reads them (unanchored: they
//! carry their own `^...$`), also valid for the `regex` crate, which the tests use to check
//! that the validation accepts what a pattern describes.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ArrayItems, ObjectBuilder, OneOfBuilder, Schema,
    SchemaType, Type,
};
use utoipa::openapi::{RefOr, schema::SchemaFormat};

/// "Contains something besides whitespace" (unanchored), as Rust's `trim()` sees it: ECMA's
/// `\s`, which JSON Schema patterns use, lacks U+0085 (NEL), which Rust trims.
pub const NOT_BLANK: &str = r"[^\s\u0085]";

/// A string schema.
pub fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A string that must contain something besides whitespace, of at most `max` characters
/// (the validation trims, then refuses an empty value).
pub fn text(max: usize) -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(NOT_BLANK))
}

/// A string with at least one character that is neither whitespace nor a control character
/// (the validation folds it to one line first), of at most `max` characters.
pub fn visible_text(max: usize) -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(r"[^\s\u0000-\u001f\u007f-\u009f]"))
}

/// A string from a fixed list.
pub fn one_of_strings(values: &[&str]) -> ObjectBuilder {
    string().enum_values(Some(values.iter().copied()))
}

/// A field that must be absent (or `null`): it does not belong to this variant of the body.
pub fn absent() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// `schema`, or `null`.
pub fn nullable(schema: ObjectBuilder) -> ObjectBuilder {
    let built = schema.build();
    let mut types = match built.schema_type.clone() {
        SchemaType::Type(t) => vec![t],
        SchemaType::Array(ts) => ts,
        SchemaType::AnyValue => return ObjectBuilder::from(built),
    };
    if !types.contains(&Type::Null) {
        types.push(Type::Null);
    }
    ObjectBuilder::from(built).schema_type(SchemaType::Array(types))
}

/// An array of `items`, `min..=max` long.
pub fn array_of(items: impl Into<RefOr<Schema>>, min: usize, max: usize) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(ArrayItems::RefOrSchema(Box::new(items.into())))
        .min_items(Some(min))
        .max_items(Some(max))
}

/// An object that refuses unknown fields (`#[serde(deny_unknown_fields)]`).
pub fn closed_object() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

/// Exactly one of `branches`, each a complete body (a generated client picks one).
pub fn one_of(description: &str, branches: impl IntoIterator<Item = Schema>) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new().description(Some(description));
    for b in branches {
        one_of = one_of.item(b);
    }
    RefOr::T(Schema::OneOf(one_of.build()))
}

/// A user id as `notifications::validate::validate_user_id` takes it.
pub fn user_id() -> ObjectBuilder {
    use crate::notifications::validate::{MAX_USER_ID_CHARS, USER_ID_PATTERN};
    string()
        .min_length(Some(1))
        .max_length(Some(MAX_USER_ID_CHARS))
        .pattern(Some(USER_ID_PATTERN))
}

/// `user_id()`, or absent / `null`.
pub fn optional_user_id() -> ObjectBuilder {
    nullable(user_id())
}

/// An email address as `notifications::validate::validate_email` takes it (ASCII forms).
pub fn email() -> ObjectBuilder {
    use crate::notifications::validate::{EMAIL_PATTERN, MAX_EMAIL_BYTES};
    string()
        .max_length(Some(MAX_EMAIL_BYTES))
        .pattern(Some(EMAIL_PATTERN))
        .examples(["patient@example.com"])
}

/// `email()`, or absent / `null`.
pub fn optional_email() -> ObjectBuilder {
    nullable(email())
}

/// A phone number in one of the forms `sms::Phone::parse` takes, or absent / `null`.
pub fn optional_phone() -> ObjectBuilder {
    nullable(crate::sms::schema::phone())
}

/// Marks every object variant of the `oneOf` component `name` of `doc` as refusing unknown
/// fields: the derive does not carry an enum's `#[serde(deny_unknown_fields)]` to its
/// variants.
pub fn close_variants(doc: &mut utoipa::openapi::OpenApi, name: &str) {
    let Some(RefOr::T(Schema::OneOf(one_of))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(name))
    else {
        return;
    };
    for item in &mut one_of.items {
        if let RefOr::T(Schema::Object(o)) = item {
            o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// An RFC 3339 date-time string.
pub fn date_time() -> ObjectBuilder {
    string().format(Some(SchemaFormat::KnownFormat(
        utoipa::openapi::schema::KnownFormat::DateTime,
    )))
}

/// A Gregorian date as `locale::dates::parse_date` takes it: `YYYY-MM-DD`, years 1900 to 2199
/// (a Solar Hijri date typed in ISO shape, `1403-11-01`, is refused). The pattern leaves out
/// 29 February, which the validation takes in leap years: a regular expression cannot say
/// which years those are.
pub const DATE_PATTERN: &str = r"^(?:19|20|21)[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))$";
/// A 24-hour `HH:MM` (`locale::dates::parse_time`).
pub const TIME_PATTERN: &str = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$";

pub fn date() -> ObjectBuilder {
    string()
        .pattern(Some(DATE_PATTERN))
        .description(Some(
            "Gregorian `YYYY-MM-DD` (1900-2199); written in each reader's calendar",
        ))
        .examples(["2025-01-20"])
}

pub fn time() -> ObjectBuilder {
    string()
        .pattern(Some(TIME_PATTERN))
        .description(Some("24-hour `HH:MM`"))
        .examples(["14:00"])
}

/// `fa`, `pt-BR` or `en`, as `locale::parse_language` takes them; absent: `en`.
pub fn optional_language() -> ObjectBuilder {
    nullable(one_of_strings(
        &crate::email::templates::Language::ALL.map(crate::email::templates::Language::tag),
    ))
    .description(Some(
        "`fa` (Solar Hijri dates, Persian digits, right to left), `pt-BR` or `en` (default)",
    ))
}

/// An optional text field a short template shows (at most
/// `locale::short::MAX_SHORT_FIELD_CHARS` characters).
pub fn optional_short_field() -> ObjectBuilder {
    nullable(string().max_length(Some(crate::locale::short::MAX_SHORT_FIELD_CHARS)))
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "s3")]
    use serde_json::Value;
    #[cfg(feature = "s3")]
    use utoipa::PartialSchema;

    #[cfg(feature = "s3")]
    fn property(schema: &Value, name: &str) -> Value {
        schema["properties"][name].clone()
    }

    #[test]
    fn user_id_pattern_is_what_validate_user_id_takes() {
        use crate::notifications::validate::{USER_ID_PATTERN, validate_user_id};
        let re = regex::Regex::new(USER_ID_PATTERN).unwrap();
        for id in ["alice", "user 1", "کاربر", " x ", "0"] {
            assert!(re.is_match(id), "{id:?}");
            validate_user_id("u", id).unwrap();
        }
        for id in ["", "  ", "a#b", "a\u{7}b", "\u{85}"] {
            assert!(!re.is_match(id), "{id:?}");
            assert!(validate_user_id("u", id).is_err(), "{id:?}");
        }
    }

    // The AI capability is compiled with the `s3` feature only.
    #[cfg(feature = "s3")]
    /// Limits written as literals in `#[schema(...)]` (utoipa takes no constants there) are
    /// the validation's.
    #[test]
    fn literal_limits_are_the_validations() {
        use crate::ai::model::{GenerateBody, MAX_PROMPT_CHARS};
        let generate = serde_json::to_value(GenerateBody::schema()).unwrap();
        assert_eq!(property(&generate, "prompt")["maxLength"], MAX_PROMPT_CHARS);
        let env = crate::config::Env::from_pairs(std::iter::empty::<(&str, &str)>());
        let ai = crate::ai::AiConfig::from_env(&env).unwrap();
        assert_eq!(
            property(&generate, "max_tokens")["maximum"],
            ai.max_tokens_limit,
            "the default AI_MAX_TOKENS_LIMIT"
        );
    }
}
