//! The OpenAPI schema of `POST /api/integrations/email/send`, built from the declarations
//! the validation reads: one `oneOf` branch per template (`TemplateName::required_fields`,
//! `optional_fields`, `url_fields`, the field limits), plus the plain message
//! (`MAX_SUBJECT_CHARS`, `MAX_BODY_CHARS`). A new template or field shows in the document
//! without touching it.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::model::SendEmailBody;
use super::templates::{Language, MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, TemplateName};
use super::{MAX_BODY_CHARS, MAX_SUBJECT_CHARS};
use crate::openapi::{
    absent, closed_object, email, nullable, one_of, one_of_strings, string, text, visible_text,
};

/// The fields every branch has.
fn common() -> ObjectBuilder {
    closed_object()
        .property(
            "to",
            email().description(Some("Recipient address, e.g. `patient@example.com`")),
        )
        .property(
            "user_id",
            nullable(string()).description(Some(
                "The user the email is sent for; it counts against that user's hourly email limit (default: the caller)",
            )),
        )
        .required("to")
}

/// A template's `data`: its required fields, non-blank; its optional ones; links as
/// http(s) URLs. Other keys are ignored by the template.
fn data(template: TemplateName) -> ObjectBuilder {
    let mut data = ObjectBuilder::new().schema_type(Type::Object);
    let max = |field: &str| {
        if field == "message" {
            MAX_MESSAGE_CHARS
        } else {
            MAX_FIELD_CHARS
        }
    };
    for field in template.required_fields() {
        let mut value = match *field {
            "date" => crate::openapi::date(),
            "time" => crate::openapi::time(),
            _ => text(max(field)),
        };
        if template.url_fields().contains(field) {
            value = value.pattern(Some(URL_PATTERN));
        }
        data = data.property(*field, value).required(*field);
    }
    for field in template.optional_fields() {
        let value = if matches!(*field, "date" | "time") {
            nullable(if *field == "date" {
                crate::openapi::date()
            } else {
                crate::openapi::time()
            })
        } else if template.url_fields().contains(field) {
            nullable(
                string()
                    .max_length(Some(max(field)))
                    .pattern(Some(URL_PATTERN)),
            )
        } else {
            nullable(string().max_length(Some(max(field))))
        };
        data = data.property(*field, value);
    }
    data
}

/// A link field (`url_fields`): the validation takes `http://` or `https://` in any case.
const URL_PATTERN: &str = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://";

fn template_branch(template: TemplateName) -> Schema {
    common()
        .title(Some(template.as_str()))
        .description(Some(format!("The `{}` template", template.as_str())))
        .property("template", one_of_strings(&[template.as_str()]))
        .property(
            "language",
            nullable(one_of_strings(&Language::ALL.map(Language::tag)))
                .description(Some("`fa` (right-to-left), `pt-BR` or `en` (default `en`)")),
        )
        .property("data", data(template))
        .property("subject", absent())
        .property("body", absent())
        .required("template")
        .required("data")
        .into()
}

fn plain_branch() -> Schema {
    common()
        .title(Some("plain"))
        .description(Some("A plain message: `subject` and `body`"))
        .property("template", absent())
        .property("language", absent())
        .property("data", absent())
        .property("subject", visible_text(MAX_SUBJECT_CHARS))
        .property("body", text(MAX_BODY_CHARS))
        .required("subject")
        .required("body")
        .into()
}

impl utoipa::PartialSchema for SendEmailBody {
    fn schema() -> RefOr<Schema> {
        one_of(
            "`POST /api/integrations/email/send`: a template with its `data` (see `GET /api/integrations/email/templates`), or a plain `subject` and `body`.",
            TemplateName::ALL
                .map(template_branch)
                .into_iter()
                .chain([plain_branch()]),
        )
    }
}

impl utoipa::ToSchema for SendEmailBody {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Map, Value, json};
    use utoipa::PartialSchema;

    use super::*;
    use crate::email::mailer::parse_address;

    #[test]
    fn every_branch_names_every_field_and_its_smallest_body_is_accepted() {
        let schema = serde_json::to_value(SendEmailBody::schema()).unwrap();
        let full = SendEmailBody {
            to: Some("a@example.com".into()),
            template: Some("generic".into()),
            language: Some("en".into()),
            data: Some(Map::new()),
            subject: Some("s".into()),
            body: Some("b".into()),
            user_id: Some("u".into()),
        };
        let fields: BTreeSet<String> = serde_json::to_value(&full)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let branches = schema["oneOf"].as_array().unwrap();
        assert_eq!(branches.len(), TemplateName::ALL.len() + 1);
        for b in branches {
            let names: BTreeSet<String> = b["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert_eq!(names, fields, "{b}");
            // The smallest body this branch allows: its required fields, each a short value.
            let mut body = json!({"to": "patient@example.com"});
            for field in b["required"].as_array().unwrap() {
                let field = field.as_str().unwrap();
                body[field] = match field {
                    "to" => continue,
                    "template" => b["properties"]["template"]["enum"][0].clone(),
                    "data" => {
                        let mut data = Map::new();
                        for f in b["properties"]["data"]["required"].as_array().unwrap() {
                            let f = f.as_str().unwrap();
                            let v = match f {
                                _ if f.ends_with("_url") => "https://example.com/x",
                                "date" => "2025-01-20",
                                "time" => "14:00",
                                _ => "x",
                            };
                            data.insert(f.into(), Value::from(v));
                        }
                        Value::Object(data)
                    }
                    _ => Value::from("x"),
                };
            }
            let req: SendEmailBody = serde_json::from_value(body.clone()).unwrap();
            let request = req
                .to_request("r")
                .unwrap_or_else(|e| panic!("{body}: {e:?}"));
            if let super::super::model::EmailContent::Template { template, data, .. } =
                &request.content
            {
                let t: TemplateName = template.parse().unwrap();
                super::super::templates::TemplateCatalog::new()
                    .unwrap()
                    .validate(t, data)
                    .unwrap_or_else(|e| panic!("{body}: {e:?}"));
            }
        }
    }

    #[test]
    fn the_email_pattern_is_taken_by_both_address_checks() {
        let re = regex::Regex::new(crate::notifications::validate::EMAIL_PATTERN).unwrap();
        for ok in [
            "patient@example.com",
            "a.b+c@mail.example.co",
            "x_y-z@a-b.c",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbb.ccccccccccccccc@sy.p",
        ] {
            assert!(re.is_match(ok), "{ok}");
            parse_address(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            crate::notifications::validate::validate_email("e", ok)
                .unwrap_or_else(|e| panic!("{ok}: {e:?}"));
        }
        for wrong in [
            "a@localhost",
            "a b@example.com",
            "a@.example.com",
            "a@example.com.",
        ] {
            assert!(!re.is_match(wrong), "{wrong}");
        }
    }
}
