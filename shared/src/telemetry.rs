//! Structured JSON logs through `tracing`.
//!
//! The Lambda runtime opens a span per invocation carrying `requestId`; the JSON formatter
//! writes the current span's fields on every line, so each log line names its request.
//!
//! The level filter is a [`Targets`] list (`info`, `shared=debug,info`, ...), not an
//! `EnvFilter`: `EnvFilter` can match span fields against regular expressions, which links
//! `regex-automata` and the Unicode tables of `regex-syntax` into every function, about
//! 0.3 MB of each binary (docs/performance.md, section 4) for a syntax nobody sets here.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Installs the JSON subscriber once. `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`) sets the level.
pub fn init() {
    let spec = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .ok();
    let (filter, rejected) = log_filter(spec.as_deref());
    let installed = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        // The builder's own maximum is INFO; `filter` decides.
        .with_max_level(LevelFilter::TRACE)
        .finish()
        .with(filter)
        .try_init()
        .is_ok();
    if installed && let Some(spec) = rejected {
        tracing::warn!(spec, "RUST_LOG not understood; logging at info");
    }
}

/// The filter for a `RUST_LOG`-style list of `level` and `target=level` directives; `info`
/// when unset. A list that does not parse also gives `info`, and is returned to be reported.
pub fn log_filter(spec: Option<&str>) -> (Targets, Option<&str>) {
    let info = || Targets::new().with_default(LevelFilter::INFO);
    match spec.map(str::trim) {
        None | Some("") => (info(), None),
        Some(s) => match Targets::from_str(s) {
            Ok(targets) => (targets, None),
            Err(_) => (info(), Some(s)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn unset_means_info() {
        let (f, rejected) = log_filter(None);
        assert!(f.would_enable("shared::email", &Level::INFO));
        assert!(!f.would_enable("shared::email", &Level::DEBUG));
        assert_eq!(rejected, None);
    }

    #[test]
    fn a_level_and_per_target_levels() {
        let (f, _) = log_filter(Some("warn"));
        assert!(f.would_enable("anything", &Level::WARN));
        assert!(!f.would_enable("anything", &Level::INFO));

        let (f, rejected) = log_filter(Some("shared=debug,info"));
        assert!(f.would_enable("shared::secrets", &Level::DEBUG));
        assert!(!f.would_enable("aws_config", &Level::DEBUG));
        assert!(f.would_enable("aws_config", &Level::INFO));
        assert_eq!(rejected, None);
    }

    #[test]
    fn lambda_log_levels_lowercased() {
        // AWS_LAMBDA_LOG_LEVEL is upper case (DEBUG, ERROR); init lowercases it.
        let (f, _) = log_filter(Some("error"));
        assert!(f.would_enable("shared", &Level::ERROR));
        assert!(!f.would_enable("shared", &Level::WARN));
    }

    #[test]
    fn garbage_falls_back_to_info_and_is_reported() {
        let (f, rejected) = log_filter(Some("shared=loud"));
        assert!(f.would_enable("shared", &Level::INFO));
        assert!(!f.would_enable("shared", &Level::DEBUG));
        assert_eq!(rejected, Some("shared=loud"));
    }
}
