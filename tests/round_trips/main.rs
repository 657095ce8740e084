//! Round trips per route as a checked figure: every route's AWS requests (cold call and warm
//! call, counted under the SDK; see `measure.rs`) must not exceed the baseline in
//! `tests/round_trips.json`. Counts are deterministic (no timing): a route that grows fails
//! here with the operations it now makes, and so does a route whose warm call makes more of
//! them before its answer (its critical path: writes an HTTP function defers past the answer,
//! `shared::deferred`, are counted apart). The table is printed by
//! `cargo bench --profile dev -p hub-tests --bench round_trips` (part of `make bench`).
//!
//! When a change adds a round trip on purpose (or removes one), regenerate the baseline:
//!   UPDATE_ROUND_TRIPS=1 TEST_CARGO_ARGS="-p hub-tests --test round_trips" make test

mod measure;

use std::collections::BTreeMap;

use measure::{RoundTrips, RouteCount};

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/round_trips.json");

/// The baseline file: route -> counts.
#[derive(serde::Serialize, serde::Deserialize)]
struct Baseline {
    #[serde(rename = "_how_to_update")]
    how_to_update: String,
    routes: BTreeMap<String, RouteCount>,
}

/// Every route in one future is deep in a debug build: run it on a thread with a large stack.
#[test]
fn no_route_makes_more_aws_round_trips_than_its_baseline() {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(Box::pin(check_round_trips()))
        })
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

async fn check_round_trips() {
    let mut rt = RoundTrips::new().await;
    Box::pin(rt.all()).await;
    println!("{}", measure::table(&rt.rows));
    assert_eq!(
        rt.rows
            .iter()
            .map(|(r, _)| r)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        rt.rows.len(),
        "route names are unique"
    );
    let measured: BTreeMap<String, RouteCount> = rt
        .rows
        .iter()
        .filter(|(route, _)| !rt.unchecked.contains(route))
        .cloned()
        .collect();

    if std::env::var("UPDATE_ROUND_TRIPS").is_ok_and(|v| v == "1") {
        let baseline = Baseline {
            how_to_update:
                "UPDATE_ROUND_TRIPS=1 TEST_CARGO_ARGS=\"-p hub-tests --test round_trips\" make test"
                    .into(),
            routes: measured,
        };
        std::fs::write(
            BASELINE,
            serde_json::to_string_pretty(&baseline).expect("json") + "\n",
        )
        .expect("write the baseline");
        println!("baseline written: {BASELINE}");
        return;
    }

    let text = std::fs::read_to_string(BASELINE).unwrap_or_else(|e| {
        panic!("{BASELINE}: {e}; create it with UPDATE_ROUND_TRIPS=1 TEST_CARGO_ARGS=\"-p hub-tests --test round_trips\" make test")
    });
    let baseline: Baseline = serde_json::from_str(&text).expect("baseline json");
    let mut grown = Vec::new();
    let mut shrunk = Vec::new();
    for (route, now) in &measured {
        let Some(was) = baseline.routes.get(route) else {
            grown.push(format!(
                "{route}: not in the baseline (now cold {} [{}], warm {} [{}])",
                now.cold, now.cold_ops, now.warm, now.warm_ops
            ));
            continue;
        };
        let critical = |c: &RouteCount| c.warm - c.warm_after_answer;
        if now.warm > was.warm || now.cold > was.cold || critical(now) > critical(was) {
            grown.push(format!(
                "{route}: cold {} -> {} [{}], warm {} -> {} [{}] (baseline warm: [{}]), before the answer {} -> {}",
                was.cold,
                now.cold,
                now.cold_ops,
                was.warm,
                now.warm,
                now.warm_ops,
                was.warm_ops,
                critical(was),
                critical(now)
            ));
        } else if now.warm < was.warm || now.cold < was.cold || critical(now) < critical(was) {
            shrunk.push(format!(
                "{route}: cold {} -> {}, warm {} -> {}",
                was.cold, now.cold, was.warm, now.warm
            ));
        }
    }
    let gone: Vec<&String> = baseline
        .routes
        .keys()
        .filter(|r| !measured.contains_key(*r))
        .collect();
    if !shrunk.is_empty() {
        println!(
            "fewer round trips than the baseline (lower it: {}):\n  {}",
            baseline.how_to_update,
            shrunk.join("\n  ")
        );
    }
    assert!(
        grown.is_empty() && gone.is_empty(),
        "AWS round trips per route grew (or routes changed) against {BASELINE}:\n  {}\n  routes no longer measured: {gone:?}\n\
         If the new round trips are intended, update the baseline with\n  {}\nand say why in the commit.",
        grown.join("\n  "),
        baseline.how_to_update
    );
}
