// Integration logs: filter by provider, outcome and time range; newest first, paged with the
// API's cursor.

import { h, fill, show } from "./dom.js";
import { api } from "./api.js";
import { t, num, when } from "./i18n.js";
import { field, form, notice, rfc3339 } from "./forms.js";

export async function render() {
  const { items: providers } = await api("GET", "/api/integrations/providers");
  const results = h("div", { testid: "log-results" });
  let query = {};
  let cursors = [];

  async function load(cursor) {
    const page = await api("GET", "/api/integrations/logs", { query: { ...query, cursor } });
    const pager = h(
      "div",
      { class: "actions" },
      cursors.length ? h("button", { type: "button", testid: "logs-first", onclick: () => run(() => ((cursors = []), load())) }, t("first_page")) : null,
      page.next_cursor ? h("button", { type: "button", testid: "logs-next", onclick: () => run(() => (cursors.push(page.next_cursor), load(page.next_cursor))) }, t("next_page")) : null,
    );
    if (!page.items.length) {
      fill(results, notice(t("none"), "info", "logs-empty"), pager);
      return;
    }
    fill(
      results,
      h(
        "table",
        { testid: "logs" },
        h("thead", {}, h("tr", {}, [t("time"), t("provider"), t("operation"), t("outcome"), t("latency"), t("tokens"), t("error_code"), t("target"), t("reference"), t("request_id")].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          page.items.map((e) =>
            h(
              "tr",
              { class: `outcome-${e.outcome}` },
              h("td", {}, when(e.created_at)),
              h("td", { class: "mono" }, e.provider),
              h("td", { class: "mono" }, e.operation),
              h("td", {}, h("span", { class: ["badge", e.outcome === "success" ? "ok" : e.outcome === "failure" ? "bad" : "warn"] }, e.outcome)),
              h("td", { class: "num" }, num(e.latency_ms)),
              h("td", { class: "num" }, e.tokens == null ? "—" : num(e.tokens)),
              h("td", { class: "mono" }, show(e.error_code)),
              h("td", { class: "mono" }, show(e.target)),
              h("td", { class: "mono small" }, show(e.reference)),
              h("td", { class: "mono small" }, e.request_id),
            ),
          ),
        ),
      ),
      pager,
    );
  }

  async function run(fn) {
    try {
      await fn();
    } catch (err) {
      fill(results, notice(err.message, "error"));
    }
  }

  const filters = form({
    testid: "log-filters",
    cls: "inline",
    fields: [
      field({ form: "lf", name: "provider", label: t("provider"), type: "select", options: [["", t("any")], ...providers.map((p) => [p.slug, p.name])] }),
      field({ form: "lf", name: "outcome", label: t("outcome"), type: "select", options: [["", t("any")], ["success", "success"], ["failure", "failure"], ["fallback", "fallback"]] }),
      field({ form: "lf", name: "from", label: t("from"), type: "datetime-local" }),
      field({ form: "lf", name: "to", label: t("to"), type: "datetime-local" }),
      field({ form: "lf", name: "limit", label: t("limit"), type: "number", value: 50, min: 1, max: 100 }),
    ],
    submit: t("apply"),
    onSubmit: async (v) => {
      query = { provider: v.provider, outcome: v.outcome, from: rfc3339(v.from), to: rfc3339(v.to), limit: v.limit };
      cursors = [];
      await load();
    },
  });
  run(() => load());
  return h("section", { class: "card" }, h("h1", {}, t("nav_logs")), filters, results);
}
