//! Fakes answering Kavenegar's and Twilio's real envelopes, and a fixture wiring the SMS
//! function to them, the moto server and (for bulk) a queue of the test's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use http::Request;
use hub_tests::{TestHub, create_queue, env_with, json_req};
use serde_json::{Value, json};
use shared::http::HubService;
use shared::integration_log::{LogEntry, LogQuery};
use shared::sms::{SmsConfig, SmsService};
use sms::SmsState;
use wiremock::{MockServer, Request as WireRequest, Respond, ResponseTemplate};

pub const KEY: &str = "test-kavenegar-key-123";
pub const CALLBACK_TOKEN: &str = "cb-token-0123456789abcdef";
pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-auth-token-xyz";
pub const TWILIO_FROM: &str = "+15005550006";
pub const SEND: &str = "/api/integrations/sms/send";
pub const BULK: &str = "/api/integrations/sms/bulk";

pub struct Fx {
    pub hub: TestHub,
    pub kavenegar: MockServer,
    pub twilio: MockServer,
    pub svc: HubService,
    pub queue_url: Option<String>,
    /// The bulk worker's service (its own role).
    pub worker: Arc<SmsService>,
    /// The sms function's settings (tests/otp builds its OTP service over them).
    #[allow(dead_code)]
    pub sms_config: SmsConfig,
}

#[derive(Default, Clone, Copy)]
pub struct Opts {
    pub kavenegar: bool,
    pub twilio: bool,
    pub queue: bool,
    /// SMS_MAX_ATTEMPTS (default 3).
    pub attempts: Option<u32>,
    /// PROVIDER_TIMEOUT_SECONDS (default 20).
    pub timeout_secs: Option<u64>,
    /// SMS_FALLBACK (unset: the test stage's default, the console allowed).
    pub sms_fallback: Option<&'static str>,
}

pub async fn fixture(opts: Opts) -> Fx {
    let kavenegar = MockServer::start().await;
    let twilio = MockServer::start().await;
    let mut env: Vec<(&str, String)> = vec![
        ("KAVENEGAR_BASE_URL", kavenegar.uri()),
        ("TWILIO_BASE_URL", twilio.uri()),
        ("SMS_RETRY_BASE_MS", "5".into()),
        ("SMS_RETRY_MAX_MS", "50".into()),
        ("SMS_CALLBACK_BASE_URL", String::new()),
        ("SMS_MAX_ATTEMPTS", opts.attempts.unwrap_or(3).to_string()),
        (
            "PROVIDER_TIMEOUT_SECONDS",
            opts.timeout_secs.unwrap_or(20).to_string(),
        ),
    ];
    if let Some(f) = opts.sms_fallback {
        env.push(("SMS_FALLBACK", f.to_string()));
    }
    let hub = TestHub::with_env(&env).await;
    if opts.kavenegar {
        hub.put_secret(
            "kavenegar",
            json!({"api_key": KEY, "sender": "10004346", "callback_token": CALLBACK_TOKEN}),
        )
        .await;
    }
    if opts.twilio {
        hub.put_secret("twilio", json!({"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": TWILIO_FROM})).await;
    }
    let queue_url = if opts.queue {
        Some(create_queue(&hub, "SMS_BULK_QUEUE_URL").await)
    } else {
        None
    };
    if let Some(q) = &queue_url {
        env.push(("SMS_BULK_QUEUE_URL", q.clone()));
    }
    let config = SmsConfig::from_env(&env_with(&env)).expect("sms config");
    // What sms-worker builds at cold start, under its own role.
    let worker = Arc::new(
        hub.ctx_of("sms-worker")
            .sms_service_with(config.clone())
            .expect("sms-worker service"),
    );
    let sms_ctx = hub.ctx_of("sms");
    let state = SmsState::new(
        sms_ctx.clone(),
        sms_ctx
            .sms_service_with(config.clone())
            .expect("sms service"),
        sms_ctx.otp_service(&config).expect("otp service"),
    );
    let svc = shared::http::app(sms::router(state.clone()));
    Fx {
        hub,
        kavenegar,
        twilio,
        svc,
        queue_url,
        worker,
        sms_config: config,
    }
}

/// Kavenegar's success envelope.
pub fn kav_ok(entries: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"return": {"status": 200, "message": "تایید شد"}, "entries": entries}),
    )
}

/// Kavenegar's error envelope; the HTTP status mirrors `return.status`.
pub fn kav_err(status: u16) -> ResponseTemplate {
    let message = match status {
        403 => "کد شناسائی API-Key معتبر نمی‌باشد",
        411 => "دریافت کننده نامعتبر است",
        418 => "اعتبار حساب شما کافی نیست",
        451 => "فراخوانی بیش از حد",
        _ => "خطا",
    };
    ResponseTemplate::new(status)
        .set_body_json(json!({"return": {"status": status, "message": message}, "entries": null}))
}

pub fn kav_entry(id: u64, receptor: &str, status: i64) -> Value {
    json!({"messageid": id, "message": "…", "status": status, "statustext": "در صف ارسال", "sender": "10004346",
           "receptor": receptor, "date": 1_356_619_709, "cost": 120})
}

/// Twilio's answer to a created message.
pub fn twilio_created(sid: &str, to: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"sid": sid, "status": "queued", "error_code": null, "error_message": null,
        "to": to, "from": TWILIO_FROM, "account_sid": TWILIO_SID, "num_segments": "1", "direction": "outbound-api"}))
}

pub fn twilio_err(http_status: u16, code: i64) -> ResponseTemplate {
    ResponseTemplate::new(http_status).set_body_json(json!({"code": code, "message": "error", "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": http_status}))
}

pub fn form(req: &WireRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&req.body).expect("form body")
}

pub fn field(req: &WireRequest, name: &str) -> Option<String> {
    form(req)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A fake Kavenegar `sms/send` / `sms/sendarray`: one entry per receptor, fresh message ids.
pub struct KavenegarBulk {
    pub next_id: AtomicU64,
}

impl KavenegarBulk {
    pub fn new() -> Self {
        // Random start: message ids are looked up through a shared index, so tests must not reuse them.
        Self {
            next_id: AtomicU64::new(
                (uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000) as u64 * 20_000 + 1,
            ),
        }
    }
}

impl Respond for KavenegarBulk {
    fn respond(&self, req: &WireRequest) -> ResponseTemplate {
        let raw = field(req, "receptor").unwrap_or_default();
        let receptors: Vec<String> = if raw.starts_with('[') {
            serde_json::from_str(&raw).unwrap_or_default()
        } else {
            raw.split(',').map(str::to_string).collect()
        };
        if receptors.len() > 200 {
            return kav_err(414);
        }
        let entries = receptors
            .iter()
            .map(|r| kav_entry(self.next_id.fetch_add(1, Ordering::SeqCst), r, 1))
            .collect();
        kav_ok(entries)
    }
}

pub async fn requests_to(server: &MockServer, suffix: &str) -> Vec<WireRequest> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path().ends_with(suffix))
        .collect()
}

pub fn post(path: &str, token: &str, body: &Value, request_id: &str) -> Request<Body> {
    let mut req = json_req("POST", path, Some(token), body);
    req.headers_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    req
}

pub fn request_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

/// The integration-log entries one request wrote for a provider.
pub async fn log_entries(hub: &TestHub, provider: &str, request_id: &str) -> Vec<LogEntry> {
    let page = hub
        .ctx
        .log
        .list(&LogQuery {
            provider: Some(provider.into()),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .expect("list the integration log");
    page.items
        .into_iter()
        .filter(|e| e.request_id == request_id)
        .collect()
}

/// `n` distinct Iranian mobile numbers in national form.
pub fn iranian_numbers(n: usize) -> Vec<String> {
    let base = (uuid::Uuid::new_v4().as_u128() % 900) as usize * 10_000;
    (0..n).map(|i| format!("0912{:07}", base + i)).collect()
}
