//! The docs function as deployed: `docs::router()` wrapped by `shared::http::app`, called
//! in-process. (Content types, caching and the document's contents are unit-tested in
//! functions/docs/src/tests.rs; this covers what the shared wrapper adds.)

use axum::body::{Body, Bytes};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn call(method: Method, uri: &str) -> (StatusCode, http::HeaderMap, Bytes) {
    let service = shared::http::app(docs::router());
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let res = service.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn docs_openapi_json_is_openapi_3_1_with_health_and_providers() {
    for uri in ["/api/openapi.json", "/api/openapi.json/"] {
        let (status, headers, body) = call(Method::GET, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{uri}");
        let doc: Value = serde_json::from_slice(&body).expect("valid JSON");
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let paths = doc["paths"].as_object().unwrap();
        let has = |prefix: &str| {
            paths
                .keys()
                .any(|p| p.trim_end_matches('/').starts_with(prefix))
        };
        assert!(has("/health"), "no /health in {:?}", paths.keys());
        assert!(
            has("/api/integrations/providers"),
            "no provider routes in {:?}",
            paths.keys()
        );
        assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
    }
}

#[tokio::test]
async fn docs_pages_answer_with_and_without_trailing_slash() {
    for (uri, asset) in [
        ("/api/docs", "swagger-ui-bundle.js"),
        ("/api/docs/", "swagger-ui-bundle.js"),
        ("/api/redoc", "redoc.standalone.js"),
        ("/api/redoc/", "redoc.standalone.js"),
    ] {
        let (status, headers, body) = call(Method::GET, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{uri}"
        );
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains(asset), "{uri} does not reference {asset}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{uri} names an outside URL"
        );
    }
}

#[tokio::test]
async fn docs_assets_are_served_with_their_types() {
    for (uri, content_type) in [
        (
            "/api/docs/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
        ),
        ("/api/docs/swagger-ui.css", "text/css; charset=utf-8"),
        (
            "/api/redoc/redoc.standalone.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let (status, headers, body) = call(Method::GET, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{uri}");
        assert!(
            headers[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age"),
            "{uri}"
        );
        assert!(!body.is_empty(), "{uri}");
    }
    // HEAD works like GET without the body (browsers and probes use it).
    let (status, headers, body) = call(Method::HEAD, "/api/docs/swagger-ui.css").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(body.is_empty());
}

#[tokio::test]
async fn docs_unknown_files_and_methods_are_problems() {
    for (method, uri, status, code) in [
        (
            Method::GET,
            "/api/docs/nope.js",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/api/docs/nope.js/",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/api/docs/a/b.js",
            StatusCode::NOT_FOUND,
            "unknown_route",
        ),
        (
            Method::POST,
            "/api/openapi.json",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let (got, headers, body) = call(method.clone(), uri).await;
        assert_eq!(got, status, "{method} {uri}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{method} {uri}"
        );
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], status.as_u16(), "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
    }
}
