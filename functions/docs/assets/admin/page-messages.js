// SMS message lookup and status refresh, SMS batch progress, AI job lookup, and test sends
// (an SMS, a notification) to check a channel end to end.

import { h, fill, show } from "./dom.js";
import { api, seg } from "./api.js";
import { t, num, when } from "./i18n.js";
import { field, form, notice, present, list } from "./forms.js";

const TIME_KEYS = /(_at|_until)$/;

/** A record as a two-column table (times in the operator's calendar, objects as JSON). */
function record(obj, testid) {
  return h(
    "table",
    { class: "record", testid },
    h(
      "tbody",
      {},
      Object.entries(obj).map(([k, v]) =>
        h("tr", {}, h("th", { class: "mono" }, k), h("td", {}, v && typeof v === "object" ? h("pre", {}, JSON.stringify(v, null, 2)) : TIME_KEYS.test(k) && v ? when(v) : typeof v === "number" ? num(v) : show(v))),
      ),
    ),
  );
}

function smsLookup() {
  const out = h("div", { testid: "sms-result" });
  let lastId = "";
  async function lookup(id, refresh) {
    const rec = await api("GET", `/api/integrations/sms/${seg(id)}`, { query: { refresh: refresh ? "true" : undefined } });
    lastId = id;
    fill(
      out,
      record(rec, "sms-record"),
      h("div", { class: "actions" }, h("button", { type: "button", testid: "sms-refresh", onclick: () => lookup(lastId, true).catch((err) => fill(out, notice(err.message, "error"))) }, t("refresh_status"))),
    );
  }
  const f = form({
    testid: "sms-lookup",
    cls: "inline",
    fields: [field({ form: "sl", name: "message_id", label: t("message_id"), required: true, apiFields: ["id"] })],
    submit: t("search"),
    onSubmit: async (v) => {
      await lookup(v.message_id, false);
    },
  });
  return h("section", { class: "card" }, h("h2", {}, t("sms_lookup")), f, out);
}

function batchLookup() {
  const out = h("div", { testid: "batch-result" });
  const f = form({
    testid: "batch-lookup",
    cls: "inline",
    fields: [field({ form: "bl", name: "batch_id", label: t("batch_id"), required: true, apiFields: ["id", "batch_id"] })],
    submit: t("search"),
    onSubmit: async (v) => {
      const b = await api("GET", `/api/integrations/sms/batches/${seg(v.batch_id)}`);
      const done = (b.sent || 0) + (b.failed || 0);
      fill(out, h("p", {}, h("progress", { max: b.total || 1, value: done, testid: "batch-progress" }), " ", t("progress", { done: num(done), total: num(b.total) }), ` · ${b.status}`), record(b));
    },
  });
  return h("section", { class: "card" }, h("h2", {}, t("batch")), f, out);
}

function aiJob() {
  const out = h("div", { testid: "ai-result" });
  const f = form({
    testid: "ai-lookup",
    cls: "inline",
    fields: [field({ form: "aj", name: "job_id", label: t("job_id"), required: true, apiFields: ["id"] })],
    submit: t("search"),
    onSubmit: async (v) => {
      fill(out, record(await api("GET", `/api/integrations/ai/jobs/${seg(v.job_id)}`), "ai-record"));
    },
  });
  return h("section", { class: "card" }, h("h2", {}, t("ai_job")), f, out);
}

function testSms() {
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("test_sms")),
    form({
      testid: "test-sms",
      fields: [field({ form: "ts", name: "receptor", label: t("receptor"), required: true, placeholder: "09123456789" }), field({ form: "ts", name: "message", label: t("message"), type: "textarea", required: true })],
      submit: t("send"),
      onSubmit: async (v) => {
        const r = await api("POST", "/api/integrations/sms/send", { body: { receptor: v.receptor, message_type: "text", message: v.message } });
        return notice(`${t("sent", { id: r.message_id })} · ${r.provider || ""} ${r.status || ""}`, "ok", "sms-sent");
      },
    }),
  );
}

function testNotification() {
  const channels = ["in_app", "email", "sms", "websocket"];
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("test_notification")),
    form({
      testid: "test-notification",
      fields: [
        field({ form: "tn", name: "user_id", label: t("user_id"), required: true }),
        field({ form: "tn", name: "type", label: t("type"), value: "system" }),
        field({ form: "tn", name: "title", label: t("title"), required: true }),
        field({ form: "tn", name: "message", label: t("message"), type: "textarea", required: true }),
        field({ form: "tn", name: "channels", label: t("channels"), placeholder: channels.join(", ") }),
        field({ form: "tn", name: "email", label: t("email"), type: "email" }),
        field({ form: "tn", name: "phone", label: t("phone") }),
      ],
      submit: t("send"),
      onSubmit: async (v) => {
        const chosen = list(v.channels);
        const body = present({ user_id: v.user_id, type: v.type, title: v.title, message: v.message, email: v.email, phone: v.phone });
        if (chosen.length) body.channels = chosen;
        const r = await api("POST", "/api/v1/notifications", { body });
        return h("div", {}, notice(t("accepted", { id: r.id || r.notification_id || "" }), "ok", "notification-accepted"), record(r));
      },
    }),
  );
}

export async function render() {
  return h("div", { class: "columns" }, smsLookup(), batchLookup(), aiJob(), testSms(), testNotification());
}
