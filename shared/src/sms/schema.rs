//! The OpenAPI schemas of the SMS request bodies, built from the constants the validation
//! (`validate.rs`, `phone.rs`) uses. Which fields a send needs depends on its
//! `message_type`, and a bulk request is either one text for many receptors or a list of
//! messages: the derive cannot say that, so these two bodies are one `oneOf` branch per
//! shape. `tests` checks every field of the types is in the schema and that the validation
//! accepts what the patterns describe.

use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};

use super::model::{BulkRequest, MessageType, SendRequest};
use super::{MAX_BULK_RECEPTORS, MAX_TEXT_CHARS, MAX_TOKEN_CHARS};
use crate::locale::ShortTemplate;
use crate::locale::short::MAX_SHORT_FIELD_CHARS;
use crate::openapi::{
    absent, array_of, closed_object, nullable, one_of, one_of_strings, string, text,
};

/// The numbers `Phone::parse` takes, in ASCII digits: an Iranian mobile (`09…`, `9…`,
/// `+989…`, `989…`, `00989…`) or E.164 (`+`, 8 to 15 digits, not `+98…`, which is Iranian
/// and must be a mobile). It also takes Persian and Arabic-Indic digits and spaces, dashes
/// and parentheses between digits, which this pattern leaves out.
pub const PHONE_PATTERN: &str =
    r"^(?:(?:\+98|0098|98|0)?9[0-9]{9}|\+(?:[1-8][0-9]{7,14}|9[0-79][0-9]{6,13}))$";

/// A Kavenegar template name (`validate_template`).
pub const TEMPLATE_PATTERN: &str = r"^[A-Za-z0-9_.-]{1,100}$";

/// An OTP code or pattern token: no whitespace (as Rust sees it, so NEL too), 1 to
/// `MAX_TOKEN_CHARS` characters.
pub fn token_pattern() -> String {
    format!(r"^[^\s\u0085]{{1,{MAX_TOKEN_CHARS}}}$")
}

/// A receptor: a phone number in one of the forms `Phone::parse` takes.
pub fn phone() -> ObjectBuilder {
    string()
        .pattern(Some(PHONE_PATTERN))
        .description(Some(
            "`09123456789`, `+989123456789`, `00989123456789` (also with Persian/Arabic digits, \
             spaces or dashes), or E.164 for other countries",
        ))
        .examples(["09123456789"])
}

fn template() -> ObjectBuilder {
    string()
        .pattern(Some(TEMPLATE_PATTERN))
        .examples(["verify"])
}

fn token() -> ObjectBuilder {
    string().pattern(Some(token_pattern())).examples(["12345"])
}

fn message_text() -> ObjectBuilder {
    text(MAX_TEXT_CHARS)
}

/// The shape of a send with this `message_type`.
fn send_branch(message_type: MessageType) -> Schema {
    let common = closed_object()
        .property("message_type", one_of_strings(&[message_type.as_str()]))
        .property("receptor", phone())
        .property(
            "user_id",
            nullable(string()).description(Some(
                "The user a service sends for (counts against that user's SMS limit)",
            )),
        )
        .property("language", absent())
        .property("data", absent())
        .required("receptor")
        .required("message_type");
    let b = match message_type {
        MessageType::Otp => common
            .title(Some("otp"))
            .description(Some(
                "A one-time code (Kavenegar verify/lookup): `token` is the code; `template` \
                 defaults to SMS_OTP_TEMPLATE",
            ))
            .property("template", nullable(template()))
            .property("token", token())
            .property("token2", absent())
            .property("token3", absent())
            .property("message", absent())
            .required("token"),
        MessageType::Pattern => common
            .title(Some("pattern"))
            .description(Some("A provider template filled with `token`..`token3`"))
            .property("template", template())
            .property("token", token())
            .property("token2", nullable(token()))
            .property("token3", nullable(token()))
            .property("message", absent())
            .required("template")
            .required("token"),
        MessageType::Text => common
            .title(Some("text"))
            .description(Some("Free text"))
            .property("template", absent())
            .property("token", absent())
            .property("token2", absent())
            .property("token3", absent())
            .property("message", message_text())
            .required("message"),
    };
    b.into()
}

/// The shape of a send of the hub's named template `t` (no `message_type`): its `data`
/// fields from the same declaration the rendering checks (`ShortTemplate::required_fields`,
/// `optional_fields`).
fn named_branch(t: ShortTemplate) -> Schema {
    let field = |name: &str| match name {
        "date" => crate::openapi::date(),
        "time" => crate::openapi::time(),
        "risk_level" => one_of_strings(&["low", "moderate", "high", "critical"]),
        _ => text(MAX_SHORT_FIELD_CHARS),
    };
    let mut data = ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Object);
    for name in t.required_fields() {
        data = data.property(*name, field(name)).required(*name);
    }
    for name in t.optional_fields() {
        data = data.property(*name, nullable(field(name)));
    }
    closed_object()
        .title(Some(t.as_str()))
        .description(Some(format!(
            "The hub's `{}` text in the reader's language (dates as the reader writes them)",
            t.as_str()
        )))
        .property("message_type", absent())
        .property("receptor", phone())
        .property("template", one_of_strings(&[t.as_str()]))
        .property("language", crate::openapi::optional_language())
        .property("data", data)
        .property(
            "user_id",
            nullable(string()).description(Some(
                "The user a service sends for (counts against that user's SMS limit)",
            )),
        )
        .property("token", absent())
        .property("token2", absent())
        .property("token3", absent())
        .property("message", absent())
        .required("receptor")
        .required("template")
        .required("data")
        .into()
}

impl utoipa::PartialSchema for SendRequest {
    fn schema() -> RefOr<Schema> {
        one_of(
            "`POST /api/integrations/sms/send`: the Helsa body, whose fields depend on `message_type`; or, without `message_type`, one of the hub's named templates with its `data`.",
            [MessageType::Otp, MessageType::Pattern, MessageType::Text]
                .map(send_branch)
                .into_iter()
                .chain(ShortTemplate::ALL.map(named_branch)),
        )
    }
}

impl utoipa::ToSchema for SendRequest {}

impl utoipa::PartialSchema for BulkRequest {
    fn schema() -> RefOr<Schema> {
        let one_text = closed_object()
            .title(Some("one text"))
            .description(Some(
                "The same `message` to every receptor (repeated numbers are sent once)",
            ))
            .property("receptors", array_of(phone(), 1, MAX_BULK_RECEPTORS))
            .property("message", message_text())
            .property("messages", absent())
            .required("receptors")
            .required("message");
        let many = closed_object()
            .title(Some("messages"))
            .description(Some("A text per receptor"))
            .property("receptors", absent())
            .property("message", absent())
            .property(
                "messages",
                array_of(Ref::from_schema_name("BulkMessage"), 1, MAX_BULK_RECEPTORS),
            )
            .required("messages");
        one_of(
            "`POST /api/integrations/sms/bulk`: `receptors` with one `message`, or `messages`.",
            [one_text.into(), many.into()],
        )
    }
}

impl utoipa::ToSchema for BulkRequest {}

/// `BulkMessage.receptor` (`#[schema(schema_with)]`).
pub fn bulk_receptor() -> ObjectBuilder {
    phone()
}

/// `BulkMessage.message` (`#[schema(schema_with)]`).
pub fn bulk_message_text() -> ObjectBuilder {
    message_text()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use regex::Regex;
    use serde_json::{Value, json};
    use utoipa::PartialSchema;

    use super::*;
    use crate::sms::Phone;
    use crate::sms::config::SmsConfig;

    fn branches<T: PartialSchema>() -> Vec<Value> {
        let v = serde_json::to_value(T::schema()).unwrap();
        v["oneOf"].as_array().unwrap().clone()
    }

    fn property_names(branch: &Value) -> BTreeSet<String> {
        branch["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn phone_pattern_describes_numbers_the_parser_takes() {
        let re = Regex::new(PHONE_PATTERN).unwrap();
        for ok in [
            "09123456789",
            "9123456789",
            "989123456789",
            "+989123456789",
            "00989123456789",
            "+14155550123",
            "+5511987654321",
            "+12345678",
            "+123456789012345",
            "+971501234567",
            "+90123456",
        ] {
            assert!(re.is_match(ok), "{ok} should match");
            Phone::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for wrong in [
            "+98123456789",
            "0812345678",
            "+1234567",
            "+0123456789",
            "12345",
        ] {
            assert!(!re.is_match(wrong), "{wrong} should not match");
        }
    }

    #[test]
    fn send_branches_name_every_field_and_are_accepted() {
        // Every field of the type, as serde writes it.
        let full = SendRequest {
            receptor: "09123456789".into(),
            message_type: Some(MessageType::Pattern),
            template: Some("t".into()),
            language: Some("en".into()),
            data: Some(serde_json::Map::new()),
            token: Some("a".into()),
            token2: Some("b".into()),
            token3: Some("c".into()),
            message: Some("m".into()),
            user_id: Some("u".into()),
        };
        let fields: BTreeSet<String> = serde_json::to_value(&full)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let all = branches::<SendRequest>();
        assert_eq!(all.len(), 3 + ShortTemplate::ALL.len());
        for b in &all {
            assert_eq!(property_names(b), fields, "{b}");
            assert_eq!(b["additionalProperties"], false);
        }
        // The smallest body of each branch (its required fields, from its examples or the
        // shortest valid text) passes the validation.
        let config = SmsConfig::from_env(&crate::config::Env::from_pairs(std::iter::empty::<(
            &str,
            &str,
        )>()))
        .unwrap();
        for body in [
            json!({"receptor": "09123456789", "message_type": "otp", "token": "12345"}),
            json!({"receptor": "+14155550123", "message_type": "pattern", "template": "verify", "token": "x"}),
            json!({"receptor": "09123456789", "message_type": "text", "message": "سلام"}),
        ] {
            let branch = all
                .iter()
                .find(|b| b["properties"]["message_type"]["enum"][0] == body["message_type"])
                .unwrap();
            let required: BTreeSet<String> = branch["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let given: BTreeSet<String> = body.as_object().unwrap().keys().cloned().collect();
            assert_eq!(required, given, "{body}");
            let req: SendRequest = serde_json::from_value(body.clone()).unwrap();
            req.validate(&config)
                .unwrap_or_else(|e| panic!("{body}: {e:?}"));
        }
    }

    #[test]
    fn token_and_template_patterns_match_the_validation_limits() {
        let token = Regex::new(&token_pattern()).unwrap();
        assert!(token.is_match(&"x".repeat(MAX_TOKEN_CHARS)));
        assert!(!token.is_match(&"x".repeat(MAX_TOKEN_CHARS + 1)));
        assert!(!token.is_match("a b"));
        let template = Regex::new(TEMPLATE_PATTERN).unwrap();
        assert!(template.is_match("verify.v2_x-y"));
        assert!(!template.is_match("with space"));
    }

    #[test]
    fn bulk_branches_name_every_field() {
        let full = BulkRequest {
            receptors: Some(vec![]),
            message: Some(String::new()),
            messages: Some(vec![]),
        };
        let fields: BTreeSet<String> = serde_json::to_value(&full)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for b in branches::<BulkRequest>() {
            assert_eq!(property_names(&b), fields, "{b}");
        }
        for body in [
            json!({"receptors": ["09123456789"], "message": "hi"}),
            json!({"messages": [{"receptor": "+14155550123", "message": "hi"}]}),
        ] {
            let req: BulkRequest = serde_json::from_value(body.clone()).unwrap();
            req.validate().unwrap_or_else(|e| panic!("{body}: {e:?}"));
        }
    }
}
