//! The `docs` function: the hub's OpenAPI 3.1 document, generated from every function's code,
//! and two readers for it, Swagger UI (`/api/docs/`) and ReDoc (`/api/redoc/`), whose
//! JavaScript and CSS are compiled into the binary so the pages work without any network.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /api/openapi.json` | the merged document (built and serialised once per cold start) |
//! | `GET /api/docs`, `GET /api/docs/` | the Swagger UI page |
//! | `GET /api/docs/{asset}` | `swagger-ui-bundle.js`, `swagger-ui.css`, `favicon-32x32.png`, `index.html` |
//! | `GET /api/redoc`, `GET /api/redoc/` | the ReDoc page |
//! | `GET /api/redoc/{asset}` | `redoc.standalone.js`, `index.html` |
//! | `GET /admin`, `GET /admin/` | the admin console (see [`admin`]; not in the document) |
//! | `GET /admin/{asset}` | its JavaScript modules and stylesheet |
//!
//! The trailing-slash forms are the same routes: `shared::http::app` trims the slash before
//! routing. How the pages find their assets under both the production paths and
//! `cargo lambda watch`'s `/lambda-url/docs/...` prefix is explained in
//! `assets/swagger-ui/index.html`: the pages build every URL from the browser's own
//! `location.pathname`, the only place that knows the prefix (the function never sees it).

mod admin;

use std::sync::{LazyLock, OnceLock};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use shared::http::ApiError;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::Tag;
use utoipa::openapi::{
    Components, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, OpenApiVersion, RefOr,
};

/// The name every function's `security(("bearerAuth" = []))` refers to.
pub const BEARER_AUTH: &str = "bearerAuth";

/// Every function's own document, by function name. The hub's document is their merge.
///
/// A new function adds one line here (and itself to this crate's `[dependencies]`);
/// nothing else in the docs function changes.
fn function_docs() -> Vec<(&'static str, OpenApi)> {
    vec![
        ("health", health::openapi()),
        ("providers", providers::openapi()),
        ("ai", ai::openapi()),
        ("uploads", uploads::openapi()),
        ("email", email::openapi()),
        ("sms", sms::openapi()),
        ("webhooks", webhooks::openapi()),
        ("notifications", notifications::openapi()),
        ("subscriptions", subscriptions::openapi()),
        ("docs", DocsApi::openapi()),
    ]
}

const DESCRIPTION: &str = "\
One serverless integrations hub for a health-care back end: SMS (Kavenegar, Twilio), email \
(SMTP), AI text and audio, signed incoming webhooks, file uploads, in-app and real-time \
notifications, per-user rate limits, integration logs and statistics.

Authenticate with `Authorization: Bearer <JWT>` (HS256; roles `admin`, `service`, `user`). \
Operations that show a lock need it; `/health`, the webhook receiver and these docs do not. \
Every path also answers with a trailing slash. Errors are `application/problem+json` \
(RFC 9457) with a stable `code`.";

/// The hub's OpenAPI 3.1 document: every function's routes, schemas and tags, plus the
/// `bearerAuth` scheme they refer to.
///
/// Merging keeps the first of two equal names (path + method, schema, tag), so the base
/// document's `info` and `bearerAuth` win; `tests::functions_do_not_overlap` fails when two
/// functions declare the same operation, instead of one silently hiding the other.
pub fn spec() -> OpenApi {
    let mut components = Components::new();
    components.add_security_scheme(
        BEARER_AUTH,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "HS256 JWT with `sub` and `role` (`admin`, `service` or `user`). \
                     Locally: `make token USER=<id> ROLE=<role>`.",
                ))
                .build(),
        ),
    );
    let mut doc = OpenApiBuilder::new()
        .openapi(OpenApiVersion::Version31)
        .info(
            InfoBuilder::new()
                .title("integrations-hub")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION))
                .license(Some(
                    LicenseBuilder::new()
                        .name("MIT")
                        .identifier(Some("MIT"))
                        .build(),
                ))
                .build(),
        )
        .components(Some(components))
        .build();
    let mut tags: Vec<Tag> = Vec::new();
    for (_, part) in function_docs() {
        collect_tags(&part, &mut tags);
        doc.merge(part);
    }
    doc.tags = Some(tags);
    add_common_answers(&mut doc);
    doc
}

/// The answers every operation of a kind gives, because they come from the shared layers
/// rather than from the handler (`shared::http`: the bearer-token extractors, `ApiJson`,
/// `ApiQuery`, `ApiPath`, the body limit), added to each operation that does not describe
/// them itself. Without them a client generated from the document, or a fuzzer, meets
/// statuses the document never mentions.
fn add_common_answers(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            describe_idempotency_key(op);
            for (status, description) in common_answers(op) {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem_answer(description));
            }
        }
    }
}

/// The `Idempotency-Key` header as `shared::idempotency::validate_key` reads it: the functions
/// name the header, its format is declared once, in the shared crate.
fn describe_idempotency_key(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::path::ParameterIn;
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p
            && p.parameter_in == ParameterIn::Header
            && p.name.eq_ignore_ascii_case("Idempotency-Key")
        {
            p.schema = Some(
                shared::openapi::string()
                    .pattern(Some(shared::idempotency::KEY_PATTERN))
                    .into(),
            );
        }
    }
}

/// (status, description) of the shared layers' answers that apply to `op`.
fn common_answers(op: &utoipa::openapi::path::Operation) -> Vec<(u16, &'static str)> {
    use utoipa::openapi::path::ParameterIn;
    let mut answers = Vec::new();
    let secured = op
        .security
        .iter()
        .flatten()
        .any(|s| serde_json::to_value(s).is_ok_and(|v| v.get(BEARER_AUTH).is_some()));
    if secured {
        answers.push((
            401,
            "No bearer token, or one that is malformed, badly signed or expired",
        ));
        answers.push((403, "The token's role may not do this"));
    }
    let params: Vec<ParameterIn> = op
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(p.parameter_in.clone()),
            RefOr::Ref(_) => None,
        })
        .collect();
    if params.contains(&ParameterIn::Path) {
        answers.push((404, "No such resource"));
    }
    if let Some(RefOr::T(body)) = &op.request_body {
        answers.push((
            400,
            "The body is not valid JSON or a field is invalid (`errors` names it)",
        ));
        answers.push((413, "The body is larger than this route accepts"));
        let form = body.content.keys().any(|c| c.starts_with("multipart/"));
        answers.push((
            415,
            if form {
                "Not a multipart/form-data body, or a file of a type this route does not take"
            } else {
                "The body is not `Content-Type: application/json`"
            },
        ));
        if !form && body.content.contains_key("application/json") {
            answers.push((
                422,
                "JSON of the wrong shape: a missing or unknown field, or a value of the wrong type (`errors` names it)",
            ));
        }
    } else if params
        .iter()
        .any(|p| matches!(p, ParameterIn::Query | ParameterIn::Path))
    {
        answers.push((
            400,
            "An invalid query or path parameter (`errors` names it)",
        ));
    }
    answers
}

fn problem_answer(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                shared::http::problem::PROBLEM_JSON,
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

/// The document's tag list in `function_docs` order (health, providers, ..., docs), naming
/// every tag an operation uses, with its description where a function declares one. Both UIs
/// list groups in this order; without it ReDoc would list the declared tags first and the
/// rest after, and Swagger UI would follow the alphabetical path order (`/api/docs` first).
fn collect_tags(part: &OpenApi, tags: &mut Vec<Tag>) {
    let declared = part.tags.iter().flatten().cloned();
    let used = part.paths.paths.values().flat_map(|item| {
        [
            &item.get,
            &item.put,
            &item.post,
            &item.delete,
            &item.options,
            &item.head,
            &item.patch,
            &item.trace,
            &item.query,
        ]
        .into_iter()
        .flatten()
        .flat_map(|op| op.tags.iter().flatten().map(|name| Tag::new(name.as_str())))
    });
    for tag in declared.chain(used) {
        if !tags.iter().any(|t| t.name == tag.name) {
            tags.push(tag);
        }
    }
}

/// The document as served: serialised once, on first use (`router()` forces it, so in the
/// Lambda it happens during the cold start's init phase), then handed out as a cheap clone.
static SPEC_JSON: LazyLock<Body> = LazyLock::new(|| {
    let json = spec()
        .to_json()
        .expect("the OpenAPI document serialises to JSON");
    Body::new(Bytes::from(json))
});

/// The docs function's routes. Wrap it with `shared::http::app` to serve it.
pub fn router() -> Router {
    LazyLock::force(&SPEC_JSON);
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(swagger_page))
        .route("/api/docs/{asset}", get(swagger_asset))
        .route("/api/redoc", get(redoc_page))
        .route("/api/redoc/{asset}", get(redoc_asset))
        .route("/admin", get(admin::console_page))
        .route("/admin/{asset}", get(admin::console_asset))
}

// ---------------------------------------------------------------------------------------------
// Embedded files

/// How long a browser may reuse a file without asking again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Caching {
    /// Pages and the document: always revalidate (cheap, thanks to the ETag), so a deploy
    /// shows at once.
    Revalidate,
    /// Vendored JS/CSS/images: a day, then revalidate. Their URLs carry no version, so not
    /// `immutable`; a refreshed bundle reaches browsers within a day (a page with a new bundle
    /// works with yesterday's cached one meanwhile: both are the same pinned major version).
    Day,
}

impl Caching {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Caching::Revalidate => "no-cache",
            Caching::Day => "public, max-age=86400",
        })
    }
}

/// A response body that is computed once and cloned per request, with its ETag.
struct Body {
    bytes: Bytes,
    etag: HeaderValue,
}

impl Body {
    fn new(bytes: Bytes) -> Self {
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(&bytes)))
            .expect("hex is a valid header value");
        Body { bytes, etag }
    }
}

/// A file served under a docs folder.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    caching: Caching,
    /// Computed on first request (hashing the 1.7 MB bundle is not worth doing at cold start
    /// for a function that mostly serves the small document).
    etag: OnceLock<HeaderValue>,
}

impl Asset {
    const fn new(
        name: &'static str,
        content_type: &'static str,
        bytes: &'static [u8],
        caching: Caching,
    ) -> Self {
        Asset {
            name,
            content_type,
            bytes,
            caching,
            etag: OnceLock::new(),
        }
    }

    fn etag(&self) -> &HeaderValue {
        self.etag.get_or_init(|| {
            HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(self.bytes)))
                .expect("hex is a valid header value")
        })
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const PNG: &str = "image/png";

/// Swagger UI: our page plus files from the `swagger-ui-dist` npm package (assets/README.md).
static SWAGGER_UI: [Asset; 4] = [
    Asset::new(
        "index.html",
        HTML,
        include_bytes!("../assets/swagger-ui/index.html"),
        Caching::Revalidate,
    ),
    Asset::new(
        "swagger-ui-bundle.js",
        JS,
        include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
        Caching::Day,
    ),
    Asset::new(
        "swagger-ui.css",
        CSS,
        include_bytes!("../assets/swagger-ui/swagger-ui.css"),
        Caching::Day,
    ),
    Asset::new(
        "favicon-32x32.png",
        PNG,
        include_bytes!("../assets/swagger-ui/favicon-32x32.png"),
        Caching::Day,
    ),
];

/// ReDoc: our page plus the standalone bundle from the `redoc` npm package (assets/README.md).
static REDOC: [Asset; 2] = [
    Asset::new(
        "index.html",
        HTML,
        include_bytes!("../assets/redoc/index.html"),
        Caching::Revalidate,
    ),
    Asset::new(
        "redoc.standalone.js",
        JS,
        include_bytes!("../assets/redoc/redoc.standalone.js"),
        Caching::Day,
    ),
];

/// What the pages allow the browser to load. Only the kinds of fetch the hub never needs are
/// locked down (scripts and styles stay as the two UIs need them: inline styles, a blob worker
/// for ReDoc's search). `img-src` keeps ReDoc's "API docs by Redocly" logo from calling its CDN
/// (the image hides itself when it fails to load), so nothing leaves the hub, online or not.
const PAGE_CSP: &str = "img-src 'self' data:; font-src 'self' data:; object-src 'none'; \
                        base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

// ---------------------------------------------------------------------------------------------
// Handlers

/// The hub's OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "docs",
    responses(
        (status = 200, description = "The hub's OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 304, description = "Not modified (`If-None-Match` matched the `ETag`)"),
    )
)]
async fn openapi_json(headers: HeaderMap) -> Response {
    send(
        &headers,
        "application/json",
        SPEC_JSON.bytes.clone(),
        &SPEC_JSON.etag,
        Caching::Revalidate,
    )
}

/// Swagger UI: browse and try the API.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "docs",
    responses((status = 200, description = "The Swagger UI page", content_type = "text/html", body = String))
)]
async fn swagger_page(headers: HeaderMap) -> Response {
    serve(&SWAGGER_UI, "index.html", &headers, "/api/docs")
}

/// A file of the Swagger UI page.
#[utoipa::path(
    get,
    path = "/api/docs/{asset}",
    tag = "docs",
    params(("asset" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css`, `favicon-32x32.png` or `index.html`")),
    responses(
        (status = 200, description = "The file, with its content type"),
        (status = 404, description = "No such file", content_type = "application/problem+json", body = shared::http::problem::Problem),
    )
)]
async fn swagger_asset(Path(asset): Path<String>, headers: HeaderMap) -> Response {
    serve(&SWAGGER_UI, &asset, &headers, "/api/docs")
}

/// ReDoc: read the API reference.
#[utoipa::path(
    get,
    path = "/api/redoc",
    tag = "docs",
    responses((status = 200, description = "The ReDoc page", content_type = "text/html", body = String))
)]
async fn redoc_page(headers: HeaderMap) -> Response {
    serve(&REDOC, "index.html", &headers, "/api/redoc")
}

/// A file of the ReDoc page.
#[utoipa::path(
    get,
    path = "/api/redoc/{asset}",
    tag = "docs",
    params(("asset" = String, Path, description = "`redoc.standalone.js` or `index.html`")),
    responses(
        (status = 200, description = "The file, with its content type"),
        (status = 404, description = "No such file", content_type = "application/problem+json", body = shared::http::problem::Problem),
    )
)]
async fn redoc_asset(Path(asset): Path<String>, headers: HeaderMap) -> Response {
    serve(&REDOC, &asset, &headers, "/api/redoc")
}

/// The docs function's own routes, merged into the hub's document like any other function's.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(openapi_json, swagger_page, swagger_asset, redoc_page, redoc_asset),
    tags((name = "docs", description = "This document and the pages that render it"))
)]
struct DocsApi;

fn serve(folder: &'static [Asset], name: &str, headers: &HeaderMap, base: &str) -> Response {
    match folder.iter().find(|a| a.name == name) {
        Some(a) => {
            let mut res = send(
                headers,
                a.content_type,
                Bytes::from_static(a.bytes),
                a.etag(),
                a.caching,
            );
            if a.content_type == HTML {
                res.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(PAGE_CSP),
                );
            }
            res
        }
        None => {
            let names: Vec<&str> = folder.iter().map(|a| a.name).collect();
            ApiError::not_found(format!(
                "no file {base}/{name}; the files here are {}",
                names.join(", ")
            ))
            .into_response()
        }
    }
}

/// A 200 with the body, or a 304 when the client already has this version.
fn send(
    headers: &HeaderMap,
    content_type: &'static str,
    body: Bytes,
    etag: &HeaderValue,
    caching: Caching,
) -> Response {
    let common = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, caching.header()),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if if_none_match(headers, etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// RFC 9110 §13.1.2: weak comparison, a list of tags or `*`.
fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.to_str().unwrap_or_default();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == ours)
}

/// FNV-1a, 64 bits: a content fingerprint for ETags (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests;
