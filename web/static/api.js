// The one way the page talks to the daemon: same-origin fetch with the session cookie,
// JSON in and out, and every failure turned into an ApiError carrying the API's own
// `detail` text (it says what to fix), so no caller can fail silently.

export class ApiError extends Error {
  constructor(status, detail, problems = []) {
    super(detail);
    this.status = status; // 0: no answer at all (Wi-Fi, daemon down)
    this.detail = detail;
    this.problems = problems;
  }

  get busy() {
    return this.status === 409;
  }
}

let unauthorized = () => {};

// Called on any 401 (the session ended, or the daemon restarted and forgot it).
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export async function api(path, { method = "GET", body, headers = {}, as = "auto", signal } = {}) {
  const init = { method, credentials: "same-origin", headers: { ...headers }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "no answer from the rig — check the Wi-Fi and that macrorig is running");
  }
  if (!res.ok) {
    const { detail, problems } = await readError(res);
    // A failed login is a 401 too, but it must stay on the login form with its message.
    if (res.status === 401 && path !== "/api/login") unauthorized(detail);
    throw new ApiError(res.status, detail, problems);
  }
  if (res.status === 204) return null;
  if (as === "blob") return res.blob();
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res.text();
}

async function readError(res) {
  let text = "";
  try {
    text = await res.text();
    const json = JSON.parse(text);
    const detail = typeof json.detail === "string" ? json.detail : JSON.stringify(json.detail);
    return { detail: detail || `HTTP ${res.status}`, problems: json.problems || [] };
  } catch {
    // Not JSON (a proxy, or a plain-text 503 "no preview yet"): show what there is.
    return { detail: text.trim().slice(0, 300) || `HTTP ${res.status} ${res.statusText}`, problems: [] };
  }
}

// An Idempotency-Key: crypto.randomUUID() exists only in secure contexts, and the rig is
// reached over plain http://pi.local, so build one from getRandomValues (available).
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
