// The main view: the selection's flame graph and its top functions, side by
// side or one of them (the timeline above is the page's, timelinepanel.js).

import { fitToWindow } from "./fit.js";
import { ExportMenu, shapeParams } from "./export.js";
import { el, fmtDuration, fmtPercent } from "./format.js";
import { appChips, appFrameMenu, onlyOf } from "./framemenu.js";
import { PaneSwitch, panesOf } from "./panes.js";
import { parseQuery, typeTitle } from "./query.js";
import { errorBox, loading, noData } from "./states.js";
import { TopTable } from "./table.js";
import { decodeFlamebearer, functionTotals } from "./tree.js";
import { filterTree, hiddenOf } from "./treefilter.js";
import { showPanelState, urlFlamePanel } from "./viewstate.js";
import { chipOf, OffwakeSwitch, pickPatch, waitOf, waitParams, WaitsTable } from "./waits.js";

// Off-CPU time has waits to explain: the waits table and the off-wake graph.
const WAITING = new Set(["offcpu", "wall"]);

const TITLES = {
  cpu: "On-CPU time",
  offcpu: "Off-CPU time (waiting), coloured by reason",
  wall: "Wall time: on-CPU and off-CPU together",
};

export class ProfileView {
  constructor(section, app) {
    this.app = app;
    this.seq = 0;
    this.flameTitle = el("h2", { text: "Flame graph" });
    this.flameState = el("div");
    this.chips = el("div", { className: "filter-chips", "aria-label": "View changes in effect", hidden: true });
    this.panes = el("div", { className: "panes" });
    this.paneSwitch = new PaneSwitch(this.panes, (panes) => {
      this.setPanes(panes);
      app.setState({ panes }, { push: false, reload: false });
    });
    this.flameBody = el("div");
    this.flameBox = el("div", { className: "panel flame-pane" }, [this.flameBody]);
    this.tableBody = el("div", { className: "table-pane-body" });
    this.waitsBody = el("div", { className: "table-pane-body", hidden: true });
    // Top functions, or (off-CPU time) the waits by target: `list=waits` in the URL
    this.listTitle = el("h2", { text: "Top functions" });
    this.listButtons = [["", "Top functions"], ["waits", "Waits by target"]].map(([v, text]) =>
      el("button", { type: "button", className: "btn", text, dataset: { list: v }, onclick: () => app.setState({ list: v || null }, { push: false }) }));
    this.listSwitch = el("div", { className: "pane-switch", role: "group", "aria-label": "List" }, this.listButtons);
    this.tableBox = el("div", { className: "panel table-pane" }, [
      el("div", { className: "panel-head" }, [this.listTitle, el("span", { className: "spacer" }), this.listSwitch]),
      this.tableBody, this.waitsBody]);
    this.panes.append(this.tableBox, this.flameBox);
    this.offwakeSwitch = new OffwakeSwitch((on) => app.setState({ offwake: on, zoom: null }));
    const head = el("div", { className: "panel-head profile-head" }, [this.flameTitle, el("span", { className: "spacer" }), this.offwakeSwitch.root, this.paneSwitch.root]);
    section.append(head, this.chips, this.flameState, this.panes);

    // layout, order, search and zoom are in the URL (viewstate.js)
    this.panel = urlFlamePanel(this.flameBody, app, {
      label: "Flame graph of the selection",
      onSearch: (search) => this.table.setSearch(search),
      onFocus: (name) => app.setFocusedFunction(name),
    });
    this.menu = appFrameMenu(this.panel.graph, app);
    this.exporter = new ExportMenu({
      files: () => this.files(),
      graphs: () => (this.panes.hidden ? [] : [{ graph: this.panel.graph, title: this.flameTitle.textContent }]),
      meta: () => ({ query: app.state.query, from: app.state.from, until: app.state.until }),
    });
    this.panel.resetBtn.after(this.exporter.root);
    // the tables' order is in the URL too (`sort`)
    const onSort = (sort) => app.setState({ sort }, { push: false, reload: false });
    this.table = new TopTable(this.tableBody, {
      onPick: (name) => app.setState({ tab: "sandwich", fn: name }),
      onSort,
      caption: "Top functions of the selection",
    });
    this.waits = new WaitsTable(this.waitsBody, {
      onPick: (row) => app.setState(pickPatch(app.state, row)),
      onSort,
      caption: "What the selection waited on, most off-CPU time first",
    });
  }

  // The files hold what the graph shows: the selection (or one thread or
  // process of it), one target's waits or the off-wake view, focus and hidden
  // functions applied.
  files() {
    const s = this.app.state;
    if (this.panes.hidden) return [];
    const offwake = this.waiting && s.offwake === "1";
    return [{
      title: offwake ? "The off-wake graph's stacks" : "The selection's samples, as the graph shows them",
      params: { query: s.query, from: s.from, until: s.until, ...onlyOf(s), ...(this.waiting ? waitParams(s) : {}), ...shapeParams(s) },
      // the waker's part sits inside the stack: no speedscope form
      formats: offwake ? ["pprof", "folded"] : undefined,
    }];
  }

  // The list beside the graph: top functions, or the waits by target.
  showList(state, waiting) {
    const list = waiting && state.list === "waits" ? "waits" : "";
    this.listSwitch.hidden = !waiting;
    for (const b of this.listButtons) b.setAttribute("aria-pressed", String(b.dataset.list === list));
    this.listTitle.textContent = list ? "Waits by target" : "Top functions";
    this.tableBody.hidden = Boolean(list);
    this.waitsBody.hidden = !list;
    this.waits.setSort(state.sort);
    this.waits.setPicked(waitOf(state));
    const key = JSON.stringify([state.query, state.from, state.until, onlyOf(state)]);
    if (list && this.waitsKey !== key) {
      this.waitsKey = key;
      this.waits.load({ query: state.query, from: state.from, until: state.until, ...onlyOf(state) }).then(() => this.fit());
    }
  }

  // Table, both or flame graph; the shown boxes then end at the window's bottom.
  setPanes(panes) {
    this.paneSwitch.set(panes);
    this.fit();
    this.panel.graph.render();
  }

  fit() {
    if (this.panes.hidden) return;
    this.panel.fit();
    fitToWindow(this.tableBody, { gap: 56 });
    fitToWindow(this.waitsBody, { gap: 56 });
  }

  noWaits(offwake) {
    return el("div", { className: "empty", role: "status" }, [
      el("strong", { text: offwake ? "No wait in this selection has a known waker." : "No kept wait in this selection waited on that target." }),
      "Wakers are recorded for off-CPU intervals at or above the agent's threshold (1 ms by default). Widen the range, or show every wait again.",
    ]);
  }

  // How much of the kept off-CPU time the off-wake graph explains.
  offwakeNote(answer) {
    const o = answer.offwake;
    if (!o) return;
    const share = o.kept_ns ? o.woken_ns / o.kept_ns : 0;
    this.flameState.replaceChildren(el("p", { className: "hint offwake-note", text: `Off-wake graph: ${fmtDuration(o.woken_ns)} of waits with a known waker (${fmtPercent(share, 1)} of the ${fmtDuration(o.kept_ns)} kept one by one); each blocked stack ends in its reason, the waker's stack stands on it upside down, innermost frame first, and the top frame names the waker.` }));
  }

  // refresh: the same selection again (auto-refresh): what is shown stays
  // until the new answer replaces it, zoomed where it was.
  async show(state, { refresh = false } = {}) {
    const seq = ++this.seq;
    const { query, from, until } = state;
    let type = "cpu";
    try {
      type = parseQuery(query).type;
    } catch (err) {
      this.flameState.replaceChildren(errorBox(err, "The query is not valid"));
      this.panes.hidden = true;
      return;
    }
    const waiting = this.waiting = WAITING.has(type);
    const only = waiting ? waitOf(state) : null;
    const offwake = waiting && state.offwake === "1";
    this.flameTitle.textContent = offwake
      ? "Off-wake: each blocked stack with its waker's stack on top"
      : only ? "Off-CPU time of the waits on one target" : TITLES[type] || typeTitle(type);
    this.offwakeSwitch.set(offwake, waiting);
    this.showList(state, waiting);
    const chips = waiting ? chipOf(state, this.app) : [];
    if (refresh) this.waitsKey = null;
    showPanelState(this.panel, state);
    this.paneSwitch.set(panesOf(state));
    const graph = this.panel.graph;
    const keep = refresh && !this.panes.hidden && graph.tree;
    if (!keep) {
      this.flameState.replaceChildren(loading("Loading the flame graph"));
      this.panes.hidden = true;
    }

    let answer;
    try {
      answer = await this.app.render(query, from, until, waiting ? waitParams(state) : {});
    } catch (err) {
      if (seq !== this.seq) return;
      this.flameState.replaceChildren(errorBox(err, "Could not load the flame graph"));
      this.panes.hidden = true;
      return;
    }
    if (seq !== this.seq) return;
    let tree = decodeFlamebearer(answer);
    if (!tree.numTicks || !tree.levels.length) {
      appChips(this.chips, state, this.app, undefined, chips);
      this.flameState.replaceChildren(only || offwake ? this.noWaits(offwake) : noData());
      this.panes.hidden = true;
      return;
    }
    this.flameState.replaceChildren();
    this.panes.hidden = false;
    const whole = tree.numTicks;
    tree = filterTree(tree, { focus: state.focus || "", hide: hiddenOf(state) });
    appChips(this.chips, state, this.app, state.focus ? tree.numTicks / whole : undefined, chips);
    this.offwakeNote(answer);
    // The zoom comes back from the URL (a refresh keeps it: the URL follows it).
    showPanelState(this.panel, state, tree);
    // The table comes from the same tree as the graph, so both always agree
    // (recursion counted once per stack, kernel names with their _[k]).
    this.table.search = (state.search || "").toLowerCase();
    this.table.setSort(state.sort);
    const rows = functionTotals(tree).filter((r) => r.kind !== "root");
    this.table.setData(rows, tree.numTicks, tree.units);
    this.fit();
  }
}
