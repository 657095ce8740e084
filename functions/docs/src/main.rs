//! Lambda entry point of the `docs` function: `/api/openapi.json`, `/api/docs/`, `/api/redoc/`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    // Builds and serialises the OpenAPI document now, in the init phase, not on a request.
    let service = shared::http::app(docs::router());
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "docs function ready");
    shared::http::run(service).await
}
