// Threads: their on-CPU and off-CPU time; the chosen threads' tracks (on-CPU
// samples and off-CPU intervals on one time axis) and the first one's flame graph.
// State in the URL: tid (the chosen threads), sort and filter (the list), window
// (the tracks' zoom, "LO-HI" in Unix ms) and the graph's keys (viewstate.js).

import { AllThreads } from "./alltracks.js";
import { api } from "./api.js";
import { ExportMenu, shapeParams } from "./export.js";
import { clear, el, fmtDuration, fmtPercent } from "./format.js";
import { appChips, FrameMenu, onlyOf } from "./framemenu.js";
import { withType } from "./query.js";
import { errorBox, loading, noData } from "./states.js";
import { ThreadList } from "./threadlist.js";
import { ThreadTracks, tracksFromAnswer } from "./tracks.js";
import { decodeFlamebearer } from "./tree.js";
import { filterTree, hiddenOf } from "./treefilter.js";
import { showPanelState, urlFlamePanel, windowOf, windowParam } from "./viewstate.js";

const MAX_TRACKS = 12;

// `tid` in the URL: one thread id, or several separated by commas.
export function tidsOf(state) {
  return String(state.tid || "").split(",").map(Number).filter((t) => Number.isInteger(t) && t > 0);
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export class ThreadsView {
  constructor(section, app) {
    this.app = app;
    this.seq = 0;
    this.listBody = el("div");
    this.detailTitle = el("h2", { text: "Thread" });
    this.detailState = el("div");
    this.laneBox = el("div");
    this.stackBox = el("div", { "aria-live": "polite" });
    this.flameBox = el("div");
    this.allState = el("div");
    this.allBox = el("div");
    this.allStack = el("div", { "aria-live": "polite" });
    this.placeholder = el("div", { className: "panel all-threads" }, [
      el("h2", { text: "All threads over time" }),
      el("h3", { className: "hint", text: "A track per thread, grouped by process, in the list's order: on-CPU share (opacity) and off-CPU time by reason. The wheel scrolls; Ctrl+wheel or +/- zoom, drag pans, 0 resets. At 20 s or less, or for a thread whose name you click, events are drawn one by one (hover for stacks). Double-click a name to open the thread." }),
      this.allState,
      this.allBox,
      this.allStack,
    ]);
    this.detail = el("div", { className: "panel" }, [
      this.detailTitle,
      this.detailState,
      el("h3", { className: "hint", text: "Tracks (wall clock): on-CPU samples and off-CPU intervals by reason; hover one for its stack, click to list it; wheel or +/- zooms, drag pans" }),
      this.laneBox,
      this.stackBox,
      el("h3", { className: "hint", text: "Flame graph of this thread" }),
      this.flameBox,
    ]);
    const layout = this.layout = el("div", { className: "threads-layout" }, [
      this.placeholder,
      el("div", { className: "panel" }, [el("h2", { text: "Threads" }), this.listBody]),
      el("div", {}, [this.detail]),
    ]);
    this.chips = el("div", { className: "filter-chips", "aria-label": "View changes in effect", hidden: true });
    // Until threads are chosen: every thread over time (alltracks.js), above the list.
    this.all = new AllThreads(this.allBox, {
      onPick: (event) => this.showStack(event, this.allStack, this.all),
      onOpen: (t) => app.setState({ tid: String(t.tid) }),
      onWindow: (lo, hi, full) => app.setState({ window: windowParam(lo, hi, full) }, { push: false, reload: false }),
    });
    section.append(this.chips, layout);
    this.lane = new ThreadTracks(this.laneBox, {
      label: "Thread tracks",
      onPick: (event) => this.showStack(event),
      onWindow: (lo, hi, full) => app.setState({ window: windowParam(lo, hi, full) }, { push: false, reload: false }),
    });
    this.panel = urlFlamePanel(this.flameBox, app, { label: "Flame graph of the thread", idPrefix: "th" });
    this.menu = this.frameMenu(this.panel.graph);
    // the first chosen thread's samples, as its graph shows them
    const label = () => `thread ${this.thread.thread_name || this.thread.comm || "?"} (tid ${this.thread.tid})`;
    this.exporter = new ExportMenu({
      name: "flamecam-thread",
      files: () => (this.flameBox.hidden || this.detail.hidden ? [] : [{
        title: `The samples of ${label()}`,
        params: { query: app.state.query, from: app.state.from, until: app.state.until, tid: this.thread.tid, ...shapeParams(app.state) },
      }]),
      graphs: () => (this.flameBox.hidden || this.detail.hidden ? [] : [{ graph: this.panel.graph, title: `Flame graph of ${label()}` }]),
      meta: () => ({ query: app.state.query, from: app.state.from, until: app.state.until, tid: this.thread.tid }),
    });
    this.panel.resetBtn.after(this.exporter.root);
    this.list = new ThreadList(this.listBody, {
      onRow: (t, selected, chosen) => this.rowCells(t, selected, chosen),
      chosen: () => tidsOf(this.app.state),
      onView: (patch) => app.setState(patch, { push: false, reload: false }),
    });
    this.list.onDraw = (rows, filtered) => !this.placeholder.hidden && this.all.setOrder(rows, filtered);
  }

  // The main graph's menu, for one thread's graph: focus and hide apply to it
  // (and to the other views), its sandwich is of this thread, and "show only"
  // scopes the page (list, timeline, graphs) and opens the thread it names.
  frameMenu(graph) {
    const app = this.app;
    const hide = (name) => JSON.stringify([...hiddenOf(app.state).filter((n) => n !== name), name]);
    return new FrameMenu(graph, {
      focus: (name) => app.setState({ focus: name, zoom: null }),
      hide: (name) => app.setState({ hide: hide(name), zoom: null }),
      sandwich: (name) => app.setState({ tab: "sandwich", fn: name, only: `tid:${this.thread.tid}` }),
      only: (scope) => app.setState(scope.tid ? { only: `tid:${scope.tid}`, tid: String(scope.tid) } : { only: `pid:${scope.pid}` }),
      scope: () => app.state,
    });
  }

  async show(state) {
    const seq = ++this.seq;
    appChips(this.chips, state, this.app);
    this.list.setView(state);
    this.list.setBusy(loading("Loading threads"));
    this.detail.hidden = true;
    this.placeholder.hidden = tidsOf(state).length > 0; // all threads, until some are chosen
    this.layout.classList.remove("chosen");
    let threads;
    try {
      threads = (await api.threads(state.query, state.from, state.until)).threads || [];
    } catch (err) {
      if (seq === this.seq) this.list.setBusy(errorBox(err, "Could not load the threads"));
      this.placeholder.hidden = true;
      return;
    }
    if (seq !== this.seq) return;
    // "show only" from a frame menu: that process's threads, or that thread
    const only = onlyOf(state);
    if (only.pid) threads = threads.filter((t) => t.pid === only.pid);
    if (only.tid) threads = threads.filter((t) => t.tid === only.tid);
    if (!threads.length) {
      this.list.setBusy(noData());
      this.placeholder.hidden = true; // no thread to draw over time
      return;
    }
    this.threads = threads;
    this.list.setData(threads);
    const tids = tidsOf(state);
    if (tids.length) await this.showThreads(state, tids.map((tid) => threads.find((t) => t.tid === tid) || { tid, thread_name: "", comm: "", pid: "" }), seq);
    else await this.showAll(state, seq);
  }

  // Every thread of the selection over time, in the list's order.
  async showAll(state, seq) {
    this.allState.replaceChildren(loading("Loading every thread's time"));
    clear(this.allStack);
    const rows = this.list.visible();
    try {
      const answer = await this.all.show({ query: state.query, from: state.from, until: state.until, ...onlyOf(state) },
        rows, windowOf(state), rows.length < this.threads.length);
      if (seq === this.seq && answer) this.allState.replaceChildren();
    } catch (err) {
      if (seq === this.seq) this.allState.replaceChildren(errorBox(err, "Could not load every thread's time"));
    }
  }

  // The name and track-toggle cells of one thread's row.
  rowCells(t, selected, chosen) {
    const others = chosen.filter((x) => x !== t.tid);
    const toggle = selected ? others : [...chosen, t.tid].slice(-MAX_TRACKS);
    const label = `${t.thread_name || t.comm || "?"} (${t.tid})`;
    return [
      el("td", { className: "name" }, [
        el("button", {
          type: "button",
          className: "linkish",
          text: label,
          "aria-pressed": String(selected),
          onclick: () => this.app.setState({ tid: String(t.tid) }),
        }),
        el("div", { className: "hint", text: t.comm && t.comm !== t.thread_name ? `kernel name: ${t.comm}` : "the kernel's name (comm); no runtime name" }),
      ]),
      el("td", {}, [
        el("button", {
          type: "button",
          className: "btn track-toggle",
          text: selected && chosen.length > 1 ? "−" : "+",
          title: selected ? "Remove from the tracks" : "Add to the tracks",
          "aria-label": `${selected ? "Remove" : "Add"} ${label} ${selected ? "from" : "to"} the tracks`,
          disabled: selected && chosen.length === 1,
          onclick: () => this.app.setState({ tid: toggle.join(",") }),
        }),
      ]),
    ];
  }

  async showThreads(state, chosen, seq) {
    const thread = this.thread = chosen[0];
    this.detail.hidden = false;
    this.placeholder.hidden = true;
    this.layout.classList.add("chosen"); // a shorter list: the thread's tracks in view
    const name = (t) => t.thread_name || t.comm || "";
    this.detailTitle.textContent = chosen.length === 1
      ? `Thread ${name(thread)} (tid ${thread.tid}${thread.pid !== "" ? `, pid ${thread.pid}` : ""})`
      : `Threads ${chosen.map((t) => `${name(t)} (${t.tid})`).join(", ")}`;
    this.detailState.replaceChildren(loading("Loading the threads"));
    clear(this.stackBox);
    const wallQuery = withType(state.query, "wall");
    let answer;
    let events;
    try {
      [answer, events] = await Promise.all([
        this.app.render(state.query, state.from, state.until, { tid: thread.tid }),
        api.threadEvents(wallQuery, state.from, state.until, { tids: chosen.map((t) => t.tid).join(",") }),
      ]);
    } catch (err) {
      if (seq === this.seq) this.detailState.replaceChildren(errorBox(err, "Could not load the thread"));
      return;
    }
    if (seq !== this.seq) return;
    const ev = events.events;
    const n = ev.t_us.length;
    let onCpu = 0;
    let offTime = 0;
    for (let i = 0; i < n; i++) {
      if (ev.cpu[i]) onCpu++;
      else offTime += ev.dur_ns[i];
    }
    this.detailState.replaceChildren(
      el("p", {
        className: "hint",
        text: `${plural(onCpu, "on-CPU sample")}, ${plural(n - onCpu, "off-CPU interval")} (${fmtDuration(offTime)})${events.truncated ? `; only the first ${n} events of the range: narrow it to see the rest` : ""}.`,
      }, [" ", el("button", {
        type: "button", className: "linkish", text: "What it waited on (waits by target, off-wake graph)",
        // the Flame graph tab, this thread's off-CPU time, the waits beside it
        onclick: () => this.app.setState({ tab: "profile", query: withType(state.query, "offcpu"), list: "waits", only: `tid:${thread.tid}`, tid: String(thread.tid) }),
      })]),
    );
    // One track per chosen thread, in the order chosen (even without events).
    const order = new Map(chosen.map((t, i) => [t.tid, i]));
    const tracks = tracksFromAnswer(events).sort((a, b) => (order.get(a.thread.tid) ?? 99) - (order.get(b.thread.tid) ?? 99));
    this.lane.setData(tracks, { window: windowOf(state) });
    this.stackBox.replaceChildren(el("p", { className: "hint", text: n ? "Choose an event above to see its stack." : "No events for these threads in the time range." }));
    const tree = filterTree(decodeFlamebearer(answer), { focus: state.focus || "", hide: hiddenOf(state) });
    if (!tree.numTicks) {
      this.flameBox.hidden = true;
      return;
    }
    this.flameBox.hidden = false;
    showPanelState(this.panel, state, tree);
    const total = (thread.cpu_ns || 0) + (thread.offcpu_ns || 0);
    if (total) this.detailState.append(el("p", { className: "hint", text: `On-CPU ${fmtPercent((thread.cpu_ns || 0) / total)} of ${name(thread) || "this thread"}'s wall time; the flame graph below is ${chosen.length > 1 ? "of that first thread" : "this thread's"}.` }));
  }

  showStack(event, box = this.stackBox, lane = this.lane) {
    const frames = [...event.stack].reverse();
    const list = el("ol", { className: "stack-list" }, frames.map((name) => el("li", { text: name })));
    box.replaceChildren(el("p", { text: lane.describe(event) + " — stack, innermost frame first:" }), list);
  }
}
