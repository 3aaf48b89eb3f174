// Diff: A against B (two versions, or two time ranges) as a differential flame
// graph normalised by totals, and the largest regressions.

import { api } from "./api.js";
import { attachVariances, markNoise, scaleFor, scaleLegend, selfVariances, sideTree, Z_REAL, zScore } from "./diffscale.js";
import { ExportMenu } from "./export.js";
import { el, fmtPercent, fmtSignedPercent } from "./format.js";
import { FrameMenu } from "./framemenu.js";
import { displayTime, labelValue, normalizeTimeInput, withLabel } from "./query.js";
import { errorBox, loading } from "./states.js";
import { kindChip } from "./table.js";
import { decodeFlamebearer, functionTotals } from "./tree.js";
import { linkPanels, showPanelState, urlFlamePanel } from "./viewstate.js";

const VERSION = "service_version";

export class DiffView {
  constructor(section, app) {
    this.app = app;
    this.seq = 0;
    this.controls = el("form", { className: "diff-controls", "aria-label": "Choose A and B" });
    this.controls.addEventListener("submit", (e) => {
      e.preventDefault();
      this.compare();
    });
    this.summary = el("p", { className: "hint", "aria-live": "polite" });
    this.state = el("div");
    this.flameBox = el("div");
    this.tableBody = el("div");
    this.viewControls = el("div", { className: "diff-view-controls" });
    this.graphTitle = el("h2");
    this.sideLegend = el("div", { className: "diff-side-legend" });
    const sideA = el("div");
    const sideB = el("div");
    this.sideBox = el("div", { className: "diff-sides" }, [el("div", {}, [el("h3", { text: "A (baseline)" }), sideA]), el("div", {}, [el("h3", { text: "B (compared)" }), sideB])]);
    // title and view choices share one row: the graph's root stays on screen at 1280x800
    this.results = el("div", {}, [
      el("div", { className: "panel" }, [
        el("div", { className: "panel-head" }, [this.graphTitle, el("span", { className: "spacer" }), this.viewControls, this.sideLegend, this.exportMenu(app).root]),
        this.flameBox,
        this.sideBox,
      ]),
      el("div", { className: "panel" }, [
        el("h2", { text: "Changes of self time share, B minus A" }),
        el("details", { className: "hint diff-method" }, [
          el("summary", { text: "Which changes are real? How it is computed" }),
          el("p", { text: "Each side is a sum of sampled events: on-CPU samples, each worth the sampling period, and off-CPU intervals, each worth its measured length. As a compound Poisson process, a frame's time S = Σd has variance Q = Σd² (the server sums the squares of the stored samples; an interval the kernel summed with others counts as one event of the sum, and data kept only as totals as one event per stack: when unsure, the test says noise). So S²/Q is the frame's effective number of events: 2 for two 30 ms waits, however many nanoseconds they hold." }),
          el("p", { text: `A share s = S/T of a side's total T has variance ((1 − s)² Q + s² (Q_T − Q)) / T² (the delta method; for samples of one weight, the binomial s(1 − s)/n). z = (sB − sA) / √(Var A + Var B). |z| ≥ ${Z_REAL} (two-sided p < 0.001, strict because many functions are tested at once) is marked real; smaller changes are within the sampling noise. The table tests each function's self time; the graph each frame's total, and draws the frames whose change is within the noise grey.` }),
        ]),
        this.tableBody,
      ]),
    ]);
    section.append(el("div", { className: "panel" }, [this.controls, this.summary]), this.state, this.results);
    // the graph's layout, search and zoom are in the URL (viewstate.js), the
    // same keys overlaid or side by side: A and B zoom, search and lay out together
    this.panel = urlFlamePanel(this.flameBox, app, { label: "Differential flame graph", idPrefix: "diff" });
    this.sideA = urlFlamePanel(sideA, app, { label: "Flame graph of A", idPrefix: "diff-a" });
    this.sideB = urlFlamePanel(sideB, app, { label: "Flame graph of B", idPrefix: "diff-b" });
    linkPanels([this.sideA, this.sideB]);
    // zoom, copy, and the function's sandwich in the selection; focus, hide and
    // only are views of one selection, not of a comparison
    const sandwichOf = (name) => app.setState({ tab: "sandwich", fn: name });
    this.menus = [this.panel, this.sideA, this.sideB].map((p) => new FrameMenu(p.graph, { sandwich: sandwichOf }));
  }

  // A's and B's samples as files; the diff itself as JSON (both sides per
  // frame, as the server compared them) and as drawn (overlaid or side by side).
  exportMenu(app) {
    const side = (key, name, s = app.state) => ({
      title: `${name}'s samples`,
      hint: key,
      params: { query: s[`${key}Query`], from: s[`${key}From`] || s.from, until: s[`${key}Until`] || s.until },
    });
    this.exporter = new ExportMenu({
      name: "flamecam-diff",
      files: () => (this.answer ? [side("left", "A (baseline)"), side("right", "B (compared)")] : []),
      graphs: () => {
        if (!this.answer) return [];
        if (app.state.diffLayout === "sides") return [{ graph: this.sideA.graph, title: "A (baseline)" }, { graph: this.sideB.graph, title: "B (compared)" }];
        return [{ graph: this.panel.graph, title: "Differential flame graph" }];
      },
      json: () => ({ ...this.answer, metadata: { ...this.answer.metadata, leftQuery: app.state.leftQuery, rightQuery: app.state.rightQuery } }),
      jsonLabel: "Diff JSON",
      jsonNote: "A's and B's time per frame (the server's flamebearer diff form)",
    });
    return this.exporter;
  }

  async show(state) {
    const seq = ++this.seq;
    this.answer = null;
    const mode = state.diffMode === "ranges" ? "ranges" : "versions";
    // the choices follow the new state at once, with the versions last offered
    if (this.versions) this.drawControls(state, mode, this.versions);
    let versions = [];
    try {
      versions = (await api.labelValues(VERSION, state.from, state.until, "")).values || [];
    } catch {
      versions = [];
    }
    if (seq !== this.seq) return;
    this.drawControls(state, mode, versions);
    this.results.hidden = true;
    if (!state.leftQuery || !state.rightQuery) {
      this.state.replaceChildren(
        el("div", { className: "empty" }, [
          el("strong", { text: "Choose A and B, then Compare." }),
          "Two versions of a service (the service_version label the agent sets from OTEL_RESOURCE_ATTRIBUTES service.version), or one selection over two time ranges.",
        ]),
      );
      return;
    }
    await this.load(state, seq);
  }

  drawControls(state, mode, versions) {
    this.versions = versions;
    const f = this.controls;
    f.replaceChildren(el("h2", { text: "Compare A and B" }));
    const radio = (value, text) =>
      el("label", { className: "field-inline" }, [
        el("input", { type: "radio", name: "diff-mode", value, checked: mode === value, onchange: () => this.app.setState({ diffMode: value }, { push: false }) }),
        " " + text,
      ]);
    f.append(el("fieldset", {}, [el("legend", { text: "Compare" }), radio("versions", "two versions"), radio("ranges", "two time ranges")]));
    const sorted = [...versions].sort();
    const leftVersion = state.leftQuery ? labelValue(state.leftQuery, VERSION) : sorted[sorted.length - 2] || "";
    const rightVersion = state.rightQuery ? labelValue(state.rightQuery, VERSION) : sorted[sorted.length - 1] || "";
    const versionSelect = (id, current) => {
      const select = el("select", { id }, sorted.map((v) => el("option", { value: v, text: v, selected: v === current })));
      if (current && !sorted.includes(current)) select.append(el("option", { value: current, text: current, selected: true }));
      return select;
    };
    if (mode === "versions") {
      this.aVersion = versionSelect("diff-a-version", leftVersion);
      this.bVersion = versionSelect("diff-b-version", rightVersion);
      f.append(
        el("fieldset", { className: "side-a" }, [el("legend", { text: "A (baseline)" }), el("label", { className: "field", for: "diff-a-version" }, ["Version", this.aVersion])]),
        el("fieldset", { className: "side-b" }, [el("legend", { text: "B (compared)" }), el("label", { className: "field", for: "diff-b-version" }, ["Version", this.bVersion])]),
      );
      if (!sorted.length) f.append(el("p", { className: "hint", text: "No service_version values in this time range: compare two time ranges instead." }));
    } else {
      const input = (id, value) => el("input", { id, type: "text", value: displayTime(value) });
      this.aFrom = input("diff-a-from", state.leftFrom || "now-2h");
      this.aUntil = input("diff-a-until", state.leftUntil || "now-1h");
      this.bFrom = input("diff-b-from", state.rightFrom || "now-1h");
      this.bUntil = input("diff-b-until", state.rightUntil || "now");
      const field = (id, text, node) => el("label", { className: "field", for: id }, [text, node]);
      f.append(
        el("fieldset", { className: "side-a" }, [el("legend", { text: "A (baseline)" }), field("diff-a-from", "From", this.aFrom), field("diff-a-until", "Until", this.aUntil)]),
        el("fieldset", { className: "side-b" }, [el("legend", { text: "B (compared)" }), field("diff-b-from", "From", this.bFrom), field("diff-b-until", "Until", this.bUntil)]),
      );
    }
    f.append(el("button", { type: "submit", className: "primary", text: "Compare" }));
  }

  compare() {
    const state = this.app.state;
    if (state.diffMode === "ranges") {
      const times = [this.aFrom, this.aUntil, this.bFrom, this.bUntil].map((i) => normalizeTimeInput(i.value));
      if (times.includes(null)) {
        this.state.replaceChildren(errorBox(new Error("A time is not valid: use now-1h, Unix time or 2026-01-31 14:00."), "Diff"));
        return;
      }
      this.app.setState({
        leftQuery: state.query,
        rightQuery: state.query,
        leftFrom: times[0],
        leftUntil: times[1],
        rightFrom: times[2],
        rightUntil: times[3],
      });
    } else {
      if (!this.aVersion.value || !this.bVersion.value) {
        this.state.replaceChildren(errorBox(new Error("Choose a version for A and for B."), "Diff"));
        return;
      }
      this.app.setState({
        leftQuery: withLabel(state.query, VERSION, this.aVersion.value),
        rightQuery: withLabel(state.query, VERSION, this.bVersion.value),
        leftFrom: state.from,
        leftUntil: state.until,
        rightFrom: state.from,
        rightUntil: state.until,
      });
    }
  }

  async load(state, seq) {
    this.state.replaceChildren(loading("Comparing"));
    let answer;
    try {
      answer = await api.renderDiff({
        leftQuery: state.leftQuery,
        leftFrom: state.leftFrom || state.from,
        leftUntil: state.leftUntil || state.until,
        rightQuery: state.rightQuery,
        rightFrom: state.rightFrom || state.from,
        rightUntil: state.rightUntil || state.until,
        maxNodes: 20000,
        weights: "1",
      });
    } catch (err) {
      if (seq === this.seq) this.state.replaceChildren(errorBox(err, "Could not compare"));
      return;
    }
    if (seq !== this.seq) return;
    const tree = decodeFlamebearer(answer);
    tree.significance = attachVariances(tree, answer.weights);
    if (!tree.leftTicks || !tree.rightTicks) {
      const side = !tree.leftTicks && !tree.rightTicks ? "A and B have" : !tree.leftTicks ? "A has" : "B has";
      this.state.replaceChildren(
        el("div", { className: "empty" }, [el("strong", { text: `${side} no data.` }), "Widen the time range, or check that the agent labels that version (service_version)."]),
      );
      return;
    }
    this.state.replaceChildren();
    this.results.hidden = false;
    this.answer = answer;
    this.summary.textContent = `A: ${state.leftQuery} (${displayTime(state.leftFrom || state.from)} – ${displayTime(state.leftUntil || state.until)}) · B: ${state.rightQuery} (${displayTime(state.rightFrom || state.from)} – ${displayTime(state.rightUntil || state.until)})`;
    this.tree = tree;
    this.drawView();
    this.drawTable(tree);
  }

  // Colour scale (relative/absolute) and layout (overlaid/side by side): only
  // the drawing changes, the comparison is not asked again. Side by side is a
  // step of its own in the history (Back returns to the overlaid graph).
  drawView() {
    const state = this.app.state;
    const colorMode = state.diffColor === "absolute" ? "absolute" : "relative";
    const layout = state.diffLayout === "sides" ? "sides" : "overlay";
    const greyNoise = state.diffNoise !== "coloured";
    const choice = (name, value, current, text, key, push = false) =>
      el("label", { className: "field-inline" }, [
        el("input", { type: "radio", name, value, checked: current === value, onchange: () => {
          this.app.setState({ [key]: value === "overlay" ? null : value }, { push, reload: false });
          this.drawView();
        } }),
        " " + text,
      ]);
    this.viewControls.replaceChildren(
      el("fieldset", {}, [el("legend", { text: "Colour by" }),
        choice("diff-color", "relative", colorMode, "relative change (−100% … +100%)", "diffColor"),
        choice("diff-color", "absolute", colorMode, "absolute change (points of the total)", "diffColor")]),
      el("fieldset", {}, [el("legend", { text: "Show" }),
        choice("diff-layout", "overlay", layout, "overlaid", "diffLayout", true),
        choice("diff-layout", "sides", layout, "side by side", "diffLayout", true)]),
      ...(this.tree.significance ? [el("label", { className: "field-inline diff-noise" }, [
        el("input", { type: "checkbox", checked: greyNoise, onchange: (e) => {
          this.app.setState({ diffNoise: e.target.checked ? null : "coloured" }, { push: false, reload: false });
          this.drawView();
        } }),
        ` grey: within the noise (|z| < ${Z_REAL})`,
      ])] : []),
    );
    const tree = this.tree;
    tree.diffScale = scaleFor(tree, colorMode);
    if (tree.significance && greyNoise) markNoise(tree);
    else tree.noise = null;
    this.flameBox.hidden = layout !== "overlay";
    this.sideBox.hidden = layout !== "sides";
    this.graphTitle.textContent = layout === "overlay"
      ? "Differential flame graph"
      : "A and B side by side";
    // one scale for both sides, in the head: their toolbars keep to one row
    this.sideLegend.replaceChildren(...(layout === "sides" ? [scaleLegend(tree.diffScale)] : []));
    if (layout === "overlay") showPanelState(this.panel, state, tree);
    else {
      showPanelState(this.sideA, state, sideTree(tree, "left"));
      showPanelState(this.sideB, state, sideTree(tree, "right"));
    }
  }

  // Regressions and improvements of the self time share, each change marked
  // real or noise (diffscale.js).
  drawTable(tree) {
    const lt = tree.leftTicks;
    const rt = tree.rightTicks;
    // self variances by name (a flamebearer names each function once)
    const variances = new Map();
    if (tree.significance) for (const [idx, v] of selfVariances(tree)) variances.set(tree.names[idx], v);
    const zOf = (r) => {
      const v = variances.get(r.name);
      return v ? zScore(r.lSelf, v.l, r.rSelf, v.r, tree.sides) : NaN;
    };
    const rows = functionTotals(tree)
      .filter((r) => r.kind !== "root" && (r.lSelf > 0 || r.rSelf > 0))
      .map((r) => ({ ...r, a: r.lSelf / lt, b: r.rSelf / rt, aTotal: r.lTotal / lt, bTotal: r.rTotal / rt, z: zOf(r) }))
      .map((r) => ({ ...r, change: r.b - r.a, relative: r.a > 0 ? (r.b - r.a) / r.a : Infinity }));
    const grew = rows.filter((r) => r.change > 0).sort((x, y) => y.change - x.change || y.bTotal - y.aTotal - (x.bTotal - x.aTotal));
    const shrank = rows.filter((r) => r.change < 0).sort((x, y) => x.change - y.change);
    const real = (r) => Math.abs(r.z) >= Z_REAL;
    const verdict = (r) => (Number.isNaN(r.z) ? "unknown" : real(r) ? "real" : "noise");
    const th = (text, title) => el("th", { scope: "col", text, title });
    const table = (list, caption, extraClass) => {
      const body = el("tbody");
      for (const r of list.slice(0, 100)) {
        body.append(
          el("tr", { dataset: { name: r.name }, className: verdict(r) }, [
            el("td", { className: "name", text: r.name }),
            el("td", {}, [kindChip(r.name, r.kind)]),
            el("td", { text: fmtPercent(r.a) }),
            el("td", { text: fmtPercent(r.b) }),
            el("td", { className: r.change > 0.0005 ? "grew" : r.change < -0.0005 ? "shrank" : "", text: fmtSignedPercent(r.change) }),
            el("td", { text: Number.isFinite(r.relative) ? `${r.relative > 0 ? "+" : ""}${(r.relative * 100).toFixed(0)}%` : "new" }),
            el("td", { className: "z", text: Number.isNaN(r.z) ? "—" : r.z.toFixed(1) }),
            el("td", { className: "verdict", text: verdict(r) }),
            el("td", { text: fmtPercent(r.aTotal) }),
            el("td", { text: fmtPercent(r.bTotal) }),
          ]),
        );
      }
      if (!list.length) body.append(el("tr", {}, [el("td", { colspan: "10", className: "hint", text: "None." })]));
      return el("div", { className: "table-scroll" }, [
        el("table", { className: `data diff-table ${extraClass}` }, [
          el("caption", { className: "sr-only", text: caption }),
          el("thead", {}, [el("tr", {}, [th("Function"), th("Kind"), th("A self %"), th("B self %"), th("Change", "B minus A, in points of the total"), th("Relative", "change of the function's own share"), th("z", "z of the change of share (compound Poisson: see how it is computed above)"), th("Real?", `|z| ≥ ${Z_REAL}`), th("A total %"), th("B total %")])]),
          body,
        ]),
      ]);
    };
    const realCount = (list) => list.filter(real).length;
    const functions = (n) => `${n} function${n === 1 ? "" : "s"}`;
    this.tableBody.replaceChildren(
      el("h3", { text: `Regressions: ${functions(grew.length)} grew, ${realCount(grew)} beyond the noise` }),
      table(grew, "Functions whose self time share grew, largest first", "regressions"),
      el("h3", { text: `Improvements: ${functions(shrank.length)} shrank, ${realCount(shrank)} beyond the noise` }),
      table(shrank, "Functions whose self time share shrank, largest first", "improvements"),
    );
  }
}
