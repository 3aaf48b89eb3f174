// Totals over time as bars under a y-axis in the profile's unit (per step);
// hovering a bar says its time and value; dragging across selects a range.

import { el, fmtClock, fmtDuration, fmtValue, placeTooltip } from "./format.js";
import { timeTicks } from "./timeaxis.js";

const HEIGHT = 90;
const AXIS = 16;
const Y_AXIS = 64;

// 1, 2 or 5 times a power of ten at or above `v` (round axis ticks).
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export class Timeline {
  constructor(host, onSelect) {
    this.onSelect = onSelect;
    this.points = [];
    this.fromMs = 0;
    this.untilMs = 1;
    this.stepMs = 10000;
    this.ready = false;
    this.drag = null;
    this.yLabels = []; // the y-axis labels drawn: 0, half and the top
    this.xTicks = []; // the time axis drawn: [{ ms, label }]
    this.canvas = el("canvas", {
      role: "img",
      "aria-label": "Timeline of the selection. Drag across it to choose a time range.",
    });
    this.readout = el("div", { className: "hint timeline-readout", "aria-live": "polite" });
    this.tooltip = el("div", { className: "tooltip timeline-tip", role: "tooltip", hidden: true });
    this.root = el("div", { className: "timeline" }, [this.canvas]);
    host.append(this.root, this.readout);
    document.body.append(this.tooltip);
    this.canvas.addEventListener("mousedown", (e) => this.start(e));
    window.addEventListener("mousemove", (e) => this.moveDrag(e));
    window.addEventListener("mouseup", (e) => this.end(e));
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
    new ResizeObserver(() => this.draw()).observe(this.root);
  }

  // While the data loads, the chart is blank: no axis for a range not known yet.
  loading() {
    this.ready = false;
    this.readout.textContent = "Loading the timeline…";
    this.draw();
  }

  failed(err) {
    this.ready = false;
    this.points = [];
    this.readout.textContent = `No timeline: ${err && err.message ? err.message : err}`;
    this.draw();
  }

  setData({ points, step_ms: stepMs, units }, fromMs, untilMs) {
    if (!Number.isFinite(fromMs) || !Number.isFinite(untilMs)) return this.failed(new Error("the time range cannot be read"));
    this.points = points || [];
    this.units = units || "nanoseconds";
    this.stepMs = stepMs || 10000;
    this.fromMs = fromMs;
    this.untilMs = Math.max(untilMs, fromMs + 1);
    this.ready = true;
    const total = this.points.reduce((s, p) => s + p[1], 0);
    const range = `${fmtClock(fromMs, true)} – ${fmtClock(untilMs, true)}`;
    this.readout.textContent = total
      ? `${range} · ${fmtValue(total, this.units)} in total · bars per ${fmtDuration(this.stepMs * 1e6)} · drag on the chart to zoom in time`
      : `${range} · no samples in this range`;
    this.draw();
  }

  xOf(ms, width) {
    return ((ms - this.fromMs) / (this.untilMs - this.fromMs)) * width;
  }

  msOf(px, width) {
    return this.fromMs + (px / width) * (this.untilMs - this.fromMs);
  }

  plotWidth() {
    return Math.max(1, this.root.clientWidth - Y_AXIS);
  }

  draw() {
    const full = this.root.clientWidth;
    if (!full) return;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(full * dpr);
    c.height = Math.round(HEIGHT * dpr);
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, full, HEIGHT);
    if (!this.ready) return;
    const width = this.plotWidth();
    const plotH = HEIGHT - AXIS;
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(Y_AXIS, 0, width, plotH);
    const top = niceCeil(this.points.reduce((m, p) => Math.max(m, p[1]), 0));
    const barW = Math.max(1, (this.stepMs / (this.untilMs - this.fromMs)) * width - 1);
    ctx.font = "11px system-ui, sans-serif";
    // y-axis: 0, half and the top, in the profile's unit per bar
    ctx.textBaseline = "middle";
    this.yLabels = [0, 0.5, 1].map((f) => (f ? fmtValue(top * f, this.units) : "0"));
    this.canvas.setAttribute("aria-label", `Timeline of the selection: ${this.yLabels[2]} per ${fmtDuration(this.stepMs * 1e6)} bar at the top of its axis. Drag across it to choose a time range.`);
    for (const f of [0, 0.5, 1]) {
      const y = Math.round(plotH - f * (plotH - 6)) - 0.5;
      ctx.strokeStyle = f ? "#dde1e6" : "#9aa0aa";
      ctx.beginPath();
      ctx.moveTo(Y_AXIS - 4, y);
      ctx.lineTo(Y_AXIS + width, y);
      ctx.stroke();
      const label = this.yLabels[f * 2];
      ctx.fillStyle = "#5c6370";
      ctx.fillText(label, Math.max(0, Y_AXIS - 6 - ctx.measureText(label).width), Math.max(6, y));
    }
    ctx.fillStyle = "#e0651f";
    for (const [ts, value] of this.points) {
      const x = Y_AXIS + this.xOf(ts, width);
      const h = (value / top) * (plotH - 6);
      ctx.fillRect(x, plotH - h, barW, h);
    }
    ctx.fillStyle = "#5c6370";
    ctx.textBaseline = "top";
    this.xTicks = timeTicks(this.fromMs, this.untilMs, width, { minGap: 140 });
    for (const { ms, label } of this.xTicks) {
      const w = ctx.measureText(label).width;
      const x = Y_AXIS + Math.min(width - w - 2, Math.max(0, this.xOf(ms, width) - w / 2));
      ctx.fillText(label, x, plotH + 3);
    }
    if (this.drag) {
      const a = Math.min(this.drag.a, this.drag.b);
      const b = Math.max(this.drag.a, this.drag.b);
      ctx.fillStyle = "rgba(26, 95, 180, 0.25)";
      ctx.fillRect(Y_AXIS + a, 0, b - a, plotH);
      ctx.strokeStyle = "#1a5fb4";
      ctx.strokeRect(Y_AXIS + a + 0.5, 0.5, b - a - 1, plotH - 1);
    }
  }

  // x within the plot (right of the y-axis), clamped to it
  localX(event) {
    const rect = this.canvas.getBoundingClientRect();
    return Math.min(rect.width - Y_AXIS, Math.max(0, event.clientX - rect.left - Y_AXIS));
  }

  start(event) {
    if (!this.ready) return;
    event.preventDefault();
    this.tooltip.hidden = true;
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
    const width = this.plotWidth();
    const a = Math.min(this.drag.a, this.drag.b);
    const b = Math.max(this.drag.a, this.drag.b);
    this.drag = null;
    this.draw();
    if (b - a < 3) return;
    this.onSelect(Math.floor(this.msOf(a, width)), Math.ceil(this.msOf(b, width)));
  }

  // The bar under the pointer: its time span and value.
  hover(event) {
    if (this.drag || !this.ready) return;
    const ms = this.msOf(this.localX(event), this.plotWidth());
    const point = this.points.find((p) => ms >= p[0] && ms < p[0] + this.stepMs);
    if (!point) {
      this.tooltip.hidden = true;
      return;
    }
    this.tooltip.replaceChildren(
      el("div", { className: "tt-name", text: `${fmtClock(point[0], true)} – ${fmtClock(point[0] + this.stepMs)}` }),
      el("div", { className: "tt-row", text: point[1] ? fmtValue(point[1], this.units) : "no samples" }),
      el("div", { className: "tt-row", text: "Drag to select a time range" }),
    );
    placeTooltip(this.tooltip, event);
  }
}
