//! The OpenAPI schema of `POST /api/integrations/ai/generate` says what `generate_work`
//! takes: `patient_context` only with `analysis_type`. The derive describes the fields
//! (`#[schema(...)]` on `GenerateBody`); [`refine`] splits that schema into the two shapes,
//! so a field added to the type appears in both without touching this file.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

use crate::openapi::one_of;

/// Replaces the `GenerateBody` component of `doc` with its two shapes: free generation
/// (no `analysis_type`, no `patient_context`) and medical analysis (`analysis_type`
/// required). Leaves `doc` as it is when the component is not a derived object.
pub fn refine(doc: &mut OpenApi) {
    let Some(schemas) = doc.components.as_mut().map(|c| &mut c.schemas) else {
        return;
    };
    let Some(RefOr::T(Schema::Object(derived))) = schemas.get("GenerateBody").cloned() else {
        return;
    };
    let null = || ObjectBuilder::new().schema_type(Type::Null).build();
    let mut generation = derived.clone();
    generation.title = Some("generation".into());
    generation.description = Some("Free text generation".into());
    generation
        .properties
        .insert("analysis_type".into(), null().into());
    generation
        .properties
        .insert("patient_context".into(), null().into());
    let mut analysis = derived.clone();
    analysis.title = Some("analysis".into());
    analysis.description = Some(
        "Medical analysis of `prompt` (structured JSON, with a not-a-diagnosis notice)".into(),
    );
    analysis.properties.insert(
        "analysis_type".into(),
        Ref::from_schema_name("AnalysisType").into(),
    );
    analysis.required.push("analysis_type".into());
    schemas.insert(
        "GenerateBody".into(),
        one_of(
            derived
                .description
                .as_deref()
                .unwrap_or("The body of a generation"),
            [generation, analysis]
                .into_iter()
                .flat_map(with_and_without_provider),
        ),
    );
    // Chat takes the same provider choice.
    if let Some(RefOr::T(Schema::Object(chat))) = schemas.get("ChatBody").cloned() {
        let description = chat
            .description
            .clone()
            .unwrap_or_else(|| "The body of a chat".into());
        schemas.insert(
            "ChatBody".into(),
            one_of(&description, with_and_without_provider(chat)),
        );
    }
}

/// `model` belongs to one provider (`intake::choice_input`): a shape without `provider`
/// (and so without `model`), and one naming the `provider`. Bodies without a `provider`
/// field are left as one shape.
fn with_and_without_provider(mut shape: utoipa::openapi::schema::Object) -> Vec<Schema> {
    if !shape.properties.contains_key("provider") {
        return vec![Schema::Object(shape)];
    }
    let title = shape.title.clone().unwrap_or_default();
    let mut chosen = shape.clone();
    chosen.title = Some(format!("{title} with a chosen provider").trim().to_string());
    chosen.required.push("provider".into());
    if let Some(RefOr::T(Schema::Object(p))) = chosen.properties.get_mut("provider") {
        // Required here, so a string (the derive made it nullable).
        p.schema_type = Type::String.into();
    }
    let null = || ObjectBuilder::new().schema_type(Type::Null).build();
    shape.properties.insert("provider".into(), null().into());
    shape.properties.insert("model".into(), null().into());
    vec![Schema::Object(shape), Schema::Object(chosen)]
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use utoipa::openapi::{ComponentsBuilder, OpenApiBuilder};

    use super::*;
    use crate::ai::model::GenerateBody;

    #[test]
    fn generation_refuses_patient_context_and_analysis_requires_its_type() {
        let mut doc = OpenApiBuilder::new()
            .components(Some(
                ComponentsBuilder::new()
                    .schema_from::<GenerateBody>()
                    .build(),
            ))
            .build();
        refine(&mut doc);
        let v = serde_json::to_value(&doc.components.unwrap().schemas["GenerateBody"]).unwrap();
        let [generation, analysis] = [&v["oneOf"][0], &v["oneOf"][2]];
        // A model only with a provider.
        assert_eq!(generation["properties"]["model"], json!({"type": "null"}));
        assert!(
            v["oneOf"][1]["required"]
                .as_array()
                .unwrap()
                .contains(&json!("provider"))
        );
        assert_eq!(
            generation["properties"]["patient_context"],
            json!({"type": "null"})
        );
        assert_eq!(
            generation["properties"]["analysis_type"],
            json!({"type": "null"})
        );
        assert!(
            analysis["required"]
                .as_array()
                .unwrap()
                .contains(&json!("analysis_type"))
        );
        // Every field of the type is in both shapes.
        assert_eq!(
            generation["properties"].as_object().unwrap().len(),
            analysis["properties"].as_object().unwrap().len()
        );
    }
}
