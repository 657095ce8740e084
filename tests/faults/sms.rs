//! Single SMS and OTP sends under faults (issue 13): a Secrets Manager outage is a 503 that
//! sends nothing (never the console fallback), an answer lost after the provider took the
//! request is `unknown` or reconciled (one provider call, no failover), and a throttled
//! record write after a send never sends twice.
//!
//! The client in these scenarios behaves like a real one: it retries a 5xx or 429 once with
//! the same body (and no Idempotency-Key), so an error answered after a send shows up as a
//! duplicate at the fake provider.

#[allow(dead_code)] // the SMS tests' fakes; these scenarios use some of them
#[path = "../sms/support.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use ::sms::SmsState;
use hub_tests::faults::{Fault, Faults, Row};
use hub_tests::{TestHub, TestResponse, env_with, get, send};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::http::HubService;
use shared::providers::kavenegar::local_id;
use shared::sms::SmsConfig;
use support::{
    KEY, SEND, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, field, iranian_numbers, kav_entry, kav_ok,
    post, request_id, requests_to, twilio_created,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request as WireRequest, Respond, ResponseTemplate};

const OTP_SEND: &str = "/api/integrations/sms/otp/send";

/// The sms function built at cold start on a context whose AWS calls go through `faults`,
/// with fake Kavenegar and Twilio servers holding credentials.
struct SmsFx {
    hub: TestHub,
    faults: Faults,
    kavenegar: MockServer,
    twilio: MockServer,
    svc: HubService,
    token: String,
}

async fn sms_fx(extra: &[(&str, String)]) -> SmsFx {
    let kavenegar = MockServer::start().await;
    let twilio = MockServer::start().await;
    let mut env: Vec<(&str, String)> = vec![
        ("KAVENEGAR_BASE_URL", kavenegar.uri()),
        ("TWILIO_BASE_URL", twilio.uri()),
        ("SMS_RETRY_BASE_MS", "5".into()),
        ("SMS_RETRY_MAX_MS", "50".into()),
        ("SMS_CALLBACK_BASE_URL", String::new()),
    ];
    env.extend(extra.iter().cloned());
    let hub = TestHub::with_env(&env).await;
    hub.put_secret("kavenegar", json!({"api_key": KEY, "sender": "10004346"}))
        .await;
    hub.put_secret(
        "twilio",
        json!({"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": TWILIO_FROM}),
    )
    .await;
    hub.ctx
        .aws
        .secrets
        .create_secret()
        .name(format!("{}/otp", hub.prefix))
        .secret_string(format!("otp-key-{}", uuid::Uuid::new_v4()))
        .send()
        .await
        .expect("create the OTP key secret");
    let faults = Faults::new();
    let ctx = hub.faulty_ctx_with("sms", &faults, &env).await;
    let config = SmsConfig::from_env(&env_with(&env)).expect("sms config");
    let state = SmsState::new(
        ctx.clone(),
        ctx.sms_service_with(config.clone()).expect("sms service"),
        ctx.otp_service(&config).expect("otp service"),
    );
    let svc = shared::http::app(::sms::router(state));
    let token = hub.token(
        &format!("svc-{}", uuid::Uuid::new_v4().simple()),
        Role::Service,
    );
    let fx = SmsFx {
        hub,
        faults,
        kavenegar,
        twilio,
        svc,
        token,
    };
    // Warm the JWT key (read on the first verification), as any running instance has.
    let warm = send(
        &fx.svc,
        get("/api/integrations/sms/not-a-message", Some(&fx.token)),
    )
    .await;
    assert_eq!(warm.status, 404, "{}", String::from_utf8_lossy(&warm.body));
    fx
}

/// A client that retries a 5xx or 429 once with the same body (no Idempotency-Key).
async fn client_post(fx: &SmsFx, route: &str, body: &Value) -> Vec<TestResponse> {
    let first = send(&fx.svc, post(route, &fx.token, body, &request_id())).await;
    if first.status.is_server_error() || first.status == 429 {
        let again = send(&fx.svc, post(route, &fx.token, body, &request_id())).await;
        vec![first, again]
    } else {
        vec![first]
    }
}

/// Provider sends per receptor (Kavenegar form `09…`, Twilio E.164), from what the fakes got.
async fn sends_per_receptor(fx: &SmsFx) -> HashMap<String, usize> {
    let mut per: HashMap<String, usize> = HashMap::new();
    for suffix in ["verify/lookup.json", "sms/send.json"] {
        for r in requests_to(&fx.kavenegar, suffix).await {
            let national = field(&r, "receptor").unwrap_or_default();
            let e164 = format!("+98{}", national.trim_start_matches('0'));
            *per.entry(e164).or_default() += 1;
        }
    }
    for r in requests_to(&fx.twilio, "Messages.json").await {
        *per.entry(field(&r, "To").unwrap_or_default()).or_default() += 1;
    }
    per
}

fn duplicates(per: &HashMap<String, usize>) -> usize {
    per.values().map(|n| n.saturating_sub(1)).sum()
}

fn e164(national: &str) -> String {
    format!("+98{}", national.trim_start_matches('0'))
}

/// Statuses that claim a delivery the provider never got.
const CLAIMS_SENT: [&str; 5] = ["queued", "scheduled", "sent", "delivered", "fallback"];

#[tokio::test]
async fn secrets_manager_error_during_an_otp_send() {
    // Credentials are read on every use here (no cache), as after a cold start or the TTL.
    let fx = sms_fx(&[("CREDENTIAL_TTL_SECONDS", "0".into())]).await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(LookupAccepts)
        .mount(&fx.kavenegar)
        .await;
    let [healthy, outage_cold, outage_warm] = [0, 1, 2].map(|_| iranian_numbers(1).remove(0));
    let mut answers: Vec<(String, TestResponse)> = Vec::new();

    // 1. Secrets Manager down before the OTP key was ever read: nothing to hash with.
    fx.faults.inject(Fault::unavailable("GetSecretValue"));
    for res in client_post(&fx, OTP_SEND, &json!({"receptor": outage_cold})).await {
        answers.push((e164(&outage_cold), res));
    }
    fx.faults.clear();

    // 2. A healthy send (the instance now holds the OTP key)...
    for res in client_post(&fx, OTP_SEND, &json!({"receptor": healthy})).await {
        answers.push((e164(&healthy), res));
    }
    // 3. ...then Secrets Manager fails while the provider credentials are read: an outage
    // is not "not configured", so no console fallback and no `sent`.
    fx.faults.inject(Fault::unavailable("GetSecretValue"));
    for res in client_post(&fx, OTP_SEND, &json!({"receptor": outage_warm})).await {
        answers.push((e164(&outage_warm), res));
    }
    assert!(fx.faults.injected("GetSecretValue") >= 3);
    fx.faults.clear();

    let per = sends_per_receptor(&fx).await;
    let mut wrong = 0;
    let mut lost = 0;
    for (receptor, res) in &answers {
        let got = per.get(receptor).copied().unwrap_or(0);
        let body = res.json();
        if res.status == 200 {
            // Claimed delivered: the provider must have it.
            if got == 0 || body["delivery"] == "fallback" {
                wrong += 1;
            }
        } else {
            // Refused: a 503 dependency_unavailable with Retry-After, and nothing sent.
            assert_eq!(res.status, 503, "{body}");
            assert_eq!(body["code"], "dependency_unavailable", "{body}");
            assert!(res.headers.contains_key("retry-after"));
            if got != 0 {
                wrong += 1;
            }
        }
    }
    let healthy_answers: Vec<_> = answers
        .iter()
        .filter(|(r, _)| *r == e164(&healthy))
        .collect();
    if healthy_answers.iter().all(|(_, res)| res.status != 200) {
        lost += 1;
    }
    assert_eq!(per.get(&e164(&outage_cold)), None, "zero provider calls");
    assert_eq!(per.get(&e164(&outage_warm)), None, "zero provider calls");
    assert!(requests_to(&fx.twilio, "").await.is_empty());
    Row {
        scenario: "Secrets Manager error during an OTP send",
        sends: per.values().sum(),
        lost,
        duplicates: duplicates(&per),
        wrong_statuses: wrong,
    }
    .report();
}

/// Kavenegar `verify/lookup` accepting every receptor.
struct LookupAccepts;

impl Respond for LookupAccepts {
    fn respond(&self, req: &WireRequest) -> ResponseTemplate {
        let receptor = field(req, "receptor").unwrap_or_default();
        kav_ok(vec![kav_entry(next_message_id(), &receptor, 5)])
    }
}

fn next_message_id() -> u64 {
    (uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000) as u64 + 1
}

/// Kavenegar that takes a lookup but answers after the client gave up, and remembers it
/// under its `localid` for `sms/statuslocalmessageid`, as the real service does.
#[derive(Clone, Default)]
struct SlowKavenegar {
    taken: std::sync::Arc<std::sync::Mutex<HashMap<String, u64>>>,
}

impl Respond for SlowKavenegar {
    fn respond(&self, req: &WireRequest) -> ResponseTemplate {
        let local = field(req, "localid").unwrap_or_default();
        if req.url.path().ends_with("verify/lookup.json") {
            let id = next_message_id();
            self.taken.lock().unwrap().insert(local, id);
            let receptor = field(req, "receptor").unwrap_or_default();
            return kav_ok(vec![kav_entry(id, &receptor, 1)]).set_delay(Duration::from_secs(3));
        }
        match self.taken.lock().unwrap().get(&local) {
            Some(id) => kav_ok(vec![
                json!({"messageid": id, "localid": local, "status": 1, "statustext": "در صف ارسال"}),
            ]),
            None => kav_ok(vec![
                json!({"messageid": 0, "localid": local, "status": 100, "statustext": "نامعتبر"}),
            ]),
        }
    }
}

#[tokio::test]
async fn provider_accepts_then_the_connection_times_out_single() {
    let fx = sms_fx(&[("PROVIDER_TIMEOUT_SECONDS", "1".into())]).await;
    let kavenegar = SlowKavenegar::default();
    for p in ["verify/lookup.json", "sms/statuslocalmessageid.json"] {
        Mock::given(method("POST"))
            .and(path(format!("/{KEY}/{p}")))
            .respond_with(kavenegar.clone())
            .mount(&fx.kavenegar)
            .await;
    }
    // Twilio takes its request and answers too late as well (no client reference exists
    // to look it up by).
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(
            twilio_created("SM00000000000000000000000000000091", "+5511999999999")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&fx.twilio)
        .await;
    let iranian = iranian_numbers(1).remove(0);
    let brazil = format!("+55119{:08}", uuid::Uuid::new_v4().as_u128() % 100_000_000);

    let mut wrong = 0;
    let mut lost = 0;
    // Iranian: Kavenegar took it; the lost answer is reconciled by its localid.
    let body = json!({"receptor": iranian, "message_type": "otp", "token": "4242"});
    let answers = client_post(&fx, SEND, &body).await;
    let kav = answers.last().unwrap();
    let kav_body = kav.json();
    let lookup = &requests_to(&fx.kavenegar, "verify/lookup.json").await[0];
    let id = kav_body["message_id"].as_str().unwrap_or_default();
    let taken_id = kavenegar
        .taken
        .lock()
        .unwrap()
        .get(&local_id(id).to_string())
        .copied();
    assert_eq!(
        field(lookup, "localid"),
        Some(local_id(id).to_string()),
        "the localid names the hub's message"
    );
    match kav_body["status"].as_str() {
        // Reconciled: the provider's own id and status.
        Some("queued") => {
            if kav_body["provider_message_id"] != json!(taken_id.map(|i| i.to_string())) {
                wrong += 1;
            }
        }
        Some("unknown") => {}
        _ => wrong += 1,
    }
    if answers.len() != 1 {
        wrong += 1; // an error answered for a message the provider took
    }
    assert_eq!(kav.status, 200, "{kav_body}");
    assert_eq!(
        kav_body["status"], "queued",
        "reconciled by localid: {kav_body}"
    );
    // The record says the same, with the provider's id indexed for delivery reports.
    let stored = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}"), Some(&fx.token)),
    )
    .await
    .json();
    if stored["status"] != kav_body["status"]
        || stored["provider_message_id"] != kav_body["provider_message_id"]
    {
        wrong += 1;
    }
    let found = fx
        .hub
        .ctx
        .sms_store()
        .unwrap()
        .find_by_provider_id("kavenegar", &taken_id.unwrap_or_default().to_string())
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some(id));

    // Elsewhere: Twilio took it; nothing to look it up by, so it stays `unknown`.
    let body = json!({"receptor": brazil, "message_type": "otp", "token": "4242"});
    let answers = client_post(&fx, SEND, &body).await;
    let tw = answers.last().unwrap();
    let tw_body = tw.json();
    assert_eq!(tw.status, 202, "{tw_body}");
    assert_eq!(tw_body["status"], "unknown");
    assert_eq!(tw_body["reason"], "twilio_timeout");
    if answers.len() != 1 || tw_body["status"] != "unknown" {
        wrong += 1;
    }
    let tw_id = tw_body["message_id"].as_str().unwrap_or_default();
    let stored = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{tw_id}"), Some(&fx.token)),
    )
    .await;
    if stored.status != 200 {
        lost += 1;
    } else if stored.json()["status"] != "unknown" {
        wrong += 1;
    }

    // One provider call per receptor: no retry on the same provider, no failover copy.
    let per = sends_per_receptor(&fx).await;
    assert_eq!(per.get(&e164(&iranian)), Some(&1));
    assert_eq!(per.get(&brazil), Some(&1));
    assert_eq!(
        requests_to(&fx.twilio, "Messages.json").await.len(),
        1,
        "no failover of the Iranian number to Twilio"
    );
    assert_eq!(
        requests_to(&fx.kavenegar, "verify/lookup.json").await.len(),
        1,
        "no failover of the Brazilian number to Kavenegar"
    );
    Row {
        scenario: "provider accepts, then the connection times out (single)",
        sends: per.values().sum(),
        lost,
        duplicates: duplicates(&per),
        wrong_statuses: wrong,
    }
    .report();
}

#[tokio::test]
async fn dynamodb_throttling_on_the_message_write_after_a_send() {
    let fx = sms_fx(&[]).await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(LookupAccepts)
        .mount(&fx.kavenegar)
        .await;
    let [brief, persistent] = [0, 1].map(|_| iranian_numbers(1).remove(0));
    let mut wrong = 0;
    let mut lost = 0;

    // A throttling burst longer than the SDK's own retries (3 attempts): the send's first
    // PutItem is its integration-log entry, the next ones are the message record's.
    fx.faults.inject(Fault::throttle("PutItem").nth(2).times(4));
    let body = json!({"receptor": brief, "message_type": "otp", "token": "1111"});
    let answers = client_post(&fx, SEND, &body).await;
    fx.faults.clear();
    assert!(fx.faults.injected("PutItem") >= 3);
    let res = answers.last().unwrap();
    let answer = res.json();
    assert_eq!(res.status, 200, "{answer}");
    assert_eq!(
        answer["stored"], true,
        "written once the burst passed: {answer}"
    );
    let id = answer["message_id"].as_str().unwrap_or_default();
    let stored = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}"), Some(&fx.token)),
    )
    .await;
    if stored.status != 200 {
        lost += 1;
    } else if stored.json()["status"] != answer["status"] {
        wrong += 1;
    }
    if answers.len() != 1 || !CLAIMS_SENT.contains(&answer["status"].as_str().unwrap_or("")) {
        wrong += 1;
    }

    // Throttled past every retry: the answer still says what was sent, and that the record
    // is missing, instead of an error the client would answer with a second send.
    fx.faults.inject(Fault::throttle("PutItem"));
    let body = json!({"receptor": persistent, "message_type": "otp", "token": "2222"});
    let answers = client_post(&fx, SEND, &body).await;
    fx.faults.clear();
    let res = answers.last().unwrap();
    let answer = res.json();
    assert_eq!(res.status, 200, "{answer}");
    assert_eq!(answer["status"], "sent", "{answer}");
    assert_eq!(answer["stored"], false, "{answer}");
    let id = answer["message_id"].as_str().unwrap_or_default();
    let stored = send(
        &fx.svc,
        get(&format!("/api/integrations/sms/{id}"), Some(&fx.token)),
    )
    .await;
    // The answer said the record is missing: a 404 now is the truth, not a loss (the SMS
    // went out once, as answered).
    if stored.status == 200 && stored.json()["status"] != answer["status"] {
        wrong += 1;
    }
    if answers.len() != 1 {
        wrong += 1;
    }

    let per = sends_per_receptor(&fx).await;
    assert_eq!(per.get(&e164(&brief)), Some(&1), "no resend");
    assert_eq!(per.get(&e164(&persistent)), Some(&1), "no resend");
    Row {
        scenario: "DynamoDB throttling on the message write after a send",
        sends: per.values().sum(),
        lost,
        duplicates: duplicates(&per),
        wrong_statuses: wrong,
    }
    .report();
}
