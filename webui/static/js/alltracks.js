// All threads over time: every thread of the selection as a track on one time
// axis, grouped by process (a process's line shows its threads summed; click
// it to fold them), in the threads list's order (sort and filter).
//
// One request (GET api/v1/thread-density) gives every thread's time per time
// bucket and reason; a track draws it per pixel column: the on-CPU row's
// opacity is the share of time on a CPU, the off-CPU row stacks the reasons'
// shares in their colours (the same colours everywhere). The tracks on screen
// switch to their events one by one (thread-events, as ThreadTracks draws
// them, hover and keys included) once the window is DETAIL_MS or shorter, and
// a track whose name is clicked ("picked") at any zoom. Zoom and pan are
// shared: Ctrl+wheel (a pinch) or + and - zoom, dragging or Shift+wheel pans,
// 0 resets; the wheel scrolls through the threads.
//
// Thousands of threads: only the lines on screen are drawn. The canvas is as
// tall as the scroll box and stays at its top; a spacer below it gives the box
// its scroll length.

import { api } from "./api.js";
import { reasonColor, reasonLegend } from "./colors.js";
import { el, fmtClock, fmtDuration, fmtPercent, swatches } from "./format.js";
import { AXIS_H, CPU_COLOR, CPU_ROW, LABEL_W, OFF_ROW, ThreadTracks, TRACK_H, tracksFromAnswer } from "./tracks.js";

export const DETAIL_MS = 20_000;
const MAX_DETAIL_TIDS = 80;
const DETAIL_LIMIT = 200_000;
const MAX_THREADS = 2000;
const MAX_CELLS = 2_000_000; // the server's bound on buckets x threads
const GROUP_BG = "#eef1f5";
const UNDER_DETAIL = 0.4; // the density's opacity over events drawn one by one
const PICKED_BG = "#fff3e0";
const MORE_TEXT = "#5c6370";

const emptyRows = () => [0, 1].map(() => ({ n: 0, start: new Float64Array(0), end: new Float64Array(0), code: new Uint16Array(0), ev: new Int32Array(0), maxDur: 0 }));
const keyOf = (t) => `${t.pid}:${t.tid}`;
// Times sent as Unix µs: a window narrower than a millisecond stays exact.
const us = (ms) => String(Math.round(ms * 1000));

export class AllThreads extends ThreadTracks {
  // onWindow(lo, hi, full): the window changed (ms); onOpen(thread): a
  // track's name was double-clicked; onPick(event): an event was chosen.
  constructor(host, { onWindow, onOpen, onPick } = {}) {
    super(host, { label: "All threads", onPick, onWindow: (lo, hi, full) => this.windowChanged(lo, hi, full) });
    this.reportWindow = onWindow;
    this.onOpen = onOpen;
    this.root.className = "all-tracks"; // not `.tracks`: that names the chosen threads' lane
    this.canvas.setAttribute("aria-label", "All threads: a track per thread, grouped by process; on-CPU share and off-CPU time by reason over time. The wheel scrolls the threads; Ctrl with the wheel, or plus and minus (W and S), zoom; dragging, Shift with the wheel, Shift with arrows (A and D) pan; 0 resets. Left and right arrows step through the events drawn one by one, up and down between threads.");
    this.spacer = el("div", { className: "all-tracks-spacer" });
    this.root.append(this.spacer);
    this.root.addEventListener("scroll", () => this.scrolled());
    this.canvas.addEventListener("dblclick", (e) => this.onDouble(e));
    this.density = null; // the newest thread-density answer
    this.lines = [];
    this.tracks = [];
    this.picked = new Set();
    this.collapsed = new Set();
    this.detail = null; // { lo, hi, width, keys, answer, usable }
    this.seq = 0;
    this.detailSeq = 0;
    this.order = [];
    this.viewH = 0;
    this.widthAsked = 0;
  }

  // ---- data --------------------------------------------------------------

  // scope: { query, from, until, pid/tid (show only) }; order: the threads
  // list's rows as it shows them; win: [lo, hi] ms from the URL, or null.
  async show(scope, order, win, filtered = false) {
    this.scope = scope;
    this.order = order;
    this.filtered = filtered;
    this.picked.clear();
    this.detail = null;
    this.tracks = []; // another selection: nothing drawn one by one is kept
    const seq = ++this.seq;
    const answer = await this.fetchDensity(scope.from, scope.until);
    if (seq !== this.seq) return null;
    this.full = [answer.from_ms, answer.until_ms];
    const inside = win && win[0] < this.full[1] && win[1] > this.full[0];
    [this.lo, this.hi] = inside ? [Math.max(win[0], this.full[0]), Math.min(win[1], this.full[1])] : this.full;
    this.setDensity(answer);
    if (inside && !this.isFull()) this.reload();
    else this.scheduleDetail();
    return answer;
  }

  // Buckets of about a pixel each.
  bucketsFor(plotW) {
    return Math.max(20, Math.min(2000, Math.round(plotW) || 400));
  }

  fetchDensity(from, until) {
    const buckets = this.bucketsFor(this.geometry().plotW);
    this.widthAsked = buckets;
    const limit = Math.min(MAX_THREADS, Math.floor(MAX_CELLS / buckets));
    const { query, pid, tid } = this.scope;
    return api.threadDensity(query, from, until, { buckets, limit, ...(pid ? { pid } : {}), ...(tid ? { tid } : {}) });
  }

  // The threads list's order changed (sort or filter): the same data, laid out again.
  setOrder(order, filtered) {
    this.order = order;
    this.filtered = filtered;
    if (!this.density) return;
    this.layout();
    this.draw();
    this.scheduleDetail();
  }

  setDensity(answer) {
    this.density = answer;
    this.layout();
    this.drawLegend();
    this.draw();
  }

  // Lines: per process a group line, then its threads (unless folded), in the
  // list's order (threads it does not show, filtered out, are left out; those
  // it does not know, in an interval begun before the range, come last).
  layout() {
    const a = this.density;
    const rank = new Map(this.order.map((t, i) => [keyOf(t), i]));
    const listed = new Set(this.order.map(keyOf));
    const filtered = this.filtered;
    const threads = a.threads.filter((t) => listed.has(keyOf(t)) || (!filtered && !rank.has(keyOf(t))));
    threads.sort((x, y) => (rank.get(keyOf(x)) ?? 1e9) - (rank.get(keyOf(y)) ?? 1e9));
    const groups = new Map();
    for (const t of threads) {
      if (!groups.has(t.pid)) groups.set(t.pid, []);
      groups.get(t.pid).push(t);
    }
    const old = new Map(this.tracks.map((t) => [t.key, t]));
    const selKey = this.selected && this.tracks[this.selected.track] ? this.tracks[this.selected.track].key : "";
    this.tracks = [];
    this.lines = [];
    for (const [pid, members] of groups) {
      const main = members.find((t) => t.tid === pid) || members[0];
      const name = main.comm || main.thread_name || "?";
      const group = { kind: "group", pid, name, count: members.length, cells: sumCells(members, a.reasons.length) };
      this.lines.push(group);
      for (const th of members) {
        const key = keyOf(th);
        // a track keeps its events drawn one by one across density answers
        const t = old.get(key) || { key, dimmed: false, src: null, rows: emptyRows(), intervals: [], detailed: false };
        t.thread = th;
        t.label = th.thread_name || th.comm || "?";
        t.sub = `tid ${th.tid}${th.comm && th.comm !== th.thread_name ? ` · ${th.comm}` : ""}`;
        t.cells = th.cells;
        t.line = -1;
        this.tracks.push(t);
        if (!this.collapsed.has(pid)) {
          t.line = this.lines.length;
          this.lines.push({ kind: "track", ti: this.tracks.length - 1 });
        }
      }
    }
    if (a.more) this.lines.push({ kind: "more", n: a.more });
    const sel = selKey ? this.tracks.findIndex((t) => t.key === selKey) : -1;
    this.selected = sel >= 0 ? { ...this.selected, track: sel } : null;
    this.hovered = null;
    this.hoveredKey = "";
    this.sizeBox();
  }

  // The window changed (zoom or pan, debounced): the URL, then finer buckets.
  windowChanged(lo, hi, full) {
    if (this.reportWindow) this.reportWindow(lo, hi, full);
    this.reload();
  }

  async reload() {
    if (!this.scope) return;
    const seq = ++this.seq;
    const [lo, hi] = [this.lo, this.hi];
    let answer;
    try {
      answer = await this.fetchDensity(us(lo), us(hi));
    } catch (err) {
      this.status.textContent = `Could not load the threads' time: ${err.message}`;
      return;
    }
    if (seq !== this.seq) return;
    this.setDensity(answer);
    this.scheduleDetail();
  }

  scrolled() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.draw();
      });
    }
    this.scheduleDetail();
  }

  scheduleDetail() {
    clearTimeout(this.detailTimer);
    this.detailTimer = setTimeout(() => this.loadDetail(), 200);
  }

  // The threads whose events are drawn one by one: the picked ones, and the
  // visible ones when the window is short.
  detailKeys() {
    const keys = new Set(this.picked);
    if (this.hi - this.lo <= DETAIL_MS) {
      for (const ti of this.visibleTracks()) {
        if (keys.size >= MAX_DETAIL_TIDS) break;
        keys.add(this.tracks[ti].key);
      }
    }
    return keys;
  }

  covers(d) {
    return Boolean(d) && d.lo <= this.lo && d.hi >= this.hi;
  }

  // Is track `t` drawn event by event now?
  oneByOne(t) {
    return t.detailed && this.detail && this.detail.usable && this.covers(this.detail);
  }

  async loadDetail() {
    const keys = this.detailKeys();
    const d = this.detail;
    if (!keys.size) {
      if (d) this.setDetail(null);
      return;
    }
    // drawn already (or too many events there, unless the window has shrunk since)
    if (this.covers(d) && [...keys].every((k) => d.keys.has(k)) && (d.usable || this.hi - this.lo > d.width / 2)) return;
    // The window, with half of it either side (pans stay drawn), and as much
    // before it again for intervals begun earlier (at most a minute).
    const w = this.hi - this.lo;
    const lo = this.lo - Math.min(60_000, w) - w / 2;
    const hi = this.hi + w / 2;
    const seq = ++this.detailSeq;
    let answer;
    try {
      const tids = [...new Set([...keys].map((k) => k.split(":")[1]))].join(",");
      answer = await api.threadEvents(this.scope.query, us(lo), us(hi), { tids, limit: DETAIL_LIMIT, ...(this.scope.pid ? { pid: this.scope.pid } : {}) });
    } catch (err) {
      this.status.textContent = `Could not load the threads' events: ${err.message}`;
      return;
    }
    if (seq !== this.detailSeq) return;
    this.setDetail({ lo: this.lo - w / 2, hi: this.hi + w / 2, width: w, keys, answer, usable: !answer.truncated });
  }

  // Detail rows onto the tracks it covers (an answer cut at its limit draws
  // nothing one by one: its later events are missing).
  setDetail(detail) {
    const usable = Boolean(detail && detail.usable);
    const byKey = usable ? new Map(tracksFromAnswer(detail.answer).map((t) => [t.key, t])) : new Map();
    for (const t of this.tracks) {
      const dt = byKey.get(t.key);
      t.detailed = Boolean(usable && detail.keys.has(t.key));
      t.rows = dt ? dt.rows : emptyRows();
      t.src = dt ? dt.src : null;
    }
    this.detail = detail;
    this.selected = null;
    this.hovered = null;
    this.hoveredKey = "";
    this.status.textContent = detail && !usable ? `Too many events to draw one by one (more than ${DETAIL_LIMIT.toLocaleString()}): zoom in further.` : "";
    this.draw();
  }

  // ---- geometry ------------------------------------------------------------

  contentHeight() {
    return AXIS_H + this.lines.length * TRACK_H + 4;
  }

  sizeBox() {
    const total = this.contentHeight();
    const most = Math.max(240, Math.round(window.innerHeight * 0.7));
    this.viewH = Math.min(total, most);
    this.root.style.height = `${this.viewH}px`;
    this.spacer.style.height = `${Math.max(0, total - this.viewH)}px`;
  }

  height() {
    return this.viewH || this.contentHeight();
  }

  scrollY() {
    return this.root.scrollTop;
  }

  lineY(i) {
    return AXIS_H + i * TRACK_H - this.scrollY();
  }

  trackY(ti) {
    const t = this.tracks[ti];
    return t && t.line >= 0 ? this.lineY(t.line) : -1e6;
  }

  visibleLines() {
    const first = Math.max(0, Math.floor(this.scrollY() / TRACK_H));
    const last = Math.min(this.lines.length - 1, Math.floor((this.scrollY() + this.height() - AXIS_H) / TRACK_H));
    const out = [];
    for (let i = first; i <= last; i++) out.push(i);
    return out;
  }

  visibleTracks() {
    return this.visibleLines().map((i) => this.lines[i]).filter((l) => l.kind === "track").map((l) => l.ti);
  }

  // Scrolls so line `i` is on screen.
  showLine(i) {
    const top = i * TRACK_H;
    const box = this.height() - AXIS_H;
    if (top < this.scrollY()) this.root.scrollTop = top;
    else if (top + TRACK_H > this.scrollY() + box) this.root.scrollTop = top + TRACK_H - box;
  }

  // ---- drawing -------------------------------------------------------------

  drawLegend() {
    if (!this.density) return;
    const reasons = new Set(this.density.reasons.slice(1));
    this.legend.replaceChildren(...swatches([
      [CPU_COLOR, "on-CPU (opacity: share of the time)"],
      ...reasonLegend(reasons).map(([c, text]) => [c, text === "off-CPU: runqueue" ? "run-queue delay" : text]),
    ]));
  }

  draw() {
    if (!this.lines) return; // the base constructor draws before this one has data
    const g = this.geometry();
    if (g.width && this.density && this.scope && Math.abs(this.bucketsFor(g.plotW) - this.widthAsked) > 100 && !this.resizing) {
      // a much wider or narrower box: buckets of a pixel again
      this.resizing = true;
      setTimeout(() => {
        this.resizing = false;
        this.reload();
      }, 250);
    }
    super.draw();
  }

  // The lines on screen, under the axis.
  drawBody(ctx, g, height) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, AXIS_H, g.width, height - AXIS_H);
    ctx.clip();
    for (const i of this.visibleLines()) {
      const line = this.lines[i];
      const y = this.lineY(i);
      if (line.kind === "group") this.drawGroup(ctx, g, line, y);
      else if (line.kind === "more") this.drawMore(ctx, g, line, y);
      else this.drawLine(ctx, g, this.tracks[line.ti], y);
    }
    ctx.restore();
  }

  drawLine(ctx, g, t, y) {
    if (this.picked.has(t.key)) {
      ctx.fillStyle = PICKED_BG;
      ctx.fillRect(0, y, LABEL_W - 4, TRACK_H - 2);
    }
    if (!this.oneByOne(t)) {
      // the label and empty rows, then the density over them
      const rows = t.rows;
      t.rows = emptyRows();
      this.drawTrack(ctx, g, t, y);
      t.rows = rows;
      this.drawCells(ctx, g, t.cells, y, 1);
    } else {
      // the events, and faintly over them the density: the kernel's sums of
      // short waits are marks one by one (when each was is lost), their time
      // shows there
      this.drawTrack(ctx, g, t, y);
      this.drawCells(ctx, g, t.cells, y, 1, UNDER_DETAIL);
    }
  }

  drawGroup(ctx, g, line, y) {
    ctx.fillStyle = GROUP_BG;
    ctx.fillRect(0, y, g.width, TRACK_H - 2);
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#1d1f24";
    const open = !this.collapsed.has(line.pid);
    this.clipText(ctx, `${open ? "▾" : "▸"} ${line.name}`, 4, y + 9, LABEL_W - 10);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5c6370";
    this.clipText(ctx, `pid ${line.pid} · ${line.count} thread${line.count === 1 ? "" : "s"}`, 4, y + 22, LABEL_W - 10);
    this.drawCells(ctx, g, line.cells, y, line.count);
  }

  drawMore(ctx, g, line, y) {
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillStyle = MORE_TEXT;
    this.clipText(ctx, `${line.n.toLocaleString()} more thread${line.n === 1 ? "" : "s"}, the least busy: not drawn (filter the list, or narrow the selection to a process)`, 4, y + TRACK_H / 2, g.width - 8);
  }

  // Per pixel column, each reason's share of the column's time (threads:
  // how many threads the cells sum, so a process's line reads as a share too).
  columns(cells, g, threads) {
    const a = this.density;
    const nr = a.reasons.length;
    const W = Math.max(1, Math.ceil(g.plotW));
    const bins = new Float32Array(W * nr);
    const stepNs = a.step_ms * 1e6;
    for (let i = 0; i < cells.length; i += 4) {
      const t0 = a.from_ms + cells[i] * a.step_ms;
      const x0 = (t0 - this.lo) * g.k;
      const x1 = (t0 + cells[i + 3] * a.step_ms - this.lo) * g.k;
      if (x1 <= 0 || x0 >= W) continue;
      const r = cells[i + 1];
      const share = cells[i + 2] / stepNs / (r === 0 ? 1 : threads);
      const last = Math.min(W - 1, Math.ceil(x1) - 1);
      for (let px = Math.max(0, Math.floor(x0)); px <= last; px++) {
        const cover = Math.min(x1, px + 1) - Math.max(x0, px);
        if (cover > 0) bins[px * nr + r] += share * cover;
      }
    }
    return { bins, nr, W };
  }

  drawCells(ctx, g, cells, y, threads, alpha = 1) {
    if (!cells || !cells.length || !this.density) return;
    const { bins, nr, W } = this.columns(cells, g, threads);
    const reasons = this.density.reasons;
    const yCpu = y + this.rowY(0);
    const yOff = y + this.rowY(1);
    // on-CPU: opacity in 16 steps, runs of equal columns as one rectangle
    ctx.fillStyle = CPU_COLOR;
    let runStart = 0;
    let runLevel = 0;
    const level = (px) => {
      const v = bins[px * nr];
      return v > 0 ? Math.max(4, Math.min(16, Math.round(v * 16))) : 0;
    };
    for (let px = 0; px <= W; px++) {
      const lv = px < W ? level(px) : -1;
      if (lv === runLevel) continue;
      if (runLevel > 0) {
        ctx.globalAlpha = (alpha * runLevel) / 16;
        ctx.fillRect(LABEL_W + runStart, yCpu, px - runStart, CPU_ROW);
      }
      runStart = px;
      runLevel = lv;
    }
    ctx.globalAlpha = alpha;
    // off-CPU: the reasons' shares stacked from the bottom, whole pixels
    const prev = new Int16Array(nr);
    const cur = new Int16Array(nr);
    runStart = 0;
    const stackOf = (px, out) => {
      let total = 0;
      for (let r = 1; r < nr; r++) total += bins[px * nr + r];
      const scale = total > 1 ? 1 / total : 1;
      let used = 0;
      for (let r = 1; r < nr; r++) {
        const v = bins[px * nr + r] * scale;
        const h = v > 0 ? Math.max(1, Math.round((used + v) * OFF_ROW) - Math.round(used * OFF_ROW)) : 0;
        out[r] = h;
        used += v;
      }
    };
    const flush = (from, to, hs) => {
      let base = yOff + OFF_ROW;
      for (let r = 1; r < nr; r++) {
        if (!hs[r]) continue;
        const h = Math.min(hs[r], base - yOff);
        if (h <= 0) break;
        ctx.fillStyle = reasonColor(reasons[r]);
        ctx.fillRect(LABEL_W + from, base - h, to - from, h);
        base -= h;
      }
    };
    for (let px = 0; px <= W; px++) {
      if (px < W) stackOf(px, cur);
      else cur.fill(-1);
      let same = px > 0;
      for (let r = 1; same && r < nr; r++) same = cur[r] === prev[r];
      if (same) continue;
      if (px > 0) flush(runStart, px, prev);
      runStart = px;
      prev.set(cur);
    }
    ctx.globalAlpha = 1;
  }

  // ---- hit testing ----------------------------------------------------------

  hitAt(px, py) {
    if (py < AXIS_H || !this.lines.length) return null;
    const i = Math.floor((py - AXIS_H + this.scrollY()) / TRACK_H);
    const line = this.lines[i];
    if (!line) return null;
    if (line.kind === "more") return { more: line };
    if (line.kind === "group") return { group: line, line: i };
    const t = this.tracks[line.ti];
    if (px < LABEL_W) return { label: t, line: i };
    const g = this.geometry();
    const ms = this.lo + (px - LABEL_W) / g.k;
    if (this.oneByOne(t)) return this.hitTrack(line.ti, py - this.lineY(i), ms, g);
    return { density: t, ms };
  }

  // What a density line holds at `ms`: [reason, share] of its bucket, most first.
  bucketAt(cells, ms) {
    const a = this.density;
    const b = Math.floor((ms - a.from_ms) / a.step_ms);
    const out = [];
    for (let i = 0; i < cells.length; i += 4) {
      if (b >= cells[i] && b < cells[i] + cells[i + 3]) out.push([a.reasons[cells[i + 1]], cells[i + 2] / (a.step_ms * 1e6)]);
    }
    return { from: a.from_ms + b * a.step_ms, shares: out.sort((x, y) => y[1] - x[1]) };
  }

  lineTip(hit) {
    if (hit.more) return [el("div", { className: "tt-name", text: `${hit.more.n} more threads` }), el("div", { className: "tt-row", text: "The least busy threads of the range are not drawn: filter the list above or narrow the selection." })];
    if (hit.group) {
      const open = !this.collapsed.has(hit.group.pid);
      return [el("div", { className: "tt-name", text: `${hit.group.name} (pid ${hit.group.pid})` }),
        el("div", { className: "tt-row", text: `${hit.group.count} threads: their time summed (on-CPU opacity: CPUs busy, up to one; off-CPU: the threads' average)` }),
        el("div", { className: "tt-row", text: `click to ${open ? "fold" : "unfold"} its threads` })];
    }
    if (hit.label) {
      const t = hit.label;
      return [el("div", { className: "tt-name", text: `${t.label} (tid ${t.thread.tid}, pid ${t.thread.pid})` }),
        el("div", { className: "tt-row", text: `on-CPU ${fmtDuration(t.thread.cpu_ns)}, off-CPU ${fmtDuration(t.thread.offcpu_ns)} in the range` }),
        el("div", { className: "tt-row", text: this.picked.has(t.key) ? "click: back to its density" : "click: draw its events one by one at any zoom" }),
        el("div", { className: "tt-row", text: "double-click: open this thread (its flame graph)" })];
    }
    const t = hit.density;
    const at = this.bucketAt(t.cells || [], hit.ms);
    const step = this.density.step_ms;
    const lines = [el("div", { className: "tt-name", text: `${t.label} (tid ${t.thread.tid})` }),
      el("div", { className: "tt-row", text: `${fmtClock(at.from, false, 3)} + ${fmtDuration(step * 1e6)}` })];
    if (!at.shares.length) lines.push(el("div", { className: "tt-row", text: "no samples" }));
    for (const [reason, share] of at.shares) lines.push(el("div", { className: "tt-row", text: `${reason === "cpu" ? "on-CPU" : `off-CPU: ${reason}`} ${fmtPercent(Math.min(1, share), 1)}` }));
    lines.push(el("div", { className: "tt-row", text: `zoom in (under ${DETAIL_MS / 1000} s) or click its name for its events one by one` }));
    return lines;
  }

  onMove(event) {
    if (this.drag && this.drag.moved) return;
    const [px, py] = this.local(event);
    const hit = this.hitAt(px, py);
    if (hit && (hit.group || hit.label || hit.density || hit.more)) {
      this.hover(null);
      this.canvas.style.cursor = hit.density ? "grab" : "pointer";
      this.showTip(event, this.lineTip(hit));
      return;
    }
    super.onMove(event);
  }

  onUp(event) {
    const drag = this.drag;
    if (drag && !drag.moved) {
      const hit = this.hitAt(drag.px, drag.py);
      if (hit && (hit.group || hit.label || hit.density || hit.more)) {
        this.drag = null;
        if (hit.group) this.toggleGroup(hit.group.pid);
        else if (hit.label) this.togglePick(hit.label);
        return;
      }
    }
    super.onUp(event);
  }

  onDouble(event) {
    const [px, py] = this.local(event);
    const hit = this.hitAt(px, py);
    if (hit && hit.label && this.onOpen) this.onOpen(hit.label.thread);
  }

  // The wheel scrolls the threads; with Ctrl (a pinch) it zooms, with Shift it pans.
  onWheel(event) {
    if (event.ctrlKey || event.metaKey) {
      const [px] = this.local(event);
      if (px < LABEL_W) return;
      event.preventDefault();
      const g = this.geometry();
      this.zoom(Math.pow(1.0015, event.deltaY * 3), this.lo + (px - LABEL_W) / g.k);
      return;
    }
    if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) super.onWheel(event);
  }

  onKey(event) {
    // Perfetto's keys too: W/S zoom, A/D pan
    const keys = { w: "+", s: "-" };
    if (keys[event.key]) return super.onKey({ key: keys[event.key], shiftKey: false, preventDefault: () => event.preventDefault() });
    if (event.key === "a" || event.key === "d") {
      event.preventDefault();
      return this.pan(event.key === "a" ? -0.2 : 0.2);
    }
    super.onKey(event);
  }

  select(hit) {
    const t = this.tracks[hit.track];
    if (t && t.line >= 0) this.showLine(t.line);
    super.select(hit);
  }

  toggleGroup(pid) {
    if (this.collapsed.has(pid)) this.collapsed.delete(pid);
    else this.collapsed.add(pid);
    this.layout();
    this.draw();
    this.scheduleDetail();
  }

  togglePick(t) {
    if (this.picked.has(t.key)) {
      this.picked.delete(t.key);
      // back to its density, unless the window is short enough for all
      t.detailed = this.hi - this.lo <= DETAIL_MS && Boolean(this.detail) && this.detail.keys.has(t.key);
    } else this.picked.add(t.key);
    this.draw();
    this.loadDetail();
  }
}

// A process's cells: its threads' cells summed per bucket and reason (runs of one).
function sumCells(threads, nr) {
  const acc = new Map();
  for (const t of threads) {
    const c = t.cells || [];
    for (let i = 0; i < c.length; i += 4) {
      for (let b = c[i]; b < c[i] + c[i + 3]; b++) {
        const key = b * nr + c[i + 1];
        acc.set(key, (acc.get(key) || 0) + c[i + 2]);
      }
    }
  }
  const out = [];
  for (const [key, v] of acc) out.push(Math.floor(key / nr), key % nr, v, 1);
  return out;
}
