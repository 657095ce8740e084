use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body as AxumBody;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::*;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec_json() -> Value {
    serde_json::from_slice(&SPEC_JSON.bytes).expect("/api/openapi.json is valid JSON")
}

/// (METHOD, path) of every operation in a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for m in METHODS {
            if item.get(m).is_some() {
                ops.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

// ---------------------------------------------------------------------------------------------
// The document

#[test]
fn spec_is_openapi_3_1_with_info_and_bearer_auth() {
    let doc = spec_json();
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1"),
        "openapi version is {version:?}, expected 3.1.x"
    );
    assert_eq!(doc["info"]["title"], "integrations-hub");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["info"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let bearer = &doc["components"]["securitySchemes"][BEARER_AUTH];
    assert_eq!(bearer["type"], "http", "{bearer}");
    assert_eq!(bearer["scheme"], "bearer", "{bearer}");
    assert_eq!(bearer["bearerFormat"], "JWT", "{bearer}");
}

#[test]
fn tags_follow_function_order_and_cover_every_operation() {
    let doc = spec_json();
    let names: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.last(),
        Some(&"docs"),
        "docs' own group comes last: {names:?}"
    );
    assert!(
        doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "docs" && t["description"].is_string())
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            for tag in item
                .get(m)
                .and_then(|op| op["tags"].as_array())
                .into_iter()
                .flatten()
            {
                let tag = tag.as_str().unwrap();
                assert!(
                    names.contains(&tag),
                    "{m} {path} uses tag {tag:?} missing from {names:?}"
                );
            }
        }
    }
}

#[test]
fn served_json_is_the_generated_spec() {
    let generated = serde_json::to_value(spec()).unwrap();
    assert_eq!(spec_json(), generated);
}

#[test]
fn spec_has_health_providers_and_docs_paths() {
    let doc = spec_json();
    let ops = operations(&doc);
    let has = |method: &str, prefix: &str| {
        ops.iter()
            .any(|(m, p)| m == method && p.trim_end_matches('/').starts_with(prefix))
    };
    assert!(has("GET", "/health"), "no GET /health in {ops:?}");
    assert!(
        has("GET", "/api/integrations/providers"),
        "no provider routes in {ops:?}"
    );
    for p in [
        "/api/openapi.json",
        "/api/docs",
        "/api/docs/{asset}",
        "/api/redoc",
        "/api/redoc/{asset}",
    ] {
        assert!(ops.contains(&("GET".into(), p.into())), "no GET {p}");
    }
}

#[test]
fn every_function_route_is_in_the_merged_spec() {
    let merged = operations(&spec_json());
    for (function, part) in function_docs() {
        let part = serde_json::to_value(part).unwrap();
        let ops = operations(&part);
        assert!(!ops.is_empty(), "function {function} documents no routes");
        for op in ops {
            assert!(
                merged.contains(&op),
                "{} {} of {function} is missing from the merged spec",
                op.0,
                op.1
            );
        }
    }
}

/// `OpenApi::merge` keeps the first of two equal paths+methods and drops the second without
/// a word; two functions claiming one route is a deployment conflict too (API Gateway routes
/// it to one of them), so it is an error here.
#[test]
fn functions_do_not_overlap() {
    let mut owner: BTreeMap<(String, String), &str> = BTreeMap::new();
    for (function, part) in function_docs() {
        for (m, p) in operations(&serde_json::to_value(part).unwrap()) {
            let key = (m, p.trim_end_matches('/').to_string());
            if let Some(first) = owner.insert(key.clone(), function) {
                panic!(
                    "{} {} is declared by both {first} and {function}",
                    key.0, key.1
                );
            }
        }
    }
}

#[test]
fn operation_ids_are_unique() {
    let doc = spec_json();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for m in METHODS {
            if let Some(id) = item.get(m).and_then(|op| op["operationId"].as_str()) {
                let here = format!("{} {path}", m.to_uppercase());
                if let Some(other) = seen.insert(id.to_string(), here.clone()) {
                    panic!(
                        "operationId {id:?} is used by both {other} and {here}: \
                         set `operation_id` on one of the #[utoipa::path]s"
                    );
                }
            }
        }
    }
}

/// A function that uses a schema in a route but forgets `components(schemas(...))` leaves a
/// dangling `$ref`, which both UIs render as an error.
#[test]
fn every_ref_resolves() {
    fn walk(v: &Value, doc: &Value, at: &str, missing: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let ok = r
                        .strip_prefix('#')
                        .is_some_and(|ptr| doc.pointer(ptr).is_some());
                    if !ok {
                        missing.push(format!("{r} (at {at})"));
                    }
                }
                for (k, child) in map {
                    walk(child, doc, &format!("{at}/{k}"), missing);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, doc, &format!("{at}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let doc = spec_json();
    let mut missing = Vec::new();
    walk(&doc, &doc, "", &mut missing);
    assert!(
        missing.is_empty(),
        "unresolved $refs:\n{}",
        missing.join("\n")
    );
}

#[test]
fn security_requirements_name_declared_schemes() {
    let doc = spec_json();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut requirements: Vec<(String, &Value)> = vec![("(global)".into(), &doc["security"])];
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                requirements.push((format!("{} {path}", m.to_uppercase()), &op["security"]));
            }
        }
    }
    for (at, security) in requirements {
        for req in security.as_array().into_iter().flatten() {
            for name in req.as_object().into_iter().flatten().map(|(k, _)| k) {
                assert!(
                    schemes.contains_key(name),
                    "{at} requires unknown security scheme {name:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// template.yaml against the document

/// A route of an `HttpApi` event in template.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TemplateRoute {
    method: String,
    path: String,
    line: usize,
}

fn unquote(s: &str) -> &str {
    let s = s.split(" #").next().unwrap_or(s).trim();
    s.trim_matches(|c| c == '"' || c == '\'')
}

/// The value of `key` on a line, in block style (`Path: /x`) or flow style
/// (`Properties: { ApiId: !Ref Api, Path: /x/{id}, Method: GET }`).
fn value_of(line: &str, key: &str) -> Option<String> {
    let at = line.find(key)?;
    let before = line[..at].trim_end();
    if !(before.is_empty() || before.ends_with('{') || before.ends_with(',')) {
        return None; // `ApiPath:` or a key inside some other value
    }
    let word = line[at + key.len()..].split_whitespace().next()?;
    let mut v = unquote(word.trim_end_matches(',')).to_string();
    // A flow mapping's closing brace can stick to the value: `Path: /x/{id}}`.
    while v.matches('}').count() > v.matches('{').count() {
        v.pop();
    }
    let v = unquote(v.trim_end_matches(',')).to_string();
    (!v.is_empty()).then_some(v)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The routes of every `Type: HttpApi` event, read line by line (no YAML dependency): an
/// event is the mapping around its `Type:` line (every line indented at least as deep), and
/// its `Path:` and `Method:` are found anywhere inside it (under `Properties:`). An HttpApi
/// event without a path is API Gateway's `$default` route and is left out.
fn template_routes(text: &str) -> Vec<TemplateRoute> {
    let lines: Vec<&str> = text.lines().collect();
    let mut routes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let Some(ty) = t.strip_prefix("Type:") else {
            continue;
        };
        if unquote(ty) != "HttpApi" {
            continue;
        }
        let depth = indent(line);
        let inside = |l: &&&str| !is_content(l) || indent(l) >= depth;
        let start = i - lines[..i].iter().rev().take_while(inside).count();
        let end = i + 1 + lines[i + 1..].iter().take_while(inside).count();
        let mut path = None;
        let mut method = None;
        for l in lines[start..end].iter().filter(|l| is_content(l)) {
            path = path.or_else(|| value_of(l, "Path:"));
            method = method.or_else(|| value_of(l, "Method:").map(|m| m.to_uppercase()));
        }
        if let Some(path) = path {
            routes.push(TemplateRoute {
                method: method.unwrap_or_else(|| "ANY".into()),
                path,
                line: i + 1,
            });
        }
    }
    routes
}

/// Comparable form of a path: no trailing slash, parameter names erased (`{slug}` and `{id}`
/// are the same route to API Gateway), and whether it ends in a greedy `{proxy+}`.
fn route_key(path: &str) -> (String, bool) {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let greedy = path.ends_with("+}");
    let segments: Vec<String> = path
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "{}".to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    let mut key = segments.join("/");
    if greedy {
        key.truncate(key.len() - "{}".len());
    }
    (key, greedy)
}

/// Does a (template) route with `method`/`path` serve the (spec) operation `op_method`/`op_path`?
fn route_covers(method: &str, path: &str, op_method: &str, op_path: &str) -> bool {
    let method_ok = method == "ANY" || method == op_method;
    let (key, greedy) = route_key(path);
    let (op_key, _) = route_key(op_path);
    method_ok
        && if greedy {
            op_key.starts_with(&key)
        } else {
            op_key == key
        }
}

fn is_docs_route(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p == "/api/openapi.json"
        || p.starts_with("/api/docs")
        || p.starts_with("/api/redoc")
        || p == "/admin"
        || p.starts_with("/admin/")
}

fn read_template() -> Option<(String, Vec<TemplateRoute>)> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let routes = template_routes(&text);
            Some((file.to_string(), routes))
        }
        Err(e) => {
            eprintln!("skipped: {file} could not be read ({e})");
            None
        }
    }
}

#[test]
fn template_parser_reads_http_api_events() {
    let yaml = r#"
Resources:
  HealthFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Health:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /health
            Method: get
        HealthSlash:
          Properties:   # Type after Properties
            Path: "/health/"
            Method: 'GET'
          Type: HttpApi
        Everything:
          Type: HttpApi
        Flow:
          Type: HttpApi
          Properties: { ApiId: !Ref HttpApi, Path: /api/x/{slug}, Method: post }
        FlowTight:
          Type: HttpApi
          Properties: {ApiId: !Ref HttpApi, Method: PUT, Path: /api/y/{id}}
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
  DocsFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Docs:
          Type: "HttpApi"
          Properties:
            Path: /api/docs/{proxy+}
"#;
    let routes: Vec<(String, String)> = template_routes(yaml)
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        routes,
        vec![
            ("GET".into(), "/health".into()),
            ("GET".into(), "/health/".into()),
            ("POST".into(), "/api/x/{slug}".into()),
            ("PUT".into(), "/api/y/{id}".into()),
            ("ANY".into(), "/api/docs/{proxy+}".into()),
        ]
    );
    assert!(route_covers("GET", "/api/x/{slug}/", "GET", "/api/x/{id}"));
    assert!(route_covers(
        "ANY",
        "/api/docs/{proxy+}",
        "GET",
        "/api/docs/{asset}"
    ));
    assert!(!route_covers("POST", "/api/x", "GET", "/api/x"));
    assert!(!route_covers("GET", "/api/x", "GET", "/api/x/{id}"));
}

/// Every route the template deploys is documented (docs' own routes are skipped: the template
/// may map them with a catch-all).
#[test]
fn template_routes_are_all_in_the_spec() {
    let Some((file, routes)) = read_template() else {
        return;
    };
    let ops = operations(&spec_json());
    let missing: Vec<String> = routes
        .iter()
        .filter(|r| !is_docs_route(&r.path))
        .filter(|r| {
            !ops.iter()
                .any(|(m, p)| route_covers(&r.method, &r.path, m, p))
        })
        .map(|r| format!("  {} {} ({file}:{})", r.method, r.path, r.line))
        .collect();
    assert!(
        missing.is_empty(),
        "template.yaml routes with no operation in /api/openapi.json (add #[utoipa::path] to the \
         handler and list it in the function's openapi(), or add the function to \
         docs::function_docs):\n{}",
        missing.join("\n")
    );
}

/// The other way round: every documented operation is deployed by some template route.
#[test]
fn spec_routes_are_all_in_the_template() {
    let Some((file, routes)) = read_template() else {
        return;
    };
    if routes.is_empty() {
        eprintln!("skipped: {file} has no HttpApi events yet");
        return;
    }
    let missing: Vec<String> = operations(&spec_json())
        .into_iter()
        .filter(|(m, p)| {
            !routes
                .iter()
                .any(|r| route_covers(&r.method, &r.path, m, p))
        })
        .map(|(m, p)| format!("  {m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "operations in /api/openapi.json that no HttpApi event in {file} routes:\n{}",
        missing.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The routes (the bare router; tests/integration/docs.rs goes through shared::http::app)

async fn get(uri: &str, headers: &[(header::HeaderName, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    let res = router()
        .oneshot(req.body(AxumBody::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn openapi_json_is_served_once_computed_with_etag() {
    let (status, headers, body) = get("/api/openapi.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(body, SPEC_JSON.bytes);
    let etag = headers[header::ETAG].to_str().unwrap().to_string();

    let (status, headers, body) = get("/api/openapi.json", &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(headers[header::ETAG], etag.as_str());
    assert!(body.is_empty());
    let weak_list = format!("\"nope\", W/{etag}");
    let (status, ..) = get("/api/openapi.json", &[(header::IF_NONE_MATCH, &weak_list)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, ..) = get("/api/openapi.json", &[(header::IF_NONE_MATCH, "\"other\"")]).await;
    assert_eq!(status, StatusCode::OK);
}

/// The URLs a page builds: every `HUB_DOCS.root + "..."` in it.
fn page_urls(html: &str) -> Vec<String> {
    html.split("HUB_DOCS.root + \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_build_asset_urls_from_their_own_path_and_use_no_cdn() {
    for (page, folder, must_load) in [
        (
            "/api/docs",
            "/api/docs/",
            vec!["swagger-ui-bundle.js", "swagger-ui.css"],
        ),
        (
            "/api/docs/index.html",
            "/api/docs/",
            vec!["swagger-ui-bundle.js", "swagger-ui.css"],
        ),
        ("/api/redoc", "/api/redoc/", vec!["redoc.standalone.js"]),
        (
            "/api/redoc/index.html",
            "/api/redoc/",
            vec!["redoc.standalone.js"],
        ),
    ] {
        let (status, headers, body) = get(page, &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{page}"
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{page}");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("img-src 'self' data:")
        );
        let html = std::str::from_utf8(&body).unwrap();
        for scheme in ["http://", "https://", "\"//", "'//"] {
            assert!(
                !html.contains(scheme),
                "{page} names an outside URL ({scheme})"
            );
        }
        assert!(
            html.contains("location.pathname"),
            "{page} must resolve URLs from the browser's path"
        );
        assert!(
            html.contains("new URL(\"../openapi.json\""),
            "{page} must load the spec beside its folder"
        );
        let urls = page_urls(html);
        for name in must_load {
            assert!(
                urls.iter().any(|u| u == name),
                "{page} does not load {name}: {urls:?}"
            );
        }
        // Everything the page loads is served by this function.
        for url in urls {
            let target = if let Some(rest) = url.strip_prefix("../") {
                format!("/api/{rest}")
            } else {
                format!("{folder}{url}")
            };
            let (status, ..) = get(&target, &[]).await;
            assert_eq!(status, StatusCode::OK, "{page} loads {url} = {target}");
        }
    }
}

#[test]
fn pages_turn_off_outside_calls_of_the_bundles() {
    let swagger = std::str::from_utf8(SWAGGER_UI[0].bytes).unwrap();
    assert!(
        swagger.contains("validatorUrl: null"),
        "Swagger UI's validator badge calls validator.swagger.io"
    );
    let redoc = std::str::from_utf8(REDOC[0].bytes).unwrap();
    assert!(
        !redoc.contains("fonts."),
        "ReDoc page must not load web fonts"
    );
    assert!(redoc.contains("fontFamily: sans"));
}

#[tokio::test]
async fn assets_have_their_content_type_and_cache_control() {
    for (uri, content_type, min_len) in [
        (
            "/api/docs/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
            500_000,
        ),
        (
            "/api/docs/swagger-ui.css",
            "text/css; charset=utf-8",
            50_000,
        ),
        ("/api/docs/favicon-32x32.png", "image/png", 100),
        (
            "/api/redoc/redoc.standalone.js",
            "text/javascript; charset=utf-8",
            500_000,
        ),
    ] {
        let (status, headers, body) = get(uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{uri}");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=86400",
            "{uri}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        assert!(headers.contains_key(header::ETAG), "{uri}");
        assert!(body.len() >= min_len, "{uri} is only {} bytes", body.len());
        // Lambda's response limit is 6 MB, and text goes out JSON-escaped.
        assert!(body.len() < 4_000_000, "{uri} is {} bytes", body.len());
    }
    let (_, _, png) = get("/api/docs/favicon-32x32.png", &[]).await;
    assert!(png.starts_with(b"\x89PNG"));
}

#[tokio::test]
async fn unknown_asset_is_a_404_problem() {
    for uri in [
        "/api/docs/nope.js",
        "/api/redoc/swagger-ui.css",
        "/api/docs/redoc.standalone.js",
    ] {
        let (status, headers, body) = get(uri, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{uri}"
        );
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 404, "{problem}");
    }
}

// ---------------------------------------------------------------------------------------------
// What the document says about parameters and answers

/// A path parameter must be in the path (`{name}`), and every `{name}` of a path must be a
/// path parameter: utoipa places an `IntoParams` struct without `parameter_in` in the path,
/// which documented `GET /health?deep=true` as a required path parameter.
#[test]
fn path_parameters_are_the_paths_placeholders() {
    let doc = spec_json();
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let placeholders: BTreeSet<String> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .map(str::to_string)
            .collect();
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let in_path: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            if in_path != placeholders {
                wrong.push(format!("{m} {path}: path parameters {in_path:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn health_deep_is_an_optional_query_parameter() {
    let doc = spec_json();
    let params = doc["paths"]["/health"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let deep = params.iter().find(|p| p["name"] == "deep").unwrap();
    assert_eq!(deep["in"], "query");
    assert_eq!(deep["required"], false);
}

/// The shared layers' answers are on every operation they apply to, as problems.
#[test]
fn shared_layer_answers_are_documented() {
    let doc = spec_json();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let responses = &op["responses"];
            let mut expect: Vec<&str> = Vec::new();
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                expect.extend(["401", "403"]);
            }
            if op.get("requestBody").is_some() {
                expect.extend(["400", "413", "415"]);
                if op["requestBody"]["content"]
                    .get("application/json")
                    .is_some()
                {
                    expect.push("422");
                }
            }
            if path.contains('{') {
                expect.push("404");
            }
            for status in expect {
                if responses.get(status).is_none() {
                    missing.push(format!("{m} {path} {status}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
    let op = &doc["paths"]["/api/integrations/providers"]["post"];
    assert_eq!(
        op["responses"]["401"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}

#[test]
fn idempotency_key_has_the_validated_format() {
    let doc = spec_json();
    let params = doc["paths"]["/api/integrations/sms/send"]["post"]["parameters"]
        .as_array()
        .unwrap();
    let key = params
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert_eq!(key["in"], "header");
    assert_eq!(key["schema"]["pattern"], shared::idempotency::KEY_PATTERN);
}

/// Request bodies whose fields depend on each other are `oneOf` shapes.
#[test]
fn dependent_bodies_are_one_of_shapes() {
    let doc = spec_json();
    let schemas = &doc["components"]["schemas"];
    for (name, shapes) in [
        // otp, pattern, text, and one per named template (shared::locale::ShortTemplate).
        ("SendRequest", 3 + shared::locale::ShortTemplate::ALL.len()),
        ("BulkRequest", 2),
        ("SendEmailBody", 6),
        ("NewRateLimitRule", 2),
        ("PresignRequest", 2),
        ("GenerateBody", 4),
        ("ChatBody", 2),
    ] {
        // At least these shapes (a named template or a new provider adds more).
        let one_of = schemas[name]["oneOf"].as_array().map(Vec::len).unwrap_or(0);
        assert!(one_of >= shapes, "{name}: {}", schemas[name]);
    }
}

/// Two functions must not give one schema name to two different shapes: the merge keeps the
/// first, and the second function's operations would then be documented with the wrong
/// schema (notifications' `ChannelStatus` enum was shown as the health report's object).
#[test]
fn functions_do_not_share_schema_names_with_different_shapes() {
    fn normalised(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| *k != "description" && *k != "examples" && *k != "example")
                    .map(|(k, v)| (k.clone(), normalised(v)))
                    .collect(),
            ),
            Value::Array(items) => {
                let mut items: Vec<Value> = items.iter().map(normalised).collect();
                items.sort_by_key(|i| i.to_string());
                Value::Array(items)
            }
            other => other.clone(),
        }
    }
    let mut seen: BTreeMap<String, (&str, Value)> = BTreeMap::new();
    let mut clashes = Vec::new();
    for (function, part) in function_docs() {
        let part = serde_json::to_value(&part).unwrap();
        for (name, schema) in part["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let shape = normalised(schema);
            match seen.get(name) {
                Some((first, other)) if *other != shape => {
                    clashes.push(format!("{name}: {first} and {function}"));
                }
                Some(_) => {}
                None => {
                    seen.insert(name.clone(), (function, shape));
                }
            }
        }
    }
    assert!(
        clashes.is_empty(),
        "schema names used for different shapes: {clashes:#?}"
    );
}
