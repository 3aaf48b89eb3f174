// Slow vs fast: the requests above a latency (B) against those below another
// (A), or a brushed box of the scatter against the rest; their merged wall
// flame graphs as a diff in time per request, and their breakdowns side by side.

import { traceApi } from "./api.js";
import { offcpuReason, reasonColor, reasonsIn } from "./colors.js";
import { ExportMenu } from "./export.js";
import { el, fmtDuration, swatches } from "./format.js";
import { FrameMenu } from "./framemenu.js";
import { errorBox, loading } from "./states.js";
import { kindChip } from "./table.js";
import { decodeFlamebearer, functionTotals } from "./tree.js";
import { showPanelState, urlFlamePanel } from "./viewstate.js";

export const CPU_COLOR = "#e0651f";
const ROWS = 100;
// The table's orders (`sort` in the URL): own time's change first, or the total's.
const SORTS = ["dSelf", "dTotal"];

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function signed(ns) {
  return `${ns > 0 ? "+" : ns < 0 ? "−" : ""}${fmtDuration(Math.abs(ns))}`;
}

// The comparison's parameters for the API, from the page's state.
export function diffParams(state, service) {
  const params = { service, from: state.from, until: state.until, endpoint: state.endpoint || "", type: "wall", maxNodes: 20000 };
  if (state.compare === "box" && state.box) params.box = state.box;
  else {
    params.slow_ms = state.slow || "";
    params.fast_ms = state.fast || "";
  }
  return params;
}

export class SlowFastView {
  constructor(host, app) {
    this.app = app;
    this.seq = 0;
    this.sortKey = SORTS[0];
    this.title = el("h2", { text: "Slow vs fast" });
    this.summary = el("p", { className: "sf-summary", "aria-live": "polite" });
    this.form = el("form", { className: "sf-form", "aria-label": "Latency thresholds" });
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.apply();
    });
    this.state = el("div");
    this.breakdownBox = el("div", { className: "sf-breakdown" });
    this.flameBox = el("div");
    this.tableBox = el("div");
    this.results = el("div", {}, [
      el("div", { className: "panel" }, [el("h2", { text: "Where the time went, per request" }), this.breakdownBox]),
      el("div", { className: "panel" }, [
        el("h2", { text: "Differential wall flame graph, time per request (red: more in the slow requests, green: less)" }),
        this.flameBox,
      ]),
      el("div", { className: "panel" }, [
        el("h2", { text: "Functions by extra time per request (B minus A)" }),
        el("p", { className: "hint", text: "Own time: a Python function's own time with the native and kernel code it calls and its generator expressions (a wait counts as its off-CPU reason); native code outside Python counts as itself." }),
        this.tableBox,
      ]),
    ]);
    host.append(el("div", { className: "panel" }, [this.title, this.summary, this.form]), this.state, this.results);
    // the graph's layout, search and zoom are in the URL (viewstate.js)
    this.panel = urlFlamePanel(this.flameBox, app, { label: "Slow vs fast flame graph", idPrefix: "sf" });
    this.menu = new FrameMenu(this.panel.graph, {}); // zoom and copy: a comparison of requests, not a selection
    // no sample files: each side merges hundreds of requests, divided by their count
    this.exporter = new ExportMenu({
      name: "flamecam-slow-vs-fast",
      files: () => [],
      graphs: () => (this.results.hidden ? [] : [{ graph: this.panel.graph, title: "Slow vs fast, time per request" }]),
      json: () => this.answer,
      jsonLabel: "Diff JSON",
      jsonNote: "A's and B's time per request per frame, their requests and breakdowns",
    });
    this.panel.resetBtn.after(this.exporter.root);
  }

  // Loads and draws the comparison; resolves to the answer (or null).
  async show(state, service) {
    const seq = ++this.seq;
    this.results.hidden = true;
    const where = state.endpoint ? `endpoint ${state.endpoint}` : `all endpoints of ${service}`;
    this.title.textContent = state.compare === "box" ? `Brushed requests vs the rest: ${where}` : `Slow vs fast: ${where}`;
    this.summary.textContent = "";
    this.drawForm(state, null);
    this.state.replaceChildren(loading("Comparing"));
    let answer;
    try {
      answer = await traceApi.diff(diffParams(state, service));
    } catch (err) {
      if (seq === this.seq) this.state.replaceChildren(errorBox(err, "Could not compare"));
      return null;
    }
    if (seq !== this.seq) return null;
    this.drawForm(state, answer);
    this.drawSummary(state, answer);
    const { a, b } = answer;
    if (!a.used || !b.used) {
      const which = !a.used && !b.used ? "Neither side has" : !b.used ? "B has" : "A has";
      this.state.replaceChildren(
        el("div", { className: "empty", role: "status" }, [
          el("strong", { text: `${which} requests to compare.` }),
          state.compare === "box"
            ? "Drag a box around some dots of the scatter, leaving others outside it."
            : "Widen the time range, or move the thresholds so that some requests are slower than the first and some faster than the second.",
        ]),
      );
      return answer;
    }
    if (!answer.leftTicks && !answer.rightTicks) {
      this.state.replaceChildren(
        el("div", { className: "empty", role: "status" }, [
          el("strong", { text: "These requests have no thread data to compare." }),
          "Install flamecam_otel in the app and run the agent (flamecam agent) on its host: each request then carries the samples and waits of the threads that served it.",
        ]),
      );
      return answer;
    }
    this.state.replaceChildren();
    this.results.hidden = false;
    this.drawBreakdown(a, b);
    const tree = decodeFlamebearer(answer);
    tree.perRequest = true;
    this.tree = tree;
    this.answer = answer;
    showPanelState(this.panel, state, tree);
    this.sortKey = SORTS.includes(state.sort) ? state.sort : SORTS[0];
    this.drawTable();
    return answer;
  }

  drawForm(state, answer) {
    const f = this.form;
    f.replaceChildren();
    if (state.compare === "box") {
      f.append(el("button", { type: "button", className: "btn", text: "Back to traces", onclick: () => this.back() }));
      return;
    }
    const value = (key, fromAnswer) => state[key] || (answer ? String(Math.round(answer[fromAnswer] * 1000) / 1000) : "");
    this.slowInput = el("input", { id: "sf-slow", type: "number", min: "0", step: "any", value: value("slow", "slow_ms") });
    this.fastInput = el("input", { id: "sf-fast", type: "number", min: "0", step: "any", value: value("fast", "fast_ms") });
    f.append(
      el("label", { className: "field side-b-label", for: "sf-slow" }, ["B (slow): at least, ms", this.slowInput]),
      el("label", { className: "field side-a-label", for: "sf-fast" }, ["A (fast): at most, ms", this.fastInput]),
      el("button", { type: "submit", className: "primary", text: "Compare" }),
      el("button", { type: "button", className: "btn", text: "p90 vs p50", onclick: () => this.app.setState({ slow: null, fast: null }) }),
      el("button", { type: "button", className: "btn", text: "Back to traces", onclick: () => this.back() }),
    );
  }

  apply() {
    const slow = Number(this.slowInput.value);
    const fast = Number(this.fastInput.value);
    if (!(slow >= 0) || !(fast >= 0) || this.slowInput.value === "" || this.fastInput.value === "" || fast >= slow) {
      this.state.replaceChildren(errorBox(new Error("B's latency must be above A's, both in milliseconds."), "Slow vs fast"));
      return;
    }
    this.app.setState({ slow: this.slowInput.value, fast: this.fastInput.value });
  }

  back() {
    this.app.setState({ compare: null, scope: null, box: null, slow: null, fast: null });
  }

  drawSummary(state, answer) {
    const { a, b } = answer;
    const used = (side) => (side.used < side.count ? ` (the latest ${side.used} merged)` : "");
    let bText;
    let aText;
    if (answer.box) {
      const bx = answer.box;
      bText = `B: ${plural(b.count, "request")} in the box (${fmtDuration(bx.min_ms * 1e6)} – ${fmtDuration(bx.max_ms * 1e6)})${used(b)}`;
      aText = `A: the other ${plural(a.count, "request")}${used(a)}`;
    } else {
      const deflt = (key) => (state[key] ? "" : key === "slow" ? " (p90)" : " (p50)");
      bText = `B (slow): ${plural(b.count, "request")} ≥ ${fmtDuration(answer.slow_ms * 1e6)}${deflt("slow")}${used(b)}`;
      aText = `A (fast): ${plural(a.count, "request")} ≤ ${fmtDuration(answer.fast_ms * 1e6)}${deflt("fast")}${used(a)}`;
    }
    this.summary.replaceChildren(
      el("span", { className: "side-b-text", text: bText }),
      " · ",
      el("span", { className: "side-a-text", text: aText }),
      ` · mean duration ${fmtDuration(b.mean_ms * 1e6)} against ${fmtDuration(a.mean_ms * 1e6)}; everything below is time per request.`,
    );
  }

  drawBreakdown(a, b) {
    const reasons = reasonsIn(new Set([...Object.keys(a.breakdown), ...Object.keys(b.breakdown)].filter((k) => k !== "cpu")));
    const parts = [["cpu", "CPU", CPU_COLOR], ...reasons.map((r) => [r, r, reasonColor(r)])];
    const sum = (side) => Object.values(side.breakdown).reduce((s, v) => s + v, 0);
    const max = Math.max(sum(a), sum(b)) || 1;
    const bar = (side, label, cls) => {
      const track = el("div", { className: "sf-bar", role: "img", "aria-label": `${label}: ${parts.map(([k, t]) => `${t} ${fmtDuration(side.breakdown[k] || 0)}`).join(", ")}` });
      for (const [key, text, color] of parts) {
        const v = side.breakdown[key] || 0;
        if (!v) continue;
        const seg = el("span", { title: `${text}: ${fmtDuration(v)} per request` });
        seg.style.width = `${(v / max) * 100}%`;
        seg.style.background = color;
        track.append(seg);
      }
      return el("div", { className: "sf-bar-row" }, [el("span", { className: `sf-bar-label ${cls}`, text: label }), track, el("span", { className: "hint", text: fmtDuration(sum(side)) })]);
    };
    const body = el("tbody");
    for (const [key, text, color] of parts) {
      const va = a.breakdown[key] || 0;
      const vb = b.breakdown[key] || 0;
      const swatch = el("i", { className: "swatch" });
      swatch.style.background = color;
      body.append(
        el("tr", { dataset: { part: key } }, [
          el("td", {}, [swatch, " ", text]),
          el("td", { text: fmtDuration(va) }),
          el("td", { text: fmtDuration(vb) }),
          el("td", { className: vb - va > 0 ? "grew" : vb - va < 0 ? "shrank" : "", text: signed(vb - va) }),
        ]),
      );
    }
    const th = (text) => el("th", { scope: "col", text });
    this.breakdownBox.replaceChildren(
      el("div", { className: "sf-bars" }, [bar(b, "B", "side-b-text"), bar(a, "A", "side-a-text")]),
      el("div", { className: "legend" }, swatches(parts.map(([, text, color]) => [color, text]))),
      el("div", { className: "table-scroll" }, [
        el("table", { className: "data sf-breakdown-table" }, [
          el("caption", { className: "sr-only", text: "Time per request by CPU and off-CPU reason" }),
          el("thead", {}, [el("tr", {}, [th("Time in"), th("A per request"), th("B per request"), th("B minus A")])]),
          body,
        ]),
      ]),
    );
  }

  drawTable() {
    const tree = this.tree;
    const own = ownTimes(tree);
    const rows = functionTotals(tree)
      .filter((r) => r.kind !== "root")
      .map((r) => {
        const o = own.get(r.name) || { l: 0, r: 0 };
        own.delete(r.name);
        return { ...r, lSelf: o.l, rSelf: o.r, dSelf: o.r - o.l, dTotal: r.rTotal - r.lTotal };
      });
    // Anonymous code whose function is not on its stack (a generator consumed elsewhere).
    for (const [name, o] of own) rows.push({ name, kind: "python", lSelf: o.l, rSelf: o.r, dSelf: o.r - o.l, lTotal: 0, rTotal: 0, dTotal: 0 });
    const key = this.sortKey;
    rows.sort((x, y) => y[key] - x[key] || y.dTotal - x.dTotal || (x.name < y.name ? -1 : 1));
    const body = el("tbody");
    for (const r of rows.slice(0, ROWS)) {
      const cls = (v) => (v > 0 ? "grew" : v < 0 ? "shrank" : "");
      body.append(
        el("tr", { dataset: { name: r.name } }, [
          el("td", { className: "name", text: r.name }),
          el("td", {}, [kindChip(r.name, r.kind)]),
          el("td", { text: fmtDuration(r.lSelf) }),
          el("td", { text: fmtDuration(r.rSelf) }),
          el("td", { className: cls(r.dSelf), text: signed(r.dSelf) }),
          el("td", { text: fmtDuration(r.lTotal) }),
          el("td", { text: fmtDuration(r.rTotal) }),
          el("td", { className: cls(r.dTotal), text: signed(r.dTotal) }),
        ]),
      );
    }
    const th = (text) => el("th", { scope: "col", text });
    const sortable = (text, k) =>
      el("th", { scope: "col", dataset: { key: k }, "aria-sort": key === k ? "descending" : "none" }, [
        el("button", { type: "button", text: text + (key === k ? " ▼" : ""), onclick: () => this.sortBy(k) }),
      ]);
    this.tableBox.replaceChildren(
      el("div", { className: "table-scroll" }, [
        el("table", { className: "data sf-table" }, [
          el("caption", { className: "sr-only", text: "Functions by the time per request they gained in the slow requests" }),
          el("thead", {}, [el("tr", {}, [th("Function"), th("Kind"), th("A own"), th("B own"), sortable("Own: B − A", "dSelf"), th("A total"), th("B total"), sortable("Total: B − A", "dTotal")])]),
          body,
        ]),
      ]),
    );
  }

  sortBy(key) {
    this.sortKey = key;
    this.app.setState({ sort: key === SORTS[0] ? null : key }, { push: false, reload: false });
    this.drawTable();
    const button = this.tableBox.querySelector(`th[data-key="${key}"] button`);
    if (button) button.focus();
  }
}

// Anonymous code inside a function (`f.<locals>.<genexpr>`) is part of it.
const ANONYMOUS = /\.<locals>\.<(genexpr|listcomp|dictcomp|setcomp|lambda)>$/;

// Per name: the own time (A and B) of each frame, where a frame's own time is
// the self time of the stacks it is the innermost "owner" of: an off-CPU
// reason frame owns itself; a Python frame owns itself and the native and
// kernel frames it calls (its anonymous code goes to its function); a frame
// with no Python caller owns itself.
function ownTimes(tree) {
  const owners = [];
  const out = new Map();
  for (let l = 0; l < tree.levels.length; l++) {
    const level = tree.levels[l];
    const owner = new Int32Array(level.n);
    for (let i = 0; i < level.n; i++) {
      const idx = level.name[i];
      const kind = tree.kinds[idx];
      const up = l > 0 ? owners[l - 1][level.parent[i]] : -1;
      const name = tree.names[idx];
      if (offcpuReason(name) || kind === "python" || up < 0 || tree.kinds[up] !== "python") {
        owner[i] = kind === "root" ? -1 : idx;
      } else owner[i] = up;
      if (owner[i] < 0 || !(level.lSelf[i] || level.rSelf[i])) continue;
      const key = tree.names[owner[i]].replace(ANONYMOUS, "");
      const row = out.get(key) || { l: 0, r: 0 };
      row.l += level.lSelf[i];
      row.r += level.rSelf[i];
      out.set(key, row);
    }
    owners.push(owner);
  }
  return out;
}
