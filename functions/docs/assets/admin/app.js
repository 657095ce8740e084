// The admin console: sign-in, the navigation and a hash router (#/providers/kavenegar) over
// the page modules. The hash never reaches the server and never carries the token.

import { h, fill } from "./dom.js";
import { api, session, whenUnauthorized, ApiError } from "./api.js";
import { t, setLanguage, applyLanguage, language } from "./i18n.js";
import { field, form, notice } from "./forms.js";
import * as providers from "./page-providers.js";
import * as logs from "./page-logs.js";
import * as webhooks from "./page-webhooks.js";
import * as rateLimits from "./page-rate-limits.js";
import * as messages from "./page-messages.js";

const PAGES = [
  ["providers", "nav_providers", providers.render],
  ["logs", "nav_logs", logs.render],
  ["webhooks", "nav_webhooks", webhooks.render],
  ["rate-limits", "nav_rate_limits", rateLimits.render],
  ["messages", "nav_messages", messages.render],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");
const langSelect = document.getElementById("lang");

/** ["webhooks", "sms-status", "events", "ev_1"] for #/webhooks/sms-status/events/ev_1. */
function route() {
  return location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
}

function chrome() {
  applyLanguage();
  langSelect.value = language();
  document.getElementById("lang-label").textContent = t("language");
  signOutButton.textContent = t("sign_out");
  const signedIn = Boolean(session.token());
  nav.hidden = !signedIn;
  signOutButton.hidden = !signedIn;
  const current = route()[0] || "providers";
  fill(
    nav,
    PAGES.map(([id, label]) => h("a", { href: `#/${id}`, testid: `nav-${id}`, class: id === current ? "active" : null, "aria-current": id === current ? "page" : null }, t(label))),
  );
}

let renderSeq = 0;

async function render() {
  chrome();
  if (!session.token()) {
    renderSignIn();
    return;
  }
  const [page = "providers", ...rest] = route();
  const entry = PAGES.find(([id]) => id === page) || PAGES[0];
  const seq = ++renderSeq;
  fill(main, h("p", { class: "loading" }, t("loading")));
  try {
    const view = await entry[2](rest);
    if (seq === renderSeq) fill(main, view);
  } catch (err) {
    if (seq !== renderSeq || (err instanceof ApiError && err.status === 401)) return;
    fill(main, notice(err.message, "error", "page-error"));
  }
}

function renderSignIn(message) {
  const signIn = form({
    testid: "sign-in",
    cls: "sign-in",
    fields: [field({ name: "token", label: t("token"), type: "password", form: "sign-in", required: true })],
    submit: t("sign_in"),
    onSubmit: async ({ token }) => {
      const bare = token.replace(/^Bearer\s+/i, "").trim();
      if (!bare) throw new Error(t("token_required"));
      try {
        // Any admin-only read tells a valid admin token from the rest.
        await api("GET", "/api/integrations/logs", { query: { limit: 1 }, token: bare });
      } catch (err) {
        if (err instanceof ApiError && err.status === 403) throw new Error(t("not_admin", { detail: err.message }));
        if (err instanceof ApiError && err.status === 401) throw new Error(t("bad_token", { detail: err.message }));
        throw err;
      }
      session.signIn(bare);
      if (!route()[0]) history.replaceState(null, "", "#/providers");
      render();
      return null;
    },
  });
  fill(main, h("section", { class: "card narrow" }, h("h1", {}, t("sign_in_title")), h("p", { class: "help" }, t("sign_in_help")), message, signIn));
}

whenUnauthorized((err) => {
  session.signOut();
  chrome();
  renderSignIn(notice(t("bad_token", { detail: err.message }), "error", "session-error"));
});

signOutButton.addEventListener("click", () => {
  session.signOut();
  chrome();
  renderSignIn(notice(t("signed_out"), "ok", "signed-out"));
});

langSelect.addEventListener("change", () => {
  setLanguage(langSelect.value);
  render();
});

window.addEventListener("hashchange", render);
render();
