// Every call the console makes goes through here: the admin API on this origin, with the
// bearer token the operator pasted. The token lives in sessionStorage only (gone when the tab
// closes; never in a URL, a cookie or localStorage).

const TOKEN_KEY = "hub.admin.token";

export const session = {
  token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** A failed call: the API's problem+json (RFC 9457) when it sent one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "";
    this.title = problem.title || "";
    /** [{field, message}] for the fields the API names. */
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

let onUnauthorized = () => {};

/** Called when the API answers 401 (expired or wrong token): the app goes back to sign-in. */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/**
 * `api("GET", "/api/integrations/providers", {query, body, token})` -> parsed JSON (or null
 * for 204). Throws ApiError for any non-2xx answer.
 */
export async function api(method, path, opts = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  const headers = { Accept: "application/json, application/problem+json" };
  const token = opts.token ?? session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, credentials: "omit", cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, { title: "network", detail: String(e && e.message ? e.message : e), code: "network" });
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data && typeof data === "object" ? data : { detail: text.slice(0, 300) });
    if (res.status === 401 && opts.token === undefined) onUnauthorized(err);
    throw err;
  }
  return data;
}

/** A path segment, escaped. */
export function seg(v) {
  return encodeURIComponent(v);
}
