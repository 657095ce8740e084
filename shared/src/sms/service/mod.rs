//! The SMS service: routing with failover ([`SmsService::deliver`]), and on top of it single
//! sends and status ([`send`]), bulk batches ([`bulk`]) and the worker's chunks ([`chunk`]).
//! Built once per cold start from explicit dependencies (`crate::context` wires them).

mod bulk;
mod chunk;
mod send;

use std::sync::Arc;

use super::SmsConfig;
use super::provider::{
    Adapter, ConsoleSms, ItemResult, KavenegarSms, Outgoing, SmsProvider, TwilioSms,
};
use super::store::SmsStore;
use crate::providers::{ProviderError, ProviderErrorKind};

pub use chunk::ChunkOutcome;

/// One message's outcome: who handled it and what they said.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub provider: &'static str,
    pub result: ItemResult,
}

impl Delivery {
    /// The provider may have taken it (its answer was lost): `unknown`, never sent again,
    /// never failed over, never refunded.
    pub fn is_unknown(&self) -> bool {
        matches!(&self.result, Err(e) if e.is_ambiguous())
    }

    /// No provider was even asked: the configuration could not be read, or no provider is
    /// configured and the console fallback is not allowed. Nothing went out.
    pub fn never_attempted(&self) -> bool {
        self.provider == NO_PROVIDER
    }
}

/// The `provider` of a [`Delivery`] no provider was asked for.
pub const NO_PROVIDER: &str = "none";

/// The error code of a send when no provider is configured and the console fallback is
/// not allowed (`SMS_FALLBACK`).
pub const NOT_CONFIGURED: &str = "sms_not_configured";

/// Where bulk chunks are queued.
#[derive(Clone)]
pub struct BulkQueue {
    pub sqs: aws_sdk_sqs::Client,
    /// `SMS_BULK_QUEUE_URL`; bulk answers 503 without it.
    pub url: Option<String>,
}

/// The SMS capability.
pub struct SmsService {
    pub config: Arc<SmsConfig>,
    store: SmsStore,
    queue: BulkQueue,
    kavenegar: Arc<dyn SmsProvider>,
    twilio: Arc<dyn SmsProvider>,
    console: Arc<dyn SmsProvider>,
}

impl SmsService {
    /// `adapter` carries what the provider adapters share (HTTP client, catalog, credentials,
    /// integration log, the configuration's retry policy).
    pub fn new(
        config: SmsConfig,
        store: SmsStore,
        adapter: Adapter,
        sqs: aws_sdk_sqs::Client,
    ) -> Self {
        let config = Arc::new(config);
        let log = adapter.log.clone();
        Self {
            store,
            queue: BulkQueue {
                sqs,
                url: config.bulk_queue_url.clone(),
            },
            kavenegar: Arc::new(KavenegarSms::new(
                adapter.clone(),
                config.twilio_concurrency,
            )),
            twilio: Arc::new(TwilioSms::new(adapter, config.clone())),
            console: Arc::new(ConsoleSms::new(log)),
            config,
        }
    }

    /// The SMS items of the hub table.
    pub fn store(&self) -> &SmsStore {
        &self.store
    }

    pub fn provider(&self, slug: &str) -> Option<&Arc<dyn SmsProvider>> {
        [&self.kavenegar, &self.twilio, &self.console]
            .into_iter()
            .find(|p| p.slug() == slug)
    }

    /// The providers to try, in order: `+98` numbers Kavenegar then Twilio, others Twilio
    /// then Kavenegar; only configured ones. When none is: the console if the deployment
    /// allows it ([`SmsConfig::console_fallback`]), else [`NOT_CONFIGURED`]. When none is
    /// configured and a configuration read failed, that error
    /// ([`crate::providers::ProviderErrorKind::ConfigUnavailable`]): an outage is not "not
    /// configured", and never routes to the console.
    pub async fn route(&self, iranian: bool) -> Result<Vec<Arc<dyn SmsProvider>>, ProviderError> {
        let order = if iranian {
            [&self.kavenegar, &self.twilio]
        } else {
            [&self.twilio, &self.kavenegar]
        };
        let (a, b) = tokio::join!(order[0].is_configured(), order[1].is_configured());
        let mut unreadable = None;
        let mut route: Vec<Arc<dyn SmsProvider>> = Vec::new();
        for (configured, provider) in [(a, order[0]), (b, order[1])] {
            match configured {
                Ok(true) => route.push(provider.clone()),
                Ok(false) => {}
                Err(e) => unreadable = unreadable.or(Some(e)),
            }
        }
        match unreadable {
            _ if !route.is_empty() => Ok(route),
            Some(e) => Err(e),
            None if self.config.console_fallback => Ok(vec![self.console.clone()]),
            None => Err(ProviderError::new(
                "sms",
                ProviderErrorKind::Credentials,
                NOT_CONFIGURED,
                "no SMS provider is configured (and SMS_FALLBACK does not allow the console)",
            )),
        }
    }

    /// Sends every item through its route, failing over per item where the error allows
    /// (never after an ambiguous error: see [`Delivery::is_unknown`]). One result per item,
    /// in order.
    pub async fn deliver(&self, request_id: &str, items: &[Outgoing]) -> Vec<Delivery> {
        let mut out: Vec<Option<Delivery>> = vec![None; items.len()];
        for iranian in [true, false] {
            let pending: Vec<usize> = (0..items.len())
                .filter(|&k| items[k].phone.is_iranian() == iranian)
                .collect();
            if pending.is_empty() {
                continue;
            }
            match self.route(iranian).await {
                Ok(route) => deliver_on_route(&route, request_id, items, pending, &mut out).await,
                Err(e) => {
                    for k in pending {
                        out[k] = Some(Delivery {
                            provider: NO_PROVIDER,
                            result: Err(e.clone()),
                        });
                    }
                }
            }
        }
        out.into_iter()
            .map(|d| d.expect("every item gets a delivery"))
            .collect()
    }
}

/// Tries each provider of the route in turn with the items still pending; an item stays
/// pending only while its error allows a failover and a next provider exists.
async fn deliver_on_route(
    route: &[Arc<dyn SmsProvider>],
    request_id: &str,
    items: &[Outgoing],
    mut pending: Vec<usize>,
    out: &mut [Option<Delivery>],
) {
    for (pos, provider) in route.iter().enumerate() {
        let last = pos + 1 == route.len();
        let part: Vec<Outgoing> = pending.iter().map(|&k| items[k].clone()).collect();
        let results = match provider.send(request_id, &part).await {
            // It may have gone out: another provider would send it a second time.
            Err(e) if e.is_ambiguous() => vec![Err(e); pending.len()],
            Err(e) if !last && e.should_fail_over() => {
                tracing::warn!(provider = provider.slug(), code = %e.code, receptors = part.len(), "failing over to the next SMS provider");
                continue;
            }
            Err(e) => vec![Err(e); pending.len()],
            Ok(results) => results,
        };
        pending = settle(provider.slug(), last, pending, results, out);
        if pending.is_empty() {
            return;
        }
        tracing::warn!(
            provider = provider.slug(),
            receptors = pending.len(),
            "failing over to the next SMS provider"
        );
    }
}

/// Records each pending item's result; answers the items to fail over.
fn settle(
    provider: &'static str,
    last: bool,
    pending: Vec<usize>,
    results: Vec<ItemResult>,
    out: &mut [Option<Delivery>],
) -> Vec<usize> {
    let mut results = results.into_iter();
    let mut next = Vec::new();
    for k in pending {
        let result = results
            .next()
            .unwrap_or_else(|| Err(missing_result(provider)));
        match result {
            Err(e) if !last && !e.is_ambiguous() && e.should_fail_over() => next.push(k),
            result => out[k] = Some(Delivery { provider, result }),
        }
    }
    next
}

fn missing_result(provider: &str) -> ProviderError {
    ProviderError::new(
        provider,
        ProviderErrorKind::Malformed,
        format!("{provider}_missing_result"),
        "no result for this receptor",
    )
}
