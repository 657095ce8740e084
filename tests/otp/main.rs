//! OTP verification as a service, end to end: the sms function in-process with wiremock
//! fakes answering Kavenegar's and Twilio's real envelopes, and the moto server for the HMAC
//! key secret, verifications, rate-limit counters and the integration log. The service gets
//! a manual clock so expiry and the resend cooldown are crossed without sleeping.
//! Run through `make test` (or with `.local/test.env` loaded).

#[allow(dead_code)] // the SMS tests' fakes; this binary uses some of them
#[path = "../sms/support.rs"]
mod support;

use std::sync::{Arc, Mutex};

use hub_tests::{TestHub, env_with, send};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::ManualClock;
use shared::http::HubService;
use shared::otp::OtpConfig;
use sms::SmsState;
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const OTP_SEND: &str = "/api/integrations/sms/otp/send";
const OTP_VERIFY: &str = "/api/integrations/sms/otp/verify";
const OTP_STATS: &str = "/api/integrations/sms/otp/statistics";

struct OtpFx {
    fx: Fx,
    clock: Arc<ManualClock>,
    svc: HubService,
}

/// The SMS fixture, plus the `{prefix}/otp` key secret and an OTP service on a manual clock.
async fn otp_fixture(opts: Opts, env: &[(&str, String)]) -> OtpFx {
    captured_logs();
    let fx = fixture(opts).await;
    fx.hub
        .ctx
        .aws
        .secrets
        .create_secret()
        .name(format!("{}/otp", fx.hub.prefix))
        .secret_string(format!("otp-key-{}", uuid::Uuid::new_v4()))
        .send()
        .await
        .expect("create the OTP key secret");
    let clock = Arc::new(ManualClock::new(shared::clock::now_ms()));
    let config = OtpConfig::from_env(&env_with(env), &fx.hub.prefix).expect("otp config");
    let ctx = fx.hub.ctx_of("sms");
    let sms_config = fx.sms_config.clone();
    let state = SmsState::new(
        ctx.clone(),
        ctx.sms_service_with(sms_config.clone())
            .expect("sms service"),
        ctx.otp_service_with(&sms_config, config, clock.clone())
            .expect("otp service"),
    );
    let svc = shared::http::app(sms::router(state));
    OtpFx { fx, clock, svc }
}

/// Kavenegar `verify/lookup` accepting every receptor (its entry names the receptor asked).
struct LookupAccepts;

impl LookupAccepts {
    /// Accepting, but answering after a 1 s client timeout.
    fn slowly(self) -> SlowLookup {
        SlowLookup(self)
    }
}

impl wiremock::Respond for LookupAccepts {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let receptor = field(req, "receptor").unwrap_or_default();
        let id = (uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000) as u64;
        kav_ok(vec![kav_entry(id, &receptor, 5)])
    }
}

struct SlowLookup(LookupAccepts);

impl wiremock::Respond for SlowLookup {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        self.0
            .respond(req)
            .set_delay(std::time::Duration::from_secs(3))
    }
}

async fn kavenegar_accepts(fx: &Fx) {
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(LookupAccepts)
        .mount(&fx.kavenegar)
        .await;
}

/// The code Kavenegar was asked to deliver to `receptor` last (its `token`).
async fn delivered_code(fx: &Fx, receptor: &str) -> String {
    requests_to(&fx.kavenegar, "verify/lookup.json")
        .await
        .iter()
        .rev()
        .find(|r| field(r, "receptor").as_deref() == Some(receptor))
        .and_then(|r| field(r, "token"))
        .expect("a verify/lookup to the receptor")
}

fn service_token(fx: &Fx) -> String {
    fx.hub.token("svc-otp", Role::Service)
}

/// The OTP fixture with Kavenegar accepting every lookup, and a service token.
async fn with_kavenegar(env: &[(&str, String)]) -> (OtpFx, String) {
    let o = otp_fixture(
        Opts {
            kavenegar: true,
            ..Default::default()
        },
        env,
    )
    .await;
    kavenegar_accepts(&o.fx).await;
    let token = service_token(&o.fx);
    (o, token)
}

async fn send_otp(o: &OtpFx, token: &str, body: Value) -> hub_tests::TestResponse {
    send(&o.svc, post(OTP_SEND, token, &body, &request_id())).await
}

async fn verify(o: &OtpFx, token: &str, body: Value) -> hub_tests::TestResponse {
    send(&o.svc, post(OTP_VERIFY, token, &body, &request_id())).await
}

/// A different code of the same length.
fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect()
}

fn to_persian(code: &str) -> String {
    code.chars()
        .map(|c| char::from_u32(0x06F0 + c.to_digit(10).unwrap()).unwrap())
        .collect()
}

fn to_arabic(code: &str) -> String {
    code.chars()
        .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap()).unwrap())
        .collect()
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, at every level. A global subscriber rather than a
/// thread-local one: tracing caches a callsite's interest process-wide, so a thread-local
/// subscriber misses lines whose callsite another test's thread reached first.
fn captured_logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");
        captured
    })
    .clone()
}

/// Every item of a table as text (the emulator's tables are small).
async fn table_text(hub: &TestHub, table: &str) -> String {
    let mut out = String::new();
    let mut start = None;
    loop {
        let page = hub
            .ctx
            .aws
            .dynamo
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items.unwrap_or_default() {
            out.push_str(&format!("{item:?}\n"));
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

#[tokio::test]
async fn the_code_is_delivered_by_lookup_and_never_appears_in_logs_answers_or_tables() {
    let captured = captured_logs();
    // Ten digits: a chance match with other tests' data in the shared tables is negligible.
    let (o, token) = with_kavenegar(&[("OTP_CODE_LENGTH", "10".into())]).await;
    let receptor = iranian_numbers(1).remove(0);
    let rid = request_id();
    let res = send(
        &o.svc,
        post(OTP_SEND, &token, &json!({"receptor": receptor}), &rid),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let sent = res.json();
    assert_eq!(sent["receptor"], "+98912*****".to_string() + &receptor[9..]);
    assert_eq!(sent["status"], "pending");
    assert_eq!(sent["channel"], "sms");
    let expires = shared::clock::parse_rfc3339(sent["expires_at"].as_str().unwrap()).unwrap();
    let resend = shared::clock::parse_rfc3339(sent["resend_after"].as_str().unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    assert!((expires - now - time::Duration::minutes(10)).abs() < time::Duration::seconds(5));
    assert!((resend - now - time::Duration::seconds(60)).abs() < time::Duration::seconds(5));
    assert!(res.headers.contains_key("ratelimit-limit"));

    let lookup = &requests_to(&o.fx.kavenegar, "verify/lookup.json").await[0];
    assert_eq!(field(lookup, "template").as_deref(), Some("verify"));
    let code = delivered_code(&o.fx, &receptor).await;
    assert_eq!(code.len(), 10);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));

    let id = sent["verification_id"].as_str().unwrap().to_string();
    let bad = verify(
        &o,
        &token,
        json!({"verification_id": id, "code": wrong(&code)}),
    )
    .await;
    let problem = bad.assert_problem(400, "invalid_code");
    assert_eq!(problem["errors"][0]["field"], "code");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("4 attempt")
    );
    let ok = verify(&o, &token, json!({"verification_id": id, "code": code})).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.json()["status"], "approved");

    // The integration log has the send with a masked receptor.
    let log = log_entries(&o.fx.hub, "kavenegar", &rid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].operation, "verify/lookup");
    assert!(log[0].target.as_deref().unwrap().contains("*****"));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let id_logged = format!("verification_id={id}");
    assert!(logs.contains(&id_logged), "the tracing capture works");
    for (what, text) in [
        ("a log line", logs),
        (
            "the send answer",
            String::from_utf8_lossy(&res.body).into_owned(),
        ),
        (
            "the wrong-code answer",
            String::from_utf8_lossy(&bad.body).into_owned(),
        ),
        (
            "the approval",
            String::from_utf8_lossy(&ok.body).into_owned(),
        ),
        (
            "the hub table",
            table_text(&o.fx.hub, &o.fx.hub.ctx.config.hub_table).await,
        ),
        (
            "the integration log",
            table_text(&o.fx.hub, &o.fx.hub.ctx.config.logs_table).await,
        ),
    ] {
        assert!(!text.contains(&code), "the code appears in {what}");
    }
}

#[tokio::test]
async fn five_wrong_codes_lock_even_the_right_one() {
    let (o, token) = with_kavenegar(&[]).await;
    let receptor = iranian_numbers(1).remove(0);
    let sent = send_otp(&o, &token, json!({"receptor": receptor}))
        .await
        .json();
    let code = delivered_code(&o.fx, &receptor).await;
    let id = sent["verification_id"].clone();
    for left in [4, 3, 2, 1] {
        let res = verify(
            &o,
            &token,
            json!({"verification_id": id, "code": wrong(&code)}),
        )
        .await;
        let p = res.assert_problem(400, "invalid_code");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} attempt")),
            "{p}"
        );
    }
    let fifth = verify(
        &o,
        &token,
        json!({"verification_id": id, "code": wrong(&code)}),
    )
    .await;
    fifth.assert_problem(429, "verification_locked");
    let retry: u64 = fifth.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (590..=600).contains(&retry),
        "locked until the code expires: {retry}"
    );
    verify(&o, &token, json!({"verification_id": id, "code": code}))
        .await
        .assert_problem(429, "verification_locked");
}

#[tokio::test]
async fn an_expired_code_is_gone_and_an_approved_one_cannot_be_reused() {
    let (o, token) = with_kavenegar(&[("OTP_TTL_SECONDS", "120".into())]).await;
    let [a, b]: [String; 2] = iranian_numbers(2).try_into().unwrap();
    let first = send_otp(&o, &token, json!({"receptor": a})).await.json();
    let code_a = delivered_code(&o.fx, &a).await;
    let second = send_otp(&o, &token, json!({"receptor": b})).await.json();
    let code_b = delivered_code(&o.fx, &b).await;

    // Approved once, by receptor; not again.
    let ok = verify(&o, &token, json!({"receptor": a, "code": code_a})).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.json()["verification_id"], first["verification_id"]);
    verify(&o, &token, json!({"receptor": a, "code": code_a}))
        .await
        .assert_problem(409, "already_approved");

    o.clock.advance(121_000);
    verify(
        &o,
        &token,
        json!({"verification_id": second["verification_id"], "code": code_b}),
    )
    .await
    .assert_problem(410, "verification_expired");
}

#[tokio::test]
async fn ten_concurrent_right_answers_approve_exactly_once() {
    let (o, token) = with_kavenegar(&[]).await;
    let receptor = iranian_numbers(1).remove(0);
    let sent = send_otp(&o, &token, json!({"receptor": receptor}))
        .await
        .json();
    let code = delivered_code(&o.fx, &receptor).await;
    let body = json!({"verification_id": sent["verification_id"], "code": code});
    let answers =
        futures::future::join_all((0..10).map(|_| verify(&o, &token, body.clone()))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_problem(409, "already_approved");
    }
}

#[tokio::test]
async fn a_resend_waits_for_the_cooldown_and_cancels_the_pending_code() {
    let (o, token) = with_kavenegar(&[]).await;
    let receptor = iranian_numbers(1).remove(0);
    let first = send_otp(&o, &token, json!({"receptor": receptor}))
        .await
        .json();
    let old_code = delivered_code(&o.fx, &receptor).await;

    // Another spelling of the same number (Persian digits) is the same receptor.
    let persian_receptor: String = to_persian(&receptor);
    // From a client IP: the route layer's per-IP headers must not replace the cooldown's.
    let mut req = post(
        OTP_SEND,
        &token,
        &json!({"receptor": persian_receptor}),
        &request_id(),
    );
    req.headers_mut()
        .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    let early = send(&o.svc, req).await;
    early.assert_problem(429, "rate_limited");
    assert_eq!(early.headers["retry-after"], "60");
    assert_eq!(early.headers["ratelimit-policy"], "1;w=60");
    assert_eq!(
        requests_to(&o.fx.kavenegar, "verify/lookup.json")
            .await
            .len(),
        1
    );

    o.clock.advance(30_000);
    let still = send_otp(&o, &token, json!({"receptor": receptor})).await;
    assert_eq!(still.headers["retry-after"], "30");

    o.clock.advance(30_000);
    let second = send_otp(&o, &token, json!({"receptor": receptor})).await;
    assert_eq!(
        second.status,
        200,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    let new_code = delivered_code(&o.fx, &receptor).await;
    verify(
        &o,
        &token,
        json!({"verification_id": first["verification_id"], "code": old_code}),
    )
    .await
    .assert_problem(410, "verification_canceled");
    let ok = verify(&o, &token, json!({"receptor": receptor, "code": new_code})).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        ok.json()["verification_id"],
        second.json()["verification_id"]
    );
}

#[tokio::test]
async fn persian_and_arabic_digits_in_the_code_are_accepted() {
    let (o, token) = with_kavenegar(&[]).await;
    for (receptor, script) in iranian_numbers(2)
        .into_iter()
        .zip([to_persian as fn(&str) -> String, to_arabic])
    {
        let sent = send_otp(&o, &token, json!({"receptor": receptor}))
            .await
            .json();
        let code = delivered_code(&o.fx, &receptor).await;
        let typed = script(&code);
        assert_ne!(typed, code);
        let ok = verify(
            &o,
            &token,
            json!({"verification_id": sent["verification_id"], "code": typed}),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    }
    verify(
        &o,
        &token,
        json!({"receptor": "09120000000", "code": "12ab56"}),
    )
    .await
    .assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn user_tokens_cannot_choose_a_code_and_see_only_their_verifications() {
    let (o, _) = with_kavenegar(&[]).await;
    let alice = o.fx.hub.token("alice-otp", Role::User);
    let bob = o.fx.hub.token("bob-otp", Role::User);
    let receptor = iranian_numbers(1).remove(0);
    for body in [
        json!({"receptor": receptor, "message_type": "otp", "token": "1234"}),
        json!({"receptor": receptor, "message_type": "pattern", "template": "t", "token": "http://evil.example"}),
    ] {
        send(&o.svc, post(SEND, &alice, &body, &request_id()))
            .await
            .assert_problem(403, "forbidden");
    }
    assert!(requests_to(&o.fx.kavenegar, "").await.is_empty());
    // The OTP service takes no code from the client.
    send_otp(&o, &alice, json!({"receptor": receptor, "code": "1234"}))
        .await
        .assert_problem(422, "invalid_body");
    send_otp(
        &o,
        &alice,
        json!({"receptor": receptor, "user_id": "bob-otp"}),
    )
    .await
    .assert_problem(403, "forbidden");

    let sent = send_otp(&o, &alice, json!({"receptor": receptor})).await;
    assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
    let code = delivered_code(&o.fx, &receptor).await;
    let body = json!({"verification_id": sent.json()["verification_id"], "code": code});
    verify(&o, &bob, body.clone())
        .await
        .assert_problem(404, "not_found");
    assert_eq!(verify(&o, &alice, body).await.status, 200);
}

#[tokio::test]
async fn twilio_and_the_console_get_a_localized_text() {
    let o = otp_fixture(
        Opts {
            twilio: true,
            ..Default::default()
        },
        &[],
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(twilio_created("SM0123", "+5511987654321"))
        .mount(&o.fx.twilio)
        .await;
    let token = service_token(&o.fx);
    let brazil = format!("+55119{:08}", uuid::Uuid::new_v4().as_u128() % 100_000_000);
    let us = format!("+1415{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000);
    for (receptor, language, expected) in [
        (brazil.as_str(), None, "Seu código de verificação é "),
        (us.as_str(), None, "Your verification code is "),
        (us.as_str(), Some("fa"), "کد تأیید شما: "),
    ] {
        let mut body = json!({"receptor": receptor});
        if let Some(l) = language {
            body["language"] = json!(l);
            o.clock.advance(60_000);
        }
        let res = send_otp(&o, &token, body).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let req = requests_to(&o.fx.twilio, "Messages.json")
            .await
            .pop()
            .unwrap();
        let text = field(&req, "Body").unwrap();
        assert!(text.starts_with(expected), "{text}");
        assert!(text.contains("10"), "the validity is stated: {text}");
    }
    send_otp(&o, &token, json!({"receptor": us, "language": "de"}))
        .await
        .assert_problem(400, "invalid_field");
    send_otp(&o, &token, json!({"receptor": us, "channel": "fax"}))
        .await
        .assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn a_failed_delivery_keeps_the_pending_code_and_the_cooldown() {
    let o = otp_fixture(
        Opts {
            kavenegar: true,
            attempts: Some(1),
            ..Default::default()
        },
        &[],
    )
    .await;
    let token = service_token(&o.fx);
    let receptor = iranian_numbers(1).remove(0);
    kavenegar_accepts(&o.fx).await;
    let first = send_otp(&o, &token, json!({"receptor": receptor}))
        .await
        .json();
    let code = delivered_code(&o.fx, &receptor).await;
    o.fx.kavenegar.reset().await;
    Mock::given(method("POST"))
        .respond_with(kav_err(418))
        .mount(&o.fx.kavenegar)
        .await;
    o.clock.advance(61_000);
    let failed = send_otp(&o, &token, json!({"receptor": receptor})).await;
    assert!(
        failed.status.as_u16() >= 500,
        "{}",
        String::from_utf8_lossy(&failed.body)
    );
    // The failed send neither canceled the pending code nor started a cooldown.
    let ok = verify(&o, &token, json!({"receptor": receptor, "code": code})).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.json()["verification_id"], first["verification_id"]);
}

#[tokio::test]
async fn admins_read_sends_approvals_and_conversion_per_template_and_provider() {
    let (o, token) = with_kavenegar(&[]).await;
    let template = format!("stats-{}", uuid::Uuid::new_v4().simple());
    let receptors = iranian_numbers(4);
    for (i, r) in receptors.iter().enumerate() {
        let sent = send_otp(&o, &token, json!({"receptor": r, "template": template})).await;
        assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
        if i < 3 {
            let code = delivered_code(&o.fx, r).await;
            assert_eq!(
                verify(&o, &token, json!({"receptor": r, "code": code}))
                    .await
                    .status,
                200
            );
        }
    }
    let admin = o.fx.hub.admin();
    let res = send(
        &o.svc,
        hub_tests::get(&format!("{OTP_STATS}?days=1"), Some(&admin)),
    )
    .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let stats = res.json();
    let row = stats["by_template_and_provider"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["template"] == template.as_str())
        .unwrap_or_else(|| panic!("no row for the template: {stats}"))
        .clone();
    assert_eq!(row["provider"], "kavenegar");
    assert_eq!(
        (row["sends"].as_u64(), row["approvals"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(row["conversion_rate"].as_f64(), Some(0.75));
    send(&o.svc, hub_tests::get(OTP_STATS, Some(&token)))
        .await
        .assert_problem(403, "forbidden");
    send(
        &o.svc,
        hub_tests::get(&format!("{OTP_STATS}?days=0"), Some(&admin)),
    )
    .await
    .assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn without_the_key_secret_otp_answers_503_and_sends_nothing() {
    let fx = fixture(Opts {
        kavenegar: true,
        ..Default::default()
    })
    .await;
    let token = service_token(&fx);
    let res = send(
        &fx.svc,
        post(
            OTP_SEND,
            &token,
            &json!({"receptor": "09123456789"}),
            &request_id(),
        ),
    )
    .await;
    res.assert_problem(503, "otp_not_configured");
    assert!(requests_to(&fx.kavenegar, "").await.is_empty());
}

#[tokio::test]
async fn a_code_whose_send_answer_was_lost_is_unknown_counted_and_still_verifies() {
    let o = otp_fixture(
        Opts {
            kavenegar: true,
            twilio: true,
            timeout_secs: Some(1),
            ..Default::default()
        },
        &[],
    )
    .await;
    // Kavenegar takes the lookup but answers after the hub gave up; its status lookup by
    // localid does not know it (yet).
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/verify/lookup.json")))
        .respond_with(LookupAccepts.slowly())
        .mount(&o.fx.kavenegar)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{KEY}/sms/statuslocalmessageid.json")))
        .respond_with(kav_ok(vec![
            json!({"messageid": 0, "localid": "0", "status": 100, "statustext": "نامعتبر"}),
        ]))
        .mount(&o.fx.kavenegar)
        .await;
    let token = service_token(&o.fx);
    let template = format!("lost-{}", uuid::Uuid::new_v4().simple());
    let receptor = iranian_numbers(1).remove(0);
    let res = send_otp(
        &o,
        &token,
        json!({"receptor": receptor, "template": template}),
    )
    .await;
    // The code may have arrived: the verification stands, the delivery says `unknown`, no
    // second copy through Twilio.
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["delivery"], "unknown");
    assert_eq!(
        requests_to(&o.fx.kavenegar, "verify/lookup.json")
            .await
            .len(),
        1
    );
    assert!(requests_to(&o.fx.twilio, "").await.is_empty());
    // A retry within the cooldown is refused, not sent again.
    send_otp(
        &o,
        &token,
        json!({"receptor": receptor, "template": template}),
    )
    .await
    .assert_problem(429, "rate_limited");
    assert_eq!(
        requests_to(&o.fx.kavenegar, "verify/lookup.json")
            .await
            .len(),
        1
    );
    // It did arrive: the code verifies.
    let code = delivered_code(&o.fx, &receptor).await;
    assert_eq!(
        verify(&o, &token, json!({"receptor": receptor, "code": code}))
            .await
            .status,
        200
    );
    let stats = send(
        &o.svc,
        hub_tests::get(&format!("{OTP_STATS}?days=1"), Some(&o.fx.hub.admin())),
    )
    .await
    .json();
    let row = stats["by_template_and_provider"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["template"] == template.as_str())
        .unwrap_or_else(|| panic!("no row for the template: {stats}"))
        .clone();
    assert_eq!(
        (row["sends"].as_u64(), row["unknown"].as_u64()),
        (Some(1), Some(1)),
        "{row}"
    );
    assert!(stats["unknown"].as_u64().unwrap() >= 1, "{stats}");
}
