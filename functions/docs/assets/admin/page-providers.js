// Providers: the catalog with configuration and health, and per provider its settings, a
// write-only credentials form, a live health check and statistics charts.

import { h, fill } from "./dom.js";
import { api, seg } from "./api.js";
import { t, num, when, percent } from "./i18n.js";
import { field, form, notice, present, list as commaList } from "./forms.js";
import { chart } from "./chart.js";

const FALLBACK = { sms: "fallback_sms", email: "fallback_email", ai: "fallback_ai" };

function configuration(p) {
  if (p.configured) return h("span", { class: "badge ok", testid: "configured" }, t("configured"));
  return h(
    "span",
    {},
    h("span", { class: "badge warn", testid: "configured" }, t("not_configured")),
    FALLBACK[p.kind] ? h("small", { class: "fallback" }, " ", t(FALLBACK[p.kind])) : null,
  );
}

function health(p) {
  const c = p.last_check;
  if (!c) return h("span", { class: "muted" }, t("never_checked"));
  return h(
    "span",
    { testid: "last-health" },
    h("span", { class: ["badge", c.reachable ? "ok" : "bad"] }, t(c.reachable ? "reachable" : "unreachable")),
    " ",
    h("bdi", {}, `${num(c.latency_ms)} ${t("ms")}`),
    " · ",
    h("bdi", {}, when(c.checked_at)),
    c.error_code ? [" · ", h("bdi", { class: "mono" }, c.error_code)] : null,
  );
}

export async function render([slug]) {
  return slug ? detail(slug) : list();
}

/** A catalog entry beside the built-ins (e.g. a second OpenAI-compatible endpoint). */
function addProvider() {
  return form({
    testid: "add-provider",
    fields: [
      field({ form: "np", name: "slug", label: t("slug"), required: true, placeholder: "openai-eu" }),
      field({ form: "np", name: "name", label: t("name"), required: true }),
      field({ form: "np", name: "kind", label: t("kind"), type: "select", options: ["sms", "email", "ai", "webhook"].map((k) => [k, t(`kind_${k}`)]) }),
      field({ form: "np", name: "protocol", label: t("protocol"), type: "select", options: ["openai_compatible", "kavenegar", "twilio", "smtp", "none"].map((p) => [p, p]) }),
      field({ form: "np", name: "base_url", label: t("base_url"), placeholder: "http(s) URL" }),
      field({ form: "np", name: "priority", label: t("priority"), type: "number", value: 0, step: 1 }),
      field({ form: "np", name: "credential_fields", label: t("credential_fields"), placeholder: "api_key" }),
      field({ form: "np", name: "description", label: t("description") }),
    ],
    submit: t("create"),
    onSubmit: async (v) => {
      const created = await api("POST", "/api/integrations/providers", {
        body: present({ ...v, priority: v.priority ?? 0, credential_fields: commaList(v.credential_fields) }),
      });
      location.hash = `#/providers/${seg(created.slug)}`;
      return null;
    },
  });
}

async function list() {
  const { items } = await api("GET", "/api/integrations/providers");
  items.sort((a, b) => a.kind.localeCompare(b.kind) || b.priority - a.priority || a.slug.localeCompare(b.slug));
  return h(
    "section",
    { class: "card" },
    h("h1", {}, t("nav_providers")),
    h(
      "table",
      { testid: "providers" },
      h("thead", {}, h("tr", {}, [t("name"), t("kind"), t("enabled"), t("priority"), t("configuration"), t("last_health")].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        items.map((p) =>
          h(
            "tr",
            { testid: `provider-${p.slug}` },
            h("td", {}, h("a", { href: `#/providers/${seg(p.slug)}` }, p.name), h("div", { class: "muted mono" }, p.slug)),
            h("td", {}, t(`kind_${p.kind}`)),
            h("td", {}, h("span", { class: ["badge", p.enabled ? "ok" : "muted"] }, t(p.enabled ? "enabled" : "disabled"))),
            h("td", { class: "num" }, num(p.priority)),
            h("td", {}, configuration(p)),
            h("td", {}, health(p)),
          ),
        ),
      ),
    ),
    h("details", { class: "add" }, h("summary", {}, t("add_provider")), addProvider()),
  );
}

async function detail(slug) {
  const p = await api("GET", `/api/integrations/providers/${seg(slug)}`);
  const configSlot = h("dd", { testid: "provider-configuration" }, configuration(p));
  const healthSlot = h("dd", {}, health(p));
  const path = `/api/integrations/providers/${seg(slug)}`;

  const settings = form({
    testid: "provider-settings",
    fields: [
      field({ form: "ps", name: "enabled", label: t("enabled"), type: "checkbox", value: p.enabled }),
      field({ form: "ps", name: "priority", label: t("priority"), type: "number", value: p.priority, step: 1 }),
      field({ form: "ps", name: "base_url", label: t("base_url"), value: p.base_url || "", placeholder: "http(s) URL" }),
    ],
    submit: t("save"),
    onSubmit: async (v) => {
      const body = { enabled: v.enabled, priority: v.priority ?? 0 };
      if (v.base_url) body.base_url = v.base_url;
      await api("PATCH", path, { body });
      return t("saved");
    },
  });

  const credentials = form({
    testid: "credentials",
    fields: p.credential_fields.map((name) => field({ form: "cr", name, label: name, type: "password", autocomplete: "new-password" })),
    submit: t("set_credentials"),
    onSubmit: async (v, el) => {
      const stored = await api("PUT", `${path}/credentials`, { body: present(v) });
      // Write-only: the inputs are emptied and the values never come back from the API.
      el.reset();
      const fresh = await api("GET", path);
      fill(configSlot, configuration(fresh));
      return notice(t("credentials_stored", { fields: stored.fields.join(", ") }), "ok", "credentials-stored");
    },
  });

  const healthOut = h("div", { "aria-live": "polite" });
  const healthButton = h(
    "button",
    {
      type: "button",
      testid: "health-check",
      onclick: async () => {
        healthButton.disabled = true;
        try {
          const r = await api("GET", `${path}/health-check`);
          fill(healthOut, notice(t("health_result", { reachable: t(r.reachable ? "yes" : "no"), configured: t(r.configured ? "yes" : "no"), latency: num(r.latency_ms) }) + (r.error_code ? ` · ${r.error_code}` : "") + (r.detail ? ` · ${r.detail}` : ""), r.reachable ? "ok" : "error", "health-result"));
          const fresh = await api("GET", path);
          fill(healthSlot, health(fresh));
        } catch (err) {
          fill(healthOut, notice(err.message, "error"));
        } finally {
          healthButton.disabled = false;
        }
      },
    },
    t("health_check"),
  );

  return h(
    "div",
    {},
    h("p", {}, h("a", { href: "#/providers" }, t("back"))),
    h(
      "section",
      { class: "card" },
      h("h1", {}, p.name, " ", h("span", { class: "muted mono" }, p.slug)),
      p.description ? h("p", {}, p.description) : null,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t("kind")),
        h("dd", {}, t(`kind_${p.kind}`)),
        h("dt", {}, t("protocol")),
        h("dd", {}, p.protocol),
        h("dt", {}, t("configuration")),
        configSlot,
        h("dt", {}, t("last_health")),
        healthSlot,
      ),
      h("div", { class: "actions" }, healthButton),
      healthOut,
    ),
    h("div", { class: "columns" }, h("section", { class: "card" }, h("h2", {}, t("settings")), settings), h("section", { class: "card" }, h("h2", {}, t("credentials")), h("p", { class: "help" }, t("credentials_help")), credentials)),
    statistics(slug, p.kind),
  );
}

/**
 * The API lists only periods that had calls; the charts show the whole window, so quiet
 * hours (or days) read as zero calls and no latency rather than being skipped.
 */
function everyPeriod(buckets, grain, windowHours) {
  const byPeriod = new Map(buckets.map((b) => [b.period, b]));
  const step = grain === "daily" ? 86_400_000 : 3_600_000;
  const now = Date.now();
  const out = [];
  for (let at = Math.floor((now - windowHours * 3_600_000) / step + 1) * step; at <= now; at += step) {
    const iso = new Date(at).toISOString();
    const period = grain === "daily" ? iso.slice(0, 10) : `${iso.slice(0, 13)}:00:00Z`;
    out.push(byPeriod.get(period) || { period, calls: 0, failures: 0, tokens: 0, p95_latency_ms: null });
    byPeriod.delete(period);
  }
  // Anything the API has that the clock here does not (clock skew) is kept, in order.
  return [...out, ...byPeriod.values()].sort((a, b) => (a.period < b.period ? -1 : 1));
}

function statistics(slug, kind) {
  const out = h("div", { class: "charts", testid: "charts" });
  const windowSel = h("select", { testid: "stats-window" }, [
    ["24", t("hours_24")],
    ["168", t("days_7")],
    ["720", t("days_30")],
  ].map(([v, l]) => h("option", { value: v }, l)));
  const grainSel = h("select", { testid: "stats-grain" }, [
    ["hourly", t("per_hour")],
    ["daily", t("per_day")],
  ].map(([v, l]) => h("option", { value: v }, l)));

  async function load() {
    fill(out, h("p", { class: "loading" }, t("loading")));
    try {
      const st = await api("GET", `/api/integrations/providers/${seg(slug)}/statistics`, { query: { window_hours: windowSel.value } });
      const buckets = st[grainSel.value] || [];
      const tot = st.total;
      const summary = h("p", { class: "summary", testid: "stats-total" }, `${t("total")}: ${t("calls")} ${num(tot.calls)} · ${t("failures")} ${num(tot.failures)} · ${t("success_rate")} ${percent(tot.success_rate)} · ${t("p95_latency")} ${num(tot.p95_latency_ms)}`);
      if (!buckets.length) {
        fill(out, summary, notice(t("no_data"), "info", "stats-empty"));
        return;
      }
      const filled = everyPeriod(buckets, grainSel.value, Number(windowSel.value));
      const series = (key) => filled.map((b) => ({ period: b.period, value: b[key] ?? null }));
      fill(
        out,
        summary,
        chart({ title: t("calls"), points: series("calls"), testid: "chart-calls" }),
        chart({ title: t("failures"), points: series("failures"), testid: "chart-failures" }),
        chart({ title: t("p95_latency"), points: series("p95_latency_ms"), testid: "chart-p95" }),
        kind === "ai" ? chart({ title: t("tokens"), points: series("tokens"), testid: "chart-tokens" }) : null,
      );
    } catch (err) {
      fill(out, notice(err.message, "error"));
    }
  }
  windowSel.addEventListener("change", load);
  grainSel.addEventListener("change", load);
  load();
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("statistics")),
    h("div", { class: "toolbar" }, h("label", {}, t("window"), " ", windowSel), h("label", {}, grainSel), h("button", { type: "button", onclick: load, testid: "stats-refresh" }, t("refresh"))),
    out,
  );
}
