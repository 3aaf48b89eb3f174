// The HTTP query API of docs/CONTRACTS.md, and nothing else.

export class ApiError extends Error {
  constructor(message, status, hint) {
    super(message);
    this.status = status;
    this.hint = hint || "";
  }
}

function urlFor(path, params) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(params || {})) {
    // a list is the parameter repeated (export's focus and hide)
    if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, v);
    else if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

// A server started with --auth-token wants `Authorization: Bearer TOKEN`. The
// token comes from the page's fragment (#token=...: fragments never reach the
// server or its logs, and it is removed from the address bar at once) or from
// a prompt on the first 401; it is kept for this tab only.
const TOKEN_KEY = "flamecam.token";

function tokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  fragment.delete("token");
  const rest = fragment.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}
tokenFromFragment();

let tokenPrompt = null;

// One prompt however many requests were refused at once.
function askForToken() {
  if (!tokenPrompt) {
    tokenPrompt = Promise.resolve().then(() => {
      const token = (window.prompt("This Flamecam server needs a token (flamecam server --auth-token). Token:") || "").trim();
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      return Boolean(token);
    }).finally(() => {
      setTimeout(() => { tokenPrompt = null; }, 0);
    });
  }
  return tokenPrompt;
}

// With multi-tenancy on, the page names its tenant in the URL (?orgID=...).
function requestHeaders() {
  const headers = { Accept: "application/json" };
  const org = new URLSearchParams(location.search).get("orgID");
  if (org) headers["X-Scope-OrgID"] = org;
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// GETs are idempotent: one retry after a server error or a dropped
// connection hides a transient failure; a second failure is shown.
// `decode(ArrayBuffer)`: a successful answer that is not JSON (errors still are).
export async function getJSON(path, params, signal, decode = null) {
  try {
    return await getJSONOnce(path, params, signal, decode);
  } catch (err) {
    // A request sent before the token changed is simply retried with the new one.
    if (err instanceof ApiError && err.needsToken && (err.tokenChanged || (await askForToken()))) {
      return getJSONOnce(path, params, signal, decode);
    }
    if (err.name === "AbortError" || !(err instanceof ApiError) || (err.status !== 0 && err.status < 500)) throw err;
    await sleep(250);
    return getJSONOnce(path, params, signal, decode);
  }
}

// A thread-events answer asked with format=columns (profiler/query/packed.py):
// a u32 header length, the JSON header naming the columns, then each column's
// little-endian array, 8-byte aligned, read in place as a typed array.
const TYPED = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i32: Int32Array, f64: Float64Array };

export function decodeColumns(buffer) {
  const n = new DataView(buffer).getUint32(0, true);
  const answer = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, n)));
  let at = (4 + n + 7) & ~7;
  const events = {};
  for (const [name, type, length] of answer.columns) {
    const Typed = TYPED[type];
    events[name] = new Typed(buffer, at, length);
    at += (length * Typed.BYTES_PER_ELEMENT + 7) & ~7;
  }
  delete answer.columns;
  answer.events = events;
  return answer;
}

async function getJSONOnce(path, params, signal, decode = null) {
  const sent = requestHeaders();
  let response;
  try {
    response = await fetch(urlFor(path, params), { signal, headers: sent });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(
      "Cannot reach the Flamecam server.",
      0,
      "Check that `flamecam server` is still running, then reload the page.",
    );
  }
  if (response.ok && decode) {
    try {
      return decode(await response.arrayBuffer());
    } catch {
      throw new ApiError("The server's answer could not be read.", response.status);
    }
  }
  let body = null;
  const text = await response.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const reason = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    let hint = "";
    if (response.status === 400 || response.status === 422) hint = "Fix the query or the time range and apply again.";
    else if (response.status === 401 && /^bearer/i.test(response.headers.get("WWW-Authenticate") || "")) {
      hint = "This server wants a token: reload and enter it, or open the page as …/#token=TOKEN.";
      const error = new ApiError(reason, response.status, hint);
      error.needsToken = true;
      error.tokenChanged = (sent.Authorization || "") !== (requestHeaders().Authorization || "");
      if (!error.tokenChanged) sessionStorage.removeItem(TOKEN_KEY); // absent or wrong
      throw error;
    }
    else if (response.status === 401 || response.status === 403) {
      hint = "This server wants a tenant: add ?orgID=TENANT to the page's address.";
    }
    else if (response.status === 404) hint = "This server does not offer that endpoint: is it an older Flamecam?";
    else if (response.status >= 500) hint = "The server failed: its log says why.";
    throw new ApiError(reason, response.status, hint);
  }
  if (body === null) throw new ApiError("The server answered with something that is not JSON.", response.status);
  return body;
}

// A file from the API (an export), with the page's token and tenant: a plain
// link could not send them.
export async function download(path, params) {
  const response = await fetch(urlFor(path, params), { headers: { ...requestHeaders(), Accept: "*/*" } });
  if (!response.ok) {
    let reason = `HTTP ${response.status}`;
    try {
      reason = (await response.json()).error || reason;
    } catch {
      /* not JSON */
    }
    throw new ApiError(reason, response.status);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const m = /filename=([^;]+)/.exec(disposition);
  return { blob: await response.blob(), filename: m ? m[1].trim().replace(/"/g, "") : "" };
}

const range = (from, until) => ({ from, until });

export const api = {
  meta: (signal) => getJSON("api/v1/meta", {}, signal),
  labels: (from, until, signal) => getJSON("api/v1/labels", range(from, until), signal),
  profileTypes: (from, until, signal) => getJSON("api/v1/profile-types", range(from, until), signal),
  labelValues: (name, from, until, query, signal) =>
    getJSON(`api/v1/labels/${encodeURIComponent(name)}/values`, { ...range(from, until), query }, signal),
  losses: (query, from, until, signal) => getJSON("api/v1/losses", { query, ...range(from, until) }, signal),
  series: (query, from, until, signal) => getJSON("api/v1/series", { query, ...range(from, until) }, signal),
  render: (query, from, until, extra, signal) =>
    getJSON("api/v1/render", { query, ...range(from, until), ...(extra || {}) }, signal),
  renderDiff: (params, signal) => getJSON("api/v1/render-diff", params, signal),
  top: (query, from, until, limit, extra, signal) =>
    getJSON("api/v1/top", { query, ...range(from, until), limit, ...(extra || {}) }, signal),
  // scope: { pid } or { tid } (a frame menu's "show only")
  timeline: (query, from, until, step, scope, signal) =>
    getJSON("api/v1/timeline", { query, ...range(from, until), step, ...(scope || {}) }, signal),
  // by: "process" or "thread"; scope: { pid } (a frame menu's "show only")
  groups: (query, from, until, by, scope, signal) =>
    getJSON("api/v1/groups", { query, ...range(from, until), by, ...(scope || {}) }, signal),
  // reasons: each thread's off-CPU time split by reason as well
  threads: (query, from, until, signal, reasons = true) =>
    getJSON("api/v1/threads", { query, ...range(from, until), reasons: reasons ? "1" : "" }, signal),
  frameThreads: (query, from, until, frame, signal) =>
    getJSON("api/v1/threads", { query, ...range(from, until), frame }, signal),
  // extra: pid, tids ("1,2"), trace_id, span_id, limit
  threadEvents: (query, from, until, extra, signal) =>
    getJSON("api/v1/thread-events", { query, ...range(from, until), ...(extra || {}) }, signal),
  // every thread's time per bucket and reason (extra: buckets, limit, pid, tid)
  threadDensity: (query, from, until, extra, signal) =>
    getJSON("api/v1/thread-density", { query, ...range(from, until), ...(extra || {}) }, signal),
  // the same answer with its event columns as typed arrays (half the bytes, no parsing)
  threadColumns: (query, from, until, extra, signal) =>
    getJSON("api/v1/thread-events", { query, ...range(from, until), ...(extra || {}), format: "columns" }, signal, decodeColumns),
  // params: query, from, until, and pid, tid, trace_id, span_id as wanted
  waits: (params, signal) => getJSON("api/v1/waits", params, signal),
  trace: (traceId, signal) => getJSON(`api/v1/trace/${encodeURIComponent(traceId)}`, {}, signal),
};

// The trace API (docs/CONTRACTS.md): services with traces, the scatter, lists,
// endpoints and slow-vs-fast comparisons.
export const traceApi = {
  services: (from, until, signal) => getJSON("api/v1/trace-services", range(from, until), signal),
  scatter: (params, signal) => getJSON("api/v1/traces/scatter", params, signal),
  list: (params, signal) => getJSON("api/v1/traces", params, signal),
  endpoints: (params, signal) => getJSON("api/v1/endpoints", params, signal),
  diff: (params, signal) => getJSON("api/v1/traces/diff", params, signal),
};
