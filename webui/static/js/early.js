// What the page fetches before its own code has loaded: `/?trace=ID` starts the
// trace's two requests here, loaded by index.html ahead of app.js with only
// api.js as a dependency, so the answers are on their way while the rest of
// the page's modules are still arriving (traceview.js picks them up).

import { api } from "./api.js";

export function loadTrace(traceId) {
  return Promise.all([api.trace(traceId), api.threadEvents("wall{}", "", "", { trace_id: traceId })]);
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
