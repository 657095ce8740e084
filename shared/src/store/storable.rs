//! Free-form JSON that the hub stores in DynamoDB (a provider's `settings`, a
//! notification's `data`) must be something DynamoDB can hold, or the write fails after the
//! request was accepted: DynamoDB refuses an empty attribute name at any depth of a map
//! ("Empty attribute name") and numbers outside 1E-130..9.9999999999999999999999999999999999999E+125
//! in magnitude. [`check`] turns those into a 400 naming the field; [`StorableObject`] is
//! the same rule in the OpenAPI document.

use serde_json::Value;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::{Ref, RefOr};

use crate::error::InvalidInput;

/// The largest magnitude DynamoDB stores (a number above it is refused). Written with
/// DynamoDB's 38 significant digits as documented, more than an f64 holds.
#[allow(clippy::excessive_precision)]
pub const MAX_MAGNITUDE: f64 = 9.999_999_999_999_999e125;
/// The smallest non-zero magnitude DynamoDB stores.
pub const MIN_MAGNITUDE: f64 = 1e-130;

/// The document states slightly narrower bounds than [`check`] applies: a number written
/// exactly at a bound (`1e-130`) may parse a hair outside it, and a client that keeps to
/// the documented bounds must never be refused.
const SCHEMA_MIN: f64 = 1.01e-130;
const SCHEMA_MAX: f64 = 9.9e125;

/// Refuses what DynamoDB cannot store in `value`, naming the place (`settings.a[2]`).
pub fn check(field: &str, value: &Value) -> Result<(), InvalidInput> {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k.is_empty() {
                    return Err(InvalidInput::field(
                        field,
                        "object keys must not be empty (DynamoDB refuses empty names)",
                    ));
                }
                check(&format!("{field}.{k}"), v)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check(&format!("{field}[{i}]"), v)),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0).abs();
            if x != 0.0 && !(MIN_MAGNITUDE..=MAX_MAGNITUDE).contains(&x) {
                return Err(InvalidInput::field(
                    field,
                    "numbers must be 0 or between 1E-130 and 9.99E+125 in magnitude",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// [`check`] over the values of a map (the map itself is the field).
pub fn check_map(field: &str, map: &serde_json::Map<String, Value>) -> Result<(), InvalidInput> {
    map.iter().try_for_each(|(k, v)| {
        if k.is_empty() {
            Err(InvalidInput::field(
                field,
                "object keys must not be empty (DynamoDB refuses empty names)",
            ))
        } else {
            check(&format!("{field}.{k}"), v)
        }
    })
}

/// The OpenAPI form of a JSON object [`check`] accepts (field type of `settings`, `data`).
pub struct StorableObject;

/// Any JSON value [`check`] accepts, recursively (the component the objects refer to).
pub struct StorableJson;

fn object() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(
            Ref::from_schema_name("StorableJson").into(),
        )))
}

fn number(min: f64, max: f64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(min))
        .maximum(Some(max))
}

/// A number [`check`] accepts: 0, or 1E-130..9.99E+125 in magnitude.
pub fn number_schema() -> OneOfBuilder {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .enum_values(Some([0])),
        )
        .item(number(SCHEMA_MIN, SCHEMA_MAX))
        .item(number(-SCHEMA_MAX, -SCHEMA_MIN))
}

impl utoipa::PartialSchema for StorableObject {
    fn schema() -> RefOr<Schema> {
        object()
            .description(Some(
                "A JSON object the hub can store: no empty keys at any depth, numbers 0 or 1E-130..9.99E+125 in magnitude",
            ))
            .into()
    }
}

impl utoipa::ToSchema for StorableObject {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            StorableJson::name().into(),
            <StorableJson as utoipa::PartialSchema>::schema(),
        ));
    }
}

impl utoipa::PartialSchema for StorableJson {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .enum_values(Some([0])),
            )
            .item(number(SCHEMA_MIN, SCHEMA_MAX))
            .item(number(-SCHEMA_MAX, -SCHEMA_MIN))
            .item(ArrayBuilder::new().items(Ref::from_schema_name("StorableJson")))
            .item(object())
            .description(Some("A JSON value the hub can store in DynamoDB"))
            .into()
    }
}

impl utoipa::ToSchema for StorableJson {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_keys_and_out_of_range_numbers_are_refused_with_their_place() {
        assert!(check("s", &json!({"a": [1, "x", null, {"b": 2.5e-3}], "c": 0})).is_ok());
        let e = check("settings", &json!({"a": [1, {"": 2}]})).unwrap_err();
        assert_eq!(e.fields[0].field, "settings.a[1]");
        let e = check("data", &json!({"n": [1.5e308]})).unwrap_err();
        assert_eq!(e.fields[0].field, "data.n[0]");
        assert!(check("d", &json!({"tiny": 1e-200})).is_err());
        assert!(check("d", &json!({"ok": -9.9e125})).is_ok());
    }
}
