//! The uploads service: store directly, presign, complete, describe, list and read a file,
//! with the owner checks. What the uploads function calls.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::api::*;
use super::backend::{DownloadSpec, Fetched, Storage};
use super::config::StorageConfig;
use super::error::UploadError;
use super::records::{self, FileRecord, FileStatus, FileStore};
use super::validate::{self, UploadKind, UploadLimits};
use crate::auth::Caller;
use crate::clock::{now_rfc3339, now_utc, rfc3339};
use crate::error::InvalidInput;
use crate::subscriptions::EventPublisher;

type Result<T, E = UploadError> = std::result::Result<T, E>;

/// A file handed to [`Uploads::store_many`]: its name and bytes, or why it was already
/// refused while reading the request (e.g. too large).
pub struct IncomingFile {
    pub filename: String,
    pub bytes: Result<Bytes, UploadError>,
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
    /// Where `upload.completed` is announced; `None`: nowhere.
    events: Option<EventPublisher>,
}

/// Announced when a file is stored and usable: a direct upload, or a presigned upload's
/// completion step.
pub const EVENT_UPLOAD_COMPLETED: &str = "upload.completed";

impl Uploads {
    pub fn new(storage: Arc<dyn Storage>, files: FileStore, config: StorageConfig) -> Self {
        Self {
            storage,
            files,
            config,
            events: None,
        }
    }

    pub fn with_events(mut self, events: EventPublisher) -> Self {
        self.events = Some(events);
        self
    }

    /// Announces a stored file (ids, kind, size, detected type; never its name), keyed by
    /// the file id. The file is stored either way: a failure is logged, not answered.
    async fn announce(&self, record: &FileRecord) {
        let Some(events) = &self.events else {
            return;
        };
        let data = serde_json::json!({
            "file_id": record.id,
            "kind": record.kind.as_str(),
            "size": record.size,
            "content_type": record.content_type,
            "sha256": record.sha256,
            "user_id": record.owner,
        });
        events
            .announce_once(EVENT_UPLOAD_COMPLETED, &record.id, data)
            .await;
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
    ) -> Result<FileRecord> {
        let inspected = validate::inspect(kind, bytes, self.limits())?;
        let filename =
            validate::stored_filename(&validate::sanitize_filename(raw_name), &inspected.sniffed);
        let id = uuid::Uuid::new_v4().to_string();
        let created_at = rfc3339(now);
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
    ) -> Result<FileRecord> {
        let record = self.prepare(owner, kind, raw_name, &bytes, now_utc())?;
        self.storage
            .put(&record.storage_key, bytes, &record.content_type)
            .await?;
        if let Err(e) = self.files.insert(&record, None).await {
            let _ = self.storage.delete(&record.storage_key).await;
            return Err(e);
        }
        tracing::info!(file = %record.id, kind = kind.as_str(), size = record.size, content_type = %record.content_type, "file stored");
        self.announce(&record).await;
        Ok(record)
    }

    /// Validates every file, stores the valid ones concurrently and writes their records in
    /// one batch. One result per file, in order.
    pub async fn store_many(
        &self,
        owner: &str,
        kind: UploadKind,
        files: Vec<IncomingFile>,
    ) -> Vec<Result<FileRecord>> {
        let now = now_utc();
        let puts = files.into_iter().map(|f| async move {
            let bytes = f.bytes?;
            let record = self.prepare(owner, kind, &f.filename, &bytes, now)?;
            self.storage
                .put(&record.storage_key, bytes, &record.content_type)
                .await?;
            Ok(record)
        });
        let mut results: Vec<Result<FileRecord>> = futures::future::join_all(puts).await;
        let stored: Vec<FileRecord> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        if !stored.is_empty()
            && let Err(e) = self.files.insert_many(&stored).await
        {
            // Without records the objects are unreachable: remove them and fail those files.
            tracing::error!(error = %e, "could not write the bulk upload's file records");
            futures::future::join_all(stored.iter().map(|r| self.storage.delete(&r.storage_key)))
                .await;
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(UploadError::Internal(format!(
                    "writing the file records: {e}"
                )));
            }
        }
        futures::future::join_all(results.iter().flatten().map(|r| self.announce(r))).await;
        results
    }

    /// Checks a presign request against the same limits as a direct upload and answers a
    /// presigned POST for a new pending record.
    pub async fn presign(&self, owner: &str, req: &PresignRequest) -> Result<PresignedUpload> {
        let declared =
            validate::check_presign(req.kind, req.size, &req.content_type, self.limits())?;
        let now = now_utc();
        let filename = validate::sanitize_filename(&req.filename);
        let id = uuid::Uuid::new_v4().to_string();
        let key = Self::object_key(req.kind, owner, &id, &filename, now);
        let Some(upload) = self
            .storage
            .presign_upload(&key, &declared, req.size, self.config.presign_ttl)
            .await?
        else {
            return Err(UploadError::PresignNeedsS3);
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
            created_at: rfc3339(now),
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
    pub async fn authorized(&self, caller: &Caller, id: &str) -> Result<FileRecord> {
        let record = self
            .files
            .get(id)
            .await?
            .ok_or_else(|| UploadError::NotFound(id.to_string()))?;
        if !caller.can_act_for(&record.owner) {
            return Err(UploadError::Forbidden("this file belongs to another user"));
        }
        Ok(record)
    }

    /// Validates a presigned upload's object and marks it uploaded. Idempotent: completing
    /// an uploaded file answers it again. An object that breaks the rules is deleted with its
    /// record and answered with the same problem a direct upload would get (413, 415, 422).
    pub async fn complete(&self, caller: &Caller, id: &str) -> Result<FileRecord> {
        let record = self.authorized(caller, id).await?;
        if record.status == FileStatus::Uploaded {
            // A repeat (or a completion that stopped before announcing): the same event id.
            self.announce(&record).await;
            return Ok(record);
        }
        let max = self.limits().max_bytes(record.kind);
        let bytes = match self.storage.fetch(&record.storage_key, max).await? {
            None => return Err(UploadError::UploadMissing),
            Some(Fetched::TooLarge(size)) => {
                self.discard(&record).await?;
                return Err(validate::check_size(record.kind, size, self.limits())
                    .err()
                    .unwrap_or_else(|| {
                        UploadError::too_large("the uploaded object is too large")
                    }));
            }
            Some(Fetched::Bytes(b)) => b,
        };
        if bytes.len() as u64 != record.size {
            self.discard(&record).await?;
            return Err(InvalidInput::unprocessable(
                "size_mismatch",
                format!(
                    "the uploaded object has {} bytes, the presign request declared {}; it was deleted",
                    bytes.len(),
                    record.size
                ),
            )
            .into());
        }
        let inspected = match validate::inspect(record.kind, &bytes, self.limits()) {
            Ok(i) => i,
            Err(e) => {
                self.discard(&record).await?;
                return Err(e.object_deleted());
            }
        };
        let done = records::CompletedUpload {
            size: bytes.len() as u64,
            content_type: inspected.sniffed.content_type.to_string(),
            filename: validate::stored_filename(&record.filename, &inspected.sniffed),
            sha256: hex::encode(Sha256::digest(&bytes)),
            width: inspected.width,
            height: inspected.height,
            uploaded_at: now_rfc3339(),
        };
        // Tag before the record says "uploaded": the other order could leave an uploaded
        // record whose object the lifecycle rule later expires.
        self.storage.mark_complete(&record.storage_key).await?;
        match self.files.mark_uploaded(id, &done).await? {
            Some(updated) => {
                self.announce(&updated).await;
                Ok(updated)
            }
            // A concurrent completion won the race; answer what it stored.
            None => self
                .files
                .get(id)
                .await?
                .ok_or_else(|| UploadError::NotFound(id.to_string())),
        }
    }

    async fn discard(&self, record: &FileRecord) -> Result<()> {
        let (object, item) = futures::join!(
            self.storage.delete(&record.storage_key),
            self.files.delete(&record.id)
        );
        object?;
        item?;
        Ok(())
    }

    /// Metadata plus a download URL, for the owner (or an admin or service).
    pub async fn describe(&self, caller: &Caller, id: &str) -> Result<FileView> {
        let record = self.authorized(caller, id).await?;
        self.view(record).await
    }

    /// A record as answered to its owner: with a download URL once uploaded (presigning is
    /// local computation, no round trip).
    pub async fn view(&self, record: FileRecord) -> Result<FileView> {
        let ttl = self.config.download_ttl;
        let url = if record.status == FileStatus::Uploaded {
            let spec = DownloadSpec::for_record(&record);
            match self
                .storage
                .download_url(&record.storage_key, &spec, ttl)
                .await?
            {
                Some(url) => Some((url, Some(rfc3339(now_utc() + ttl)))),
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
    ) -> Result<FileList> {
        let owner = owner.unwrap_or(&caller.user_id);
        if !caller.can_act_for(owner) {
            return Err(UploadError::Forbidden(
                "users can list their own files only",
            ));
        }
        if !(1..=100).contains(&limit) {
            return Err(InvalidInput::field("limit", "must be between 1 and 100").into());
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
    pub async fn content(&self, caller: &Caller, id: &str) -> Result<Content> {
        let record = self.authorized(caller, id).await?;
        if record.status != FileStatus::Uploaded {
            return Err(UploadError::UploadPending);
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
            _ => Err(UploadError::Internal(format!(
                "file {id} has a record but no stored object"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_by_kind_user_and_date() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let key = Uploads::object_key(UploadKind::Avatar, "user 7/..", "abc", "my photo.png", now);
        assert_eq!(key, "avatar/user_7_../2027/01/15/abc-my_photo.png");
    }
}
