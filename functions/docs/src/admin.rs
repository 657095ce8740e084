//! The admin console at `/admin/`: a small static app (plain JavaScript modules, hand-drawn
//! SVG charts, no library) that signs in with an admin bearer token and does everything
//! through the hub's admin API, so authorization stays in the functions that own the data.
//! This function only hands out files; it never sees a token.
//!
//! Every file is compiled into the binary (`assets/admin/`, see its README.md). The page
//! refers to its files by absolute `/admin/...` paths (the production paths, which the local
//! router also serves), so it needs no inline script to find them, and the
//! Content-Security-Policy forbids inline code and styles outright.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::{Asset, CSS, Caching, HTML, JS, serve};

/// Only this origin's own files run, and the page talks only to this origin (the API).
/// No inline script or style (nothing in the app needs `'unsafe-inline'`), no plugins, no
/// `<base>`, no form posts anywhere (forms are sent by script), never framed.
pub(crate) const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's files. Small and changed together, so all are revalidated on every load
/// (cheap with the ETag) and a deploy shows at once.
pub(crate) static CONSOLE: [Asset; 13] = [
    Asset::new(
        "index.html",
        HTML,
        include_bytes!("../assets/admin/index.html"),
        Caching::Revalidate,
    ),
    Asset::new(
        "console.css",
        CSS,
        include_bytes!("../assets/admin/console.css"),
        Caching::Revalidate,
    ),
    Asset::new(
        "app.js",
        JS,
        include_bytes!("../assets/admin/app.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "api.js",
        JS,
        include_bytes!("../assets/admin/api.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "dom.js",
        JS,
        include_bytes!("../assets/admin/dom.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "i18n.js",
        JS,
        include_bytes!("../assets/admin/i18n.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "forms.js",
        JS,
        include_bytes!("../assets/admin/forms.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "chart.js",
        JS,
        include_bytes!("../assets/admin/chart.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "page-providers.js",
        JS,
        include_bytes!("../assets/admin/page-providers.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "page-logs.js",
        JS,
        include_bytes!("../assets/admin/page-logs.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "page-webhooks.js",
        JS,
        include_bytes!("../assets/admin/page-webhooks.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "page-rate-limits.js",
        JS,
        include_bytes!("../assets/admin/page-rate-limits.js"),
        Caching::Revalidate,
    ),
    Asset::new(
        "page-messages.js",
        JS,
        include_bytes!("../assets/admin/page-messages.js"),
        Caching::Revalidate,
    ),
];

/// `GET /admin` (and `/admin/`): the console page.
pub(crate) async fn console_page(headers: HeaderMap) -> Response {
    console_file("index.html", &headers)
}

/// `GET /admin/{asset}`: one of the console's files.
pub(crate) async fn console_asset(Path(asset): Path<String>, headers: HeaderMap) -> Response {
    console_file(&asset, &headers)
}

fn console_file(name: &str, headers: &HeaderMap) -> Response {
    let mut res = serve(&CONSOLE, name, headers, "/admin");
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

#[cfg(test)]
mod tests {
    use axum::body::Body as AxumBody;
    use axum::http::{Request, StatusCode, header};
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::{CONSOLE, CONSOLE_CSP};

    /// Through `shared::http::app`, as deployed (so `/admin/` is the same route as `/admin`).
    async fn get(uri: &str) -> (StatusCode, axum::http::HeaderMap, Bytes) {
        let res = shared::http::app(crate::router())
            .oneshot(Request::get(uri).body(AxumBody::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, bytes)
    }

    fn text(name: &str) -> &'static str {
        let asset = CONSOLE.iter().find(|a| a.name == name).unwrap();
        std::str::from_utf8(asset.bytes).unwrap()
    }

    /// `"./x.js"` module imports and `/admin/x` references of a file.
    fn references(src: &str) -> Vec<String> {
        let imports = src
            .split("from \"./")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_string());
        let absolute = src
            .split("\"/admin/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_string());
        imports.chain(absolute).collect()
    }

    #[test]
    fn csp_is_strict() {
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(CONSOLE_CSP.contains(directive), "CSP lacks {directive}");
        }
        for loose in ["unsafe-inline", "unsafe-eval", "*", "http:", "https:"] {
            assert!(!CONSOLE_CSP.contains(loose), "CSP allows {loose}");
        }
    }

    #[tokio::test]
    async fn page_answers_with_the_csp_and_security_headers() {
        for uri in ["/admin", "/admin/", "/admin/index.html"] {
            let (status, headers, body) = get(uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONSOLE_CSP,
                "{uri}"
            );
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            assert!(headers.contains_key(header::ETAG));
            let html = std::str::from_utf8(&body).unwrap();
            assert!(html.contains("<script type=\"module\" src=\"/admin/app.js\"></script>"));
        }
    }

    #[tokio::test]
    async fn every_referenced_file_is_served_and_every_file_is_used() {
        let mut used = vec!["index.html".to_string()];
        for asset in CONSOLE.iter() {
            for name in references(text(asset.name)) {
                let (status, headers, body) = get(&format!("/admin/{name}")).await;
                assert_eq!(status, StatusCode::OK, "{} refers to {name}", asset.name);
                let want = if name.ends_with(".js") {
                    "text/javascript; charset=utf-8"
                } else {
                    "text/css; charset=utf-8"
                };
                assert_eq!(headers[header::CONTENT_TYPE], want, "{name}");
                assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CONSOLE_CSP);
                assert!(!body.is_empty());
                used.push(name);
            }
        }
        for asset in CONSOLE.iter() {
            assert!(
                used.iter().any(|u| u == asset.name),
                "{} is embedded but nothing loads it",
                asset.name
            );
        }
    }

    #[test]
    fn no_inline_code_no_markup_injection_no_outside_urls() {
        let html = text("index.html");
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script type=\"module\" src=").count(),
            "every script is a file"
        );
        assert!(!html.contains("<style") && !html.contains(" style="));
        for handler in ["onclick=", "onload=", "onerror=", "onsubmit=", "onchange="] {
            assert!(!html.contains(handler), "inline handler {handler}");
        }
        for asset in CONSOLE.iter() {
            let src = text(asset.name);
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "eval(",
                "new Function",
                "document.write",
                "localStorage.setItem(\"hub.admin.token",
            ] {
                assert!(!src.contains(banned), "{} uses {banned}", asset.name);
            }
            // The only absolute URL is the SVG namespace (an identifier, never fetched).
            let outside = src
                .replace("http://www.w3.org/2000/svg", "")
                .contains("://");
            assert!(!outside, "{} names an outside URL", asset.name);
        }
        // The token is only ever kept in sessionStorage.
        let api = text("api.js");
        assert!(api.contains("sessionStorage.setItem(TOKEN_KEY"));
        assert!(!api.contains("document.cookie"));
    }

    #[tokio::test]
    async fn unknown_file_is_a_404_problem_with_the_same_headers() {
        let (status, headers, body) = get("/admin/nope.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CONSOLE_CSP);
        assert!(std::str::from_utf8(&body).unwrap().contains("app.js"));
    }
}
