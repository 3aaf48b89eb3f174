// Thread tracks: several threads on one time axis, on a canvas. Per thread an
// on-CPU row (samples) and an off-CPU row (intervals coloured by reason, run
// queue included), the spans it served as a band and their begin/end as
// markers; optionally a span waterfall above, on the same axis.
//
// Events narrower than a pixel are summed per pixel column (density: the
// colour of the reason with most time, opacity = share of the pixel's time);
// wider ones are drawn one by one, so zooming in turns density into detail.
// Wheel zooms at the pointer (Shift+wheel pans), dragging pans; keys: + and -
// zoom, Shift+arrows pan, 0 resets, arrows/Home/End step through events and
// Up/Down between threads. Hover shows an event's stack and, for an off-CPU
// interval, why it waited: its system call, target and waker (with the
// waker's stack); an arrow runs from the waker's track at the wakeup to the
// woken thread when the waker's thread is on screen. Names only ever reach the
// page as text.

import { frameColor, KIND_LABELS, reasonColor, reasonLegend } from "./colors.js";
import { el, fmtClock, fmtDuration, placeTooltip, swatches } from "./format.js";
import { timeTicks } from "./timeaxis.js";

export const CPU_COLOR = "#e0651f";
export const LABEL_W = 190;
export const AXIS_H = 20;
const SPAN_H = 16;
export const CPU_ROW = 9;
export const OFF_ROW = 13;
export const TRACK_H = 4 + CPU_ROW + 2 + OFF_ROW + 6;
const DIM_ALPHA = 0.4;
const MAX_STACK_LINES = 28;
const SERVED = "rgba(255, 122, 47, 0.13)";
const SERVED_SELECTED = "rgba(26, 95, 180, 0.18)";
const MARKER = "#1a5fb4";
const SPAN_COLOR = "#6b8fb8";
const SPAN_ERROR = "#c0392b";
const WAKE_ARROW = "#7b2cbf";
const MAX_WAKER_LINES = 12;

// Tracks from a /api/v1/thread-events answer: per thread two rows of events
// sorted by start (ms, absolute), each event keeping its index in the answer.
export function tracksFromAnswer(answer, { dimmed = false, skip = new Set() } = {}) {
  const ev = answer.events;
  const n = ev.t_us.length;
  const t0 = answer.t0_ms;
  // The kernel's sums of many intervals: their total is no stretch of time, so
  // they are drawn as a mark where the last one left the CPU.
  const summed = new Uint8Array(n);
  for (const [i] of answer.summed || []) summed[i] = 1;
  // Each (thread, row)'s events counted, then placed in one pass: typed arrays
  // filled in the answer's order, no list of indexes per row first.
  const nt = answer.threads.length;
  const counts = new Int32Array(nt * 2);
  for (let i = 0; i < n; i++) counts[ev.thread[i] * 2 + (ev.cpu[i] ? 0 : 1)]++;
  const slots = [];
  for (let s = 0; s < nt * 2; s++) {
    const m = counts[s];
    slots.push({ n: m, start: new Float64Array(m), end: new Float64Array(m), code: new Uint16Array(m), ev: new Int32Array(m), maxDur: 0 });
  }
  const fill = new Int32Array(nt * 2);
  for (let i = 0; i < n; i++) {
    const slot = ev.thread[i] * 2 + (ev.cpu[i] ? 0 : 1);
    const row = slots[slot];
    const k = fill[slot]++;
    const s = t0 + ev.t_us[i] / 1000;
    const d = summed[i] ? 0 : ev.dur_ns[i] / 1e6;
    row.start[k] = s;
    row.end[k] = s + d;
    row.code[k] = ev.reason[i];
    row.ev[k] = i;
    if (d > row.maxDur) row.maxDur = d;
  }
  const tracks = [];
  answer.threads.forEach((th, ti) => {
    if (skip.has(`${th.pid}:${th.tid}`)) return;
    const rows = [slots[ti * 2], slots[ti * 2 + 1]];
    const intervals = (answer.intervals || [])
      .filter((iv) => iv[0] === ti)
      .map(([, s, e, sp]) => ({ start: t0 + s / 1000, end: t0 + e / 1000, span: answer.spans[sp] }));
    tracks.push({
      key: `${th.pid}:${th.tid}`,
      label: th.thread_name || th.comm || "?",
      sub: `tid ${th.tid}${th.comm && th.comm !== th.thread_name ? ` · ${th.comm}` : ""}`,
      thread: th,
      dimmed,
      src: answer,
      rows,
      intervals,
    });
  });
  return tracks;
}

// First index of a row whose event may end at or after `t`.
function firstFrom(row, t) {
  let lo = 0;
  let hi = row.n;
  const from = t - row.maxDur;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (row.start[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class ThreadTracks {
  // onPick(hit): an event was chosen (click or keys); onWindow(lo, hi): the
  // zoom window changed (ms); onSpan(span): a span of the waterfall was clicked.
  constructor(host, { label = "Thread tracks", onPick, onWindow, onSpan } = {}) {
    this.onPick = onPick;
    this.onWindow = onWindow;
    this.onSpan = onSpan;
    this.tracks = [];
    this.spans = [];
    this.lo = 0;
    this.hi = 1;
    this.full = [0, 1];
    this.origin = null;
    this.selected = null; // { track, row, k }
    this.hovered = null; // the hovered off-CPU interval's hit, for its wakeup arrow
    this.hoveredKey = "";
    this.selectedSpan = "";
    this.lastDrawMs = 0;
    this.canvas = el("canvas", {
      tabindex: "0",
      role: "application",
      "aria-roledescription": "thread tracks",
      "aria-label": `${label}: on-CPU samples and off-CPU intervals per thread. Left and right arrows step through events, up and down between threads; plus and minus zoom, Shift with arrows pans, 0 resets. The wheel zooms, dragging pans.`,
    });
    this.root = el("div", { className: "tracks" }, [this.canvas]);
    this.status = el("div", { className: "frame-status", "aria-live": "polite" });
    this.legend = el("div", { className: "legend", "aria-label": "Track colours" });
    this.tooltip = el("div", { className: "tooltip tracks-tip", role: "tooltip", hidden: true });
    host.append(this.root, this.legend, this.status);
    document.body.append(this.tooltip);
    this.canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    this.canvas.addEventListener("mousedown", (e) => this.onDown(e));
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e));
    this.canvas.addEventListener("mouseleave", () => {
      this.hideTip();
      this.hover(null);
    });
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    window.addEventListener("mousemove", (e) => this.onDrag(e));
    window.addEventListener("mouseup", (e) => this.onUp(e));
    new ResizeObserver(() => this.draw()).observe(this.root);
  }

  // tracks: from tracksFromAnswer; spans: [{span_id, name, start, end (ms), depth, error}];
  // full: [lo, hi] ms the reset zoom shows; origin: ms that axis labels count from.
  setData(tracks, { spans = [], full, origin = null, window: win } = {}) {
    this.tracks = tracks;
    // A span has a `row` (several share one when they do not overlap); else one each.
    this.spans = spans.map((sp, i) => (sp.row === undefined ? { ...sp, row: i } : sp));
    this.spanRows = this.spans.reduce((m, sp) => Math.max(m, sp.row + 1), 0);
    this.origin = origin;
    this.selected = null;
    this.hovered = null;
    this.hoveredKey = "";
    if (!full) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const t of tracks) {
        for (const r of t.rows) {
          if (r.n) {
            lo = Math.min(lo, r.start[0]);
            hi = Math.max(hi, r.end[r.n - 1], r.start[r.n - 1] + r.maxDur);
          }
        }
      }
      if (!isFinite(lo)) [lo, hi] = [0, 1];
      const pad = Math.max(0.5, (hi - lo) * 0.01);
      full = [lo - pad, hi + pad];
    }
    this.full = full;
    // a window from the URL, within the full range (else the full range)
    const lo = win ? Math.max(win[0], full[0]) : 0;
    const hi = win ? Math.min(win[1], full[1]) : 0;
    [this.lo, this.hi] = hi > lo ? [lo, hi] : full;
    this.drawLegend();
    this.draw();
  }

  setSelectedSpan(spanId) {
    if (this.selectedSpan === (spanId || "")) return; // drawn already (a draw of 100,000 events)
    this.selectedSpan = spanId || "";
    this.draw();
  }

  drawLegend() {
    const items = [];
    const reasons = new Set();
    let cpu = false;
    for (const t of this.tracks) {
      if (t.rows[0].n) cpu = true;
      const r = t.rows[1];
      const seen = new Uint8Array(t.src.reasons.length + 1); // by code: no name per event
      for (let k = 0; k < r.n; k++) seen[r.code[k]] = 1;
      seen.forEach((on, code) => on && reasons.add(t.src.reasons[code] || "other"));
    }
    if (cpu) items.push([CPU_COLOR, "on-CPU sample"]);
    items.push(...reasonLegend(reasons).map(([c, text]) => [c, text === "off-CPU: runqueue" ? "run-queue delay (runnable, waiting for a CPU)" : text]));
    if (this.tracks.some((t) => t.intervals.length)) items.push([SERVED, "serving the trace"], [MARKER, "span begins/ends on the thread"]);
    this.legend.replaceChildren(...swatches(items));
  }

  geometry() {
    const width = this.root.clientWidth;
    const plotW = Math.max(1, width - LABEL_W);
    return { width, plotW, k: plotW / (this.hi - this.lo) };
  }

  spanTop() {
    return AXIS_H;
  }

  tracksTop() {
    return AXIS_H + (this.spanRows ? this.spanRows * SPAN_H + 8 : 0);
  }

  height() {
    return this.tracksTop() + this.tracks.length * TRACK_H + 4;
  }

  trackY(i) {
    return this.tracksTop() + i * TRACK_H;
  }

  rowY(row) {
    return row === 0 ? 4 : 4 + CPU_ROW + 2;
  }

  setWindow(lo, hi, notify = true) {
    const [flo, fhi] = this.full;
    const span = Math.max(1e-3, Math.min(fhi - flo, hi - lo));
    if (lo < flo) [lo, hi] = [flo, flo + span];
    if (hi > fhi) [lo, hi] = [fhi - span, fhi];
    this.lo = Math.max(flo, lo);
    this.hi = Math.min(fhi, hi);
    this.draw();
    if (notify && this.onWindow) {
      clearTimeout(this.windowTimer);
      this.windowTimer = setTimeout(() => this.onWindow(this.lo, this.hi, this.isFull()), 150);
    }
  }

  isFull() {
    return this.lo <= this.full[0] && this.hi >= this.full[1];
  }

  zoom(factor, atMs) {
    const at = atMs === undefined ? (this.lo + this.hi) / 2 : atMs;
    this.setWindow(at - (at - this.lo) * factor, at + (this.hi - at) * factor);
  }

  pan(fraction) {
    const d = (this.hi - this.lo) * fraction;
    this.setWindow(this.lo + d, this.hi + d);
  }

  reset() {
    this.setWindow(this.full[0], this.full[1]);
  }

  draw() {
    const t0 = performance.now();
    const g = this.geometry();
    if (!g.width) return;
    const height = this.height();
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    if (c.width !== Math.round(g.width * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(g.width * dpr);
      c.height = Math.round(height * dpr);
      c.style.height = height + "px";
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, height);
    this.drawAxis(ctx, g, height);
    this.drawBody(ctx, g, height);
    for (const hit of new Set([this.selected, this.hovered])) if (hit) this.drawWakeArrow(ctx, g, hit);
    this.lastDrawMs = performance.now() - t0;
  }

  // What lies under the axis: the spans, then every track.
  drawBody(ctx, g) {
    this.drawSpans(ctx, g);
    this.tracks.forEach((t, i) => this.drawTrack(ctx, g, t, this.trackY(i)));
  }

  drawAxis(ctx, g, height) {
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    this.xTicks = timeTicks(this.lo, this.hi, g.plotW, { minGap: 110, origin: this.origin });
    for (const { ms, label: text } of this.xTicks) {
      const x = LABEL_W + (ms - this.lo) * g.k;
      ctx.fillStyle = "#eceef1";
      ctx.fillRect(Math.round(x), AXIS_H - 4, 1, height - AXIS_H + 4);
      ctx.fillStyle = "#5c6370";
      const w = ctx.measureText(text).width;
      ctx.fillText(text, Math.min(g.width - w - 2, Math.max(LABEL_W, x - w / 2)), AXIS_H / 2);
    }
    ctx.fillStyle = "#5c6370";
    ctx.fillText(this.origin !== null ? "time from start" : "time", 4, AXIS_H / 2);
  }

  drawSpans(ctx, g) {
    if (!this.spans.length) return;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const labelled = new Set();
    for (const s of this.spans) {
      const y = this.spanTop() + s.row * SPAN_H;
      const selected = s.span_id === this.selectedSpan;
      if (selected) {
        ctx.fillStyle = "#fff3e0";
        ctx.fillRect(0, y, LABEL_W, SPAN_H);
      }
      if (!labelled.has(s.row)) {
        // the row's first span names it; "+N" when it holds more
        labelled.add(s.row);
        const more = this.spans.filter((x) => x.row === s.row).length - 1;
        const indent = Math.min(8, s.depth) * 10;
        ctx.fillStyle = "#1d1f24";
        this.clipText(ctx, more ? `${s.name} +${more}` : s.name, 4 + indent, y + SPAN_H / 2, LABEL_W - 8 - indent);
      }
      const x0 = Math.max(LABEL_W, LABEL_W + (s.start - this.lo) * g.k);
      const x1 = Math.min(g.width, LABEL_W + (s.end - this.lo) * g.k);
      if (x1 < LABEL_W || x0 > g.width) continue;
      ctx.fillStyle = s.error ? SPAN_ERROR : SPAN_COLOR;
      ctx.fillRect(x0, y + 2, Math.max(1, x1 - x0 - 1), SPAN_H - 4);
      if (selected) {
        ctx.strokeStyle = MARKER;
        ctx.lineWidth = 2;
        ctx.strokeRect(x0, y + 1, Math.max(1, x1 - x0), SPAN_H - 2);
      }
      const label = `${s.name} · ${fmtDuration((s.end - s.start) * 1e6)}`;
      if (x1 - x0 > 40) {
        ctx.fillStyle = "#fff";
        this.clipText(ctx, label, x0 + 3, y + SPAN_H / 2, x1 - x0 - 6);
      } else if (x1 + 4 < g.width && !this.spans.some((o) => o.row === s.row && o.start >= s.end && LABEL_W + (o.start - this.lo) * g.k < x1 + 60)) {
        ctx.fillStyle = "#1d1f24";
        this.clipText(ctx, label, x1 + 3, y + SPAN_H / 2, g.width - x1 - 6);
      }
    }
  }

  clipText(ctx, text, x, y, maxW) {
    if (maxW < 8) return;
    let s = String(text);
    if (ctx.measureText(s).width > maxW) {
      while (s.length > 1 && ctx.measureText(s + "…").width > maxW) s = s.slice(0, -1);
      s += "…";
    }
    ctx.fillText(s, x, y);
  }

  drawTrack(ctx, g, t, y) {
    ctx.globalAlpha = t.dimmed ? DIM_ALPHA + 0.25 : 1;
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#1d1f24";
    this.clipText(ctx, t.label, 4, y + 9, LABEL_W - 10);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5c6370";
    this.clipText(ctx, t.dimmed ? `${t.sub} · other thread` : t.sub, 4, y + 22, LABEL_W - 10);
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(LABEL_W, y + this.rowY(0), g.plotW, CPU_ROW);
    ctx.fillRect(LABEL_W, y + this.rowY(1), g.plotW, OFF_ROW);
    for (const iv of t.intervals) {
      const x0 = Math.max(LABEL_W, LABEL_W + (iv.start - this.lo) * g.k);
      const x1 = Math.min(g.width, LABEL_W + (iv.end - this.lo) * g.k);
      if (x1 <= LABEL_W || x0 >= g.width) continue;
      ctx.fillStyle = iv.span === this.selectedSpan && this.selectedSpan ? SERVED_SELECTED : SERVED;
      ctx.fillRect(x0, y + 1, Math.max(1, x1 - x0), TRACK_H - 4);
    }
    ctx.globalAlpha = t.dimmed ? DIM_ALPHA : 1;
    this.drawRow(ctx, g, t, 0, y + this.rowY(0), CPU_ROW);
    this.drawRow(ctx, g, t, 1, y + this.rowY(1), OFF_ROW);
    ctx.globalAlpha = 1;
    for (const iv of t.intervals) {
      for (const [ms, begin] of [[iv.start, true], [iv.end, false]]) {
        const x = LABEL_W + (ms - this.lo) * g.k;
        if (x < LABEL_W - 1 || x > g.width + 1) continue;
        ctx.fillStyle = MARKER;
        ctx.fillRect(Math.round(x) - (begin ? 0 : 1), y + 1, 1.5, TRACK_H - 4);
        ctx.beginPath();
        const dx = begin ? 5 : -5;
        ctx.moveTo(x, y + 1);
        ctx.lineTo(x + dx, y + 1);
        ctx.lineTo(x, y + 7);
        ctx.fill();
      }
    }
    const sel = this.selected;
    if (sel && this.tracks[sel.track] === t) {
      const row = t.rows[sel.row];
      const x0 = LABEL_W + (row.start[sel.k] - this.lo) * g.k;
      const w = Math.max(2, (row.end[sel.k] - row.start[sel.k]) * g.k);
      ctx.strokeStyle = MARKER;
      ctx.lineWidth = 2;
      ctx.strokeRect(x0 - 2, y + this.rowY(sel.row) - 2, w + 4, (sel.row ? OFF_ROW : CPU_ROW) + 4);
    }
    ctx.fillStyle = "#eceef1";
    ctx.fillRect(0, y + TRACK_H - 2, g.width, 1);
  }

  // One row: events a pixel wide or more one by one, the others as density.
  // row.drawn counts the events with a duration drawn either way (the kernel's
  // sums, of no duration, are marks in the density), for the tests.
  drawRow(ctx, g, t, r, y, h) {
    const row = t.rows[r];
    const drawn = (row.drawn = { detail: 0, density: 0 });
    if (!row.n) return;
    const reasons = t.src.reasons;
    const ncodes = reasons.length || 1;
    const W = Math.ceil(g.plotW);
    const bins = new Float64Array(W * ncodes);
    const pxMs = 1 / g.k;
    let usedBins = false;
    const baseAlpha = ctx.globalAlpha;
    let lastColor = "";
    const end = this.hi;
    for (let k = firstFrom(row, this.lo); k < row.n; k++) {
      const s = row.start[k];
      if (s > end) break;
      const e = row.end[k];
      if (e < this.lo) continue;
      const x0 = (s - this.lo) * g.k;
      const x1 = (e - this.lo) * g.k;
      if (x1 - x0 >= 1) {
        drawn.detail++;
        const color = r === 0 ? CPU_COLOR : reasonColor(reasons[row.code[k]] || "other");
        if (color !== lastColor) {
          ctx.fillStyle = color;
          lastColor = color;
        }
        const a = Math.max(0, x0);
        ctx.fillRect(LABEL_W + a, y, Math.max(1, Math.min(g.plotW, x1) - a - (x1 - x0 > 3 ? 0.5 : 0)), h);
      } else {
        // Narrower than a pixel: its time goes to the columns it touches.
        usedBins = true;
        if (e > s) drawn.density++;
        const code = r === 0 ? 0 : row.code[k];
        let px = Math.floor(Math.max(0, x0));
        const last = Math.min(W - 1, Math.floor(x1));
        for (; px <= last; px++) {
          const a = Math.max(s, this.lo + px * pxMs);
          const b = Math.min(e, this.lo + (px + 1) * pxMs);
          if (b > a) bins[px * ncodes + code] += b - a;
          else if (e === s) bins[px * ncodes + code] += pxMs * 0.25;
        }
      }
    }
    if (!usedBins) return;
    for (let px = 0; px < W; px++) {
      let total = 0;
      let best = -1;
      let bestV = 0;
      const o = px * ncodes;
      for (let c = 0; c < ncodes; c++) {
        const v = bins[o + c];
        if (v > 0) {
          total += v;
          if (v > bestV) {
            bestV = v;
            best = c;
          }
        }
      }
      if (best < 0) continue;
      ctx.globalAlpha = baseAlpha * Math.min(1, 0.3 + 0.7 * (total / pxMs));
      ctx.fillStyle = r === 0 ? CPU_COLOR : reasonColor(reasons[best] || "other");
      ctx.fillRect(LABEL_W + px, y, 1, h);
    }
    ctx.globalAlpha = baseAlpha;
  }

  // The track of the thread that woke an off-CPU interval, if it is on screen.
  wakerTrack(wait) {
    const w = wait && wait.waker;
    if (!w || w.tid === undefined) return -1;
    return this.tracks.findIndex((t) => t.thread.tid === w.tid && t.thread.pid === w.pid);
  }

  // An arrow from the waker's track at the wakeup (the end of the blocked
  // interval) down or up to the woken thread's off-CPU row.
  drawWakeArrow(ctx, g, hit) {
    if (hit.row !== 1 || !this.tracks[hit.track]) return;
    const t = this.tracks[hit.track];
    const wait = this.waitOf(t, t.rows[1].ev[hit.k]);
    const from = this.wakerTrack(wait);
    if (from < 0 || from === hit.track) return;
    const ms = t.rows[1].end[hit.k];
    const x = LABEL_W + (ms - this.lo) * g.k;
    if (x < LABEL_W || x > g.width) return;
    const down = from < hit.track;
    const y0 = this.trackY(from) + this.rowY(0) + CPU_ROW / 2;
    const y1 = this.trackY(hit.track) + this.rowY(1) + (down ? 0 : OFF_ROW);
    ctx.strokeStyle = WAKE_ARROW;
    ctx.fillStyle = WAKE_ARROW;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(x, y0, 3, 0, 2 * Math.PI);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(x, y0);
    ctx.lineTo(x, y1 + (down ? -6 : 6));
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x, y1);
    ctx.lineTo(x - 5, y1 + (down ? -8 : 8));
    ctx.lineTo(x + 5, y1 + (down ? -8 : 8));
    ctx.fill();
  }

  // Remembers the hovered off-CPU interval; redraws when a wakeup arrow comes or goes.
  hover(hit) {
    const key = hit ? `${hit.track}:${hit.k}` : "";
    if (key === this.hoveredKey) return;
    const arrow = (h) => h && this.wakerTrack(this.waitOf(this.tracks[h.track], this.tracks[h.track].rows[1].ev[h.k])) >= 0;
    const redraw = arrow(this.hovered) || arrow(hit);
    this.hoveredKey = key;
    this.hovered = hit;
    if (redraw) this.draw();
  }

  waitOf(t, i) {
    const src = t.src;
    return src.waits && src.events.wait ? src.waits[src.events.wait[i]] || null : null;
  }

  // ---- hit testing -------------------------------------------------------------

  local(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  hitAt(px, py) {
    if (px < LABEL_W) return null;
    const g = this.geometry();
    const ms = this.lo + (px - LABEL_W) / g.k;
    const sy = py - this.spanTop();
    if (this.spanRows && sy >= 0 && sy < this.spanRows * SPAN_H) {
      const row = Math.floor(sy / SPAN_H);
      const tol = 3 / g.k;
      let best = null;
      for (const s of this.spans) {
        if (s.row !== row || ms < s.start - tol || ms > s.end + tol) continue;
        if (!best || s.end - s.start < best.end - best.start) best = s;
      }
      return best ? { span: best } : null;
    }
    const ti = Math.floor((py - this.tracksTop()) / TRACK_H);
    return this.hitTrack(ti, py - this.trackY(ti), ms, g);
  }

  // The event (or span marker) of track `ti` at `ms`, `yin` px below the track's top.
  hitTrack(ti, yin, ms, g) {
    const t = this.tracks[ti];
    if (!t) return null;
    const r = yin < this.rowY(1) - 1 ? 0 : 1;
    const row = t.rows[r];
    const tol = 4 / g.k;
    let best = -1;
    let bestDist = Infinity;
    for (let k = firstFrom(row, ms - tol); k < row.n && row.start[k] <= ms + tol; k++) {
      const d = ms < row.start[k] ? row.start[k] - ms : ms > row.end[k] ? ms - row.end[k] : 0;
      if (d < bestDist || (d === 0 && bestDist === 0 && row.end[k] - row.start[k] < row.end[best] - row.start[best])) {
        best = k;
        bestDist = d;
      }
    }
    if (best >= 0 && bestDist <= tol) return { track: ti, row: r, k: best };
    for (const iv of t.intervals) {
      if (Math.abs(iv.start - ms) <= tol || Math.abs(iv.end - ms) <= tol) return { track: ti, marker: iv, begin: Math.abs(iv.start - ms) <= tol };
    }
    return null;
  }

  // The event of a hit, as the views see it.
  eventOf(hit) {
    const t = this.tracks[hit.track];
    const row = t.rows[hit.row];
    const i = row.ev[hit.k];
    const src = t.src;
    const stack = src.stacks[src.events.stack[i]] || [];
    return {
      kind: hit.row === 0 ? "cpu" : "offcpu",
      reason: hit.row === 0 ? "" : src.reasons[src.events.reason[i]] || "other",
      ts_ms: row.start[hit.k],
      dur_ns: src.events.dur_ns[i],
      span_id: src.spans[src.events.span[i]] || "",
      thread: t.thread,
      wait: hit.row === 0 ? null : this.waitOf(t, i), // why it waited, when known
      summed: (src.summedOf ||= new Map(src.summed || [])).get(i) || 0, // intervals in a kernel sum
      frames: stack.map((f) => src.frames[f]), // [name, kind], root first
      stack: stack.map((f) => src.frames[f][0]),
    };
  }

  describe(event) {
    const what = event.kind === "cpu" ? "on-CPU sample" : event.reason === "runqueue" ? "off-CPU (runqueue): run-queue delay" : `off-CPU (${event.reason || "other"})`;
    const at = this.origin !== null
      ? `+${fmtDuration((event.ts_ms - this.origin) * 1e6)}`
      : fmtClock(event.ts_ms, true, 3);
    if (event.summed) return `${event.summed} ${what} intervals summed in the kernel, ${fmtDuration(event.dur_ns)} in all, up to ${at} (short ones, or past the agent's CPU budget: each one's time not kept)`;
    return `${what} at ${at}, ${fmtDuration(event.dur_ns)}`;
  }

  showTip(event, lines) {
    this.tooltip.replaceChildren(...lines);
    placeTooltip(this.tooltip, event);
  }

  hideTip() {
    this.tooltip.hidden = true;
  }

  tipLines(ev, spanName) {
    const lines = [
      el("div", { className: "tt-name", text: this.describe(ev) }),
      el("div", { className: "tt-row", text: `${ev.thread.thread_name || ev.thread.comm || "?"} (tid ${ev.thread.tid}, pid ${ev.thread.pid})` }),
    ];
    if (spanName) lines.push(el("div", { className: "tt-row", text: `span: ${spanName}` }));
    if (ev.wait) lines.push(...this.waitLines(ev.wait));
    const frames = [...ev.frames].reverse().filter(([, kind]) => kind !== "offcpu");
    if (!frames.length) {
      lines.push(el("div", { className: "tt-row", text: "no stack" }));
      return lines;
    }
    lines.push(el("div", { className: "tt-row", text: "stack, innermost first:" }));
    const list = el("ol", { className: "tt-stack" });
    for (const [name, kind] of frames.slice(0, MAX_STACK_LINES)) {
      const chip = el("i");
      chip.style.background = frameColor(name, kind);
      list.append(el("li", {}, [chip, el("span", { text: name }), el("span", { className: "tt-kind", text: KIND_LABELS[kind] || kind })]));
    }
    lines.push(list);
    if (frames.length > MAX_STACK_LINES) lines.push(el("div", { className: "tt-row", text: `… ${frames.length - MAX_STACK_LINES} more frames (click to list them all)` }));
    return lines;
  }

  // Why an off-CPU interval waited: system call, target, waker and its stack.
  waitLines(wait) {
    const lines = [];
    if (wait.syscall) lines.push(el("div", { className: "tt-row tt-wait", text: `blocked in ${wait.syscall}()${wait.target ? ` on ${wait.target}` : ""}` }));
    const w = wait.waker;
    if (!w) return lines;
    const who = w.kind === "interrupt" ? `woken by an interrupt: ${w.comm}` : `woken by ${w.thread || w.comm || "?"} (tid ${w.tid}${w.comm && w.comm !== w.thread ? `, ${w.comm}` : ""}${w.pid !== undefined ? `, pid ${w.pid}` : ""})`;
    lines.push(el("div", { className: "tt-row tt-wait", text: who }));
    if (!w.stack.length) return lines;
    lines.push(el("div", { className: "tt-row", text: "waker's stack at the wakeup, innermost first:" }));
    const list = el("ol", { className: "tt-stack tt-waker" });
    const leafFirst = [...w.stack].reverse();
    // each frame's kind when the agent sent them (waker.kinds), else kernel by its name
    const kinds = w.kinds && w.kinds.length === w.stack.length ? [...w.kinds].reverse() : null;
    leafFirst.slice(0, MAX_WAKER_LINES).forEach((name, i) => {
      const kernel = name.endsWith("_[k]");
      const kind = kinds ? kinds[i] : kernel ? "kernel" : "native";
      const chip = el("i");
      chip.style.background = frameColor(name, kind);
      list.append(el("li", {}, [chip, el("span", { text: kernel ? name.slice(0, -4) : name }), el("span", { className: "tt-kind", text: kinds || kernel ? KIND_LABELS[kind] || kind : "" })]));
    });
    lines.push(list);
    if (leafFirst.length > MAX_WAKER_LINES) lines.push(el("div", { className: "tt-row", text: `… ${leafFirst.length - MAX_WAKER_LINES} more frames` }));
    return lines;
  }

  spanName(id) {
    const s = this.spans.find((x) => x.span_id === id);
    return s ? s.name : id;
  }

  onMove(event) {
    if (this.drag && this.drag.moved) return;
    const [px, py] = this.local(event);
    const hit = this.hitAt(px, py);
    this.canvas.style.cursor = hit ? "pointer" : "grab";
    this.hover(hit && hit.row === 1 ? hit : null);
    if (!hit) return this.hideTip();
    if (hit.span) {
      const s = hit.span;
      const lines = [el("div", { className: "tt-name", text: s.name }), el("div", { className: "tt-row", text: `span ${s.span_id} · ${fmtDuration((s.end - s.start) * 1e6)}${s.service ? ` · ${s.service}` : ""}` })];
      for (const [k, v] of Object.entries(s.attributes || {}).slice(0, 12)) lines.push(el("div", { className: "tt-row", text: `${k} = ${v}` }));
      lines.push(el("div", { className: "tt-row", text: "click: this span's breakdown and flame graph" }));
      return this.showTip(event, lines);
    }
    if (hit.marker) {
      return this.showTip(event, [el("div", { className: "tt-name", text: `span ${this.spanName(hit.marker.span)} ${hit.begin ? "begins" : "ends"} on this thread` }),
        el("div", { className: "tt-row", text: `served ${fmtDuration((hit.marker.end - hit.marker.start) * 1e6)}` })]);
    }
    const ev = this.eventOf(hit);
    this.showTip(event, this.tipLines(ev, ev.span_id ? this.spanName(ev.span_id) : ""));
  }

  // ---- zoom and pan ------------------------------------------------------------

  onWheel(event) {
    const [px] = this.local(event);
    if (px < LABEL_W) return;
    event.preventDefault();
    const g = this.geometry();
    if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
      const d = event.shiftKey ? event.deltaY || event.deltaX : event.deltaX;
      this.pan((d / g.plotW) * 1.0);
      return;
    }
    const at = this.lo + (px - LABEL_W) / g.k;
    this.zoom(Math.pow(1.0015, event.deltaY), at);
  }

  onDown(event) {
    if (event.button !== 0) return;
    const [px, py] = this.local(event);
    this.drag = { x: event.clientX, lo: this.lo, hi: this.hi, moved: false, px, py };
  }

  onDrag(event) {
    if (!this.drag) return;
    const dx = event.clientX - this.drag.x;
    if (!this.drag.moved && Math.abs(dx) < 4) return;
    this.drag.moved = true;
    this.hideTip();
    this.canvas.style.cursor = "grabbing";
    const g = this.geometry();
    const d = -dx / g.k;
    this.setWindow(this.drag.lo + d, this.drag.hi + d);
  }

  onUp() {
    const drag = this.drag;
    this.drag = null;
    if (!drag || drag.moved) return;
    const hit = this.hitAt(drag.px, drag.py);
    if (!hit) return;
    if (hit.span) {
      if (this.onSpan) this.onSpan(hit.span);
      return;
    }
    if (hit.marker) return;
    this.select(hit);
  }

  select(hit) {
    this.selected = hit;
    this.draw();
    const ev = this.eventOf(hit);
    this.status.textContent = `${ev.thread.thread_name || "?"} (tid ${ev.thread.tid}): ${this.describe(ev)}`;
    if (this.onPick) this.onPick(ev);
  }

  // Events of all tracks, by time, for stepping with the keys.
  stepIn(track, dir, edge) {
    const t = this.tracks[track];
    if (!t) return null;
    const all = [];
    for (let r = 0; r < 2; r++) for (let k = 0; k < t.rows[r].n; k++) all.push([t.rows[r].start[k], r, k]);
    if (!all.length) return null;
    all.sort((a, b) => a[0] - b[0]);
    let i;
    if (edge === "first") i = 0;
    else if (edge === "last") i = all.length - 1;
    else {
      const sel = this.selected && this.selected.track === track ? this.selected : null;
      if (!sel) i = dir > 0 ? all.findIndex((x) => x[0] >= this.lo) : 0;
      else {
        const cur = all.findIndex((x) => x[1] === sel.row && x[2] === sel.k);
        i = Math.max(0, Math.min(all.length - 1, cur + dir));
      }
      if (i < 0) i = 0;
    }
    return { track, row: all[i][1], k: all[i][2] };
  }

  onKey(event) {
    const key = event.key;
    let hit = null;
    const track = this.selected ? this.selected.track : 0;
    if (event.shiftKey && (key === "ArrowLeft" || key === "ArrowRight")) this.pan(key === "ArrowLeft" ? -0.2 : 0.2);
    else if (key === "+" || key === "=") this.zoom(0.5, this.focusMs());
    else if (key === "-" || key === "_") this.zoom(2, this.focusMs());
    else if (key === "0" || key === "Escape") this.reset();
    else if (key === "ArrowRight" || key === "ArrowLeft") hit = this.stepIn(track, key === "ArrowRight" ? 1 : -1);
    else if (key === "Home" || key === "End") hit = this.stepIn(track, 0, key === "Home" ? "first" : "last");
    else if (key === "ArrowDown" || key === "ArrowUp") {
      const next = Math.max(0, Math.min(this.tracks.length - 1, track + (key === "ArrowDown" ? 1 : -1)));
      hit = this.stepIn(next, 1);
    } else return;
    event.preventDefault();
    if (hit) {
      const row = this.tracks[hit.track].rows[hit.row];
      const s = row.start[hit.k];
      if (s < this.lo || s > this.hi) {
        const w = this.hi - this.lo;
        this.setWindow(s - w / 2, s + w / 2);
      }
      this.select(hit);
    }
  }

  focusMs() {
    const sel = this.selected;
    if (!sel) return undefined;
    const ms = this.tracks[sel.track].rows[sel.row].start[sel.k];
    return ms >= this.lo && ms <= this.hi ? ms : undefined;
  }
}
