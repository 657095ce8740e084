//! Which backend and which limits, read from the environment once at cold start.

use std::path::PathBuf;
use std::time::Duration;

use super::validate::UploadLimits;
use crate::config::{ConfigError, Env};

/// Which backend, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    S3 { bucket: String },
    Local { dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub backend: BackendConfig,
    pub limits: UploadLimits,
    /// `UPLOAD_PRESIGN_TTL_SECONDS`, default 300: how long a presigned POST is valid.
    pub presign_ttl: Duration,
    /// `UPLOAD_DOWNLOAD_TTL_SECONDS`, default 300: how long a download URL is valid.
    pub download_ttl: Duration,
    /// `UPLOAD_PENDING_TTL_HOURS`, default 24: when a never-completed upload's record expires.
    pub pending_ttl: Duration,
}

impl StorageConfig {
    /// `STORAGE_TYPE` is `s3` or `local`; unset, it is `s3` when a bucket is configured
    /// (`UPLOADS_BUCKET`, set by the template, or the seed's `AWS_S3_BUCKET`) and `local`
    /// otherwise (the seed's fallback). `UPLOAD_DIR` defaults to `uploads`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let bucket = env
            .optional("UPLOADS_BUCKET")
            .or_else(|| env.optional("AWS_S3_BUCKET"));
        let kind = env.optional("STORAGE_TYPE").map(|s| s.to_ascii_lowercase());
        let backend = match (kind.as_deref(), bucket) {
            (Some("s3") | None, Some(bucket)) => BackendConfig::S3 { bucket },
            (Some("s3"), None) => {
                return Err(ConfigError::Missing(
                    "UPLOADS_BUCKET (or AWS_S3_BUCKET)".into(),
                ));
            }
            (Some("local") | None, _) => BackendConfig::Local {
                dir: PathBuf::from(
                    env.optional("UPLOAD_DIR")
                        .unwrap_or_else(|| "uploads".into()),
                ),
            },
            (Some(other), _) => {
                return Err(ConfigError::Invalid {
                    name: "STORAGE_TYPE".into(),
                    reason: format!("expected s3 or local (got {other:?})"),
                });
            }
        };
        let presign_secs: u64 = env.parse_or("UPLOAD_PRESIGN_TTL_SECONDS", 300)?;
        let download_secs: u64 = env.parse_or("UPLOAD_DOWNLOAD_TTL_SECONDS", 300)?;
        for (name, secs) in [
            ("UPLOAD_PRESIGN_TTL_SECONDS", presign_secs),
            ("UPLOAD_DOWNLOAD_TTL_SECONDS", download_secs),
        ] {
            // SigV4 presigned URLs live at most 7 days.
            if !(1..=604_800).contains(&secs) {
                return Err(ConfigError::Invalid {
                    name: name.into(),
                    reason: format!("expected 1..=604800 seconds (got {secs})"),
                });
            }
        }
        let pending_hours: u64 = env.parse_or("UPLOAD_PENDING_TTL_HOURS", 24)?;
        Ok(Self {
            backend,
            limits: UploadLimits::from_env(env)?,
            presign_ttl: Duration::from_secs(presign_secs),
            download_ttl: Duration::from_secs(download_secs),
            pending_ttl: Duration::from_secs(pending_hours * 3600),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_environment() {
        let cfg = StorageConfig::from_env(&Env::from_pairs([("UPLOADS_BUCKET", "b")])).unwrap();
        assert_eq!(cfg.backend, BackendConfig::S3 { bucket: "b".into() });
        let cfg = StorageConfig::from_env(&Env::from_pairs([("AWS_S3_BUCKET", "seed")])).unwrap();
        assert_eq!(
            cfg.backend,
            BackendConfig::S3 {
                bucket: "seed".into()
            }
        );
        let cfg = StorageConfig::from_env(&Env::from_pairs([
            ("UPLOADS_BUCKET", "b"),
            ("STORAGE_TYPE", "local"),
        ]))
        .unwrap();
        assert_eq!(
            cfg.backend,
            BackendConfig::Local {
                dir: "uploads".into()
            }
        );
        let cfg = StorageConfig::from_env(&Env::from_pairs([("UPLOAD_DIR", "/tmp/x")])).unwrap();
        assert_eq!(
            cfg.backend,
            BackendConfig::Local {
                dir: "/tmp/x".into()
            }
        );
        let err = StorageConfig::from_env(&Env::from_pairs([("STORAGE_TYPE", "gcs")])).unwrap_err();
        assert!(err.to_string().contains("STORAGE_TYPE"));
        let err = StorageConfig::from_env(&Env::from_pairs([("STORAGE_TYPE", "s3")])).unwrap_err();
        assert!(err.to_string().contains("UPLOADS_BUCKET"));
    }
}
