// The main view: timeline, flame graph of the selection, top functions.

import { api } from "./api.js";
import { el } from "./format.js";
import { FlamePanel } from "./flamepanel.js";
import { ExportMenu } from "./export.js";
import { appChips, appFrameMenu } from "./framemenu.js";
import { parseQuery, resolveTime, typeTitle } from "./query.js";
import { errorBox, loading, noData } from "./states.js";
import { TopTable } from "./table.js";
import { Timeline } from "./timeline.js";
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
    this.timelineBox = el("div", { className: "panel", "aria-label": "Timeline" }, [el("h2", { text: "Timeline" })]);
    this.flameTitle = el("h2", { text: "Flame graph" });
    this.flameBox = el("div", { className: "panel" }, [this.flameTitle]);
    this.flameBody = el("div");
    this.flameState = el("div");
    this.chips = el("div", { className: "filter-chips", "aria-label": "View changes in effect", hidden: true });
    this.flameBox.append(this.chips, this.flameState, this.flameBody);
    this.tableBox = el("div", { className: "panel" }, [el("h2", { text: "Top functions" })]);
    this.tableBody = el("div");
    this.tableBox.append(this.tableBody);
    section.append(this.timelineBox, this.flameBox, this.tableBox);

    this.timeline = new Timeline(this.timelineBox, (fromMs, untilMs) => app.setState({ from: String(fromMs), until: String(untilMs) }));
    this.panel = new FlamePanel(this.flameBody, {
      label: "Flame graph of the selection",
      onLayout: (layout) => app.setState({ layout }, { push: false, reload: false }),
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

  async show(state) {
    const seq = ++this.seq;
    const { query, from, until } = state;
    let type = "cpu";
    try {
      type = parseQuery(query).type;
    } catch (err) {
      this.flameState.replaceChildren(errorBox(err, "The query is not valid"));
      return;
    }
    this.flameTitle.textContent = TITLES[type] || typeTitle(type);
    this.panel.setLayout(state.layout || "flame");
    if (this.panel.searchInput.value !== (state.search || "")) this.panel.searchInput.value = state.search || "";
    this.flameState.replaceChildren(loading("Loading the flame graph"));
    this.flameBody.hidden = true;
    this.tableBox.hidden = false;

    const now = Date.now();
    const fromMs = resolveTime(from, now);
    const untilMs = resolveTime(until, now);
    api
      .timeline(query, from, until)
      .then((tl) => seq === this.seq && this.timeline.setData(tl, fromMs, untilMs))
      .catch(() => seq === this.seq && this.timeline.setData({ points: [] }, fromMs, untilMs));

    let answer;
    try {
      answer = await this.app.render(query, from, until);
    } catch (err) {
      if (seq !== this.seq) return;
      this.flameState.replaceChildren(errorBox(err, "Could not load the flame graph"));
      this.tableBox.hidden = true;
      return;
    }
    if (seq !== this.seq) return;
    let tree = decodeFlamebearer(answer);
    if (!tree.numTicks || !tree.levels.length) {
      appChips(this.chips, state, this.app);
      this.flameState.replaceChildren(noData());
      this.tableBox.hidden = true;
      return;
    }
    this.flameState.replaceChildren();
    this.flameBody.hidden = false;
    const whole = tree.numTicks;
    tree = filterTree(tree, { focus: state.focus || "", hide: hiddenOf(state) });
    appChips(this.chips, state, this.app, state.focus ? tree.numTicks / whole : undefined);
    this.restoring = true;
    this.panel.setData(tree);
    const path = zoomPathOf(state);
    if (path.length) this.panel.graph.zoomToPath(path);
    this.restoring = false;
    // The table comes from the same tree as the graph, so both always agree
    // (recursion counted once per stack, kernel names with their _[k]).
    this.table.search = (state.search || "").toLowerCase();
    const rows = functionTotals(tree).filter((r) => r.kind !== "root");
    this.table.setData(rows, tree.numTicks, tree.units);
  }
}
