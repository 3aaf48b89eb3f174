// One trace (`/?trace=TRACE_ID`): its span waterfall above the tracks of every
// thread that served it, on one time axis; where its time went, for the whole
// trace and per span; and the merged on/off-CPU flame graph of the trace or of
// the chosen span. State in the URL: trace, span, window (ms from the trace's
// start, "LO-HI"), others (1: the process's other threads, dimmed); the flame
// graph's layout, order, search and zoom as in every view (viewstate.js), and
// fn, the function whose sandwich is open under it (its graphs' zoom:
// callersZoom, calleesZoom, as in the Sandwich view).

import { api } from "./api.js";
import { KIND_LABELS, reasonColor, reasonsIn } from "./colors.js";
import { traceAnswers } from "./early.js";
import { ExportMenu, flamebearer } from "./export.js";
import { el, fmtDuration, fmtPercent, swatches } from "./format.js";
import { SANDWICH_ZOOM, showPanelState, urlFlamePanel, windowOf, windowParam } from "./viewstate.js";
import { FrameMenu } from "./framemenu.js";
import { agentCommand, errorBox, loading } from "./states.js";
import { CPU_COLOR, ThreadTracks, tracksFromAnswer } from "./tracks.js";
import { filterChips } from "./framemenu.js";
import { decodeFlamebearer, sandwich } from "./tree.js";
import { chipOf, OffwakeSwitch, pickPatch, waitOf, waitParams, WaitsTable } from "./waits.js";

const PAD_MS_MIN = 2;
const MAX_SPAN_ROWS = 16;
const OTHERS_LIMIT = 200000;

function spanTree(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const children = new Map();
  for (const s of spans) {
    const p = byId.has(s.parent_id) ? s.parent_id : "";
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(s);
  }
  // Depth first; each span on the first row below its parent's where it
  // overlaps no span already there, so sequential siblings share a row.
  const out = [];
  const rows = [];
  const walk = (parent, depth, parentRow) => {
    for (const s of (children.get(parent) || []).sort((a, b) => a.start_ms - b.start_ms)) {
      const span = { ...s, depth, start: s.start_ms, end: s.start_ms + s.duration_ms, error: s.status === "error" };
      let row = parentRow + 1;
      while (rows[row] && rows[row].some(([a, b]) => span.start < b && a < span.end)) row++;
      (rows[row] = rows[row] || []).push([span.start, span.end]);
      span.row = row;
      out.push(span);
      walk(s.span_id, depth + 1, row);
    }
  };
  walk("", 0, -1);
  return { ordered: out, children };
}

// Per span (with its children): cpu and off-CPU ns by reason, from the trace's
// events; CPU is served time minus off-CPU inside it when thread spans exist
// (exact, as the server's trace figures), else the on-CPU samples.
function spanBreakdowns(answer, children) {
  const own = new Map();
  const get = (id) => {
    if (!own.has(id)) own.set(id, { cpu: 0, served: 0, off: {} });
    return own.get(id);
  };
  const ev = answer.events;
  const exact = answer.intervals.length > 0;
  // summed by (span, reason) index first: no lookup by name per event
  const nr = answer.reasons.length;
  const cpu = new Float64Array(answer.spans.length);
  const off = new Float64Array(answer.spans.length * nr);
  for (let i = 0; i < ev.t_us.length; i++) {
    if (ev.cpu[i]) cpu[ev.span[i]] += ev.dur_ns[i];
    else off[ev.span[i] * nr + ev.reason[i]] += ev.dur_ns[i];
  }
  answer.spans.forEach((id, sp) => {
    for (let r = 0; r < nr; r++) {
      const v = off[sp * nr + r];
      if (!v) continue;
      const b = get(id);
      const name = answer.reasons[r] || "other";
      b.off[name] = (b.off[name] || 0) + v;
    }
    if (!exact && cpu[sp]) get(id).cpu += cpu[sp];
  });
  for (const [, s, e, sp] of answer.intervals) get(answer.spans[sp]).served += (e - s) * 1000;
  const total = new Map();
  const sum = (id) => {
    if (total.has(id)) return total.get(id);
    const o = get(id);
    const offNs = Object.values(o.off).reduce((a, b) => a + b, 0);
    const out = { cpu: exact ? Math.max(0, o.served - offNs) : o.cpu, ...o.off };
    for (const c of children.get(id) || []) {
      for (const [k, v] of Object.entries(sum(c.span_id))) out[k] = (out[k] || 0) + v;
    }
    total.set(id, out);
    return out;
  };
  return sum;
}

export class TraceView {
  constructor(section, app) {
    this.app = app;
    this.seq = 0;
    this.data = null;
    this.title = el("h2", { text: "Trace" });
    this.summary = el("p", { className: "hint" });
    this.notice = el("div");
    this.othersBox = el("input", { type: "checkbox", id: "trace-others" });
    this.othersBox.addEventListener("change", () => app.setState({ others: this.othersBox.checked ? "1" : null }, { push: false }));
    this.resetBtn = el("button", { type: "button", className: "btn", text: "Reset zoom", onclick: () => this.tracks.reset() });
    this.tracksState = el("div");
    this.tracksBox = el("div");
    this.stackBox = el("div", { "aria-live": "polite" });
    this.head = el("div", { className: "panel" }, [
      el("div", { className: "panel-head" }, [this.title, el("span", { className: "spacer" }),
        el("label", { className: "toggle", for: "trace-others" }, [this.othersBox, "Other threads of the process (dimmed)"]),
        this.resetBtn]),
      this.summary,
      this.notice,
      this.tracksState,
      this.tracksBox,
      this.stackBox,
    ]);
    this.breakdownBox = el("div", { className: "panel" }, [el("h2", { text: "Where the time went" }),
      el("p", { className: "hint", text: "Wall time of the threads that served the trace, by what they did; click a bar for its flame graph." })]);
    this.breakdownBody = el("div");
    this.breakdownBox.append(this.breakdownBody);
    this.waitsBody = el("div");
    this.waitsBox = el("div", { className: "panel" }, [el("h2", { text: "Waits by target" }),
      el("p", { className: "hint", text: "What the trace's threads waited on (files, sockets by peer, locks), most off-CPU time first; click one to see only those waits in the flame graph." }),
      this.waitsBody]);
    this.waitsTable = new WaitsTable(this.waitsBody, {
      onPick: (row) => app.setState(pickPatch(app.state, row), { push: false }),
      onSort: (sort) => app.setState({ sort }, { push: false, reload: false }),
      caption: "What the trace waited on, most off-CPU time first",
    });
    this.flameChips = el("div", { className: "filter-chips", hidden: true });
    this.offwakeSwitch = new OffwakeSwitch((on) => app.setState({ offwake: on }, { push: false }));
    this.flameTitle = el("h2", { text: "Flame graph" });
    this.flameState = el("div");
    this.flameBody = el("div");
    // exactly this trace's (or span's) samples, as its graph shows them
    this.exporter = new ExportMenu({
      name: "flamecam-trace",
      files: () => (this.flameBody.hidden || !this.data ? [] : [this.files(this.app.state)]),
      graphs: () => (this.flameBody.hidden || !this.data ? [] : [{ graph: this.panel.graph, title: this.flameTitle.textContent }]),
      meta: () => ({ trace_id: this.data.traceId, span_id: this.app.state.span || "" }),
    });
    this.sandwichBtn = el("button", { type: "button", className: "btn", text: "Sandwich of the focused function", disabled: true, onclick: () => this.openSandwich(this.focused) });
    this.sandwichBox = el("div", { className: "trace-sandwich" });
    // the sandwich's own: the trace's (or span's) samples through its function
    this.sandwichExporter = new ExportMenu({
      name: "flamecam-trace-sandwich",
      files: () => (this.sandwichFn ? [this.sandwichFiles(this.app.state, this.sandwichFn)] : []),
      graphs: () => (this.sandwichFn ? this.sandwichPanels.map((p, n) => ({ graph: p.graph, title: `${n ? "Callees" : "Callers"} of ${this.sandwichFn}` })) : []),
      json: () => ({
        version: 1, sandwich: this.sandwichFn, trace_id: this.data.traceId, span_id: this.app.state.span || "",
        callers: flamebearer(this.sandwichPanels[0].graph.tree), callees: flamebearer(this.sandwichPanels[1].graph.tree),
      }),
      jsonNote: "callers and callees, each as the server's flamebearer",
    });
    this.flameBox = el("div", { className: "panel" }, [
      el("div", { className: "panel-head" }, [this.flameTitle, el("span", { className: "spacer" }), this.offwakeSwitch.root, this.sandwichBtn, this.exporter.root]),
      this.flameChips, this.flameState, this.flameBody, this.sandwichBox]);
    section.append(this.head, this.breakdownBox, this.waitsBox, this.flameBox);
    this.tracks = new ThreadTracks(this.tracksBox, {
      label: "Trace timeline",
      onPick: (event) => this.showStack(event),
      onSpan: (span) => app.setState({ span: span.span_id === app.state.span ? null : span.span_id }),
      onWindow: (lo, hi, full) => this.data && app.setState({ window: windowParam(lo, hi, full, this.data.t0) }, { push: false, reload: false }),
    });
    this.panel = urlFlamePanel(this.flameBody, app, { label: "Flame graph of the trace", idPrefix: "tr", onFocus: (name) => this.focus(name) });
    // zoom, copy, and this trace's own sandwich (the selection's views do not apply)
    this.menu = new FrameMenu(this.panel.graph, { sandwich: (name) => this.openSandwich(name) });
    this.focused = "";
  }

  async show(state) {
    const seq = ++this.seq;
    if (!state.trace) return;
    if (!this.data || this.data.traceId !== state.trace) {
      this.data = null;
      this.loaded = { others: false };
      this.title.textContent = `Trace ${state.trace}`;
      this.summary.textContent = "";
      this.notice.replaceChildren();
      this.tracksBox.hidden = true;
      this.breakdownBox.hidden = true;
      this.flameBox.hidden = true;
      this.tracksState.replaceChildren(loading("Loading the trace"));
      let view;
      let events;
      try {
        [view, events] = await traceAnswers(state.trace);
      } catch (err) {
        if (seq !== this.seq) return;
        this.tracksState.replaceChildren(err.status === 404 ? this.notFound(state.trace) : errorBox(err, "Could not load the trace"));
        return;
      }
      if (seq !== this.seq) return;
      this.data = this.prepare(state.trace, view, events);
      this.tracksState.replaceChildren();
    }
    await this.render(state, seq);
  }

  prepare(traceId, view, events) {
    const { ordered, children } = spanTree(view.spans);
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of view.spans) {
      lo = Math.min(lo, s.start_ms);
      hi = Math.max(hi, s.start_ms + s.duration_ms);
    }
    for (const t of view.threads) {
      for (const [a, b] of t.intervals) {
        lo = Math.min(lo, a);
        hi = Math.max(hi, b);
      }
    }
    const ev = events.events;
    for (let i = 0; i < ev.t_us.length; i++) {
      const s = events.t0_ms + ev.t_us[i] / 1000;
      lo = Math.min(lo, s);
      hi = Math.max(hi, s + ev.dur_ns[i] / 1e6);
    }
    if (!isFinite(lo)) [lo, hi] = [0, 1];
    const pad = Math.max(PAD_MS_MIN, (hi - lo) * 0.02);
    const root = ordered[0];
    return {
      traceId, view, events, ordered, children, t0: lo,
      full: [lo - pad, hi + pad],
      root,
      service: root ? root.service : "",
      pid: view.threads.length ? view.threads[0].pid : root ? root.pid : null,
      host: root ? root.host || "" : "",
      breakdownOf: spanBreakdowns(events, children),
      others: null,
    };
  }

  notFound(traceId) {
    return el("div", { className: "empty", role: "status" }, [
      el("strong", { text: `Trace ${traceId} is not stored on this server.` }),
      "Flamecam keeps the traces it receives over OTLP: point the app's OpenTelemetry exporter at ",
      el("code", { text: location.origin }),
      " (OTEL_EXPORTER_OTLP_ENDPOINT, see the README). Traces older than the retention (7 days) are deleted.",
    ]);
  }

  noThreadData(d) {
    const host = d.host || "the host that ran it";
    return el("div", { className: "empty", role: "status" }, [
      el("strong", { text: "No thread data for this trace: its spans arrived, but no thread was linked to them." }),
      "Either install flamecam_otel in the app (",
      el("code", { text: "pip install flamecam-otel" }),
      ", then call ",
      el("code", { text: "flamecam_otel.instrument()" }),
      " after setting up OpenTelemetry), or the agent was not running on ",
      el("code", { text: host }),
      " at the time: start it there with ",
      el("code", { text: agentCommand() }),
      ".",
    ]);
  }

  async render(state, seq) {
    const d = this.data;
    const v = d.view;
    const root = d.root;
    this.title.textContent = root ? `Trace: ${root.name}` : `Trace ${d.traceId}`;
    const threads = v.threads.length;
    this.summary.textContent = [
      root ? fmtDuration(root.duration_ms * 1e6) : "",
      d.service ? `service ${d.service}` : "",
      `${v.spans.length} span${v.spans.length === 1 ? "" : "s"}`,
      `${threads} thread${threads === 1 ? "" : "s"}`,
      `trace ${d.traceId}`,
      v.linking === "approximate" ? "thread links approximate (no thread spans: figures from samples)" : "",
    ].filter(Boolean).join(" · ");
    this.notice.replaceChildren(v.linking === "none" ? this.noThreadData(d) : "");
    this.othersBox.checked = state.others === "1";
    const others = state.others === "1" ? await this.loadOthers(seq) : null;
    if (seq !== this.seq) return;
    const tracks = tracksFromAnswer(d.events);
    if (others) {
      const mine = new Set(tracks.map((t) => t.key));
      tracks.push(...tracksFromAnswer(others, { dimmed: true, skip: mine }));
    }
    const win = windowOf(state, d.t0);
    const spans = d.ordered.filter((sp) => sp.row < MAX_SPAN_ROWS);
    this.tracksBox.hidden = false;
    this.stackBox.replaceChildren();
    this.tracks.setData(tracks, { spans, full: d.full, origin: d.t0, window: win });
    this.tracks.setSelectedSpan(state.span || "");
    if (spans.length < d.ordered.length) this.tracksState.replaceChildren(el("p", { className: "hint", text: `${d.ordered.length - spans.length} of ${d.ordered.length} spans are nested or overlap too deep to draw; the breakdown below lists them.` }));
    if (d.events.truncated) this.tracksState.append(el("p", { className: "hint", text: "Only the first events of this trace are drawn: it has more than the server sends at once." }));
    this.drawBreakdown(state);
    this.drawWaits(state);
    await this.showFlame(state, seq);
  }

  async loadOthers(seq) {
    const d = this.data;
    if (d.others) return d.others;
    if (d.pid === null || d.pid === undefined) return null;
    const query = d.service ? `wall{service_name="${d.service.replace(/["\\]/g, "\\$&")}"}` : "wall{}";
    try {
      d.others = await api.threadColumns(query, String(Math.floor(d.full[0])), String(Math.ceil(d.full[1])), { pid: d.pid, limit: OTHERS_LIMIT });
    } catch (err) {
      if (seq === this.seq) this.tracksState.replaceChildren(errorBox(err, "Could not load the process's other threads"));
      return null;
    }
    if (!d.others.threads.length && seq === this.seq) {
      this.tracksState.replaceChildren(el("p", { className: "hint", text: `No other thread of pid ${d.pid} was profiled in this window (is the agent running on ${d.host || "its host"}?).` }));
    }
    return d.others;
  }

  drawBreakdown(state) {
    const d = this.data;
    const whole = d.view.breakdown || {};
    const shown = d.ordered.slice(0, 60);
    const figures = [whole, ...shown.map((s) => d.breakdownOf(s.span_id))];
    // Bars share one scale (the largest total), so a span's bar shows its size too.
    const sum = (f) => Object.values(f).reduce((a, b) => a + b, 0);
    const scale = Math.max(1, ...figures.map(sum));
    const rows = [this.breakdownRow("Whole trace", whole, "", !state.span, scale)];
    shown.forEach((s, i) => {
      rows.push(this.breakdownRow(`${"  ".repeat(Math.min(6, s.depth))}${s.name}`, figures[i + 1], s.span_id, state.span === s.span_id, scale));
    });
    const seen = new Set();
    for (const r of figures) for (const k of Object.keys(r)) if (k !== "cpu") seen.add(k);
    const legend = el("div", { className: "legend" }, swatches([[CPU_COLOR, "cpu"], ...reasonsIn(seen).map((r) => [reasonColor(r), r])]));
    this.breakdownBody.replaceChildren(legend, el("div", { className: "breakdown" }, rows));
    this.breakdownBox.hidden = false;
  }

  breakdownRow(label, figures, spanId, selected, scale) {
    const keys = ["cpu", ...reasonsIn(new Set(Object.keys(figures).filter((k) => k !== "cpu")))];
    const total = keys.reduce((s, k) => s + (figures[k] || 0), 0);
    const fill = el("span", { className: "bd-fill" });
    fill.style.width = `${(total / scale) * 100}%`;
    const bar = el("span", { className: "bd-bar" }, [fill]);
    const parts = [];
    for (const k of keys) {
      const v = figures[k] || 0;
      if (!v) continue;
      const seg = el("span", { className: "bd-seg", title: `${k}: ${fmtDuration(v)} (${fmtPercent(v / total, 1)})` });
      seg.style.width = `${(v / total) * 100}%`;
      seg.style.background = k === "cpu" ? CPU_COLOR : reasonColor(k);
      fill.append(seg);
      parts.push(`${k} ${fmtDuration(v)}`);
    }
    return el("button", {
      type: "button",
      className: `bd-row${selected ? " selected" : ""}`,
      "aria-pressed": String(selected),
      dataset: { span: spanId },
      onclick: () => this.app.setState({ span: spanId || null }),
    }, [
      el("span", { className: "bd-label", text: label }),
      bar,
      el("span", { className: "bd-text", text: total ? parts.join(" · ") : "no thread time linked" }),
    ]);
  }

  // The trace's (or the chosen span's) waits by target, once per scope.
  drawWaits(state) {
    const d = this.data;
    const key = `${d.traceId}/${state.span || ""}`;
    this.waitsTable.setSort(state.sort);
    this.waitsTable.setPicked(waitOf(state));
    if (this.waitsKey === key) return;
    this.waitsKey = key;
    this.waitsBox.hidden = d.view.linking === "none";
    if (!this.waitsBox.hidden) this.waitsTable.load({ query: "wall{}", trace_id: d.traceId, ...(state.span ? { span_id: state.span } : {}) });
  }

  async showFlame(state, seq) {
    const d = this.data;
    const span = state.span ? d.ordered.find((s) => s.span_id === state.span) : null;
    const only = waitOf(state);
    const offwake = state.offwake === "1";
    const of = span ? `span ${span.name} and its children` : "the trace";
    this.flameTitle.textContent = offwake
      ? `Off-wake graph of ${of}: each blocked stack with its waker's stack on top`
      : only ? `Off-CPU time of ${of} waiting on one target`
        : span ? `Wall time of span ${span.name} and its children: on-CPU and off-CPU`
          : "Wall time of the trace: on-CPU and off-CPU";
    this.offwakeSwitch.set(offwake);
    filterChips(this.flameChips, chipOf(state, this.app));
    const extra = { trace_id: d.traceId, ...(state.span ? { span_id: state.span } : {}) };
    this.flameBox.hidden = false;
    this.flameState.replaceChildren(loading("Loading the flame graph"));
    showPanelState(this.panel, state);
    this.showSandwich("");
    let answer;
    try {
      answer = await this.app.render("wall{}", "", "", { ...extra, ...waitParams(state) });
    } catch (err) {
      if (seq === this.seq) this.flameState.replaceChildren(errorBox(err, "Could not load the flame graph"));
      return;
    }
    if (seq !== this.seq) return;
    this.tree = decodeFlamebearer(answer);
    const empty = !this.tree.numTicks;
    this.sandwichBtn.hidden = empty;
    this.exporter.root.hidden = empty;
    if (empty) {
      this.flameBody.hidden = true;
      this.flameState.replaceChildren(d.view.linking === "none"
        ? el("p", { className: "hint", text: "No flame graph: no thread was linked to this trace (see above)." })
        : only || offwake ? el("div", { className: "empty", role: "status" }, [el("strong", { text: offwake ? "No linked wait here has a known waker." : "No linked wait here waited on that target." }), "Wakers and targets are recorded for off-CPU intervals at or above the agent's threshold (1 ms by default)."])
          : el("div", { className: "empty", role: "status" }, [el("strong", { text: "No samples are linked to this span." }), "Its threads did no linked work in it; choose the whole trace or another span."]));
      return;
    }
    this.flameState.replaceChildren();
    this.flameBody.hidden = false;
    showPanelState(this.panel, state, this.tree);
    this.showSandwich(state.fn || "");
  }

  // The files of the graph: the trace's (or span's) linked samples, of one
  // wait target or the off-wake view when the graph shows that.
  files(state) {
    const span = state.span ? this.data.ordered.find((s) => s.span_id === state.span) : null;
    return {
      title: span ? `The samples of span ${span.name} and its children` : "The samples of this trace",
      params: { query: "wall{}", trace_id: this.data.traceId, ...(state.span ? { span_id: state.span } : {}), ...waitParams(state) },
      // the off-wake view's waker part sits inside the stack: no speedscope form
      formats: state.offwake === "1" ? ["pprof", "folded"] : undefined,
    };
  }

  // The files of the sandwich of `fn`: the graph's samples whose stacks pass through it.
  sandwichFiles(state, fn) {
    const files = this.files(state);
    const of = state.span ? "span and its children" : "trace";
    return { ...files, title: `The samples through ${fn} in this ${of}`, params: { ...files.params, focus: [fn] } };
  }

  // The chosen event's whole stack, innermost frame first, with each frame's kind.
  showStack(event) {
    const frames = [...event.frames].reverse().filter(([, kind]) => kind !== "offcpu");
    const list = el("ol", { className: "stack-list" }, frames.map(([name, kind]) =>
      el("li", {}, [el("span", { text: name }), el("span", { className: "hint", text: `  ${KIND_LABELS[kind] || kind}` })])));
    this.stackBox.replaceChildren(el("p", { className: "hint", text: `${this.tracks.describe(event)} on ${event.thread.thread_name || "?"} (tid ${event.thread.tid}): stack, innermost frame first` }), list);
  }

  focus(name) {
    this.focused = name || "";
    this.sandwichBtn.disabled = !this.focused;
    this.sandwichBtn.textContent = this.focused ? `Sandwich of ${this.focused.length > 40 ? this.focused.slice(0, 39) + "…" : this.focused}` : "Sandwich of the focused function";
  }

  // The sandwich is in the URL (fn): Back closes it, a link reopens it.
  openSandwich(name) {
    if (!name) return;
    this.focus(name);
    this.app.setState({ fn: name }, { reload: false });
    this.showSandwich(name);
  }

  // The sandwich of `fn` under the graph; none for "" or a function not in it.
  showSandwich(fn) {
    for (const p of this.sandwichPanels || []) p.graph.destroy();
    for (const m of this.sandwichMenus || []) m.destroy();
    this.sandwichPanels = this.sandwichMenus = null;
    this.sandwichFn = "";
    const result = fn && this.tree ? sandwich(this.tree, fn) : null;
    if (!result) {
      this.sandwichBox.replaceChildren();
      return;
    }
    const callers = el("div");
    const callees = el("div");
    const close = el("button", { type: "button", className: "btn", text: "Close the sandwich", onclick: () => {
      this.app.setState({ fn: null }, { reload: false });
      this.showSandwich("");
    } });
    this.sandwichBox.replaceChildren(el("div", { className: "panel-head" }, [el("h3", { text: `Sandwich of ${fn}` }), el("span", { className: "spacer" }), this.sandwichExporter.root, close]), el("div", { className: "sandwich-graphs" }, [
      el("div", {}, [el("h3", { text: `Callers of ${fn}` }), callers]),
      el("div", {}, [el("h3", { text: `Callees of ${fn}` }), callees]),
    ]));
    // each graph's zoom in the URL; search, order and layout their own
    const keys = (zoom) => ({ keys: { layout: null, order: null, search: null, zoom } });
    this.sandwichPanels = [
      urlFlamePanel(callers, this.app, { label: "Callers", layout: "flame", idPrefix: "tr-callers", ...keys(SANDWICH_ZOOM.callers) }),
      urlFlamePanel(callees, this.app, { label: "Callees", layout: "icicle", idPrefix: "tr-callees", ...keys(SANDWICH_ZOOM.callees) }),
    ];
    this.sandwichMenus = this.sandwichPanels.map((p) => new FrameMenu(p.graph, { sandwich: (name) => this.openSandwich(name) }));
    showPanelState(this.sandwichPanels[0], this.app.state, result.callers);
    showPanelState(this.sandwichPanels[1], this.app.state, result.callees);
    this.sandwichFn = fn;
  }
}
