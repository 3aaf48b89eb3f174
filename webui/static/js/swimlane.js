// One thread over time: on-CPU samples and off-CPU intervals (by reason) in
// two lanes; clicking or arrowing to an event shows its stack.

import { reasonColor, reasonLegend } from "./colors.js";
import { el, fmtClock, fmtDuration, swatches } from "./format.js";

const LANE = 26;
const TOP = 4;
const AXIS = 16;
const LABEL_W = 64;

export class SwimLane {
  constructor(host, onPick) {
    this.onPick = onPick;
    this.events = [];
    this.selected = -1;
    this.canvas = el("canvas", {
      tabindex: "0",
      role: "application",
      "aria-roledescription": "thread timeline",
      "aria-label": "Thread timeline: on-CPU samples and off-CPU intervals. Left and right arrows step through events; the stack of the chosen event is shown below.",
    });
    this.root = el("div", { className: "swimlane" }, [this.canvas]);
    this.legend = el("div", { className: "legend", "aria-label": "Timeline colours" });
    host.append(this.root, this.legend);
    this.canvas.addEventListener("click", (e) => this.onClick(e));
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    new ResizeObserver(() => this.draw()).observe(this.root);
  }

  setData(events) {
    this.events = [...events].sort((a, b) => a.ts_ms - b.ts_ms);
    this.selected = -1;
    let lo = Infinity;
    let hi = -Infinity;
    for (const e of this.events) {
      lo = Math.min(lo, e.ts_ms);
      hi = Math.max(hi, e.ts_ms + e.dur_ns / 1e6);
    }
    if (!isFinite(lo)) {
      lo = 0;
      hi = 1;
    }
    this.drawLegend();
    const pad = Math.max(1, (hi - lo) * 0.01);
    this.lo = lo - pad;
    this.hi = hi + pad;
    this.draw();
  }

  drawLegend() {
    const items = [];
    if (this.events.some((e) => e.kind === "cpu")) items.push(["#e0651f", "on-CPU sample"]);
    const reasons = new Set(this.events.filter((e) => e.kind !== "cpu").map((e) => e.reason || "other"));
    items.push(...reasonLegend(reasons));
    this.legend.replaceChildren(...swatches(items));
  }

  laneOf(event) {
    return event.kind === "cpu" ? 0 : 1;
  }

  geometry() {
    const width = this.root.clientWidth;
    return { width, plotW: Math.max(1, width - LABEL_W), k: Math.max(1, width - LABEL_W) / (this.hi - this.lo) };
  }

  rectOf(event, g) {
    const x = LABEL_W + (event.ts_ms - this.lo) * g.k;
    const w = Math.max(2, (event.dur_ns / 1e6) * g.k);
    const y = TOP + this.laneOf(event) * LANE;
    return [x, y, w, LANE - 6];
  }

  draw() {
    const g = this.geometry();
    if (!g.width) return;
    const height = TOP + 2 * LANE + AXIS;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(g.width * dpr);
    c.height = Math.round(height * dpr);
    c.style.height = height + "px";
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#5c6370";
    ctx.fillText("on-CPU", 4, TOP + LANE / 2 - 3);
    ctx.fillText("off-CPU", 4, TOP + LANE + LANE / 2 - 3);
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(LABEL_W, TOP, g.plotW, LANE - 6);
    ctx.fillRect(LABEL_W, TOP + LANE, g.plotW, LANE - 6);
    this.events.forEach((event, idx) => {
      const [x, y, w, h] = this.rectOf(event, g);
      ctx.fillStyle = event.kind === "cpu" ? "#e0651f" : reasonColor(event.reason);
      ctx.fillRect(x, y, w, h);
      if (idx === this.selected) {
        ctx.strokeStyle = "#1a5fb4";
        ctx.lineWidth = 2;
        ctx.strokeRect(x - 2, y - 2, w + 4, h + 4);
      }
    });
    ctx.fillStyle = "#5c6370";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    const ticks = Math.max(2, Math.floor(g.plotW / 140));
    for (let t = 0; t <= ticks; t++) {
      const ms = this.lo + ((this.hi - this.lo) * t) / ticks;
      const label = fmtClock(ms);
      const x = Math.min(g.width - ctx.measureText(label).width - 2, LABEL_W + ((ms - this.lo) * g.k) - 20);
      ctx.fillText(label, Math.max(LABEL_W, x), TOP + 2 * LANE + 2);
    }
  }

  onClick(event) {
    const rect = this.canvas.getBoundingClientRect();
    const px = event.clientX - rect.left;
    const py = event.clientY - rect.top;
    const lane = Math.floor((py - TOP) / LANE);
    if (lane < 0 || lane > 1) return;
    const g = this.geometry();
    let best = -1;
    let bestDist = 10;
    this.events.forEach((ev, idx) => {
      if (this.laneOf(ev) !== lane) return;
      const [x, , w] = this.rectOf(ev, g);
      const dist = px < x ? x - px : px > x + w ? px - x - w : 0;
      if (dist < bestDist || (dist === 0 && bestDist === 0 && ev.dur_ns < this.events[best].dur_ns)) {
        best = idx;
        bestDist = dist;
      }
    });
    if (best >= 0) this.select(best);
  }

  onKey(event) {
    if (!this.events.length) return;
    let next = this.selected;
    if (event.key === "ArrowRight") next = Math.min(this.events.length - 1, this.selected + 1);
    else if (event.key === "ArrowLeft") next = Math.max(0, this.selected < 0 ? 0 : this.selected - 1);
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = this.events.length - 1;
    else return;
    event.preventDefault();
    this.select(next);
  }

  select(idx) {
    this.selected = idx;
    this.draw();
    this.onPick(this.events[idx]);
  }

  describe(event) {
    const what = event.kind === "cpu" ? "on-CPU sample" : `off-CPU (${event.reason || "other"})`;
    return `${what} at ${fmtClock(event.ts_ms, true)}.${String(Math.floor(event.ts_ms % 1000)).padStart(3, "0")}, ${fmtDuration(event.dur_ns)}`;
  }
}
