// The selection's timeline, one for every tab that shows the selection
// (Flame graph, Sandwich, Threads, Diff): loaded once per selection or
// refresh, hidden when the selection cannot be read rather than drawn empty.

import { api } from "./api.js";
import { earlyRenderSettled } from "./early.js";
import { el } from "./format.js";
import { onlyOf } from "./framemenu.js";
import { resolveTime } from "./query.js";
import { Timeline } from "./timeline.js";

export const TIMELINE_TABS = ["profile", "sandwich", "threads", "diff"];

export class TimelinePanel {
  constructor(host, onSelect) {
    this.host = host;
    this.seq = 0;
    this.title = el("h2", { text: "Timeline" });
    this.box = el("div", { className: "panel timeline-panel", "aria-label": "Timeline" }, [this.title]);
    host.append(this.box);
    this.timeline = new Timeline(this.box, onSelect);
  }

  setVisible(tab) {
    this.host.hidden = !TIMELINE_TABS.includes(tab);
  }

  // Nothing to show (an unreadable query or range): no axis, no stale bars.
  clear() {
    this.seq++;
    this.box.hidden = true;
  }

  // The frame menu's "show only" (`only` in the URL) scopes it as it does the graphs.
  async load(state) {
    const seq = ++this.seq;
    const only = onlyOf(state);
    this.title.textContent = only.tid ? `Timeline of thread ${only.tid}` : only.pid ? `Timeline of process ${only.pid}` : "Timeline";
    const now = Date.now();
    const fromMs = resolveTime(state.from, now);
    const untilMs = resolveTime(state.until, now);
    this.box.hidden = false;
    this.timeline.loading();
    try {
      await earlyRenderSettled; // the graph's own render first
      const data = await api.timeline(state.query, state.from, state.until, undefined, only);
      if (seq === this.seq) this.timeline.setData(data, fromMs, untilMs);
    } catch (err) {
      if (seq === this.seq) this.timeline.failed(err);
    }
  }
}
