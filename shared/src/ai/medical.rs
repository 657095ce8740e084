//! Medical text analysis (the Helsa `analyze_medical_text`): analysis types, their prompts and
//! JSON schemas, validation of what comes back, and the "not a diagnosis" notice that every
//! answer carries.
//!
//! | type | what the model returns |
//! | --- | --- |
//! | `symptoms` | symptoms with severity and duration, possible causes, red flags, specialty, questions to ask |
//! | `summary` | a clinical summary, key findings, medications mentioned, follow-up |
//! | `triage` | urgency (`emergency` .. `self_care`), reasoning, red flags, recommended action |
//! | `medications` | medications with dose/frequency/route, interactions, warnings |
//!
//! The schemas are written for OpenAI's strict structured output (every property required,
//! no additional properties), and the same schema validates every provider's answer: a
//! provider that answers prose or a wrong shape has failed, and the engine fails over.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::provider::{CompletionRequest, Message};
use super::rules::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisType {
    Symptoms,
    Summary,
    Triage,
    Medications,
}

impl AnalysisType {
    pub fn as_str(self) -> &'static str {
        match self {
            AnalysisType::Symptoms => "symptoms",
            AnalysisType::Summary => "summary",
            AnalysisType::Triage => "triage",
            AnalysisType::Medications => "medications",
        }
    }

    fn task(self) -> &'static str {
        match self {
            AnalysisType::Symptoms => {
                "Extract the symptoms the text describes (with severity and duration when stated), list plausible causes to consider, any red-flag findings that need urgent care, the medical specialty best suited, and follow-up questions a clinician would ask."
            }
            AnalysisType::Summary => {
                "Write a concise clinical summary of the text, its key findings, the medications it mentions and the follow-up it implies."
            }
            AnalysisType::Triage => {
                "Assess how urgently the patient described should be seen: emergency (call emergency services now), urgent (same day), soon (within days), routine, or self_care. Explain briefly, list red flags and the recommended action and specialty. When in doubt, choose the more urgent level."
            }
            AnalysisType::Medications => {
                "List the medications in the text with dose, frequency and route when stated (empty string when not), possible interactions between them with their severity, and warnings."
            }
        }
    }

    /// The JSON schema the answer must match.
    pub fn schema(self) -> Value {
        let strings = json!({"type": "array", "items": {"type": "string"}});
        match self {
            AnalysisType::Symptoms => object(json!({
                "symptoms": {"type": "array", "items": object(json!({
                    "name": {"type": "string"},
                    "severity": {"type": "string", "enum": ["mild", "moderate", "severe", "unknown"]},
                    "duration": {"type": "string"}
                }))},
                "possible_causes": strings,
                "red_flags": strings,
                "recommended_specialty": {"type": "string"},
                "follow_up_questions": strings
            })),
            AnalysisType::Summary => object(json!({
                "summary": {"type": "string"},
                "key_findings": strings,
                "medications_mentioned": strings,
                "follow_up": strings
            })),
            AnalysisType::Triage => object(json!({
                "urgency": {"type": "string", "enum": ["emergency", "urgent", "soon", "routine", "self_care"]},
                "reasoning": {"type": "string"},
                "red_flags": strings,
                "recommended_action": {"type": "string"},
                "recommended_specialty": {"type": "string"}
            })),
            AnalysisType::Medications => object(json!({
                "medications": {"type": "array", "items": object(json!({
                    "name": {"type": "string"},
                    "dose": {"type": "string"},
                    "frequency": {"type": "string"},
                    "route": {"type": "string"}
                }))},
                "interactions": {"type": "array", "items": object(json!({
                    "between": strings,
                    "concern": {"type": "string"},
                    "severity": {"type": "string", "enum": ["minor", "moderate", "major"]}
                }))},
                "warnings": strings
            })),
        }
    }
}

/// A strict object schema: every property required, nothing else allowed.
fn object(properties: Value) -> Value {
    let required: Vec<Value> = properties
        .as_object()
        .map(|m| m.keys().map(|k| json!(k)).collect())
        .unwrap_or_default();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// Optional facts about the patient that change the reading (Helsa's `patient_context`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientContext {
    /// Age in years, 0..=130.
    #[serde(default)]
    #[schema(maximum = 130)]
    pub age: Option<u32>,
    /// `male`, `female`, `other` or free text up to 20 characters.
    #[serde(default)]
    #[schema(max_length = 20)]
    pub gender: Option<String>,
}

impl PatientContext {
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.age.is_some_and(|a| a > 130) {
            return Err(("patient_context.age", "must be between 0 and 130"));
        }
        if self.gender.as_ref().is_some_and(|g| g.chars().count() > 20) {
            return Err(("patient_context.gender", "at most 20 characters"));
        }
        Ok(())
    }
}

/// The request a provider gets for an analysis. `text` has already been redacted.
pub fn request(
    kind: AnalysisType,
    text: &str,
    patient: &PatientContext,
    language: Language,
    max_tokens: u32,
    temperature: f32,
) -> CompletionRequest {
    let mut context = Vec::new();
    if let Some(a) = patient.age {
        context.push(format!("age {a}"));
    }
    if let Some(g) = &patient.gender {
        context.push(format!("gender {g}"));
    }
    let system = format!(
        "You assist clinicians in a health-care service. You never diagnose: you structure information for a \
         qualified professional to review. {} Write free-text values in {}. Identifiers in the text may be replaced \
         by placeholders such as [NAME] or [PHONE]; keep them as they are.",
        kind.task(),
        language.english_name()
    );
    let user = if context.is_empty() {
        format!("Text to analyse:\n{text}")
    } else {
        format!(
            "Patient context: {}.\nText to analyse:\n{text}",
            context.join(", ")
        )
    };
    CompletionRequest {
        messages: vec![Message::system(system), Message::user(user)],
        max_tokens,
        temperature,
        json_schema: Some((format!("medical_{}", kind.as_str()), kind.schema())),
    }
}

/// The notice every analysis answer carries, in the text's language.
pub fn notice(language: Language) -> &'static str {
    match language {
        Language::En => {
            "This is an automated analysis to support a qualified health professional. It is not a diagnosis and not medical advice. In an emergency call your local emergency number."
        }
        Language::PtBr => {
            "Esta é uma análise automática para apoiar um profissional de saúde qualificado. Não é um diagnóstico nem orientação médica. Em caso de emergência, ligue 192 (SAMU)."
        }
        Language::Fa => {
            "این یک تحلیل خودکار برای کمک به کادر درمان است و تشخیص پزشکی یا توصیه درمانی نیست. در شرایط اورژانسی با ۱۱۵ تماس بگیرید."
        }
    }
}

/// Reads a model's JSON answer (tolerating a Markdown code fence around it) and validates it.
pub fn parse_structured(text: &str, schema: &Value) -> Result<Value, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map(|rest| rest.trim_end().trim_end_matches("```").trim())
        .unwrap_or(t);
    let value: Value = serde_json::from_str(t).map_err(|e| format!("not JSON: {e}"))?;
    validate(&value, schema, "$")?;
    Ok(value)
}

/// Validates `value` against the subset of JSON Schema the hub's schemas use: `type`
/// (object, array, string, number, integer, boolean), `properties`, `required`,
/// `additionalProperties: false`, `items`, `enum`.
pub fn validate(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !ok {
        return Err(format!("{at}: expected {ty}"));
    }
    if schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|allowed| !allowed.contains(value))
    {
        return Err(format!("{at}: not one of the allowed values"));
    }
    if let (Some(obj), Some(props)) = (
        value.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !obj.contains_key(req) {
                return Err(format!("{at}.{req}: missing"));
            }
        }
        for (k, v) in obj {
            match props.get(k) {
                Some(s) => validate(v, s, &format!("{at}.{k}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}.{k}: not allowed"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(s)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            validate(v, s, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_triage_answers() {
        let schema = AnalysisType::Triage.schema();
        let good = r#"```json
        {"urgency": "urgent", "reasoning": "r", "red_flags": [], "recommended_action": "a", "recommended_specialty": "s"}
        ```"#;
        assert_eq!(
            parse_structured(good, &schema).unwrap()["urgency"],
            "urgent"
        );
        let bad_enum = r#"{"urgency": "whenever", "reasoning": "r", "red_flags": [], "recommended_action": "a", "recommended_specialty": "s"}"#;
        assert!(
            parse_structured(bad_enum, &schema)
                .unwrap_err()
                .contains("urgency")
        );
        assert!(
            parse_structured(r#"{"urgency": "urgent"}"#, &schema)
                .unwrap_err()
                .contains("missing")
        );
        assert!(parse_structured("The patient should see a doctor.", &schema).is_err());
    }

    #[test]
    fn every_schema_is_strict() {
        for t in [
            AnalysisType::Symptoms,
            AnalysisType::Summary,
            AnalysisType::Triage,
            AnalysisType::Medications,
        ] {
            let s = t.schema();
            assert_eq!(s["additionalProperties"], false);
            assert_eq!(
                s["required"].as_array().unwrap().len(),
                s["properties"].as_object().unwrap().len()
            );
        }
    }
}
