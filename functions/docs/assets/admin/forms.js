// Forms whose errors land where the operator is looking: a problem+json from the API is
// shown next to each field its `errors[].field` names, and as one readable line at the top
// of the form for the rest (the `detail`, and fields this form does not have).

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { ApiError } from "./api.js";

/**
 * One labelled input. spec: {name, label, type ("text", "number", "password", "checkbox",
 * "select", "datetime-local", "textarea"), value, options: [[value, label]], required,
 * placeholder, apiFields: other names the API uses for this field (e.g. "verification.x")}.
 */
export function field(spec) {
  const type = spec.type || "text";
  const common = {
    name: spec.name,
    id: `f-${spec.form || "x"}-${spec.name}`,
    testid: `field-${spec.name}`,
    required: spec.required ? true : null,
    placeholder: spec.placeholder,
    autocomplete: spec.autocomplete || "off",
  };
  let input;
  if (type === "select") {
    input = h("select", common, (spec.options || []).map(([v, label]) => h("option", { value: v, selected: String(spec.value ?? "") === String(v) }, label)));
  } else if (type === "textarea") {
    input = h("textarea", { ...common, rows: spec.rows || 3 }, spec.value ?? "");
  } else if (type === "checkbox") {
    input = h("input", { ...common, type, checked: Boolean(spec.value) });
  } else {
    input = h("input", { ...common, type, value: spec.value ?? "", min: spec.min, max: spec.max, step: spec.step, spellcheck: "false" });
  }
  const names = [spec.name, ...(spec.apiFields || [])].join(" ");
  const error = h("span", { class: "field-error", "data-error-for": names, role: "alert", hidden: true });
  return h("div", { class: ["field", type === "checkbox" && "check"] }, h("label", { for: common.id }, spec.label), input, error);
}

/** The form's values by input name: booleans for checkboxes, numbers (or undefined) for numbers. */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "number") out[el.name] = el.value === "" ? undefined : Number(el.value);
    else out[el.name] = el.value.trim();
  }
  return out;
}

/** Only the non-empty entries (optional fields left blank are not sent). */
export function present(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== ""));
}

/** A status line: `kind` is "ok", "error" or "info". */
export function notice(text, kind = "info", testid) {
  return h("p", { class: ["notice", kind], role: kind === "error" ? "alert" : "status", testid }, text);
}

/** Clears a form's field errors and status line. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const status = form.querySelector(":scope > .form-status");
  if (status) status.replaceChildren();
}

/** Shows an error in a form: per field where the problem names one, the rest on top. */
export function showError(form, err) {
  const status = form.querySelector(":scope > .form-status");
  const lines = [];
  if (err instanceof ApiError) {
    for (const fe of err.errors) {
      const slot = [...form.querySelectorAll(".field-error")].find((el) => el.dataset.errorFor.split(" ").includes(fe.field));
      if (slot) {
        slot.textContent = fe.message;
        slot.hidden = false;
        const input = slot.parentElement.querySelector("input, select, textarea");
        if (input) input.setAttribute("aria-invalid", "true");
      } else {
        const line = t("field_error", { field: fe.field, message: fe.message });
        if (line !== err.message) lines.push(line);
      }
    }
    lines.unshift(err.message);
  } else {
    lines.unshift(String(err && err.message ? err.message : err));
  }
  if (status) status.replaceChildren(notice(lines.join(" · "), "error", "form-error"));
}

/**
 * A form: `fields` (elements from field()), a submit label, and `onSubmit(values, form)`
 * returning a promise. What it resolves to (an element or a string) is shown on top; a
 * rejection is shown with showError.
 */
export function form({ testid, fields, submit, onSubmit, extra, cls }) {
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const button = h("button", { type: "submit", testid: testid ? `${testid}-submit` : null }, submit);
  const el = h("form", { class: ["form", cls], testid, novalidate: true }, status, fields, extra, h("div", { class: "actions" }, button));
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(el);
    button.disabled = true;
    try {
      const result = await onSubmit(values(el), el);
      if (result instanceof Node) status.replaceChildren(result);
      else if (typeof result === "string") status.replaceChildren(notice(result, "ok", "form-ok"));
    } catch (err) {
      showError(el, err);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

/** Comma-separated text -> list of trimmed non-empty strings. */
export function list(text) {
  return String(text || "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A datetime-local value (browser's time zone) -> RFC 3339 UTC, or undefined. */
export function rfc3339(local) {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
