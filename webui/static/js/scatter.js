// Request durations over time, one dot per request (Jaeger's scatter), or a
// heatmap of counts when there are too many, with the slowest as dots.
// Click a dot: that trace. Drag a box: those requests (onBrush).

import { el, fmtClock, fmtDuration } from "./format.js";
import { timeTicks } from "./timeaxis.js";

const HEIGHT = 260;
const M = { left: 62, right: 12, top: 10, bottom: 22 };
const R = 3.5;
// Endpoints get colours in order (text stays the endpoint's name, in the legend).
export const ENDPOINT_COLORS = ["#1a5fb4", "#b33c00", "#6a1b9a", "#1e6b52", "#8e6c00", "#0b7285", "#8b1e3f", "#495057"];
export const SIDE_COLORS = { a: "#2e7d32", b: "#c62828", none: "#b8bdc5" };

export class Scatter {
  constructor(host, { onPick, onBrush } = {}) {
    this.onPick = onPick;
    this.onBrush = onBrush;
    this.points = [];
    this.heatmap = null;
    this.colorOf = () => ENDPOINT_COLORS[0];
    this.box = null;
    this.lines = [];
    this.drag = null;
    this.xTicks = []; // the time axis drawn: [{ ms, label }]
    this.canvas = el("canvas", {
      role: "img",
      "aria-label": "Request durations over time. Click a dot to open its trace; drag a box to compare those requests with the rest.",
    });
    this.tip = el("div", { className: "tooltip", hidden: true });
    this.root = el("div", { className: "scatter" }, [this.canvas]);
    host.append(this.root, this.tip);
    this.canvas.addEventListener("mousedown", (e) => this.start(e));
    window.addEventListener("mousemove", (e) => this.moveDrag(e));
    window.addEventListener("mouseup", (e) => this.end(e));
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => (this.tip.hidden = true));
    new ResizeObserver(() => this.draw()).observe(this.root);
  }

  // points: [[start_ms, duration_ms, trace_id, root], ...]; heatmap: the API's, or null.
  setData({ points, heatmap }, { colorOf, box, lines } = {}) {
    this.points = points || [];
    this.heatmap = heatmap || null;
    if (colorOf) this.colorOf = colorOf;
    this.box = box || null;
    this.lines = lines || [];
    let t0 = Infinity;
    let t1 = -Infinity;
    let dmax = 0;
    for (const [t, d] of this.points) {
      t0 = Math.min(t0, t);
      t1 = Math.max(t1, t);
      dmax = Math.max(dmax, d);
    }
    if (this.heatmap) {
      t0 = Math.min(t0, this.heatmap.from_ms);
      t1 = Math.max(t1, this.heatmap.until_ms);
      dmax = Math.max(dmax, this.heatmap.max_ms);
    }
    if (!isFinite(t0)) [t0, t1] = [Date.now() - 60e3, Date.now()];
    const pad = Math.max(500, (t1 - t0) * 0.03);
    this.x0 = t0 - pad;
    this.x1 = t1 + pad;
    for (const ms of this.lines.map((l) => l.ms)) dmax = Math.max(dmax, ms);
    this.ymax = niceMax(dmax * 1.08 || 1);
    this.draw();
  }

  plot() {
    const width = this.root.clientWidth;
    return { width, w: Math.max(1, width - M.left - M.right), h: HEIGHT - M.top - M.bottom };
  }

  xOf(ms, p) {
    return M.left + ((ms - this.x0) / (this.x1 - this.x0)) * p.w;
  }

  yOf(durMs, p) {
    return M.top + p.h - (durMs / this.ymax) * p.h;
  }

  // Where a request's dot is drawn, in client pixels (tests read the canvas there).
  pointXY(point) {
    const p = this.plot();
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + this.xOf(point[0], p), y: r.top + this.yOf(point[1], p) };
  }

  draw() {
    const p = this.plot();
    if (!p.width) return;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(p.width * dpr);
    c.height = Math.round(HEIGHT * dpr);
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, p.width, HEIGHT);
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(M.left, M.top, p.w, p.h);
    this.drawAxes(ctx, p);
    if (this.heatmap) this.drawHeatmap(ctx, p);
    for (const line of this.lines) {
      const y = Math.round(this.yOf(line.ms, p)) + 0.5;
      ctx.strokeStyle = line.color;
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(M.left, y);
      ctx.lineTo(M.left + p.w, y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    // Slowest last, so they stay on top.
    const order = [...this.points].sort((a, b) => a[1] - b[1]);
    ctx.globalAlpha = 0.8;
    for (const pt of order) {
      ctx.fillStyle = this.colorOf(pt);
      ctx.beginPath();
      ctx.arc(this.xOf(pt[0], p), this.yOf(pt[1], p), R, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    // Threshold labels over the dots, on a white ground so they stay readable.
    ctx.textBaseline = "middle";
    for (const line of this.lines) {
      const y = this.yOf(line.ms, p);
      const w = ctx.measureText(line.label).width;
      const x = M.left + p.w - w - 6;
      ctx.fillStyle = "rgba(255, 255, 255, 0.9)";
      ctx.fillRect(x - 3, y - 8, w + 6, 16);
      ctx.strokeStyle = line.color;
      ctx.strokeRect(x - 2.5, y - 7.5, w + 5, 15);
      ctx.fillStyle = line.color;
      ctx.fillText(line.label, x, y);
    }
    const box = this.drag ? this.dragBox() : this.box && this.boxPixels(this.box, p);
    if (box) {
      ctx.fillStyle = "rgba(26, 95, 180, 0.15)";
      ctx.fillRect(box.left, box.top, box.right - box.left, box.bottom - box.top);
      ctx.strokeStyle = "#1a5fb4";
      ctx.strokeRect(box.left + 0.5, box.top + 0.5, box.right - box.left - 1, box.bottom - box.top - 1);
    }
  }

  drawAxes(ctx, p) {
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5c6370";
    ctx.strokeStyle = "#dde0e5";
    ctx.textBaseline = "middle";
    for (let t = 0; t <= 4; t++) {
      const ms = (this.ymax * t) / 4;
      const y = Math.round(this.yOf(ms, p)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(M.left, y);
      ctx.lineTo(M.left + p.w, y);
      ctx.stroke();
      const label = fmtDuration(ms * 1e6);
      ctx.fillText(label, M.left - 6 - ctx.measureText(label).width, y);
    }
    ctx.textBaseline = "top";
    this.xTicks = timeTicks(this.x0, this.x1, p.w, { minGap: 140 });
    for (const { ms, label } of this.xTicks) {
      const width = ctx.measureText(label).width;
      const x = Math.min(M.left + p.w - width, Math.max(M.left, this.xOf(ms, p) - width / 2));
      ctx.fillText(label, x, M.top + p.h + 5);
    }
  }

  drawHeatmap(ctx, p) {
    const hm = this.heatmap;
    const max = hm.counts.reduce((m, v) => Math.max(m, v), 0) || 1;
    const cw = ((hm.until_ms - hm.from_ms) / hm.x_bins);
    const ch = hm.max_ms / hm.y_bins;
    for (let y = 0; y < hm.y_bins; y++) {
      for (let x = 0; x < hm.x_bins; x++) {
        const v = hm.counts[y * hm.x_bins + x];
        if (!v) continue;
        const t = Math.sqrt(v / max);
        ctx.fillStyle = `hsl(22, 85%, ${92 - 50 * t}%)`;
        const left = this.xOf(hm.from_ms + x * cw, p);
        const top = this.yOf((y + 1) * ch, p);
        // Half a pixel wider and taller than the cell: no seams between cells.
        ctx.fillRect(left, top, Math.max(1, this.xOf(hm.from_ms + (x + 1) * cw, p) - left + 0.5), Math.max(1, this.yOf(y * ch, p) - top + 0.5));
      }
    }
  }

  boxPixels(box, p) {
    return {
      left: this.xOf(box.fromMs, p),
      right: this.xOf(box.untilMs, p),
      top: this.yOf(box.maxMs, p),
      bottom: this.yOf(box.minMs, p),
    };
  }

  local(event) {
    const r = this.canvas.getBoundingClientRect();
    return { x: event.clientX - r.left, y: event.clientY - r.top };
  }

  clampToPlot({ x, y }) {
    const p = this.plot();
    return { x: Math.min(M.left + p.w, Math.max(M.left, x)), y: Math.min(M.top + p.h, Math.max(M.top, y)) };
  }

  nearest({ x, y }) {
    const p = this.plot();
    let best = null;
    let bestD = (R + 3) ** 2;
    for (const pt of this.points) {
      const d = (this.xOf(pt[0], p) - x) ** 2 + (this.yOf(pt[1], p) - y) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = pt;
      }
    }
    return best;
  }

  dragBox() {
    const a = this.drag.a;
    const b = this.drag.b;
    return { left: Math.min(a.x, b.x), right: Math.max(a.x, b.x), top: Math.min(a.y, b.y), bottom: Math.max(a.y, b.y) };
  }

  start(event) {
    if (event.button !== 0) return;
    event.preventDefault();
    const at = this.clampToPlot(this.local(event));
    this.drag = { a: at, b: at, down: this.local(event) };
  }

  moveDrag(event) {
    if (!this.drag) return;
    this.drag.b = this.clampToPlot(this.local(event));
    this.tip.hidden = true;
    this.draw();
  }

  end(event) {
    if (!this.drag) return;
    this.drag.b = this.clampToPlot(this.local(event));
    const box = this.dragBox();
    const down = this.drag.down;
    this.drag = null;
    this.draw();
    if (box.right - box.left < 4 && box.bottom - box.top < 4) {
      const pt = this.nearest(down);
      if (pt && this.onPick) this.onPick(pt);
      return;
    }
    const p = this.plot();
    const msAt = (x) => this.x0 + ((x - M.left) / p.w) * (this.x1 - this.x0);
    const durAt = (y) => ((M.top + p.h - y) / p.h) * this.ymax;
    if (this.onBrush) {
      this.onBrush({
        fromMs: Math.floor(msAt(box.left)),
        untilMs: Math.ceil(msAt(box.right)),
        minMs: Math.max(0, round3(durAt(box.bottom))),
        maxMs: round3(durAt(box.top)),
      });
    }
  }

  hover(event) {
    if (this.drag) return;
    const pt = this.nearest(this.local(event));
    this.canvas.style.cursor = pt ? "pointer" : "crosshair";
    if (!pt) {
      this.tip.hidden = true;
      return;
    }
    this.tip.replaceChildren(
      el("div", { className: "tt-name", text: pt[3] }),
      el("div", { className: "tt-row", text: `${fmtDuration(pt[1] * 1e6)} · started ${fmtClock(pt[0], true)}` }),
      el("div", { className: "tt-row", text: "Click to open the trace" }),
    );
    this.tip.hidden = false;
    this.tip.style.left = `${event.clientX + 14}px`;
    this.tip.style.top = `${event.clientY + 12}px`;
  }
}

function round3(v) {
  return Math.round(v * 1000) / 1000;
}

// A round number at least v (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8 times a power
// of ten: each divides into four readable ticks, and the dots fill the plot).
function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
