//! Where files live: the [`Storage`] trait the uploads service is written against, chosen
//! once at cold start ([`super::s3::S3Storage`] or [`super::local::LocalStorage`]), and what
//! it answers.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

use super::StorageBackend;
use super::api::PresignedPost;
use super::error::BackendError;
use super::records::FileRecord;
use super::validate::UploadKind;

pub type BackendResult<T> = Result<T, BackendError>;

/// An object read back, unless it is larger than the reader allowed.
#[derive(Debug, Clone)]
pub enum Fetched {
    Bytes(Bytes),
    /// Its size; the content was not downloaded.
    TooLarge(u64),
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
    ) -> BoxFuture<'a, BackendResult<()>>;
    /// The object, `None` if it does not exist, [`Fetched::TooLarge`] (without reading it)
    /// when it holds more than `max_bytes`.
    fn fetch<'a>(
        &'a self,
        key: &'a str,
        max_bytes: u64,
    ) -> BoxFuture<'a, BackendResult<Option<Fetched>>>;
    /// Deleting a missing object succeeds.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>>;
    /// A short-lived URL the client can download from, or `None` when the hub serves the
    /// bytes itself.
    fn download_url<'a>(
        &'a self,
        key: &'a str,
        spec: &'a DownloadSpec,
        ttl: Duration,
    ) -> BoxFuture<'a, BackendResult<Option<String>>>;
    /// A presigned upload for exactly `size` bytes of `content_type` at `key`, or `None` when
    /// the backend cannot take uploads without the hub.
    fn presign_upload<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, BackendResult<Option<PresignedPost>>>;
    /// Marks a presigned upload's object as validated, so the bucket's lifecycle rule for
    /// abandoned uploads no longer applies to it. Backends that cannot presign have nothing to do.
    fn mark_complete<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
