//! The uploads function (BluRosiere seed, "Storage"): avatars, attachments and bulk
//! attachments as `multipart/form-data`, presigned S3 uploads for files beyond Lambda's
//! payload limit, and file metadata with short-lived download URLs. The rules live in
//! `shared::uploads`; this crate maps HTTP to them.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /api/v1/upload/avatar` | 201 file; field `file`: JPEG, PNG or WebP, 5 MiB, 4096 px a side |
//! | `POST /api/v1/upload/attachment` | 201 file; field `file`: any type but executables and HTML, 10 MiB |
//! | `POST /api/v1/upload/bulk` | 201 (all stored) or 207 (some or all refused), a result per file; fields `files`, at most 10 |
//! | `POST /api/v1/upload/presign` | 201 presigned S3 POST + pending file (409 on the local backend) |
//! | `POST /api/v1/upload/{id}/complete` | 200 validated file, or the problem that got it deleted |
//! | `GET /api/v1/files` | 200 the caller's files, newest first (`owner=` for admins and services) |
//! | `GET /api/v1/files/{id}` | 200 metadata + download URL (owner, admin, service; else 403) |
//! | `GET /api/v1/files/{id}/content` | 307 to the presigned S3 GET, or the bytes (local backend) |
//!
//! Every upload counts against the per-user `upload` rate limit (20 an hour by default): one
//! unit per file, so a bulk request of 7 files takes 7.

use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};
use serde::Serialize;
use shared::auth::Caller;
use shared::config::ConfigError;
use shared::http::problem::Problem;
use shared::http::{ApiJson, ApiPath, ApiQuery};
use shared::rate_limit::{Channel, RateLimitDecision, Subject};
use shared::uploads::validate::{self, MIB, human};
use shared::uploads::{
    Content, FileList, FileView, IncomingFile, ListQuery, PresignRequest, PresignedUpload,
    UploadError, UploadKind, Uploads,
};
use shared::{ApiError, ApiResult, HubContext};

/// The function's state: the hub context plus the storage backend and limits, built once.
pub struct UploadsState {
    pub ctx: Arc<HubContext>,
    pub uploads: Uploads,
}

impl UploadsState {
    pub fn new(ctx: Arc<HubContext>) -> Result<Arc<Self>, ConfigError> {
        let uploads = ctx.uploads()?;
        Ok(Arc::new(Self { ctx, uploads }))
    }

    /// The largest multipart body the direct routes read: the largest file plus 1 MiB for
    /// the other parts. On Lambda the platform's own 6 MB limit (base64 included) is lower;
    /// this one matters locally and keeps a client from streaming without end.
    pub fn request_body_limit(&self) -> usize {
        let l = self.uploads.limits();
        (l.avatar_max_bytes.max(l.attachment_max_bytes) + MIB) as usize
    }
}

impl shared::context::HubState for UploadsState {
    fn hub(&self) -> &HubContext {
        &self.ctx
    }
}

type St = State<Arc<UploadsState>>;

pub fn router(state: Arc<UploadsState>) -> Router {
    // Only these routes take large bodies; everything else keeps the shared 1 MiB default.
    let direct = Router::new()
        .route("/api/v1/upload/avatar", post(upload_avatar))
        .route("/api/v1/upload/attachment", post(upload_attachment))
        .route("/api/v1/upload/bulk", post(upload_bulk))
        .layer(DefaultBodyLimit::max(state.request_body_limit()));
    Router::new()
        .merge(direct)
        .route("/api/v1/upload/presign", post(presign))
        .route("/api/v1/upload/{id}/complete", post(complete))
        .route("/api/v1/files", get(list_files))
        .route("/api/v1/files/{id}", get(get_file))
        .route("/api/v1/files/{id}/content", get(get_content))
        .with_state(state)
}

/// The OpenAPI form of the single-file routes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file. Its type is decided from its content, not from this part's Content-Type or name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The OpenAPI form of the bulk route.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct BulkForm {
    /// Up to 10 files, each a part named `files` (also accepted: `files[]`, `file`).
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1, max_items = 10)]
    files: Vec<Vec<u8>>,
}

/// One file's outcome in a bulk upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkItem {
    /// Position of the part among the request's files, from 0.
    pub index: usize,
    /// The sanitised name the client gave.
    pub filename: String,
    /// 201 stored, or the status a single upload of this file would have got.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub stored: usize,
    pub failed: usize,
    pub results: Vec<BulkItem>,
}

fn multipart_error(limit: usize) -> impl Fn(MultipartError) -> ApiError {
    move |e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(format!(
                "the request body is larger than the upload routes accept ({}); larger files go through POST /api/v1/upload/presign",
                human(limit as u64)
            ))
        } else {
            ApiError::bad_request(
                "malformed_multipart",
                format!("the multipart body cannot be read: {}", e.body_text()),
            )
        }
    }
}

fn multipart_rejection(r: MultipartRejection) -> ApiError {
    ApiError::unsupported_media_type(format!(
        "expected a multipart/form-data body with a `file` part ({})",
        r.body_text()
    ))
}

fn missing_file(field: &str) -> ApiError {
    ApiError::bad_request(
        "missing_file",
        format!("the multipart body has no `{field}` part holding a file"),
    )
    .with_field(field, "required")
}

/// Reads one part, buffering at most `max` bytes. Outer error: the request itself is broken
/// (malformed, over the body limit). Inner error: this file is too large (the rest of the
/// part is drained so the next one can be read).
async fn read_capped(
    field: &mut Field<'_>,
    kind: UploadKind,
    state: &UploadsState,
) -> ApiResult<Result<Bytes, UploadError>> {
    let max = state.uploads.limits().max_bytes(kind);
    let to_api = multipart_error(state.request_body_limit());
    let mut buf = BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(&to_api)? {
        seen += chunk.len() as u64;
        if seen <= max {
            buf.extend_from_slice(&chunk);
        } else if !buf.is_empty() {
            buf = BytesMut::new();
        }
    }
    if seen > max {
        return Ok(Err(validate::check_size(
            kind,
            seen,
            state.uploads.limits(),
        )
        .err()
        .unwrap_or_else(|| UploadError::too_large("the file is too large"))));
    }
    Ok(Ok(buf.freeze()))
}

fn file_name(field: &Field<'_>) -> String {
    field
        .file_name()
        .map(str::to_string)
        .unwrap_or_else(|| "file".into())
}

async fn limit_uploads(
    state: &UploadsState,
    caller: &Caller,
    files: usize,
) -> ApiResult<RateLimitDecision> {
    state
        .ctx
        .rate_limiter
        .check_cost(
            &Subject::channel(Channel::Upload).user(&caller.user_id),
            files as u64,
        )
        .await
        .map_err(ApiError::from)
}

async fn upload_single(
    state: &UploadsState,
    caller: Caller,
    kind: UploadKind,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut multipart = multipart.map_err(multipart_rejection)?;
    let to_api = multipart_error(state.request_body_limit());
    let mut file: Option<(String, Bytes)> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(&to_api)? {
        if field.name() != Some("file") {
            continue; // other form fields are ignored (and skipped unread)
        }
        if file.is_some() {
            return Err(ApiError::bad_request(
                "too_many_files",
                "this route takes one `file` part; send several files to POST /api/v1/upload/bulk",
            )
            .with_field("file", "more than one"));
        }
        let name = file_name(&field);
        let bytes = read_capped(&mut field, kind, state).await??;
        file = Some((name, bytes));
    }
    let (name, bytes) = file.ok_or_else(|| missing_file("file"))?;
    let decision = limit_uploads(state, &caller, 1).await?;
    let record = state
        .uploads
        .store(&caller.user_id, kind, &name, bytes)
        .await?;
    let view = state.uploads.view(record).await?;
    Ok((StatusCode::CREATED, decision, Json(view)).into_response())
}

#[utoipa::path(post, path = "/api/v1/upload/avatar", tag = "uploads", security(("bearerAuth" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    description = "JPEG, PNG or WebP (decided from the bytes), at most 5 MiB and 4096 px a side. On Lambda the whole request must stay under 6 MB including base64 (about 4.4 MB of file); use the presign flow beyond that.",
    responses((status = 201, body = FileView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "no `file` part"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "file_too_large"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "not JPEG/PNG/WebP"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "corrupt image, dimensions, empty"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn upload_avatar(
    State(state): St,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    upload_single(&state, caller, UploadKind::Avatar, multipart).await
}

#[utoipa::path(post, path = "/api/v1/upload/attachment", tag = "uploads", security(("bearerAuth" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    description = "Any file up to 10 MiB except executables (ELF, PE, Mach-O, scripts) and active content (HTML, SVG with script), unless configured. Stored under the type detected from its bytes.",
    responses((status = 201, body = FileView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn upload_attachment(
    State(state): St,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    upload_single(&state, caller, UploadKind::Attachment, multipart).await
}

#[utoipa::path(post, path = "/api/v1/upload/bulk", tag = "uploads", security(("bearerAuth" = [])),
    request_body(content = BulkForm, content_type = "multipart/form-data"),
    description = "Up to 10 attachments in one request. 201 when every file was stored; 207 (Multi-Status) when any was refused, with one result per file (its own status and problem). Each file counts against the hourly upload limit.",
    responses((status = 201, body = BulkResult), (status = 207, body = BulkResult),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "no `files` part"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "too_many_files or body too large"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn upload_bulk(
    State(state): St,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut multipart = multipart.map_err(multipart_rejection)?;
    let to_api = multipart_error(state.request_body_limit());
    let max_files = state.uploads.limits().bulk_max_files;
    let mut files: Vec<IncomingFile> = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(&to_api)? {
        if !matches!(field.name(), Some("files" | "files[]" | "file")) {
            continue;
        }
        if files.len() == max_files {
            return Err(ApiError::payload_too_large(format!(
                "a bulk upload takes at most {max_files} files"
            ))
            .with_code("too_many_files")
            .with_field("files", format!("at most {max_files}")));
        }
        let filename = file_name(&field);
        let bytes = read_capped(&mut field, UploadKind::Attachment, &state).await?;
        files.push(IncomingFile { filename, bytes });
    }
    if files.is_empty() {
        return Err(missing_file("files"));
    }
    let decision = limit_uploads(&state, &caller, files.len()).await?;
    let names: Vec<String> = files
        .iter()
        .map(|f| validate::sanitize_filename(&f.filename))
        .collect();
    let outcomes = state
        .uploads
        .store_many(&caller.user_id, UploadKind::Attachment, files)
        .await;
    let mut results = Vec::with_capacity(outcomes.len());
    for (index, (outcome, filename)) in outcomes.into_iter().zip(names).enumerate() {
        results.push(match outcome {
            Ok(record) => BulkItem {
                index,
                filename,
                status: StatusCode::CREATED.as_u16(),
                file: Some(state.uploads.view(record).await?),
                error: None,
            },
            Err(e) => {
                let e = ApiError::from(e);
                BulkItem {
                    index,
                    filename,
                    status: e.status.as_u16(),
                    file: None,
                    error: Some(e.problem()),
                }
            }
        });
    }
    let stored = results.iter().filter(|r| r.file.is_some()).count();
    let failed = results.len() - stored;
    let status = if failed == 0 {
        StatusCode::CREATED
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((
        status,
        decision,
        Json(BulkResult {
            stored,
            failed,
            results,
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/upload/presign", tag = "uploads", security(("bearerAuth" = [])),
    request_body = PresignRequest,
    description = "For files that do not fit a Lambda request (about 4 MB and up). Answers a presigned S3 POST (send `fields`, then the file as the last part `file`, to `url`) valid for 5 minutes, limited to exactly `size` bytes of `content_type`, and a pending file. Then call POST /api/v1/upload/{id}/complete. Counts one upload against the hourly limit.",
    responses((status = 201, body = PresignedUpload),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "presign_needs_s3 (local backend)"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn presign(
    State(state): St,
    caller: Caller,
    ApiJson(req): ApiJson<PresignRequest>,
) -> ApiResult<Response> {
    let decision = limit_uploads(&state, &caller, 1).await?;
    let answer = state.uploads.presign(&caller.user_id, &req).await?;
    Ok((StatusCode::CREATED, decision, Json(answer)).into_response())
}

#[utoipa::path(post, path = "/api/v1/upload/{id}/complete", tag = "uploads", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The id answered by presign")),
    description = "Reads the uploaded object, checks its size against the declaration and the kind's limit and its content like a direct upload, then marks the file uploaded. An object that fails is deleted with its record and answered with the same problem a direct upload would get (413, 415, 422 `size_mismatch`/`invalid_image`/...). Completing an uploaded file again answers it again.",
    responses((status = 200, body = FileView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "upload_missing: nothing uploaded yet"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn complete(
    State(state): St,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FileView>> {
    let record = state.uploads.complete(&caller, &id).await?;
    Ok(Json(state.uploads.view(record).await?))
}

#[utoipa::path(get, path = "/api/v1/files", tag = "uploads", security(("bearerAuth" = [])),
    params(ListQuery),
    responses((status = 200, body = FileList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_files(
    State(state): St,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<FileList>> {
    let page = state
        .uploads
        .list(
            &caller,
            q.owner.as_deref(),
            q.limit.unwrap_or(50),
            q.cursor.as_deref(),
        )
        .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "uploads", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    description = "Metadata and a download URL valid for 5 minutes (S3 presigned GET; on the local backend the authenticated content route). The owner, admins and services only.",
    responses((status = 200, body = FileView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_file(
    State(state): St,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FileView>> {
    Ok(Json(state.uploads.describe(&caller, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/files/{id}/content", tag = "uploads", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The file (local backend)"), (status = 307, description = "Redirect to a presigned S3 GET"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "upload_pending")))]
pub async fn get_content(
    State(state): St,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    match state.uploads.content(&caller, &id).await? {
        Content::Redirect(url) => {
            let mut res = StatusCode::TEMPORARY_REDIRECT.into_response();
            res.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&url).map_err(ApiError::internal)?,
            );
            Ok(res)
        }
        Content::Bytes { spec, body } => {
            let mut res = body.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&spec.content_type).map_err(ApiError::internal)?,
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&spec.content_disposition()).map_err(ApiError::internal)?,
            );
            // The bytes are the user's, not the API's: never sniffed, never run as a page.
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            Ok(res)
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(upload_avatar, upload_attachment, upload_bulk, presign, complete, list_files, get_file, get_content),
    tags((name = "uploads", description = "Avatars, attachments and bulk uploads into S3 or a local directory, validated by content"))
)]
struct UploadsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <UploadsApi as utoipa::OpenApi>::openapi()
}
