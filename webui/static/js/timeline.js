// Totals over time as bars; dragging across them selects a time range.

import { el, fmtClock, fmtValue } from "./format.js";

const HEIGHT = 90;
const AXIS = 16;

export class Timeline {
  constructor(host, onSelect) {
    this.onSelect = onSelect;
    this.points = [];
    this.fromMs = 0;
    this.untilMs = 1;
    this.stepMs = 10000;
    this.drag = null;
    this.canvas = el("canvas", {
      role: "img",
      "aria-label": "Timeline of the selection. Drag across it to choose a time range.",
      title: "Drag to select a time range",
    });
    this.readout = el("div", { className: "hint timeline-readout", "aria-live": "polite" });
    this.root = el("div", { className: "timeline" }, [this.canvas]);
    host.append(this.root, this.readout);
    this.canvas.addEventListener("mousedown", (e) => this.start(e));
    window.addEventListener("mousemove", (e) => this.moveDrag(e));
    window.addEventListener("mouseup", (e) => this.end(e));
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    new ResizeObserver(() => this.draw()).observe(this.root);
  }

  setData({ points, step_ms: stepMs, units }, fromMs, untilMs) {
    this.points = points || [];
    this.units = units || "nanoseconds";
    this.stepMs = stepMs || 10000;
    this.fromMs = fromMs;
    this.untilMs = Math.max(untilMs, fromMs + 1);
    const total = this.points.reduce((s, p) => s + p[1], 0);
    const range = `${fmtClock(fromMs, true)} – ${fmtClock(untilMs, true)}`;
    this.readout.textContent = total
      ? `${range} · ${fmtValue(total, this.units)} in total · drag on the chart to zoom in time`
      : `${range} · no samples in this range`;
    this.draw();
  }

  xOf(ms, width) {
    return ((ms - this.fromMs) / (this.untilMs - this.fromMs)) * width;
  }

  msOf(px, width) {
    return this.fromMs + (px / width) * (this.untilMs - this.fromMs);
  }

  draw() {
    const width = this.root.clientWidth;
    if (!width) return;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(width * dpr);
    c.height = Math.round(HEIGHT * dpr);
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    const plotH = HEIGHT - AXIS;
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(0, 0, width, plotH);
    const max = this.points.reduce((m, p) => Math.max(m, p[1]), 0) || 1;
    const barW = Math.max(1, (this.stepMs / (this.untilMs - this.fromMs)) * width - 1);
    ctx.fillStyle = "#e0651f";
    for (const [ts, value] of this.points) {
      const x = this.xOf(ts, width);
      const h = (value / max) * (plotH - 4);
      ctx.fillRect(x, plotH - h, barW, h);
    }
    ctx.fillStyle = "#5c6370";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    const ticks = Math.max(2, Math.floor(width / 140));
    for (let t = 0; t <= ticks; t++) {
      const ms = this.fromMs + ((this.untilMs - this.fromMs) * t) / ticks;
      const label = fmtClock(ms);
      const x = Math.min(width - ctx.measureText(label).width - 2, Math.max(0, this.xOf(ms, width) - 20));
      ctx.fillText(label, x, plotH + 3);
    }
    if (this.drag) {
      const a = Math.min(this.drag.a, this.drag.b);
      const b = Math.max(this.drag.a, this.drag.b);
      ctx.fillStyle = "rgba(26, 95, 180, 0.25)";
      ctx.fillRect(a, 0, b - a, plotH);
      ctx.strokeStyle = "#1a5fb4";
      ctx.strokeRect(a + 0.5, 0.5, b - a - 1, plotH - 1);
    }
  }

  localX(event) {
    const rect = this.canvas.getBoundingClientRect();
    return Math.min(rect.width, Math.max(0, event.clientX - rect.left));
  }

  start(event) {
    event.preventDefault();
    const x = this.localX(event);
    this.drag = { a: x, b: x };
    this.draw();
  }

  moveDrag(event) {
    if (!this.drag) return;
    this.drag.b = this.localX(event);
    this.draw();
  }

  end(event) {
    if (!this.drag) return;
    this.drag.b = this.localX(event);
    const width = this.canvas.getBoundingClientRect().width;
    const a = Math.min(this.drag.a, this.drag.b);
    const b = Math.max(this.drag.a, this.drag.b);
    this.drag = null;
    this.draw();
    if (b - a < 3) return;
    this.onSelect(Math.floor(this.msOf(a, width)), Math.ceil(this.msOf(b, width)));
  }

  hover(event) {
    if (this.drag) return;
    const width = this.canvas.getBoundingClientRect().width;
    const ms = this.msOf(this.localX(event), width);
    const point = this.points.find((p) => ms >= p[0] && ms < p[0] + this.stepMs);
    this.canvas.title = point ? `${fmtClock(point[0], true)}: ${fmtValue(point[1], this.units)}` : "Drag to select a time range";
  }
}
