// Empty states and errors that tell the user what to do next.

import { el } from "./format.js";

export function agentCommand() {
  return `flamecam agent --server ${location.origin}`;
}

export function noData(what = "this selection") {
  return el("div", { className: "empty", role: "status" }, [
    el("strong", { text: `No data yet for ${what}.` }),
    "Is the agent running? Start it on the host you want to profile with ",
    el("code", { text: agentCommand() }),
    ", then wait ten seconds for its first upload. Otherwise widen the time range or clear a label filter.",
  ]);
}

export function errorBox(err, context = "") {
  const message = err && err.message ? err.message : String(err);
  const hint = err && err.hint ? err.hint : "Check the query and the time range, then apply again.";
  return el("div", { className: "error-box", role: "alert" }, [
    el("strong", { text: (context ? context + ": " : "") + message }),
    el("div", { text: hint }),
  ]);
}

export function loading(what = "Loading") {
  return el("div", { className: "hint", role: "status", text: `${what}…` });
}
