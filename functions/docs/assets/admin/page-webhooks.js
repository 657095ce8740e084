// Webhooks: endpoints (register with a signature scheme, the signing secret shown once,
// enable/disable, rotate with a grace period), their events with status, an event's detail,
// and replay of one event or a time range.

import { h, fill, show } from "./dom.js";
import { api, seg } from "./api.js";
import { t, num, when } from "./i18n.js";
import { field, form, notice, present, list, rfc3339 } from "./forms.js";

const BASE = "/api/integrations/webhooks";
const SCHEMES = ["standard_webhooks", "hmac_sha256", "twilio", "path_token"];
const STATUSES = ["queued", "processed", "failed", "ignored"];

export async function render([endpoint, what, eventId]) {
  if (endpoint && what === "events" && eventId) return eventDetail(endpoint, eventId);
  if (endpoint) return endpointDetail(endpoint);
  return endpoints();
}

/** The secret of a registration or rotation, shown this once. */
function secretOnce(answer) {
  if (!answer.secret) return null;
  return h(
    "div",
    { class: "secret-once", testid: "secret-once", role: "status" },
    h("p", {}, h("strong", {}, t("secret_once"))),
    h("code", { testid: "secret-value", class: "mono" }, answer.secret),
    answer.public_url ? h("p", { class: "small" }, `${t("public_url")}: `, h("code", {}, answer.public_url)) : null,
  );
}

function verification(v) {
  const scheme = v.scheme;
  const body = { scheme };
  if (scheme === "hmac_sha256") {
    Object.assign(body, present({ signature_header: v.signature_header, signature_prefix: v.signature_prefix, timestamp_header: v.timestamp_header }));
  }
  if ((scheme === "hmac_sha256" || scheme === "standard_webhooks") && v.tolerance_seconds !== undefined) body.tolerance_seconds = v.tolerance_seconds;
  return body;
}

async function endpoints() {
  const [{ items }, { items: providers }] = await Promise.all([api("GET", BASE, { query: { limit: 100 } }), api("GET", "/api/integrations/providers")]);
  const table = h("div", {});
  const drawTable = (rows) =>
    fill(
      table,
      rows.length
        ? h(
            "table",
            { testid: "endpoints" },
            h("thead", {}, h("tr", {}, [t("name"), t("endpoint_url"), t("provider"), t("scheme"), t("enabled"), t("public_url")].map((c) => h("th", {}, c)))),
            h(
              "tbody",
              {},
              rows.map((e) =>
                h(
                  "tr",
                  { testid: `endpoint-${e.endpoint_url}` },
                  h("td", {}, h("a", { href: `#/webhooks/${seg(e.endpoint_url)}` }, e.name)),
                  h("td", { class: "mono" }, e.endpoint_url),
                  h("td", { class: "mono" }, e.provider_slug),
                  h("td", { class: "mono" }, e.verification.scheme),
                  h("td", {}, h("span", { class: ["badge", e.enabled ? "ok" : "muted"] }, t(e.enabled ? "enabled" : "disabled"))),
                  h("td", { class: "mono small" }, e.public_url),
                ),
              ),
            ),
          )
        : notice(t("none")),
    );
  drawTable(items);

  const register = form({
    testid: "register-endpoint",
    fields: [
      field({ form: "we", name: "provider_slug", label: t("provider"), type: "select", options: providers.map((p) => [p.slug, `${p.name} (${p.slug})`]) }),
      field({ form: "we", name: "name", label: t("name"), required: true }),
      field({ form: "we", name: "endpoint_url", label: t("endpoint_url"), required: true, placeholder: "sms-status" }),
      field({ form: "we", name: "scheme", label: t("scheme"), type: "select", options: SCHEMES.map((s) => [s, s]), apiFields: ["verification", "verification.scheme"] }),
      field({ form: "we", name: "signature_header", label: t("signature_header"), placeholder: "x-signature", apiFields: ["verification.signature_header"] }),
      field({ form: "we", name: "signature_prefix", label: t("signature_prefix"), placeholder: "sha256=", apiFields: ["verification.signature_prefix"] }),
      field({ form: "we", name: "timestamp_header", label: t("timestamp_header"), apiFields: ["verification.timestamp_header"] }),
      field({ form: "we", name: "tolerance_seconds", label: t("tolerance_seconds"), type: "number", value: 300, apiFields: ["verification.tolerance_seconds"] }),
      field({ form: "we", name: "events", label: t("events_filter"), placeholder: "*" }),
      field({ form: "we", name: "secret", label: t("secret_optional"), type: "password", autocomplete: "new-password" }),
      field({ form: "we", name: "event_type_field", label: t("event_type_field") }),
      field({ form: "we", name: "notify_user_id", label: t("notify_user_id") }),
      field({ form: "we", name: "notification_title", label: t("notification_title") }),
    ],
    submit: t("register"),
    onSubmit: async (v, el) => {
      const body = present({
        provider_slug: v.provider_slug,
        name: v.name,
        endpoint_url: v.endpoint_url,
        events: list(v.events),
        verification: verification(v),
        secret: v.secret,
        event_type_field: v.event_type_field,
        notify_user_id: v.notify_user_id,
        notification_title: v.notification_title,
      });
      const created = await api("POST", BASE, { body });
      el.reset();
      const fresh = await api("GET", BASE, { query: { limit: 100 } });
      drawTable(fresh.items);
      return h("div", {}, notice(`${t("saved")} ${created.endpoint_url}`, "ok", "form-ok"), secretOnce(created));
    },
  });

  return h("div", {}, h("section", { class: "card" }, h("h1", {}, t("endpoints")), table), h("section", { class: "card" }, h("h2", {}, t("register_endpoint")), register));
}

function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

async function endpointDetail(endpointUrl) {
  const path = `${BASE}/${seg(endpointUrl)}`;
  const e = await api("GET", path);
  const state = h("span", { class: ["badge", e.enabled ? "ok" : "muted"], testid: "endpoint-enabled" }, t(e.enabled ? "enabled" : "disabled"));
  let enabled = e.enabled;
  const toggleOut = h("div", {});
  const toggle = h(
    "button",
    {
      type: "button",
      testid: "endpoint-toggle",
      onclick: async () => {
        try {
          const updated = await api("PATCH", path, { body: { enabled: !enabled } });
          enabled = updated.enabled;
          state.className = `badge ${enabled ? "ok" : "muted"}`;
          state.textContent = t(enabled ? "enabled" : "disabled");
          toggle.textContent = t(enabled ? "disable" : "enable");
          fill(toggleOut);
        } catch (err) {
          fill(toggleOut, notice(err.message, "error"));
        }
      },
    },
    t(e.enabled ? "disable" : "enable"),
  );

  const rotate = form({
    testid: "rotate",
    fields: [
      field({ form: "ro", name: "grace_period_seconds", label: t("grace_period_seconds"), type: "number", value: 86400, min: 0 }),
      field({ form: "ro", name: "secret", label: t("secret_optional"), type: "password", autocomplete: "new-password" }),
    ],
    submit: t("rotate"),
    onSubmit: async (v, el) => {
      const answer = await api("POST", `${path}/rotate-secret`, { body: present(v) });
      el.reset();
      return h("div", {}, notice(t("rotated", { until: when(answer.previous_secret_valid_until) }), "ok", "rotated"), secretOnce(answer));
    },
  });

  const edit = form({
    testid: "edit-endpoint",
    fields: [
      field({ form: "ee", name: "name", label: t("name"), value: e.name }),
      field({ form: "ee", name: "events", label: t("events_filter"), value: e.events.join(", ") }),
      field({ form: "ee", name: "event_type_field", label: t("event_type_field"), value: e.event_type_field || "" }),
      field({ form: "ee", name: "notify_user_id", label: t("notify_user_id"), value: e.notify_user_id || "" }),
      field({ form: "ee", name: "notification_title", label: t("notification_title"), value: e.notification_title || "" }),
    ],
    submit: t("save"),
    onSubmit: async (v) => {
      await api("PATCH", path, { body: { ...present({ name: v.name, event_type_field: v.event_type_field, notify_user_id: v.notify_user_id, notification_title: v.notification_title }), events: list(v.events) } });
      return t("saved");
    },
  });

  return h(
    "div",
    {},
    h("p", {}, h("a", { href: "#/webhooks" }, t("back"))),
    h(
      "section",
      { class: "card" },
      h("h1", {}, e.name, " ", h("span", { class: "muted mono" }, e.endpoint_url)),
      facts([
        [t("provider"), e.provider_slug],
        [t("scheme"), h("code", {}, JSON.stringify(e.verification))],
        [t("public_url"), h("code", {}, e.public_url)],
        [t("events_filter"), e.events.length ? e.events.join(", ") : "*"],
        [t("status"), state],
        ["secret_origin", e.secret_origin],
        ["secret_rotated_at", when(e.secret_rotated_at)],
        ["previous_secret_valid_until", when(e.previous_secret_valid_until)],
      ]),
      h("div", { class: "actions" }, toggle),
      toggleOut,
    ),
    h(
      "div",
      { class: "columns" },
      h("section", { class: "card" }, h("h2", {}, t("rotate")), rotate),
      h("section", { class: "card" }, h("h2", {}, t("edit_endpoint")), edit),
      h("section", { class: "card" }, h("h2", {}, t("replay_range")), replayRange(path)),
    ),
    events(endpointUrl, path),
  );
}

function replayRange(path) {
  return form({
    testid: "replay-range",
    fields: [
      field({ form: "rr", name: "from", label: t("from"), type: "datetime-local", required: true }),
      field({ form: "rr", name: "to", label: t("to"), type: "datetime-local", required: true }),
      field({ form: "rr", name: "status", label: t("status"), type: "select", options: [["", t("any")], ...STATUSES.map((s) => [s, s])] }),
    ],
    submit: t("replay"),
    onSubmit: async (v) => {
      const r = await api("POST", `${path}/events/replay`, { body: present({ from: rfc3339(v.from) || v.from, to: rfc3339(v.to) || v.to, status: v.status }) });
      return t("replayed", { count: num(r.replayed) });
    },
  });
}

function replayButton(path, eventId, out) {
  return h(
    "button",
    {
      type: "button",
      class: "small",
      testid: `replay-${eventId}`,
      onclick: async () => {
        try {
          const r = await api("POST", `${path}/events/${seg(eventId)}/replay`);
          fill(out, notice(t("replayed", { count: num(r.replayed) }), "ok", "replayed"));
        } catch (err) {
          fill(out, notice(err.message, "error"));
        }
      },
    },
    t("replay"),
  );
}

function events(endpointUrl, path) {
  const out = h("div", { "aria-live": "polite" });
  const results = h("div", { testid: "events" });
  let query = {};
  async function load(cursor) {
    const page = await api("GET", `${path}/events`, { query: { ...query, cursor } });
    fill(
      results,
      page.items.length
        ? h(
            "table",
            {},
            h("thead", {}, h("tr", {}, [t("received_at"), t("event_type"), t("status"), t("attempts"), t("replays"), t("error"), ""].map((c) => h("th", {}, c)))),
            h(
              "tbody",
              {},
              page.items.map((ev) =>
                h(
                  "tr",
                  { testid: `event-${ev.id}` },
                  h("td", {}, h("a", { href: `#/webhooks/${seg(endpointUrl)}/events/${seg(ev.id)}` }, when(ev.received_at))),
                  h("td", { class: "mono" }, ev.event_type),
                  h("td", {}, h("span", { class: ["badge", ev.status === "processed" ? "ok" : ev.status === "failed" ? "bad" : "muted"] }, ev.status)),
                  h("td", { class: "num" }, num(ev.attempts)),
                  h("td", { class: "num" }, num(ev.replays)),
                  h("td", { class: "small" }, show(ev.last_error)),
                  h("td", {}, replayButton(path, ev.id, out)),
                ),
              ),
            ),
          )
        : notice(t("none"), "info", "events-empty"),
      page.next_cursor ? h("div", { class: "actions" }, h("button", { type: "button", onclick: () => load(page.next_cursor).catch((err) => fill(out, notice(err.message, "error"))) }, t("next_page"))) : null,
    );
  }
  const filters = form({
    testid: "event-filters",
    cls: "inline",
    fields: [
      field({ form: "ef", name: "status", label: t("status"), type: "select", options: [["", t("any")], ...STATUSES.map((s) => [s, s])] }),
      field({ form: "ef", name: "from", label: t("from"), type: "datetime-local" }),
      field({ form: "ef", name: "to", label: t("to"), type: "datetime-local" }),
    ],
    submit: t("apply"),
    onSubmit: async (v) => {
      query = { status: v.status, from: rfc3339(v.from), to: rfc3339(v.to) };
      await load();
    },
  });
  load().catch((err) => fill(results, notice(err.message, "error")));
  return h("section", { class: "card" }, h("h2", {}, t("events")), filters, out, results);
}

async function eventDetail(endpointUrl, eventId) {
  const path = `${BASE}/${seg(endpointUrl)}`;
  const ev = await api("GET", `${path}/events/${seg(eventId)}`, { query: { include_body: true } });
  const out = h("div", { "aria-live": "polite" });
  const body = ev.body_text ?? (ev.body_base64 ? `base64: ${ev.body_base64}` : null);
  return h(
    "div",
    {},
    h("p", {}, h("a", { href: `#/webhooks/${seg(endpointUrl)}` }, t("back"))),
    h(
      "section",
      { class: "card", testid: "event-detail" },
      h("h1", {}, t("event"), " ", h("span", { class: "mono muted" }, ev.id)),
      facts([
        [t("event_type"), ev.event_type],
        [t("status"), ev.status],
        [t("received_at"), when(ev.received_at)],
        ["processed_at", when(ev.processed_at)],
        ["provider_event_id", h("code", {}, `${ev.provider_event_id} (${ev.dedupe_source})`)],
        [t("attempts"), num(ev.attempts)],
        [t("replays"), num(ev.replays)],
        [t("error"), show(ev.last_error)],
        ["headers", h("pre", {}, JSON.stringify(ev.headers, null, 2))],
        ["result", h("pre", {}, JSON.stringify(ev.result ?? null, null, 2))],
        [t("body"), h("pre", { testid: "event-body" }, body ?? "—")],
      ]),
      h("div", { class: "actions" }, replayButton(path, ev.id, out)),
      out,
    ),
  );
}
