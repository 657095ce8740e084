// Rate-limit rules: the effective list with the built-in defaults marked, create, edit and
// delete (on a built-in, deleting an override restores the default).

import { h, fill } from "./dom.js";
import { api, seg } from "./api.js";
import { t, num, when } from "./i18n.js";
import { field, form, notice, present } from "./forms.js";

const BASE = "/api/integrations/rate-limits";
const SCOPES = ["user", "receptor", "ip", "service"];

export async function render() {
  const tableSlot = h("div", {});
  const editorSlot = h("section", { class: "card" });
  const out = h("div", { "aria-live": "polite" });

  async function reload() {
    const { items } = await api("GET", BASE);
    fill(
      tableSlot,
      h(
        "table",
        { testid: "rules" },
        h("thead", {}, h("tr", {}, ["id", t("scope"), t("target"), t("limit"), t("window_seconds"), t("enabled"), t("description"), "", ""].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          items.map((r) =>
            h(
              "tr",
              { testid: `rule-${r.id}`, class: r.builtin ? "builtin" : null },
              h("td", { class: "mono" }, r.id, h("div", {}, h("span", { class: ["badge", r.builtin ? "muted" : "info"], testid: "rule-origin" }, t(r.builtin ? "builtin" : "custom")))),
              h("td", {}, r.scope),
              h("td", { class: "mono" }, String(r.target)),
              h("td", { class: "num" }, num(r.limit)),
              h("td", { class: "num" }, num(r.window_seconds)),
              h("td", {}, h("span", { class: ["badge", r.enabled ? "ok" : "muted"] }, t(r.enabled ? "enabled" : "disabled"))),
              h("td", { class: "small" }, r.description || "", r.updated_at ? h("div", { class: "muted" }, when(r.updated_at)) : null),
              h("td", {}, h("button", { type: "button", class: "small", testid: `edit-${r.id}`, onclick: () => editor(r) }, t("edit"))),
              h("td", {}, !r.builtin || r.updated_at ? h("button", { type: "button", class: "small danger", testid: `delete-${r.id}`, onclick: () => remove(r) }, t(r.builtin ? "restore_default" : "delete")) : null),
            ),
          ),
        ),
      ),
    );
  }

  async function remove(r) {
    if (!window.confirm(t("confirm_delete", { what: r.id }))) return;
    try {
      await api("DELETE", `${BASE}/${seg(r.id)}`);
      fill(out, notice(t("deleted"), "ok", "rule-deleted"));
      await reload();
    } catch (err) {
      fill(out, notice(err.message, "error"));
    }
  }

  function editor(rule) {
    const editing = Boolean(rule);
    const r = rule || { scope: "user", target: "", limit: 10, window_seconds: 3600, enabled: true, description: "" };
    const fields = [
      editing ? null : field({ form: "rl", name: "id", label: t("id_optional"), placeholder: "sms-clinic-a" }),
      field({ form: "rl", name: "scope", label: t("scope"), type: "select", value: r.scope, options: SCOPES.map((s) => [s, s]) }),
      field({ form: "rl", name: "target", label: t("target"), value: String(r.target), placeholder: "sms, sms_otp, email, upload, websocket, ai, /api/..." }),
      field({ form: "rl", name: "limit", label: t("limit"), type: "number", value: r.limit, min: 1 }),
      field({ form: "rl", name: "window_seconds", label: t("window_seconds"), type: "number", value: r.window_seconds, min: 1 }),
      field({ form: "rl", name: "enabled", label: t("enabled"), type: "checkbox", value: r.enabled }),
      field({ form: "rl", name: "description", label: t("description"), value: r.description || "" }),
    ].filter(Boolean);
    const f = form({
      testid: "rule-form",
      fields,
      submit: editing ? t("save") : t("create"),
      extra: editing ? h("button", { type: "button", onclick: () => editor(null) }, t("cancel")) : null,
      onSubmit: async (v) => {
        const body = { scope: v.scope, target: v.target, limit: v.limit, window_seconds: v.window_seconds, enabled: v.enabled, description: v.description };
        if (editing) {
          await api("PATCH", `${BASE}/${seg(r.id)}`, { body });
        } else {
          await api("POST", BASE, { body: present({ id: v.id, ...body }) });
        }
        await reload();
        editor(null);
        fill(out, notice(t("saved"), "ok", "rule-saved"));
        return null;
      },
    });
    fill(editorSlot, h("h2", {}, editing ? t("edit_rule", { id: r.id }) : t("new_rule")), f);
    if (editing) editorSlot.scrollIntoView({ block: "nearest" });
  }

  await reload();
  editor(null);
  return h("div", {}, h("section", { class: "card" }, h("h1", {}, t("nav_rate_limits")), out, tableSlot), editorSlot);
}
