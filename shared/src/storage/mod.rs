//! File uploads: avatars and attachments stored in S3 or a local directory, validated by
//! their content, with one DynamoDB record per file.
//!
//! - [`Storage`]: the backend trait; [`s3::S3Storage`] (default when a bucket is configured,
//!   as in every deployment) and [`local::LocalStorage`] (`STORAGE_TYPE=local`, `UPLOAD_DIR`).
//! - [`validate`]: size, magic bytes, image dimensions, file-name sanitising.
//! - [`records`]: the `FILE#{id}` items in `HUB_TABLE` (layout in that module).
//! - [`Uploads`]: what the uploads function calls: store directly, presign, complete,
//!   describe and read a file, with the owner checks.
//!
//! Object keys: `{kind}/{user}/{yyyy}/{mm}/{dd}/{uuid}-{sanitised name}` (user and name
//! reduced to `[A-Za-z0-9._-]`), so an operator can find a user's files by prefix and the
//! uuid keeps two files of the same name apart.
//!
//! Two ways in, one set of rules: the direct multipart routes validate the bytes before
//! anything is stored; a presigned upload is validated by [`Uploads::complete`] after the
//! client has put it in the bucket, and only then counts as uploaded (an invalid object is
//! deleted with its record).

pub mod local;
pub mod records;
pub mod s3;
pub mod validate;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::HubContext;
use crate::auth::Caller;
use crate::config::{ConfigError, Env};
use crate::error::ApiError;
pub use records::{FileRecord, FileStatus, FileStore};
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

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    Backend(String),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::internal(e)
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// An object read back, unless it is larger than the reader allowed.
#[derive(Debug, Clone)]
pub enum Fetched {
    Bytes(Bytes),
    /// Its size; the content was not downloaded.
    TooLarge(u64),
}

/// A presigned browser-form POST: send `fields` (in any order) and then the file as the
/// last field, named `file`, as `multipart/form-data` to `url`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresignedPost {
    pub url: String,
    pub fields: std::collections::BTreeMap<String, String>,
    /// RFC 3339; S3 refuses the form after this.
    pub expires_at: String,
}

/// How a download presents itself to the browser.
#[derive(Debug, Clone)]
pub struct DownloadSpec {
    pub content_type: String,
    pub filename: String,
    /// `inline` for avatars (images of the three safe types), `attachment` otherwise so a
    /// browser never renders an uploaded document in the API's origin.
    pub inline: bool,
}

impl DownloadSpec {
    pub fn for_record(r: &FileRecord) -> Self {
        Self {
            content_type: r.content_type.clone(),
            filename: r.filename.clone(),
            inline: r.kind == UploadKind::Avatar,
        }
    }

    /// RFC 6266: an ASCII fallback plus the UTF-8 name percent-encoded.
    pub fn content_disposition(&self) -> String {
        let ascii: String = self
            .filename
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut encoded = String::new();
        for b in self.filename.bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                encoded.push(b as char);
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        let disposition = if self.inline { "inline" } else { "attachment" };
        format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

/// Where files live. Implementations: [`s3::S3Storage`], [`local::LocalStorage`].
/// Object-safe (boxed futures) so the backend is chosen once at cold start.
pub trait Storage: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> StorageBackend;
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, StorageResult<()>>;
    /// The object, `None` if it does not exist, [`Fetched::TooLarge`] (without reading it)
    /// when it holds more than `max_bytes`.
    fn fetch<'a>(
        &'a self,
        key: &'a str,
        max_bytes: u64,
    ) -> BoxFuture<'a, StorageResult<Option<Fetched>>>;
    /// Deleting a missing object succeeds.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StorageResult<()>>;
    /// A short-lived URL the client can download from, or `None` when the hub serves the
    /// bytes itself.
    fn download_url<'a>(
        &'a self,
        key: &'a str,
        spec: &'a DownloadSpec,
        ttl: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<String>>>;
    /// A presigned upload for exactly `size` bytes of `content_type` at `key`, or `None` when
    /// the backend cannot take uploads without the hub.
    fn presign_upload<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<PresignedPost>>>;
    /// Marks a presigned upload's object as validated, so the bucket's lifecycle rule for
    /// abandoned uploads no longer applies to it. Backends that cannot presign have nothing to do.
    fn mark_complete<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, StorageResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

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

/// A presign request (`POST /api/v1/upload/presign`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
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

/// A file handed to [`Uploads::store_many`]: its name and bytes, or why it was already
/// refused while reading the request (e.g. too large).
pub struct IncomingFile {
    pub filename: String,
    pub bytes: Result<Bytes, ApiError>,
}

/// The local content route, relative to the API root.
pub fn content_path(id: &str) -> String {
    format!("/api/v1/files/{id}/content")
}

/// The uploads capability, built once per cold start.
#[derive(Debug, Clone)]
pub struct Uploads {
    pub storage: Arc<dyn Storage>,
    pub files: FileStore,
    pub config: StorageConfig,
}

fn now_rfc3339(now: OffsetDateTime) -> String {
    now.format(&Rfc3339).unwrap_or_default()
}

impl Uploads {
    pub fn from_context(ctx: &HubContext) -> Result<Self, ConfigError> {
        Ok(Self::new(ctx, StorageConfig::from_env(&ctx.env)?))
    }

    pub fn new(ctx: &HubContext, config: StorageConfig) -> Self {
        let storage: Arc<dyn Storage> = match &config.backend {
            BackendConfig::S3 { bucket } => Arc::new(s3::S3Storage::new(
                ctx.aws.s3.clone(),
                ctx.aws.sdk_config.clone(),
                bucket.clone(),
                ctx.config.aws_endpoint_url.as_deref(),
            )),
            BackendConfig::Local { dir } => Arc::new(local::LocalStorage::new(dir.clone())),
        };
        Self {
            storage,
            files: FileStore::new(ctx.aws.dynamo.clone(), ctx.config.hub_table.clone()),
            config,
        }
    }

    pub fn limits(&self) -> &UploadLimits {
        &self.config.limits
    }

    /// `{kind}/{user}/{yyyy}/{mm}/{dd}/{uuid}-{name}`.
    pub fn object_key(
        kind: UploadKind,
        owner: &str,
        id: &str,
        filename: &str,
        now: OffsetDateTime,
    ) -> String {
        format!(
            "{}/{}/{:04}/{:02}/{:02}/{id}-{}",
            kind.as_str(),
            validate::key_segment(owner, 64),
            now.year(),
            now.month() as u8,
            now.day(),
            validate::key_segment(filename, 100)
        )
    }

    /// Validates a file and builds its record, without storing anything.
    fn prepare(
        &self,
        owner: &str,
        kind: UploadKind,
        raw_name: &str,
        bytes: &[u8],
        now: OffsetDateTime,
    ) -> Result<FileRecord, ApiError> {
        let inspected = validate::inspect(kind, bytes, self.limits())?;
        let filename =
            validate::stored_filename(&validate::sanitize_filename(raw_name), &inspected.sniffed);
        let id = uuid::Uuid::new_v4().to_string();
        let created_at = now_rfc3339(now);
        Ok(FileRecord {
            storage_key: Self::object_key(kind, owner, &id, &filename, now),
            id,
            owner: owner.to_string(),
            kind,
            filename,
            size: bytes.len() as u64,
            content_type: inspected.sniffed.content_type.to_string(),
            sha256: Some(hex::encode(Sha256::digest(bytes))),
            width: inspected.width,
            height: inspected.height,
            status: FileStatus::Uploaded,
            storage: self.storage.backend(),
            uploaded_at: Some(created_at.clone()),
            created_at,
        })
    }

    /// Validates and stores one file (object first, then its record; the object is removed
    /// again if the record cannot be written).
    pub async fn store(
        &self,
        owner: &str,
        kind: UploadKind,
        raw_name: &str,
        bytes: Bytes,
    ) -> Result<FileRecord, ApiError> {
        let record = self.prepare(owner, kind, raw_name, &bytes, OffsetDateTime::now_utc())?;
        self.storage
            .put(&record.storage_key, bytes, &record.content_type)
            .await?;
        if let Err(e) = self.files.insert(&record, None).await {
            let _ = self.storage.delete(&record.storage_key).await;
            return Err(e);
        }
        tracing::info!(file = %record.id, kind = kind.as_str(), size = record.size, content_type = %record.content_type, "file stored");
        Ok(record)
    }

    /// Validates every file, stores the valid ones concurrently and writes their records in
    /// one batch. One result per file, in order.
    pub async fn store_many(
        &self,
        owner: &str,
        kind: UploadKind,
        files: Vec<IncomingFile>,
    ) -> Vec<Result<FileRecord, ApiError>> {
        let now = OffsetDateTime::now_utc();
        let prepared: Vec<Result<(FileRecord, Bytes), ApiError>> = files
            .into_iter()
            .map(|f| {
                let bytes = f.bytes?;
                let record = self.prepare(owner, kind, &f.filename, &bytes, now)?;
                Ok((record, bytes))
            })
            .collect();
        let puts = prepared.iter().map(|p| async move {
            match p {
                Ok((record, bytes)) => self
                    .storage
                    .put(&record.storage_key, bytes.clone(), &record.content_type)
                    .await
                    .map(|()| record.clone())
                    .map_err(ApiError::from),
                Err(e) => Err(e.clone()),
            }
        });
        let mut results: Vec<Result<FileRecord, ApiError>> = futures::future::join_all(puts).await;
        let stored: Vec<FileRecord> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        if !stored.is_empty()
            && let Err(e) = self.files.insert_many(&stored).await
        {
            // Without records the objects are unreachable: remove them and fail those files.
            futures::future::join_all(stored.iter().map(|r| self.storage.delete(&r.storage_key)))
                .await;
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e.clone());
            }
        }
        results
    }

    /// Checks a presign request against the same limits as a direct upload and answers a
    /// presigned POST for a new pending record.
    pub async fn presign(
        &self,
        owner: &str,
        req: &PresignRequest,
    ) -> Result<PresignedUpload, ApiError> {
        let limits = self.limits();
        validate::check_size(req.kind, req.size, limits)
            .map_err(|e| e.with_field("size", "larger than this kind allows"))?;
        if req.size == 0 {
            return Err(ApiError::invalid_field("size", "must be at least 1 byte"));
        }
        let declared = req.content_type.trim().to_ascii_lowercase();
        let well_formed = declared.len() <= 127
            && declared.split_once('/').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && (a.bytes().chain(b.bytes()))
                        .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
            });
        if !well_formed {
            return Err(ApiError::invalid_field(
                "content_type",
                "expected a MIME type such as application/pdf",
            ));
        }
        // Refuse up front what the completion step would refuse anyway.
        let refused = match req.kind {
            UploadKind::Avatar => {
                (!validate::AVATAR_TYPES.contains(&declared.as_str())).then(|| {
                    format!(
                        "an avatar must be image/jpeg, image/png or image/webp (got {declared})"
                    )
                })
            }
            UploadKind::Attachment => {
                let active = ["text/html", "application/xhtml+xml", "image/svg+xml"]
                    .contains(&declared.as_str());
                let exec = declared.contains("executable")
                    || [
                        "application/x-msdownload",
                        "application/x-sh",
                        "text/x-shellscript",
                        "application/x-mach-binary",
                    ]
                    .contains(&declared.as_str());
                if active && !limits.allow_html && declared != "image/svg+xml" {
                    Some(format!(
                        "{declared} is active content and not accepted as an attachment"
                    ))
                } else if exec && !limits.allow_executables {
                    Some(format!(
                        "{declared} is executable and not accepted as an attachment"
                    ))
                } else {
                    None
                }
            }
        };
        if let Some(detail) = refused {
            return Err(ApiError::unsupported_media_type(detail)
                .with_code("unsupported_file_type")
                .with_field("content_type", "type not allowed"));
        }
        let now = OffsetDateTime::now_utc();
        let filename = validate::sanitize_filename(&req.filename);
        let id = uuid::Uuid::new_v4().to_string();
        let key = Self::object_key(req.kind, owner, &id, &filename, now);
        let Some(upload) = self
            .storage
            .presign_upload(&key, &declared, req.size, self.config.presign_ttl)
            .await?
        else {
            return Err(ApiError::conflict(
                "presign_needs_s3",
                "presigned uploads need the S3 backend; with STORAGE_TYPE=local send the file to \
                 POST /api/v1/upload/avatar or /api/v1/upload/attachment instead",
            ));
        };
        let record = FileRecord {
            id: id.clone(),
            owner: owner.to_string(),
            kind: req.kind,
            filename,
            size: req.size,
            content_type: declared,
            sha256: None,
            width: None,
            height: None,
            status: FileStatus::Pending,
            storage: self.storage.backend(),
            storage_key: key,
            created_at: now_rfc3339(now),
            uploaded_at: None,
        };
        let expires_at = (now + self.config.pending_ttl).unix_timestamp();
        self.files.insert(&record, Some(expires_at)).await?;
        Ok(PresignedUpload {
            id,
            upload,
            file: record,
        })
    }

    /// The record, with the owner check: 404 unknown, 403 someone else's (admins and
    /// services may read any).
    pub async fn authorized(&self, caller: &Caller, id: &str) -> Result<FileRecord, ApiError> {
        let record = self
            .files
            .get(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no file {id}")))?;
        if !caller.can_act_for(&record.owner) {
            return Err(ApiError::forbidden("this file belongs to another user"));
        }
        Ok(record)
    }

    /// Validates a presigned upload's object and marks it uploaded. Idempotent: completing
    /// an uploaded file answers it again. An object that breaks the rules is deleted with its
    /// record and answered with the same problem a direct upload would get (413, 415, 422).
    pub async fn complete(&self, caller: &Caller, id: &str) -> Result<FileRecord, ApiError> {
        let record = self.authorized(caller, id).await?;
        if record.status == FileStatus::Uploaded {
            return Ok(record);
        }
        let max = self.limits().max_bytes(record.kind);
        let bytes = match self.storage.fetch(&record.storage_key, max).await? {
            None => {
                return Err(ApiError::conflict(
                    "upload_missing",
                    "nothing has been uploaded to the presigned URL yet; upload the file, then complete",
                ));
            }
            Some(Fetched::TooLarge(size)) => {
                self.discard(&record).await?;
                return Err(validate::check_size(record.kind, size, self.limits())
                    .err()
                    .unwrap_or_else(|| {
                        ApiError::payload_too_large("the uploaded object is too large")
                    }));
            }
            Some(Fetched::Bytes(b)) => b,
        };
        if bytes.len() as u64 != record.size {
            self.discard(&record).await?;
            return Err(ApiError::unprocessable(
                "size_mismatch",
                format!(
                    "the uploaded object has {} bytes, the presign request declared {}; it was deleted",
                    bytes.len(),
                    record.size
                ),
            ));
        }
        let inspected = match validate::inspect(record.kind, &bytes, self.limits()) {
            Ok(i) => i,
            Err(e) => {
                self.discard(&record).await?;
                return Err(ApiError {
                    detail: format!("{} (the uploaded object was deleted)", e.detail),
                    ..e
                });
            }
        };
        let done = records::CompletedUpload {
            size: bytes.len() as u64,
            content_type: inspected.sniffed.content_type.to_string(),
            filename: validate::stored_filename(&record.filename, &inspected.sniffed),
            sha256: hex::encode(Sha256::digest(&bytes)),
            width: inspected.width,
            height: inspected.height,
            uploaded_at: now_rfc3339(OffsetDateTime::now_utc()),
        };
        // Tag before the record says "uploaded": the other order could leave an uploaded
        // record whose object the lifecycle rule later expires.
        self.storage.mark_complete(&record.storage_key).await?;
        match self.files.mark_uploaded(id, &done).await? {
            Some(updated) => Ok(updated),
            // A concurrent completion won the race; answer what it stored.
            None => self
                .files
                .get(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no file {id}"))),
        }
    }

    async fn discard(&self, record: &FileRecord) -> Result<(), ApiError> {
        let (object, item) = futures::join!(
            self.storage.delete(&record.storage_key),
            self.files.delete(&record.id)
        );
        object?;
        item
    }

    /// Metadata plus a download URL, for the owner (or an admin or service).
    pub async fn describe(&self, caller: &Caller, id: &str) -> Result<FileView, ApiError> {
        let record = self.authorized(caller, id).await?;
        self.view(record).await
    }

    /// A record as answered to its owner: with a download URL once uploaded (presigning is
    /// local computation, no round trip).
    pub async fn view(&self, record: FileRecord) -> Result<FileView, ApiError> {
        let ttl = self.config.download_ttl;
        let url = if record.status == FileStatus::Uploaded {
            let spec = DownloadSpec::for_record(&record);
            match self
                .storage
                .download_url(&record.storage_key, &spec, ttl)
                .await?
            {
                Some(url) => Some((url, Some(now_rfc3339(OffsetDateTime::now_utc() + ttl)))),
                None => Some((content_path(&record.id), None)),
            }
        } else {
            None
        };
        let mut view = FileView::from(record);
        if let Some((url, expires)) = url {
            view.download_url = Some(url);
            view.download_expires_at = expires;
        }
        Ok(view)
    }

    /// An owner's files: users list their own; admins and services any owner's.
    pub async fn list(
        &self,
        caller: &Caller,
        owner: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<FileList, ApiError> {
        let owner = owner.unwrap_or(&caller.user_id);
        if !caller.can_act_for(owner) {
            return Err(ApiError::forbidden("users can list their own files only"));
        }
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                "must be between 1 and 100",
            ));
        }
        let (records, next_cursor) = self
            .files
            .list_by_owner(owner, limit as i32, cursor)
            .await?;
        Ok(FileList {
            items: records.into_iter().map(FileView::from).collect(),
            next_cursor,
        })
    }

    /// The bytes (local backend) or a redirect to a presigned GET (S3).
    pub async fn content(&self, caller: &Caller, id: &str) -> Result<Content, ApiError> {
        let record = self.authorized(caller, id).await?;
        if record.status != FileStatus::Uploaded {
            return Err(ApiError::conflict(
                "upload_pending",
                "the file has not been completed yet",
            ));
        }
        let spec = DownloadSpec::for_record(&record);
        if let Some(url) = self
            .storage
            .download_url(&record.storage_key, &spec, self.config.download_ttl)
            .await?
        {
            return Ok(Content::Redirect(url));
        }
        match self.storage.fetch(&record.storage_key, u64::MAX).await? {
            Some(Fetched::Bytes(body)) => Ok(Content::Bytes { spec, body }),
            _ => Err(ApiError::internal(format!(
                "file {id} has a record but no stored object"
            ))),
        }
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

    #[test]
    fn keys_are_by_kind_user_and_date() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let key = Uploads::object_key(UploadKind::Avatar, "user 7/..", "abc", "my photo.png", now);
        assert_eq!(key, "avatar/user_7_../2027/01/15/abc-my_photo.png");
    }

    #[test]
    fn content_disposition_has_an_ascii_fallback() {
        let spec = DownloadSpec {
            content_type: "application/pdf".into(),
            filename: "relatório \"final\".pdf".into(),
            inline: false,
        };
        assert_eq!(
            spec.content_disposition(),
            "attachment; filename=\"relat_rio _final_.pdf\"; filename*=UTF-8''relat%C3%B3rio%20%22final%22.pdf"
        );
    }
}
