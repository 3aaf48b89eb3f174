// The main view: the selection's flame graph and its top functions, side by
// side or one of them (the timeline above is the page's, timelinepanel.js).

import { fitToWindow } from "./fit.js";
import { FlamePanel } from "./flamepanel.js";
import { ExportMenu } from "./export.js";
import { el } from "./format.js";
import { appChips, appFrameMenu } from "./framemenu.js";
import { PaneSwitch, panesOf } from "./panes.js";
import { parseQuery, typeTitle } from "./query.js";
import { errorBox, loading, noData } from "./states.js";
import { TopTable } from "./table.js";
import { decodeFlamebearer, functionTotals } from "./tree.js";
import { filterTree, hiddenOf, zoomPathOf } from "./treefilter.js";

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
    this.tableBox = el("div", { className: "panel table-pane" }, [el("h2", { text: "Top functions" }), this.tableBody]);
    this.panes.append(this.tableBox, this.flameBox);
    const head = el("div", { className: "panel-head profile-head" }, [this.flameTitle, el("span", { className: "spacer" }), this.paneSwitch.root]);
    section.append(head, this.chips, this.flameState, this.panes);

    this.panel = new FlamePanel(this.flameBody, {
      label: "Flame graph of the selection",
      onLayout: (layout) => app.setState({ layout }, { push: false, reload: false }),
      onOrder: (order) => app.setState({ order }, { push: false, reload: false }),
      onSearch: (search) => {
        this.table.setSearch(search);
        app.setState({ search }, { push: false, reload: false });
      },
      onFocus: (name) => app.setFocusedFunction(name),
      // the zoom is in the URL (not while a load restores it)
      onZoom: () => {
        if (this.restoring) return;
        const path = this.panel.graph.zoomPath();
        app.setState({ zoom: path.length ? JSON.stringify(path) : null }, { push: false, reload: false });
      },
    });
    this.menu = appFrameMenu(this.panel.graph, app);
    this.exporter = new ExportMenu(this.panel, app);
    this.table = new TopTable(this.tableBody, {
      onPick: (name) => app.setState({ tab: "sandwich", fn: name }),
      caption: "Top functions of the selection",
    });
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
    this.flameTitle.textContent = TITLES[type] || typeTitle(type);
    this.panel.setLayout(state.layout || "flame");
    this.panel.setOrder(state.order === "heavy" ? "heavy" : "");
    this.paneSwitch.set(panesOf(state));
    if (this.panel.searchInput.value !== (state.search || "")) this.panel.searchInput.value = state.search || "";
    const graph = this.panel.graph;
    const keep = refresh && !this.panes.hidden && graph.tree;
    if (!keep) {
      this.flameState.replaceChildren(loading("Loading the flame graph"));
      this.panes.hidden = true;
    }

    let answer;
    try {
      answer = await this.app.render(query, from, until);
    } catch (err) {
      if (seq !== this.seq) return;
      this.flameState.replaceChildren(errorBox(err, "Could not load the flame graph"));
      this.panes.hidden = true;
      return;
    }
    if (seq !== this.seq) return;
    let tree = decodeFlamebearer(answer);
    if (!tree.numTicks || !tree.levels.length) {
      appChips(this.chips, state, this.app);
      this.flameState.replaceChildren(noData());
      this.panes.hidden = true;
      return;
    }
    this.flameState.replaceChildren();
    this.panes.hidden = false;
    const whole = tree.numTicks;
    tree = filterTree(tree, { focus: state.focus || "", hide: hiddenOf(state) });
    appChips(this.chips, state, this.app, state.focus ? tree.numTicks / whole : undefined);
    // The zoom comes back from the URL (a refresh keeps it: the URL follows it).
    this.restoring = true;
    this.panel.setData(tree);
    const path = zoomPathOf(state);
    if (path.length) graph.zoomToPath(path);
    this.restoring = false;
    // The table comes from the same tree as the graph, so both always agree
    // (recursion counted once per stack, kernel names with their _[k]).
    this.table.search = (state.search || "").toLowerCase();
    const rows = functionTotals(tree).filter((r) => r.kind !== "root");
    this.table.setData(rows, tree.numTicks, tree.units);
    this.fit();
  }
}
