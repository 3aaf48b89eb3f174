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
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

// With multi-tenancy on, the page names its tenant in the URL (?orgID=...).
function requestHeaders() {
  const headers = { Accept: "application/json" };
  const org = new URLSearchParams(location.search).get("orgID");
  if (org) headers["X-Scope-OrgID"] = org;
  return headers;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// GETs are idempotent: one retry after a server error or a dropped
// connection hides a transient failure; a second failure is shown.
export async function getJSON(path, params, signal) {
  try {
    return await getJSONOnce(path, params, signal);
  } catch (err) {
    if (err.name === "AbortError" || !(err instanceof ApiError) || (err.status !== 0 && err.status < 500)) throw err;
    await sleep(250);
    return getJSONOnce(path, params, signal);
  }
}

async function getJSONOnce(path, params, signal) {
  let response;
  try {
    response = await fetch(urlFor(path, params), { signal, headers: requestHeaders() });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(
      "Cannot reach the Flamecam server.",
      0,
      "Check that `flamecam server` is still running, then reload the page.",
    );
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
    else if (response.status === 401 || response.status === 403) {
      hint = "This server wants a tenant or a token: add ?orgID=TENANT to the page's address when multi-tenancy is on.";
    }
    else if (response.status === 404) hint = "This server does not offer that endpoint: is it an older Flamecam?";
    else if (response.status >= 500) hint = "The server failed: its log says why.";
    throw new ApiError(reason, response.status, hint);
  }
  if (body === null) throw new ApiError("The server answered with something that is not JSON.", response.status);
  return body;
}

const range = (from, until) => ({ from, until });

export const api = {
  labels: (from, until, signal) => getJSON("api/v1/labels", range(from, until), signal),
  labelValues: (name, from, until, query, signal) =>
    getJSON(`api/v1/labels/${encodeURIComponent(name)}/values`, { ...range(from, until), query }, signal),
  series: (query, from, until, signal) => getJSON("api/v1/series", { query, ...range(from, until) }, signal),
  render: (query, from, until, extra, signal) =>
    getJSON("api/v1/render", { query, ...range(from, until), ...(extra || {}) }, signal),
  renderDiff: (params, signal) => getJSON("api/v1/render-diff", params, signal),
  top: (query, from, until, limit, extra, signal) =>
    getJSON("api/v1/top", { query, ...range(from, until), limit, ...(extra || {}) }, signal),
  timeline: (query, from, until, step, signal) =>
    getJSON("api/v1/timeline", { query, ...range(from, until), step }, signal),
  threads: (query, from, until, signal) => getJSON("api/v1/threads", { query, ...range(from, until) }, signal),
  threadTimeline: (query, from, until, tid, signal) =>
    getJSON("api/v1/thread-timeline", { query, ...range(from, until), tid }, signal),
};
