//! The re-drive sweeper (an EventBridge `rate(1 minute)` schedule in template.yaml, every
//! `SWEEP_INTERVAL_SECONDS` under `make dev`): re-sends the queue message of every unit of work
//! still in the hub table's `redrive` index past its due time, then pushes the due time forward
//! (`shared::redrive::sweep_due`). Units get there when the process died, or `SendMessage`
//! failed, between their write and their enqueue; their worker takes them out when it claims
//! them. Workers are idempotent, so a re-sent message racing a slow first one is harmless.
//! Why a sweeper rather than a DynamoDB Streams outbox: docs/reliability.md.
//!
//! Each sweep logs its [`SweepReport`] and writes it as CloudWatch embedded metrics
//! (`RedriveDue`, `RedriveSent`, `RedriveStuck`, `RedriveUnroutable` in
//! `REDRIVE_METRICS_NAMESPACE`), which `RedriveAlarm` watches.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shared::HubContext;
use shared::redrive::{SweepError, SweepReport};

/// Items read per `Query`; a sweep reads pages until one is not full.
const PAGE: i32 = 100;
/// A sweep stops starting new pages after this long (the function's Timeout is 50 s and the
/// next sweep is a minute away): what is left is still due then.
const BUDGET: Duration = Duration::from_secs(30);

/// The cold-start state of a sweep: clients, table, queue URLs, delay and metrics namespace.
pub struct Sweeper {
    aws: shared::aws::AwsClients,
    table: String,
    queue_urls: HashMap<String, String>,
    after: Duration,
    namespace: Option<String>,
}

impl Sweeper {
    pub fn new(ctx: &HubContext) -> Self {
        Self {
            aws: ctx.aws.clone(),
            table: ctx.config.hub_table.clone(),
            queue_urls: shared::redrive::queue_urls_from_env(&ctx.env),
            after: shared::redrive::after_from_env(&ctx.env),
            namespace: ctx.env.get("REDRIVE_METRICS_NAMESPACE"),
        }
    }

    /// One sweep at the current time.
    pub async fn sweep(&self) -> Result<SweepReport, SweepError> {
        self.sweep_at(shared::clock::now_secs()).await
    }

    /// One sweep as if it were `now_secs`: every due page, until a page is not full, a page
    /// re-sends nothing (only unroutable items left: re-reading them would loop) or the time
    /// budget is spent.
    pub async fn sweep_at(&self, now_secs: i64) -> Result<SweepReport, SweepError> {
        let started = Instant::now();
        let mut total = SweepReport::default();
        loop {
            let page = shared::redrive::sweep_due(
                &self.aws.dynamo,
                self.aws.sqs(),
                &self.table,
                &self.queue_urls,
                now_secs,
                self.after,
                PAGE,
            )
            .await?;
            total.due += page.due;
            total.redriven += page.redriven;
            total.unroutable += page.unroutable;
            total.stuck += page.stuck;
            if page.due < PAGE as usize || page.redriven == 0 || started.elapsed() > BUDGET {
                return Ok(total);
            }
        }
    }

    /// The Lambda invocation: a sweep, its log line and metrics, and the report as the answer.
    /// A failed sweep is an invocation error (the sweeper's `Errors` metric, which
    /// `RedriveAlarm` watches); what it did not re-send is still due at the next one.
    pub async fn run(&self) -> Result<serde_json::Value, SweepError> {
        match self.sweep().await {
            Ok(report) => {
                if report.due > 0 {
                    tracing::warn!(
                        due = report.due,
                        redriven = report.redriven,
                        stuck = report.stuck,
                        unroutable = report.unroutable,
                        "re-drove units of work whose queue message never arrived"
                    );
                } else {
                    tracing::info!("nothing to re-drive");
                }
                if let Some(namespace) = &self.namespace {
                    // Embedded metric format: CloudWatch turns this stdout line into metrics.
                    println!("{}", emf(namespace, &report, shared::clock::now_ms()));
                }
                Ok(serde_json::to_value(&report).unwrap_or_default())
            }
            Err(e) => {
                tracing::error!(error = %e, "sweep failed; the due units stay due");
                Err(e)
            }
        }
    }
}

/// [`Sweeper::sweep`] with a sweeper built from `ctx` (tests and one-off calls).
pub async fn sweep(ctx: &HubContext) -> Result<SweepReport, SweepError> {
    Sweeper::new(ctx).sweep().await
}

/// One CloudWatch embedded-metric-format line with the sweep's counts (no dimensions: one
/// series per namespace, which names the stack).
pub fn emf(namespace: &str, report: &SweepReport, timestamp_ms: u64) -> serde_json::Value {
    let metric = |name: &str| serde_json::json!({"Name": name, "Unit": "Count"});
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": [
                    metric("RedriveDue"),
                    metric("RedriveSent"),
                    metric("RedriveStuck"),
                    metric("RedriveUnroutable"),
                ],
            }],
        },
        "RedriveDue": report.due,
        "RedriveSent": report.redriven,
        "RedriveStuck": report.stuck,
        "RedriveUnroutable": report.unroutable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_names_every_metric_it_carries() {
        let report = SweepReport {
            due: 3,
            redriven: 2,
            unroutable: 1,
            stuck: 1,
        };
        let line = emf("IntegrationsHub/hub", &report, 1_700_000_000_000);
        let spec = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "IntegrationsHub/hub");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let names: Vec<&str> = spec["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "RedriveDue",
                "RedriveSent",
                "RedriveStuck",
                "RedriveUnroutable"
            ]
        );
        for (name, value) in names.iter().zip([3, 2, 1, 1]) {
            assert_eq!(line[*name], value, "{name}");
        }
    }
}
