// The admin console (/admin/) in headless Chromium against a local hub started by
// scripts/browser-test.sh. Each test builds on the previous one (one signed-in page), so they
// run in order. Screenshots: $SCREENSHOT_DIR (default .local/browser/).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHmac } from "node:crypto";
import { chromium } from "playwright-core";
import { startFakeKavenegar } from "./fake-kavenegar.mjs";

const HUB = process.env.HUB_URL || "http://127.0.0.1:9010";
const TOKEN = process.env.ADMIN_TOKEN;
const FAKE_PORT = Number(process.env.FAKE_KAVENEGAR_PORT || 9011);
const SHOTS = process.env.SCREENSHOT_DIR || path.resolve("../../.local/browser");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Chromium's own outside calls (updates, sync, field trials, QUIC probes) are refused on a
// machine without network; these flags keep it from trying.
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];

const API_KEY = "kv-test-key-5f1e2d";
let sentMessageId;
let endpointSecret;

let context;
let page;
let profile;
let fake;
const consoleErrors = [];
const apiBodies = [];

const byTestId = (id) => page.locator(`[data-testid="${id}"]`);
/** A field of one form (several forms on a page may share a field name). */
const inForm = (form, name) => page.locator(`[data-testid="${form}"] [data-testid="field-${name}"]`);
const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

before(async () => {
  assert.ok(TOKEN, "ADMIN_TOKEN is set (scripts/browser-test.sh mints one)");
  mkdirSync(SHOTS, { recursive: true });
  fake = await startFakeKavenegar(FAKE_PORT);
  profile = mkdtempSync(path.join(tmpdir(), "hub-admin-chromium-"));
  // A persistent context on a fresh directory: Chromium's --user-data-dir, new every run.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    locale: "en-US",
    viewport: { width: 1360, height: 900 },
  });
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(20_000);
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => consoleErrors.push(String(err)));
  page.on("response", async (res) => {
    if (res.status() >= 500) console.error(`[browser] ${res.status()} from ${res.request().method()} ${res.url()}`);
    if (new URL(res.url()).pathname.startsWith("/api/")) {
      try {
        apiBodies.push(await res.text());
      } catch {
        // a body that is gone (redirect, aborted) holds nothing to check
      }
    }
  });
});

after(async () => {
  await context?.close();
  await fake?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/**
 * Opens the console. The local emulator (cargo lambda watch) can fail a request while the
 * machine is overloaded (a function process waiting on cargo's package-cache lock); later
 * navigation stays in the page, so one failed module would sink every test. Up to three
 * loads; what a failed load logged is printed, not counted against the console.
 */
async function openConsole() {
  for (let attempt = 1; ; attempt++) {
    const res = await page.goto(`${HUB}/admin/`);
    try {
      await byTestId("sign-in").waitFor({ timeout: 15_000 });
      return res;
    } catch (err) {
      if (attempt === 3) throw err;
      console.error(`[browser] the console did not start (load ${attempt}): ${consoleErrors.splice(0).join("; ")}`);
    }
  }
}

test("the console page loads with its strict CSP and no errors", async () => {
  const res = await openConsole();
  assert.equal(res.status(), 200);
  const csp = res.headers()["content-security-policy"];
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers()["referrer-policy"], "no-referrer");
  await byTestId("sign-in").waitFor();
  assert.equal(await page.getAttribute("html", "dir"), "ltr");
});

test("a wrong token shows the sign-in error and is not kept", async () => {
  await byTestId("field-token").fill("not-a-valid-token");
  await byTestId("sign-in-submit").click();
  const error = page.locator('[data-testid="sign-in"] [data-testid="form-error"]');
  await error.waitFor();
  assert.match(await error.textContent(), /refused this token/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await shot("01-sign-in-error");
});

test("sign in with an admin token: kept in sessionStorage only", async () => {
  await byTestId("field-token").fill(TOKEN);
  await byTestId("sign-in-submit").click();
  await byTestId("providers").waitFor();
  const stored = await page.evaluate(() => Object.values(sessionStorage));
  assert.deepEqual(stored, [TOKEN]);
  assert.equal(await page.evaluate(() => localStorage.getItem("hub.admin.token")), null);
  assert.equal((await context.cookies()).length, 0, "no cookies");
  assert.ok(!page.url().includes(TOKEN), "the token is not in the URL");
});

test("providers are listed with kind, priority, configuration and health", async () => {
  const rows = page.locator('[data-testid="providers"] tbody tr');
  assert.ok((await rows.count()) >= 4, "the built-in catalog is listed");
  const kavenegar = byTestId("provider-kavenegar");
  await kavenegar.waitFor();
  const text = await kavenegar.textContent();
  assert.match(text, /SMS/);
  assert.match(text, /not configured/);
  assert.match(text, /falls back to the console/);
  await shot("02-providers");
});

test("a problem+json is shown next to the field it names", async () => {
  await page.goto(`${HUB}/admin/#/providers/kavenegar`);
  await byTestId("provider-settings").waitFor();
  await byTestId("field-base_url").fill("ftp://example.invalid");
  await byTestId("provider-settings-submit").click();
  const fieldError = page.locator('[data-testid="provider-settings"] [data-error-for~="base_url"]');
  await fieldError.waitFor();
  assert.match(await fieldError.textContent(), /http/);
  assert.equal(await byTestId("field-base_url").getAttribute("aria-invalid"), "true");
});

test("add a provider: a bad slug is named next to its field, a good one opens its page", async () => {
  await page.goto(`${HUB}/admin/#/providers`);
  await page.locator("details.add > summary").click();
  await inForm("add-provider", "slug").fill("Bad Slug!");
  await inForm("add-provider", "name").fill("OpenAI EU");
  await inForm("add-provider", "kind").selectOption("ai");
  await inForm("add-provider", "protocol").selectOption("openai_compatible");
  await byTestId("add-provider-submit").click();
  const slugError = page.locator('[data-testid="add-provider"] [data-error-for~="slug"]');
  await slugError.waitFor();
  assert.match(await slugError.textContent(), /lowercase/);
  await inForm("add-provider", "slug").fill("openai-eu");
  await inForm("add-provider", "credential_fields").fill("api_key");
  await byTestId("add-provider-submit").click();
  await page.waitForURL(/#\/providers\/openai-eu$/);
  await page.locator('[data-testid="credentials"] [data-testid="field-api_key"]').waitFor();
  assert.match(await byTestId("provider-configuration").textContent(), /not configured/);
});

test("credentials are stored write-only and the provider becomes configured", async () => {
  await page.goto(`${HUB}/admin/#/providers/kavenegar`);
  await byTestId("credentials").waitFor();
  assert.match(await byTestId("provider-configuration").textContent(), /not configured/);
  await byTestId("field-api_key").fill(API_KEY);
  await byTestId("field-sender").fill("10004346");
  assert.equal(await byTestId("field-api_key").getAttribute("type"), "password");
  await byTestId("credentials-submit").click();
  await byTestId("credentials-stored").waitFor();
  assert.equal((await byTestId("provider-configuration").textContent()).trim(), "configured");
  // The value is nowhere: not in the form, the page, or any API answer the page received.
  assert.equal(await byTestId("field-api_key").inputValue(), "");
  await page.reload();
  await byTestId("credentials").waitFor();
  assert.equal((await byTestId("provider-configuration").textContent()).trim(), "configured");
  assert.ok(!(await page.content()).includes(API_KEY), "the key is not on the page");
  assert.ok(!apiBodies.some((b) => b.includes(API_KEY)), "no API answer carries the key");
  await shot("03-credentials");
});

test("a health check calls the provider with the stored key", async () => {
  await byTestId("health-check").click();
  await byTestId("health-result").waitFor();
  assert.match(await byTestId("health-result").textContent(), /Reachable: yes/);
  assert.ok(fake.calls.some((c) => c.method === "account/info" && c.apiKey === API_KEY));
});

test("a statistics chart shows data points after a few SMS sends", async () => {
  await page.goto(`${HUB}/admin/#/messages`);
  for (const receptor of ["09120000001", "09120000002", "09120000003"]) {
    await inForm("test-sms", "receptor").fill(receptor);
    await inForm("test-sms", "message").fill("browser test");
    await byTestId("test-sms-submit").click();
    await page.locator('[data-testid="test-sms"] [data-testid="sms-sent"]').waitFor();
    const sent = await page.locator('[data-testid="test-sms"] [data-testid="sms-sent"]').textContent();
    assert.match(sent, /kavenegar/);
    sentMessageId = /Sent: (\S+)/.exec(sent)[1];
    await page.locator('[data-testid="test-sms"] .form-status').evaluate((el) => el.replaceChildren());
  }
  assert.equal(fake.calls.filter((c) => c.method === "sms/send").length, 3);

  await page.goto(`${HUB}/admin/#/providers/kavenegar`);
  const points = page.locator('[data-testid="chart-calls"] circle.point');
  await points.first().waitFor();
  const values = await points.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-value"))));
  assert.ok(values.reduce((a, b) => a + b, 0) >= 3, `calls per hour add up to the sends: ${values}`);
  assert.ok((await page.locator('[data-testid="chart-p95"] circle.point').count()) >= 1);
  assert.match(await byTestId("stats-total").textContent(), /Calls [1-9]/);
  await byTestId("chart-calls").scrollIntoViewIfNeeded();
  await shot("04-statistics");
});

test("SMS lookup, then a status refresh from the provider", async () => {
  await page.goto(`${HUB}/admin/#/messages`);
  await inForm("sms-lookup", "message_id").fill(sentMessageId);
  await byTestId("sms-lookup-submit").click();
  const record = byTestId("sms-record");
  await record.waitFor();
  assert.match(await record.textContent(), /kavenegar/);
  assert.doesNotMatch(await record.textContent(), /delivered/);
  await byTestId("sms-refresh").click();
  await page.locator('[data-testid="sms-record"]', { hasText: "delivered" }).waitFor();
  assert.ok(fake.calls.some((c) => c.method === "sms/status"));
});

test("AI job lookup shows the API's problem; a test notification is accepted", async () => {
  await inForm("ai-lookup", "job_id").fill("no-such-job");
  await byTestId("ai-lookup-submit").click();
  // The API names the path parameter `id`: its message lands next to the job id input.
  const aiError = page.locator('[data-testid="ai-lookup"] [data-error-for~="id"]');
  await aiError.waitFor();
  assert.match(await aiError.textContent(), /job id/);
  await page.locator('[data-testid="ai-lookup"] [data-testid="form-error"]').waitFor();

  await inForm("test-notification", "user_id").fill("patient-42");
  await inForm("test-notification", "title").fill("Console test");
  await inForm("test-notification", "message").fill("Hello from the admin console");
  await inForm("test-notification", "channels").fill("in_app");
  await byTestId("test-notification-submit").click();
  const accepted = page.locator('[data-testid="test-notification"] [data-testid="notification-accepted"]');
  await accepted.waitFor();
  assert.match(await accepted.textContent(), /Accepted: \S+/);
  await shot("05-messages");
});

test("integration logs, filtered by provider and outcome", async () => {
  await page.goto(`${HUB}/admin/#/logs`);
  await byTestId("log-filters").waitFor();
  await inForm("log-filters", "provider").selectOption("kavenegar");
  await inForm("log-filters", "outcome").selectOption("success");
  await byTestId("log-filters-submit").click();
  await page.locator('[data-testid="logs"] tbody tr.outcome-success').first().waitFor();
  const rows = await page.locator('[data-testid="logs"] tbody tr').allTextContents();
  assert.ok(rows.length >= 4, `3 sends, a health check and a status refresh: ${rows.length}`);
  assert.ok(rows.every((r) => r.includes("kavenegar") && r.includes("success")));
  assert.ok(rows.some((r) => r.includes("sms/send")));
  await shot("05-logs-filtered");
});

test("register a webhook endpoint: the secret is shown once, then rotated", async () => {
  await page.goto(`${HUB}/admin/#/webhooks`);
  await byTestId("register-endpoint").waitFor();
  await byTestId("field-provider_slug").selectOption("kavenegar");
  await byTestId("field-name").fill("Browser hooks");
  await byTestId("field-endpoint_url").fill("browser-hooks");
  await byTestId("field-scheme").selectOption("standard_webhooks");
  await byTestId("register-endpoint-submit").click();
  const once = byTestId("secret-value");
  await once.waitFor();
  const secret = (await once.textContent()).trim();
  assert.ok(secret.length >= 16, `a secret is shown: ${secret.length} chars`);
  await byTestId("endpoint-browser-hooks").waitFor();
  await shot("06-webhook-secret-once");

  await page.goto(`${HUB}/admin/#/webhooks/browser-hooks`);
  await byTestId("rotate").waitFor();
  assert.ok(!(await page.content()).includes(secret), "the secret is not shown again");
  await byTestId("events-empty").waitFor();
  await byTestId("rotate-submit").click();
  await byTestId("rotated").waitFor();
  const rotated = (await byTestId("secret-value").textContent()).trim();
  assert.ok(rotated.length >= 16 && rotated !== secret, "a new secret, shown once");
  assert.match(await byTestId("rotated").textContent(), /keeps working until/);
  endpointSecret = rotated;
});

test("a received event is listed, shown in detail and replayed", async () => {
  // Sent as a provider would, signed with the rotated secret (standardwebhooks.com).
  const body = JSON.stringify({ type: "delivery.report", data: { id: "browser-1" } });
  const id = "msg_browser_1";
  const ts = Math.floor(Date.now() / 1000);
  const key = Buffer.from(endpointSecret.replace(/^whsec_/, ""), "base64");
  const sig = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
  const res = await fetch(`${HUB}/api/integrations/webhook/browser-hooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${sig}` },
    body,
  });
  assert.ok([200, 202].includes(res.status), `${res.status} ${await res.text()}`);

  // The page is already at this address (a same-URL goto does not re-render): reload it.
  await page.reload();
  const row = page.locator('[data-testid="events"] tbody tr').first();
  await row.waitFor();
  assert.match(await row.textContent(), /delivery\.report/);
  await row.locator("a").click();
  await byTestId("event-detail").waitFor();
  assert.equal(await byTestId("event-body").textContent(), body);
  await page.locator('[data-testid="event-detail"] button[data-testid^="replay-"]').click();
  await byTestId("replayed").waitFor();
  assert.match(await byTestId("replayed").textContent(), /Re-queued 1 event/);
  await shot("07-webhook-event");
});

test("create, edit and delete a rate-limit rule; built-ins are marked", async () => {
  await page.goto(`${HUB}/admin/#/rate-limits`);
  await byTestId("rules").waitFor();
  const builtin = page.locator('[data-testid="rules"] tr.builtin');
  assert.ok((await builtin.count()) >= 1);
  assert.match(await builtin.first().textContent(), /built-in default/);

  await byTestId("field-id").fill("browser-rule");
  await byTestId("field-scope").selectOption("user");
  await byTestId("field-target").fill("sms");
  await byTestId("field-limit").fill("5");
  await byTestId("field-window_seconds").fill("60");
  await byTestId("rule-form-submit").click();
  const row = byTestId("rule-browser-rule");
  await row.waitFor();
  assert.match(await row.textContent(), /custom/);

  await byTestId("edit-browser-rule").click();
  await page.locator('[data-testid="rule-form"] [data-testid="field-id"]').waitFor({ state: "detached" });
  await byTestId("field-limit").fill("7");
  await byTestId("rule-form-submit").click();
  // The row is drawn again from the API's list once the edit is saved.
  await row.locator("td.num", { hasText: /^7$/ }).waitFor();
  await shot("08-rate-limits");

  page.once("dialog", (d) => d.accept());
  await byTestId("delete-browser-rule").click();
  await byTestId("rule-deleted").waitFor();
  await row.waitFor({ state: "detached" });
});

test("switch to Persian: right to left, Persian digits and calendar", async () => {
  await page.goto(`${HUB}/admin/#/providers`);
  await byTestId("providers").waitFor();
  await byTestId("lang").selectOption("fa");
  await page.waitForFunction(() => document.documentElement.dir === "rtl");
  assert.equal(await page.getAttribute("html", "lang"), "fa");
  await page.locator('[data-testid="providers"]').waitFor();
  assert.equal((await byTestId("nav-providers").textContent()).trim(), "سرویس‌دهنده‌ها");
  const priorities = await page.locator('[data-testid="providers"] td.num').allTextContents();
  assert.ok(priorities.some((p) => /[۰-۹]/.test(p)), `Persian digits: ${priorities}`);
  const health = await page.locator('[data-testid="provider-kavenegar"] [data-testid="last-health"]').textContent();
  assert.match(health, /۱۴[۰-۹]{2}/, `a Persian (Solar Hijri) year: ${health}`);
  await shot("09-persian-rtl");
  await page.goto(`${HUB}/admin/#/providers/kavenegar`);
  await byTestId("chart-calls").waitFor();
  await shot("10-persian-statistics");
});

test("sign out clears the token", async () => {
  await byTestId("sign-out").click();
  await byTestId("sign-in").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  // Back to English for whoever opens the console next in this profile.
  await byTestId("lang").selectOption("en");
});

test("no script errors or CSP violations on any page", () => {
  // The browser itself logs the 4xx answers the tests provoke on purpose (the wrong token's
  // 401, the bad base URL's 400); anything else (a CSP refusal, an exception) is a bug.
  const unexpected = consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of 4(00|01) /.test(e));
  assert.deepEqual(unexpected, []);
});
