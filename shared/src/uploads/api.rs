//! Request and answer shapes of the uploads API, in one place for the function crate and the
//! domain.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::StorageBackend;
use super::backend::DownloadSpec;
use super::records::{FileRecord, FileStatus};
use super::validate::UploadKind;

/// A presigned browser-form POST: send `fields` (in any order) and then the file as the
/// last field, named `file`, as `multipart/form-data` to `url`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresignedPost {
    pub url: String,
    pub fields: std::collections::BTreeMap<String, String>,
    /// RFC 3339; S3 refuses the form after this.
    pub expires_at: String,
}

/// A presign request (`POST /api/v1/upload/presign`). Its OpenAPI schema is in `schema.rs`.
#[derive(Debug, Clone, Deserialize)]
pub struct PresignRequest {
    pub kind: UploadKind,
    pub filename: String,
    /// The type the client will send; signed into the form. The completion step decides the
    /// stored type from the content all the same.
    pub content_type: String,
    /// Exact size in bytes; S3 refuses any other (`content-length-range`).
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresignedUpload {
    /// The file's id: call `POST /api/v1/upload/{id}/complete` after the upload.
    pub id: String,
    pub upload: PresignedPost,
    pub file: FileRecord,
}

/// A file as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileView {
    pub id: String,
    pub owner: String,
    pub kind: UploadKind,
    pub filename: String,
    pub size: u64,
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub status: FileStatus,
    pub storage: StorageBackend,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
    /// Short-lived download URL (S3 presigned GET), or the hub's own content route for the
    /// local backend (which needs the bearer token). Absent while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    /// When `download_url` stops working (S3 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_expires_at: Option<String>,
}

impl From<FileRecord> for FileView {
    fn from(r: FileRecord) -> Self {
        Self {
            id: r.id,
            owner: r.owner,
            kind: r.kind,
            filename: r.filename,
            size: r.size,
            content_type: r.content_type,
            sha256: r.sha256,
            width: r.width,
            height: r.height,
            status: r.status,
            storage: r.storage,
            created_at: r.created_at,
            uploaded_at: r.uploaded_at,
            download_url: None,
            download_expires_at: None,
        }
    }
}

/// A page of an owner's files (`GET /api/v1/files`), newest first, without download URLs
/// (ask `GET /api/v1/files/{id}` for one).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileList {
    pub items: Vec<FileView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What `GET /api/v1/files/{id}/content` answers.
#[derive(Debug)]
pub enum Content {
    /// Go there (S3 presigned GET).
    Redirect(String),
    Bytes {
        spec: DownloadSpec,
        body: Bytes,
    },
}

/// `GET /api/v1/files` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Whose files (admins and services only; default: the caller).
    pub owner: Option<String>,
    /// Page size, 1..=100 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
