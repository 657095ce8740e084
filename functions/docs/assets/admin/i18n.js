// Persian (right to left) and English. The language is taken from the browser
// (navigator.languages) until the operator picks one with the switch (kept in localStorage:
// a preference, not a secret). Numbers and dates go through Intl: fa-IR writes Persian digits
// and the Persian (Solar Hijri) calendar.

const STRINGS = {
  en: {
    language: "Language",
    sign_in: "Sign in",
    sign_out: "Sign out",
    sign_in_title: "Sign in to the admin console",
    sign_in_help: "Paste an admin bearer token (locally: make token USER=you ROLE=admin). It is kept in this tab only and sent to the hub's API, nothing else.",
    token: "Admin token",
    token_required: "Paste a token first.",
    bad_token: "The hub refused this token: {detail}",
    not_admin: "This token is valid but not an admin's ({detail}).",
    signed_out: "Signed out.",
    nav_providers: "Providers",
    nav_logs: "Integration logs",
    nav_webhooks: "Webhooks",
    nav_rate_limits: "Rate limits",
    nav_messages: "SMS, AI, notifications",
    loading: "Loading…",
    saved: "Saved.",
    save: "Save",
    cancel: "Cancel",
    edit: "Edit",
    delete: "Delete",
    restore_default: "Restore default",
    confirm_delete: "Delete {what}?",
    deleted: "Deleted.",
    back: "Back",
    refresh: "Refresh",
    search: "Look up",
    apply: "Apply",
    next_page: "Next page",
    first_page: "First page",
    none: "Nothing here yet.",
    yes: "yes",
    no: "no",
    error: "Error",
    field_error: "{field}: {message}",
    slug: "Slug",
    name: "Name",
    kind: "Kind",
    protocol: "Protocol",
    enabled: "Enabled",
    disabled: "Disabled",
    priority: "Priority",
    base_url: "Base URL",
    configuration: "Configuration",
    configured: "configured",
    not_configured: "not configured",
    ms: "ms",
    add_provider: "Add a provider",
    credential_fields: "Credential fields (comma separated)",
    edit_endpoint: "Edit endpoint",
    kind_sms: "SMS",
    kind_email: "email",
    kind_ai: "AI",
    kind_webhook: "webhook",
    fallback_sms: "falls back to the console (SMS logged, not sent)",
    fallback_email: "falls back to the console (mail logged, not sent)",
    fallback_ai: "falls back to the rule-based assistant",
    last_health: "Last health check",
    never_checked: "never checked",
    reachable: "reachable",
    unreachable: "unreachable",
    settings: "Settings",
    credentials: "Credentials",
    credentials_help: "Write-only: stored in the secret store, never shown again. Fill every field to replace them.",
    credentials_stored: "Stored fields: {fields}. Values are not shown.",
    set_credentials: "Store credentials",
    health_check: "Run health check",
    health_result: "Reachable: {reachable}, configured: {configured}, latency {latency} ms",
    statistics: "Statistics",
    window: "Window",
    hours_24: "Last 24 hours",
    days_7: "Last 7 days",
    days_30: "Last 30 days",
    per_hour: "Per hour",
    per_day: "Per day",
    calls: "Calls",
    failures: "Failures",
    p95_latency: "p95 latency (ms)",
    tokens: "Tokens",
    success_rate: "Success rate",
    total: "Total",
    no_data: "No calls in this window.",
    provider: "Provider",
    any: "any",
    outcome: "Outcome",
    from: "From",
    to: "To",
    time: "Time",
    operation: "Operation",
    latency: "Latency (ms)",
    error_code: "Error code",
    target: "Target",
    request_id: "Request id",
    reference: "Provider reference",
    endpoints: "Endpoints",
    register_endpoint: "Register an endpoint",
    endpoint_url: "Endpoint slug (in the URL)",
    public_url: "Public URL",
    scheme: "Signature scheme",
    events_filter: "Event types (comma separated, empty = all)",
    secret_optional: "Provider's secret (empty: the hub generates one)",
    signature_header: "Signature header",
    signature_prefix: "Signature prefix",
    timestamp_header: "Timestamp header",
    tolerance_seconds: "Timestamp tolerance (s)",
    event_type_field: "Event type field",
    notify_user_id: "Notify user id",
    notification_title: "Notification title",
    register: "Register",
    secret_once: "Signing secret: copy it now, it is shown only this once.",
    rotate: "Rotate secret",
    grace_period_seconds: "Grace period for the old secret (s)",
    rotated: "Rotated. The previous secret keeps working until {until}.",
    enable: "Enable",
    disable: "Disable",
    events: "Events",
    status: "Status",
    event_type: "Event type",
    received_at: "Received",
    attempts: "Attempts",
    replays: "Replays",
    replay: "Replay",
    replay_range: "Replay a time range",
    replayed: "Re-queued {count} event(s).",
    event: "Event",
    body: "Body",
    rules: "Rules",
    new_rule: "New rule",
    edit_rule: "Edit rule {id}",
    id_optional: "Id (optional)",
    scope: "Scope",
    limit: "Limit",
    window_seconds: "Window (s)",
    description: "Description",
    builtin: "built-in default",
    custom: "custom",
    create: "Create",
    sms_lookup: "SMS message",
    message_id: "Message id",
    refresh_status: "Refresh status from the provider",
    batch: "SMS batch",
    batch_id: "Batch id",
    progress: "{done} of {total} done",
    test_sms: "Send a test SMS",
    receptor: "Receptor (phone)",
    message: "Message",
    send: "Send",
    sent: "Sent: {id}",
    ai_job: "AI job",
    job_id: "Job id",
    test_notification: "Send a test notification",
    user_id: "User id",
    type: "Type",
    title: "Title",
    channels: "Channels",
    email: "Email",
    phone: "Phone",
    accepted: "Accepted: {id}",
  },
  fa: {
    language: "زبان",
    sign_in: "ورود",
    sign_out: "خروج",
    sign_in_title: "ورود به کنسول مدیریت",
    sign_in_help: "توکن حامل مدیر را اینجا بگذارید (در محیط محلی: make token USER=you ROLE=admin). فقط در همین زبانه نگه داشته می‌شود و فقط به API هاب فرستاده می‌شود.",
    token: "توکن مدیر",
    token_required: "اول توکن را وارد کنید.",
    bad_token: "هاب این توکن را نپذیرفت: {detail}",
    not_admin: "این توکن معتبر است ولی توکن مدیر نیست ({detail}).",
    signed_out: "خارج شدید.",
    nav_providers: "سرویس‌دهنده‌ها",
    nav_logs: "گزارش یکپارچه‌سازی",
    nav_webhooks: "وب‌هوک‌ها",
    nav_rate_limits: "محدودیت نرخ",
    nav_messages: "پیامک، هوش مصنوعی، اعلان",
    loading: "در حال بارگذاری…",
    saved: "ذخیره شد.",
    save: "ذخیره",
    cancel: "انصراف",
    edit: "ویرایش",
    delete: "حذف",
    restore_default: "بازگرداندن پیش‌فرض",
    confirm_delete: "{what} حذف شود؟",
    deleted: "حذف شد.",
    back: "بازگشت",
    refresh: "تازه‌سازی",
    search: "جست‌وجو",
    apply: "اعمال",
    next_page: "صفحهٔ بعد",
    first_page: "صفحهٔ اول",
    none: "هنوز چیزی نیست.",
    yes: "بله",
    no: "خیر",
    error: "خطا",
    field_error: "{field}: {message}",
    slug: "شناسه",
    name: "نام",
    kind: "نوع",
    protocol: "پروتکل",
    enabled: "فعال",
    disabled: "غیرفعال",
    priority: "اولویت",
    base_url: "نشانی پایه",
    configuration: "پیکربندی",
    configured: "پیکربندی شده",
    not_configured: "پیکربندی نشده",
    ms: "میلی‌ثانیه",
    add_provider: "افزودن سرویس‌دهنده",
    credential_fields: "فیلدهای محرمانه (با ویرگول)",
    edit_endpoint: "ویرایش نقطهٔ دریافت",
    kind_sms: "پیامک",
    kind_email: "ایمیل",
    kind_ai: "هوش مصنوعی",
    kind_webhook: "وب‌هوک",
    fallback_sms: "جایگزین: کنسول (پیامک ثبت می‌شود، ارسال نمی‌شود)",
    fallback_email: "جایگزین: کنسول (ایمیل ثبت می‌شود، ارسال نمی‌شود)",
    fallback_ai: "جایگزین: دستیار قاعده‌محور",
    last_health: "آخرین بررسی سلامت",
    never_checked: "بررسی نشده",
    reachable: "در دسترس",
    unreachable: "خارج از دسترس",
    settings: "تنظیمات",
    credentials: "اطلاعات محرمانه",
    credentials_help: "فقط نوشتنی: در مخزن اسرار ذخیره می‌شود و دیگر نمایش داده نمی‌شود. برای جایگزینی همهٔ فیلدها را پر کنید.",
    credentials_stored: "فیلدهای ذخیره‌شده: {fields}. مقدارها نمایش داده نمی‌شوند.",
    set_credentials: "ذخیرهٔ اطلاعات محرمانه",
    health_check: "بررسی سلامت",
    health_result: "در دسترس: {reachable}، پیکربندی: {configured}، تأخیر {latency} میلی‌ثانیه",
    statistics: "آمار",
    window: "بازه",
    hours_24: "۲۴ ساعت گذشته",
    days_7: "۷ روز گذشته",
    days_30: "۳۰ روز گذشته",
    per_hour: "ساعتی",
    per_day: "روزانه",
    calls: "فراخوانی‌ها",
    failures: "خطاها",
    p95_latency: "تأخیر صدک ۹۵ (میلی‌ثانیه)",
    tokens: "توکن‌ها",
    success_rate: "نرخ موفقیت",
    total: "جمع",
    no_data: "در این بازه فراخوانی‌ای نبوده است.",
    provider: "سرویس‌دهنده",
    any: "همه",
    outcome: "نتیجه",
    from: "از",
    to: "تا",
    time: "زمان",
    operation: "عملیات",
    latency: "تأخیر (میلی‌ثانیه)",
    error_code: "کد خطا",
    target: "مقصد",
    request_id: "شناسهٔ درخواست",
    reference: "شناسهٔ سرویس‌دهنده",
    endpoints: "نقطه‌های دریافت",
    register_endpoint: "ثبت نقطهٔ دریافت",
    endpoint_url: "نامک نقطهٔ دریافت (در نشانی)",
    public_url: "نشانی عمومی",
    scheme: "روش امضا",
    events_filter: "نوع رویدادها (با ویرگول؛ خالی = همه)",
    secret_optional: "کلید سرویس‌دهنده (خالی: هاب می‌سازد)",
    signature_header: "سرآیند امضا",
    signature_prefix: "پیشوند امضا",
    timestamp_header: "سرآیند زمان",
    tolerance_seconds: "رواداری زمان (ثانیه)",
    event_type_field: "فیلد نوع رویداد",
    notify_user_id: "شناسهٔ کاربر برای اعلان",
    notification_title: "عنوان اعلان",
    register: "ثبت",
    secret_once: "کلید امضا: همین حالا آن را بردارید؛ فقط همین یک بار نمایش داده می‌شود.",
    rotate: "چرخش کلید",
    grace_period_seconds: "مهلت کلید قبلی (ثانیه)",
    rotated: "کلید عوض شد. کلید قبلی تا {until} کار می‌کند.",
    enable: "فعال کردن",
    disable: "غیرفعال کردن",
    events: "رویدادها",
    status: "وضعیت",
    event_type: "نوع رویداد",
    received_at: "دریافت",
    attempts: "تلاش‌ها",
    replays: "بازپخش‌ها",
    replay: "بازپخش",
    replay_range: "بازپخش یک بازهٔ زمانی",
    replayed: "{count} رویداد دوباره در صف قرار گرفت.",
    event: "رویداد",
    body: "بدنه",
    rules: "قاعده‌ها",
    new_rule: "قاعدهٔ جدید",
    edit_rule: "ویرایش قاعدهٔ {id}",
    id_optional: "شناسه (اختیاری)",
    scope: "دامنه",
    limit: "سقف",
    window_seconds: "بازه (ثانیه)",
    description: "توضیح",
    builtin: "پیش‌فرض داخلی",
    custom: "سفارشی",
    create: "ایجاد",
    sms_lookup: "پیامک",
    message_id: "شناسهٔ پیام",
    refresh_status: "گرفتن وضعیت تازه از سرویس‌دهنده",
    batch: "دستهٔ پیامک",
    batch_id: "شناسهٔ دسته",
    progress: "{done} از {total} انجام شد",
    test_sms: "ارسال پیامک آزمایشی",
    receptor: "گیرنده (تلفن)",
    message: "پیام",
    send: "ارسال",
    sent: "ارسال شد: {id}",
    ai_job: "کار هوش مصنوعی",
    job_id: "شناسهٔ کار",
    test_notification: "ارسال اعلان آزمایشی",
    user_id: "شناسهٔ کاربر",
    type: "نوع",
    title: "عنوان",
    channels: "کانال‌ها",
    email: "ایمیل",
    phone: "تلفن",
    accepted: "پذیرفته شد: {id}",
  },
};

const LANG_KEY = "hub.admin.lang";
const LOCALES = { en: "en-GB", fa: "fa-IR-u-ca-persian-nu-arabext" };

function initialLanguage() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved && STRINGS[saved]) return saved;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    const base = String(l).toLowerCase().split("-")[0];
    if (STRINGS[base]) return base;
  }
  return "en";
}

let current = initialLanguage();

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!STRINGS[lang]) return;
  current = lang;
  localStorage.setItem(LANG_KEY, lang);
  applyLanguage();
}

/** Sets `<html lang dir>` for the current language. */
export function applyLanguage() {
  document.documentElement.lang = current;
  document.documentElement.dir = current === "fa" ? "rtl" : "ltr";
}

/** The text for `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return params ? text.replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`)) : text;
}

export function locale() {
  return LOCALES[current];
}

export function num(n, opts) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  return new Intl.NumberFormat(locale(), opts).format(n);
}

export function percent(x) {
  return x === null || x === undefined ? "—" : num(x, { style: "percent", maximumFractionDigits: 1 });
}

/** An RFC 3339 time (or a bare date) in the operator's language and calendar. */
export function when(iso, opts = { dateStyle: "medium", timeStyle: "short" }) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale(), opts).format(d);
}

/** A statistics period label: an hour (`2026-11-22T13:00:00Z`) or a day (`2026-11-22`). */
export function period(p) {
  if (/^\d{4}-\d{2}-\d{2}$/.test(p)) {
    return when(`${p}T00:00:00Z`, { month: "short", day: "numeric", timeZone: "UTC" });
  }
  return when(p, { hour: "2-digit", minute: "2-digit" });
}

/** Names of the languages for the switch, each in its own language. */
export const LANGUAGES = [
  ["en", "English"],
  ["fa", "فارسی"],
];
