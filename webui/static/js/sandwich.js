// Sandwich: one function with its callers (root at the bottom) beside its
// callees (root at the top); the frame menu's focus, hide and only apply.
// In the URL (viewstate.js): one search and one order for both graphs
// (`search`, `order`, as in every view), and each graph's zoom
// (`callersZoom`, `calleesZoom`).

import { ExportMenu, flamebearer, shapeParams } from "./export.js";
import { clear, el, fmtPercent, fmtValue } from "./format.js";
import { appChips, appFrameMenu, onlyOf } from "./framemenu.js";
import { errorBox, loading, noData } from "./states.js";
import { filterTree, hiddenOf } from "./treefilter.js";
import { decodeFlamebearer, functionTotals, sandwich } from "./tree.js";
import { linkPanels, SANDWICH_ZOOM, showPanelState, urlFlamePanel } from "./viewstate.js";

export class SandwichView {
  constructor(section, app) {
    this.app = app;
    this.seq = 0;
    this.input = el("input", { id: "sw-fn", type: "text", list: "sw-names", spellcheck: "false", placeholder: "function name", "aria-label": "Function" });
    this.datalist = el("datalist", { id: "sw-names" });
    this.summary = el("p", { className: "hint", "aria-live": "polite" });
    // one row: the function, Show, and its totals (the graphs get the height)
    const form = el("form", { className: "sandwich-pick", onsubmit: (e) => {
      e.preventDefault();
      app.setState({ fn: this.input.value.trim() });
    } }, [
      el("h2", { text: "Sandwich of" }),
      this.input,
      this.datalist,
      el("button", { type: "submit", className: "primary", text: "Show" }),
      this.summary,
    ]);
    // the samples through the function, both graphs as drawn, the link
    this.exporter = new ExportMenu({
      name: "flamecam-sandwich",
      files: () => (this.fn ? [{
        title: `The samples through ${this.fn} (its callers and callees)`,
        params: { query: app.state.query, from: app.state.from, until: app.state.until, ...onlyOf(app.state), ...shapeParams(app.state, [this.fn]) },
      }] : []),
      graphs: () => (this.fn ? [{ graph: this.callers.graph, title: `Callers of ${this.fn}` }, { graph: this.callees.graph, title: `Callees of ${this.fn}` }] : []),
      json: () => ({ version: 1, sandwich: this.fn, callers: flamebearer(this.callers.graph.tree), callees: flamebearer(this.callees.graph.tree) }),
      jsonNote: "callers and callees, each as the server's flamebearer",
    });
    form.append(this.exporter.root);
    this.chips = el("div", { className: "filter-chips", "aria-label": "View changes in effect", hidden: true });
    this.state = el("div");
    this.callersTitle = el("h2", { text: "Callers" });
    this.calleesTitle = el("h2", { text: "Callees" });
    this.callersBody = el("div");
    this.calleesBody = el("div");
    this.graphs = el("div", { className: "sandwich-graphs" }, [
      el("div", { className: "panel" }, [this.callersTitle, this.callersBody]),
      el("div", { className: "panel" }, [this.calleesTitle, this.calleesBody]),
    ]);
    section.append(el("div", { className: "panel" }, [form, this.chips]), this.state, this.graphs);
    // each keeps its own layout (callers upward, callees downward)
    const keys = (zoom) => ({ layout: null, zoom });
    this.callers = urlFlamePanel(this.callersBody, app, { label: "Callers", layout: "flame", idPrefix: "sw-callers", keys: keys(SANDWICH_ZOOM.callers) });
    this.callees = urlFlamePanel(this.calleesBody, app, { label: "Callees", layout: "icicle", idPrefix: "sw-callees", keys: keys(SANDWICH_ZOOM.callees) });
    linkPanels([this.callers, this.callees]);
    // the same menu as the main graph's: its focus, hide and only apply here too
    this.menus = [appFrameMenu(this.callers.graph, app), appFrameMenu(this.callees.graph, app)];
  }

  async show(state) {
    const seq = ++this.seq;
    this.fn = ""; // set once its graphs are drawn
    this.input.value = state.fn || "";
    this.graphs.hidden = true;
    this.state.replaceChildren(loading("Loading the selection"));
    let answer;
    try {
      answer = await this.app.render(state.query, state.from, state.until);
    } catch (err) {
      if (seq === this.seq) this.state.replaceChildren(errorBox(err, "Could not load the selection"));
      return;
    }
    if (seq !== this.seq) return;
    const whole = decodeFlamebearer(answer);
    if (!whole.numTicks) {
      appChips(this.chips, state, this.app);
      this.state.replaceChildren(noData());
      return;
    }
    const tree = filterTree(whole, { focus: state.focus || "", hide: hiddenOf(state) });
    appChips(this.chips, state, this.app, state.focus ? tree.numTicks / whole.numTicks : undefined);
    const functions = functionTotals(tree).sort((a, b) => b.total - a.total);
    clear(this.datalist);
    for (const f of functions.slice(0, 500)) this.datalist.append(el("option", { value: f.name }));
    const fn = state.fn || this.app.focusedFunction || "";
    if (!fn) {
      this.state.replaceChildren(
        el("div", { className: "empty" }, [
          el("strong", { text: "Choose a function." }),
          "Type its name above, or click a function in the Flame graph view's table.",
        ]),
      );
      this.summary.textContent = "";
      return;
    }
    this.input.value = fn;
    const result = sandwich(tree, fn);
    if (!result) {
      this.state.replaceChildren(
        el("div", { className: "empty" }, [el("strong", { text: `No function named "${fn}" in this selection.` }), "Pick one from the list as you type."]),
      );
      this.summary.textContent = "";
      return;
    }
    this.state.replaceChildren();
    this.graphs.hidden = false;
    this.summary.textContent = `${fn}: total ${fmtValue(result.total, tree.units)} (${fmtPercent(result.total / whole.numTicks)}), self ${fmtValue(result.self, tree.units)} (${fmtPercent(result.self / whole.numTicks)})`;
    this.callersTitle.textContent = `Callers of ${fn}`;
    this.calleesTitle.textContent = `Callees of ${fn}`;
    showPanelState(this.callers, state, result.callers);
    showPanelState(this.callees, state, result.callees);
    this.fn = fn;
  }
}
