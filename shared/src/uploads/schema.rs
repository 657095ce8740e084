//! The OpenAPI schema of `POST /api/v1/upload/presign`, from the lists and limits
//! `validate::check_presign` uses: which types and sizes are allowed depends on `kind`.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::api::PresignRequest;
use super::validate::{AVATAR_TYPES, UploadKind, UploadLimits};
use crate::openapi::{one_of, one_of_strings, string};

/// A MIME type as `check_presign` reads it (at most 127 characters). Attachments refuse
/// active content (`text/html`, `application/xhtml+xml`) and executables unless the
/// deployment allows them: 415, said in the description (a pattern cannot exclude words).
pub const MIME_PATTERN: &str = r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$";
pub const MAX_MIME_CHARS: usize = 127;

fn branch(kind: UploadKind, content_type: ObjectBuilder, max_bytes: u64) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(kind.as_str()))
        .property("kind", one_of_strings(&[kind.as_str()]))
        .property(
            "filename",
            string().description(Some(
                "The name to show; sanitised (path, control and reserved characters removed)",
            )),
        )
        .property("content_type", content_type)
        .property(
            "size",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(max_bytes))
                .description(Some(
                    "Exact size in bytes; S3 refuses any other (`content-length-range`). The maximum is this deployment's default (UPLOAD_AVATAR_MAX_BYTES, UPLOAD_ATTACHMENT_MAX_BYTES)",
                )),
        )
        .required("kind")
        .required("filename")
        .required("content_type")
        .required("size")
        .into()
}

impl utoipa::PartialSchema for PresignRequest {
    fn schema() -> RefOr<Schema> {
        let limits = UploadLimits::default();
        one_of(
            "A presign request: the type and size a kind of upload allows.",
            [
                branch(
                    UploadKind::Avatar,
                    one_of_strings(&AVATAR_TYPES),
                    limits.avatar_max_bytes,
                ),
                branch(
                    UploadKind::Attachment,
                    string()
                        .pattern(Some(MIME_PATTERN))
                        .max_length(Some(MAX_MIME_CHARS))
                        .description(Some(
                            "A MIME type such as `application/pdf`; active content (`text/html`, `application/xhtml+xml`) and executables answer 415 unless the deployment allows them",
                        )),
                    limits.attachment_max_bytes,
                ),
            ],
        )
    }
}

impl utoipa::ToSchema for PresignRequest {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uploads::validate::check_presign;

    #[test]
    fn the_largest_allowed_sizes_and_listed_types_pass_the_check() {
        let limits = UploadLimits::default();
        for t in AVATAR_TYPES {
            check_presign(UploadKind::Avatar, limits.avatar_max_bytes, t, &limits).unwrap();
        }
        let re = regex::Regex::new(MIME_PATTERN).unwrap();
        for t in [
            "application/pdf",
            "image/png",
            "text/plain",
            "application/vnd.ms-excel",
        ] {
            assert!(re.is_match(t));
            check_presign(
                UploadKind::Attachment,
                limits.attachment_max_bytes,
                t,
                &limits,
            )
            .unwrap();
        }
        assert!(
            check_presign(
                UploadKind::Avatar,
                limits.avatar_max_bytes + 1,
                "image/png",
                &limits
            )
            .is_err()
        );
    }
}
