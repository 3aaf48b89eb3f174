// What the page fetches before its own code has loaded: `/?trace=ID` starts the
// trace's two requests here, loaded by index.html ahead of app.js with only
// api.js as a dependency, so the answers are on their way while the rest of
// the page's modules are still arriving (traceview.js picks them up). An
// address naming the profile view with its selection starts that view's
// /render here (App.render picks it up): a whole host's hour takes the server
// longer than the page takes to load.

import { api } from "./api.js";

export function loadTrace(traceId) {
  return Promise.all([api.trace(traceId), api.threadColumns("wall{}", "", "", { trace_id: traceId })]);
}

const opened = new URLSearchParams(location.search).get("trace");
let early = opened ? { traceId: opened, answer: loadTrace(opened) } : null;
if (early) early.answer.catch(() => {}); // handled when the view asks for it

// The early answers for `traceId` (once), else a fresh load.
export function traceAnswers(traceId) {
  const pending = early && early.traceId === traceId ? early.answer : loadTrace(traceId);
  early = null;
  return pending;
}

// The server's vocabulary, which app.js awaits before it builds the page: asked
// here, it is not one more round trip after the page's modules have loaded.
export const metaAnswer = api.meta();
metaAnswer.catch(() => {}); // handled by app.js

// Bounds the flame graph the server sends; smaller frames merge into "other".
// A whole host's hour has ~665,000 nodes, of which ~3,700 are 1 px wide or
// more in a 1240 px graph: 8192 keeps every one of them (nothing kept is
// narrower than 0.6 px there), where 20,000 cost the server, the wire and the
// page over twice as much for slivers.
export const MAX_NODES = 8192;

// Only an address that names every part of the request (no defaults to
// guess, nothing that scopes the render: `only`, a wait target, off-wake).
const params = new URLSearchParams(location.search);
const selection = ["query", "from", "until"].map((k) => params.get(k));
const plain = !opened && params.get("tab") === "profile" && selection.every(Boolean) &&
  /^[\w:.-]*\{[^{}]*\}$/.test(selection[0]) &&
  !["only", "waitTarget", "waitSyscall", "offwake"].some((k) => params.has(k));
let earlyRender = plain
  ? { selection, answer: api.render(...selection, { maxNodes: MAX_NODES }) } : null;
if (earlyRender) earlyRender.answer.catch(() => {}); // handled when the view asks for it

// Settles once the early /render has answered (or failed); at once without one.
// The requests the page can do without until its graph is there (the query
// bar's choices, the timeline, the check for data) wait for it: on one
// server process they would otherwise share its CPU with the render.
export const earlyRenderSettled = earlyRender
  ? earlyRender.answer.then(() => {}, () => {}) : Promise.resolve();

// The early /render of this selection with no other parameter (once), else null.
export function renderAnswer(query, from, until) {
  const pending = earlyRender;
  earlyRender = null;
  const same = pending && [query, from, until].every((v, i) => v === pending.selection[i]);
  return same ? pending.answer : null;
}
