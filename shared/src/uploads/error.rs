//! What can go wrong uploading, completing and reading files, in the uploads capability's
//! terms. The edge maps each to the status and problem code clients have always seen.

use crate::cursor::InvalidCursor;
use crate::error::{DomainError, ErrorKind, FieldError, InvalidInput};
use crate::store::StoreError;

/// The storage backend (S3, the local directory) failed: always a 500, the detail is logged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// A request field or the file's content is wrong: 400 `invalid_field`, or 422 with the
    /// rule's code (`empty_file`, `invalid_image`, `image_dimensions`, `size_mismatch`).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The file is larger than its kind allows: 413 (`file_too_large`).
    #[error("{detail}")]
    TooLarge {
        code: &'static str,
        detail: String,
        fields: Vec<FieldError>,
    },
    /// The file's type is not accepted: 415 (`unsupported_file_type`,
    /// `executable_not_allowed`, `active_content_not_allowed`).
    #[error("{detail}")]
    UnsupportedType {
        code: &'static str,
        detail: String,
        fields: Vec<FieldError>,
    },
    /// 400 `invalid_field` `cursor`.
    #[error(transparent)]
    Cursor(#[from] InvalidCursor),
    /// No such file: 404 `not_found`.
    #[error("no file {0}")]
    NotFound(String),
    /// Someone else's file or listing: 403 `forbidden`.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Presigned uploads need the S3 backend: 409 `presign_needs_s3`.
    #[error(
        "presigned uploads need the S3 backend; with STORAGE_TYPE=local send the file to \
         POST /api/v1/upload/avatar or /api/v1/upload/attachment instead"
    )]
    PresignNeedsS3,
    /// Completion before anything was uploaded: 409 `upload_missing`.
    #[error("nothing has been uploaded to the presigned URL yet; upload the file, then complete")]
    UploadMissing,
    /// Content asked for before completion: 409 `upload_pending`.
    #[error("the file has not been completed yet")]
    UploadPending,
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an inconsistency (a record without its object): 500.
    #[error("{0}")]
    Internal(String),
}

impl UploadError {
    /// 413 `file_too_large`.
    pub fn too_large(detail: impl Into<String>) -> Self {
        UploadError::TooLarge {
            code: "file_too_large",
            detail: detail.into(),
            fields: Vec::new(),
        }
    }

    /// 415 with `code`.
    pub fn unsupported(code: &'static str, detail: impl Into<String>) -> Self {
        UploadError::UnsupportedType {
            code,
            detail: detail.into(),
            fields: Vec::new(),
        }
    }

    /// Names the field at fault (a refusal that is about one request field).
    pub fn with_field(mut self, field: &str, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        match &mut self {
            UploadError::TooLarge { fields, .. } | UploadError::UnsupportedType { fields, .. } => {
                fields.push(error)
            }
            UploadError::Invalid(e) => e.fields.push(error),
            _ => {}
        }
        self
    }

    /// The same refusal, saying that the presigned upload's object was deleted for it.
    pub fn object_deleted(mut self) -> Self {
        const NOTE: &str = " (the uploaded object was deleted)";
        match &mut self {
            UploadError::TooLarge { detail, .. } | UploadError::UnsupportedType { detail, .. } => {
                detail.push_str(NOTE)
            }
            UploadError::Invalid(e) => e.detail.push_str(NOTE),
            _ => {}
        }
        self
    }
}

impl DomainError for UploadError {
    fn kind(&self) -> ErrorKind {
        match self {
            UploadError::Invalid(e) => e.kind(),
            UploadError::TooLarge { .. } => ErrorKind::TooLarge,
            UploadError::UnsupportedType { .. } => ErrorKind::UnsupportedMedia,
            UploadError::Cursor(e) => e.kind(),
            UploadError::NotFound(_) => ErrorKind::NotFound,
            UploadError::Forbidden(_) => ErrorKind::Forbidden,
            UploadError::PresignNeedsS3
            | UploadError::UploadMissing
            | UploadError::UploadPending => ErrorKind::Conflict,
            UploadError::Backend(_) | UploadError::Internal(_) => ErrorKind::Internal,
            UploadError::Store(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            UploadError::Invalid(e) => e.code(),
            UploadError::TooLarge { code, .. } | UploadError::UnsupportedType { code, .. } => code,
            UploadError::Cursor(e) => e.code(),
            UploadError::NotFound(_) => "not_found",
            UploadError::Forbidden(_) => "forbidden",
            UploadError::PresignNeedsS3 => "presign_needs_s3",
            UploadError::UploadMissing => "upload_missing",
            UploadError::UploadPending => "upload_pending",
            UploadError::Backend(_) | UploadError::Internal(_) => "internal_error",
            UploadError::Store(e) => e.code(),
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            UploadError::Invalid(e) => e.fields(),
            UploadError::Cursor(e) => e.fields(),
            UploadError::TooLarge { fields, .. } | UploadError::UnsupportedType { fields, .. } => {
                fields.clone()
            }
            _ => Vec::new(),
        }
    }
}

impl From<serde_dynamo::Error> for UploadError {
    fn from(e: serde_dynamo::Error) -> Self {
        UploadError::Store(e.into())
    }
}
