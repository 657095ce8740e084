//! Round trips per route: for every route of every function (and each worker's message
//! handler), the AWS requests of a cold call (fresh context: cold start + first request) and
//! of a warm call (second request on the same context), counted per operation under the SDK
//! (`hub_tests::faults::Faults`, no faults injected), and the provider requests (wiremock).
//! Counts, not times: the same table is checked against `tests/round_trips.json` by
//! `cargo test -p hub-tests --test round_trips` (in `make test`).
//!
//!   cargo bench --profile dev -p hub-tests --bench round_trips     (or `make bench`)
//!
//! ROUND_TRIPS_MARKDOWN=path also writes the table as markdown (docs/performance.md).

#[path = "../round_trips/measure.rs"]
mod measure;

#[tokio::main]
async fn main() {
    let mut rt = measure::RoundTrips::new().await;
    rt.all().await;
    println!(
        "AWS round trips per route (cold: cold start + first call; warm: second call; provider: cold/warm)"
    );
    print!("{}", measure::table(&rt.rows));
    if let Ok(path) = std::env::var("ROUND_TRIPS_MARKDOWN") {
        std::fs::write(&path, measure::markdown(&rt.rows)).expect("write markdown");
    }
    if let Ok(dir) = std::env::var("BENCH_SUMMARY_DIR") {
        let total_warm: u32 = rt.rows.iter().map(|(_, c)| c.warm).sum();
        let _ = std::fs::create_dir_all(&dir);
        std::fs::write(
            format!("{dir}/round_trips.txt"),
            format!(
                "{} routes; warm AWS calls {total_warm} in all\n{}",
                rt.rows.len(),
                measure::table(&rt.rows)
            ),
        )
        .expect("summary");
    }
}
