//! Kavenegar: `verify/lookup` for OTP and patterns (one receptor per call), `sms/send` for one
//! text to up to 200 receptors, `sms/sendarray` for one text per receptor, `sms/status`.

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use super::{
    Accepted, Adapter, Call, ItemResult, Outgoing, SmsProvider, credential, malformed, target_of,
};
use crate::providers::ProviderError;
use crate::providers::kavenegar::{self, Entry, Envelope, SLUG};
use crate::secrets::Credentials;
use crate::sms::{SmsContent, SmsStatus};

type Form = Vec<(&'static str, String)>;

pub struct KavenegarSms {
    adapter: Adapter,
    /// Parallel `verify/lookup` calls within one send.
    concurrency: usize,
}

impl KavenegarSms {
    pub fn new(adapter: Adapter, concurrency: usize) -> Self {
        Self {
            adapter,
            concurrency,
        }
    }

    /// One Kavenegar method, with credentials, retries and logging.
    async fn call(
        &self,
        request_id: &str,
        path: &'static str,
        target: &str,
        form: &[(&'static str, String)],
    ) -> Result<Envelope, ProviderError> {
        let base = self.adapter.require_base_url(SLUG).await?;
        let call = Call {
            provider: SLUG,
            operation: path,
            request_id,
            target,
        };
        let (adapter, base) = (&self.adapter, base.as_str());
        adapter
            .attempt_logged(&call, first_message_ids, move || {
                adapter.with_creds(SLUG, move |c| async move {
                    let key = credential(&c, SLUG, "api_key")?;
                    let form = with_sender(form, path, &c);
                    kavenegar::call(&adapter.http, base, key, path, &form).await
                })
            })
            .await
    }

    async fn send_texts(
        &self,
        request_id: &str,
        items: &[Outgoing],
    ) -> Result<Vec<ItemResult>, ProviderError> {
        let mut results = Vec::with_capacity(items.len());
        for part in items.chunks(kavenegar::MAX_RECEPTORS_PER_CALL) {
            let (path, form) = text_form(part);
            let env = self.call(request_id, path, &target_of(part), &form).await?;
            results.extend(match_entries(part, &kavenegar::entries(&env)?));
        }
        Ok(results)
    }

    async fn lookup(&self, request_id: &str, item: &Outgoing) -> ItemResult {
        let template = item.content.template().unwrap_or_default();
        let form = kavenegar::lookup_form(
            &item.phone.kavenegar(),
            kavenegar::local_id(&item.message_id),
            template,
            &item.content.tokens(),
        );
        let env = self
            .call(request_id, "verify/lookup", &item.phone.masked(), &form)
            .await?;
        match_entries(std::slice::from_ref(item), &kavenegar::entries(&env)?).remove(0)
    }

    /// OTP and pattern messages: `verify/lookup` takes one receptor per call.
    async fn lookups(
        &self,
        request_id: &str,
        items: &[Outgoing],
    ) -> Result<Vec<ItemResult>, ProviderError> {
        // Collected first: a lazy `map` over borrowed items trips the Send check of `boxed`.
        let calls: Vec<BoxFuture<'_, ItemResult>> = items
            .iter()
            .map(|item| self.lookup(request_id, item).boxed())
            .collect();
        let results: Vec<ItemResult> = futures::stream::iter(calls)
            .buffered(self.concurrency)
            .collect()
            .await;
        match results.first() {
            Some(Err(first)) if results.iter().all(|r| r.is_err()) => Err(first.clone()),
            _ => Ok(results),
        }
    }
}

impl SmsProvider for KavenegarSms {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn is_configured(&self) -> BoxFuture<'_, Result<bool, ProviderError>> {
        self.adapter
            .is_configured(SLUG, |c| c.get("api_key").is_some())
            .boxed()
    }

    fn send<'a>(
        &'a self,
        request_id: &'a str,
        items: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<Vec<ItemResult>, ProviderError>> {
        async move {
            if items
                .iter()
                .all(|i| matches!(i.content.as_ref(), SmsContent::Text { .. }))
            {
                self.send_texts(request_id, items).await
            } else {
                self.lookups(request_id, items).await
            }
        }
        .boxed()
    }

    fn fetch_status<'a>(
        &'a self,
        request_id: &'a str,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        async move {
            let form = [("messageid", provider_message_id.to_string())];
            let env = self
                .call(request_id, "sms/status", provider_message_id, &form)
                .await?;
            kavenegar::entries(&env)?
                .first()
                .map(accepted)
                .ok_or_else(|| malformed(SLUG, "kavenegar_missing_entry", "no status entry"))
        }
        .boxed()
    }

    /// `sms/statuslocalmessageid`: the message Kavenegar holds under the item's `localid`,
    /// if any (an entry without a message id, or status 100, means it has none).
    fn reconcile<'a>(
        &'a self,
        request_id: &'a str,
        item: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Option<Accepted>, ProviderError>> {
        async move {
            let local_id = kavenegar::local_id(&item.message_id).to_string();
            let form = [("localid", local_id)];
            let env = self
                .call(
                    request_id,
                    "sms/statuslocalmessageid",
                    &item.phone.masked(),
                    &form,
                )
                .await?;
            Ok(kavenegar::entries(&env)?
                .iter()
                .find(|e| {
                    let id = e.message_id();
                    !id.is_empty() && id != "0" && id != "null" && e.status != Some(100)
                })
                .map(accepted))
        }
        .boxed()
    }
}

/// The first message ids of an answer, for the log's reference.
fn first_message_ids(env: &Envelope) -> Option<String> {
    let ids: Vec<String> = kavenegar::entries(env)
        .ok()?
        .iter()
        .take(3)
        .map(Entry::message_id)
        .collect();
    (!ids.is_empty()).then(|| ids.join(","))
}

/// The form with the account's sender line, for the methods that take one (`sms/sendarray`
/// takes one sender per receptor).
fn with_sender(form: &[(&'static str, String)], path: &str, c: &Credentials) -> Form {
    let mut form = form.to_vec();
    let Some(sender) = c.get("sender") else {
        return form;
    };
    if path == "sms/send" {
        form.push(("sender", sender.to_string()));
    } else if path == "sms/sendarray" {
        let n = form
            .iter()
            .find(|(k, _)| *k == "receptor")
            .and_then(|(_, v)| serde_json::from_str::<Vec<String>>(v).ok())
            .map_or(0, |v| v.len());
        form.push((
            "sender",
            serde_json::to_string(&vec![sender; n]).unwrap_or_default(),
        ));
    }
    form
}

/// `sms/send` when every receptor gets the same text, else `sms/sendarray`; each receptor
/// with its message's `localid`.
fn text_form(part: &[Outgoing]) -> (&'static str, Form) {
    let receptors: Vec<String> = part.iter().map(|i| i.phone.kavenegar()).collect();
    let local_ids: Vec<u64> = part
        .iter()
        .map(|i| kavenegar::local_id(&i.message_id))
        .collect();
    let texts: Vec<&str> = part
        .iter()
        .map(|i| match i.content.as_ref() {
            SmsContent::Text { message } => message.as_str(),
            _ => "",
        })
        .collect();
    if texts.windows(2).all(|w| w[0] == w[1]) {
        (
            "sms/send",
            kavenegar::send_form(&receptors, &local_ids, None, texts[0]),
        )
    } else {
        (
            "sms/sendarray",
            kavenegar::sendarray_form(&receptors, &local_ids, None, &texts),
        )
    }
}

fn accepted(entry: &Entry) -> Accepted {
    Accepted {
        provider_message_id: Some(entry.message_id()),
        status: entry
            .status
            .map(SmsStatus::from_kavenegar)
            .unwrap_or(SmsStatus::Queued),
        provider_status: entry.status.map(|s| s.to_string()),
    }
}

/// Matches entries to items: Kavenegar answers in request order; the receptor is checked
/// when present so a short answer cannot shift results onto the wrong numbers.
fn match_entries(items: &[Outgoing], entries: &[Entry]) -> Vec<ItemResult> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let form = item.phone.kavenegar();
            let entry = entries
                .get(i)
                .filter(|e| {
                    e.receptor
                        .as_deref()
                        .is_none_or(|r| r == form || r == item.phone.e164().trim_start_matches('+'))
                })
                .or_else(|| {
                    entries
                        .iter()
                        .find(|e| e.receptor.as_deref() == Some(form.as_str()))
                });
            entry.map(accepted).ok_or_else(|| {
                malformed(
                    SLUG,
                    "kavenegar_missing_entry",
                    "the answer has no entry for this receptor",
                )
            })
        })
        .collect()
}
