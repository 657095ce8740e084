//! Whether a capability may answer from its local fallback (the rule-based AI assistant, the
//! email console log) when no provider is configured.
//!
//! A fallback is configuration, never an error path: it is used only when nothing is
//! configured AND the deployment allows it. An error READING configuration or credentials is
//! not "nothing configured" (that is a 503 `dependency_unavailable`), and an answer from a
//! fallback says `fallback`, never `sent`.

use crate::config::{ConfigError, Env};

/// `{CAPABILITY}_FALLBACK`: one of `allowed` (e.g. `rules`, `log`) enables the fallback,
/// `none`/`off` disables it; unset enables it only on the local stage (`STAGE` unset or
/// `local`). template.yaml sets `STAGE` on AWS and no `*_FALLBACK`: no fallback there.
pub fn allowed(env: &Env, name: &str, allowed: &[&str]) -> Result<bool, ConfigError> {
    match env.optional(name).map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if allowed.contains(&v.as_str()) => Ok(true),
        Some(v) if v == "none" || v == "off" => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            name: name.into(),
            reason: format!("expected {} or none (got {other:?})", allowed.join(", ")),
        }),
        None => Ok(env.optional("STAGE").is_none_or(|stage| stage == "local")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn allowed_by_setting_or_on_the_local_stage_only() {
        let on =
            |pairs: &[(&str, &str)]| allowed(&env(pairs), "EMAIL_FALLBACK", &["log", "console"]);
        assert!(on(&[]).unwrap());
        assert!(on(&[("STAGE", "local")]).unwrap());
        assert!(!on(&[("STAGE", "prod")]).unwrap());
        assert!(on(&[("STAGE", "prod"), ("EMAIL_FALLBACK", "log")]).unwrap());
        assert!(on(&[("EMAIL_FALLBACK", "console")]).unwrap());
        assert!(!on(&[("EMAIL_FALLBACK", "none")]).unwrap());
        let err = on(&[("EMAIL_FALLBACK", "rules")]).unwrap_err().to_string();
        assert!(err.contains("EMAIL_FALLBACK"), "{err}");
    }
}
