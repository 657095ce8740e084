//! File uploads: avatars and attachments stored in S3 or a local directory, validated by
//! their content, with one DynamoDB record per file.
//!
//! - [`Storage`] ([`backend`]): the backend trait; [`s3::S3Storage`] (default when a bucket is
//!   configured, as in every deployment) and [`local::LocalStorage`] (`STORAGE_TYPE=local`,
//!   `UPLOAD_DIR`), chosen by [`StorageConfig`] ([`config`]).
//! - [`validate`] and [`sniff`]: size, type from the bytes, image dimensions, file names.
//! - [`records`]: the `FILE#{id}` items in `HUB_TABLE` (layout in that module).
//! - [`Uploads`] ([`service`]): what the uploads function calls: store directly, presign,
//!   complete, describe, list and read a file, with the owner checks.
//! - [`api`]: the request and answer shapes; [`UploadError`]: what goes wrong.
//!
//! Object keys: `{kind}/{user}/{yyyy}/{mm}/{dd}/{uuid}-{sanitised name}` (user and name
//! reduced to `[A-Za-z0-9._-]`), so an operator can find a user's files by prefix and the
//! uuid keeps two files of the same name apart.
//!
//! Two ways in, one set of rules: the direct multipart routes validate the bytes before
//! anything is stored; a presigned upload is validated by [`Uploads::complete`] after the
//! client has put it in the bucket, and only then counts as uploaded (an invalid object is
//! deleted with its record).

pub mod api;
pub mod backend;
pub mod config;
mod error;
pub mod local;
pub mod records;
pub mod s3;
pub mod schema;
mod service;
pub mod sniff;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use api::*;
pub use backend::{DownloadSpec, Fetched, Storage};
pub use config::{BackendConfig, StorageConfig};
pub use error::{BackendError, UploadError};
pub use records::{FileRecord, FileStatus, FileStore};
pub use service::{IncomingFile, Uploads, content_path};
pub use validate::{UploadKind, UploadLimits};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    S3,
    Local,
}

impl StorageBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageBackend::S3 => "s3",
            StorageBackend::Local => "local",
        }
    }
}
