// The refresh button and auto-refresh (off, 10 s, 30 s, 1 m), as in Grafana.
//
// A refresh reloads everything shown: a relative range (`now-5m`) is resolved
// again by the server on every request, so each refresh shows the newest data.
// The interval lives in the URL (`refresh=30s`), so a shared link keeps it.

import { el } from "./format.js";

export const INTERVALS = [
  ["", "Off"],
  ["10s", "10 s"],
  ["30s", "30 s"],
  ["1m", "1 m"],
];
const PERIOD_MS = { "10s": 10e3, "30s": 30e3, "1m": 60e3 };

export class AutoRefresh {
  // onRefresh(auto): reload what is shown; onInterval(value): store it in the URL.
  constructor(host, { onRefresh, onInterval }) {
    this.onRefresh = onRefresh;
    this.onInterval = onInterval;
    this.timer = null;
    this.value = "";
    this.button = el("button", {
      type: "button",
      id: "refresh-now",
      className: "btn refresh-btn",
      text: "↻ Refresh",
      title: "Reload the data shown (a relative range such as now-5m moves to now)",
      onclick: () => this.onRefresh(false),
    });
    this.select = el(
      "select",
      { id: "refresh-every", onchange: (e) => this.onInterval(e.target.value) },
      INTERVALS.map(([v, t]) => el("option", { value: v, text: t })),
    );
    host.append(this.button, el("label", { for: "refresh-every", className: "refresh-every" }, ["Auto-refresh", this.select]));
    document.addEventListener("visibilitychange", () => this.arm());
  }

  // The interval from the URL ("" or unknown: off).
  set(value) {
    const next = PERIOD_MS[value] ? value : "";
    if (next === this.value && this.select.value === next) return;
    this.value = next;
    this.select.value = next;
    this.arm();
  }

  // One timer, stopped while the page is hidden (no requests nobody sees).
  arm() {
    clearInterval(this.timer);
    this.timer = null;
    const period = PERIOD_MS[this.value];
    if (period && !document.hidden) this.timer = setInterval(() => this.onRefresh(true), period);
  }
}
