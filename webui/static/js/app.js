// Flamecam's single-page app: state lives in the URL, views read it.
//
// `/?query=cpu{service_name="api"}&from=now-1h&until=now` opens a view
// directly, as in Pyroscope; tab, layout, search, zoom, fn, tid and the diff
// sides (leftQuery, leftFrom, ...) are kept there too (a graph's: viewstate.js,
// a sandwich's zoom per graph: callersZoom, calleesZoom). `/?trace=TRACE_ID`
// opens one trace (traceview.js; with span, window and others).

import { api, traceApi } from "./api.js";
import { setReasons } from "./colors.js";
import { DiffView } from "./diff.js";
import { earlyRenderSettled, MAX_NODES, metaAnswer, renderAnswer } from "./early.js";
import { onlyOf } from "./framemenu.js";
import { LabelsView } from "./labels.js";
import { LossNotice } from "./losses.js";
import { ProfileView } from "./profile.js";
import { QueryBar, selectionProblem } from "./query.js";
import { AutoRefresh } from "./refresh.js";
import { SandwichView } from "./sandwich.js";
import { ThreadsView } from "./threads.js";
import { TIMELINE_TABS, TimelinePanel } from "./timelinepanel.js";
import { TraceView } from "./traceview.js";
import { landingTab, TRACE_KEYS, TracesView } from "./traces.js";
import { SANDWICH_ZOOM } from "./viewstate.js";

const KEYS = [
  "query", "from", "until", "tab", "layout", "search", "fn", "tid",
  "diffMode", "leftQuery", "leftFrom", "leftUntil", "rightQuery", "rightFrom", "rightUntil",
  "refresh", "panes", "orgID", "trace", "span", "window", "others", ...TRACE_KEYS,
  "zoom", "focus", "hide", "only", "diffColor", "diffLayout", "diffNoise", "groupBy", "order",
  "waitTarget", "waitSyscall", "offwake", "list", "filter", ...Object.values(SANDWICH_ZOOM),
];
const DEFAULTS = { query: "cpu{}", from: "now-1h", until: "now", tab: "profile", layout: "flame" };
const TABS = ["traces", "profile", "sandwich", "threads", "diff", "labels", "trace"];
// Changing these reloads data; others only change the presentation.
const DATA_KEYS = ["query", "from", "until"];

class App {
  constructor() {
    this.state = this.readURL();
    this.banner = document.getElementById("banner");
    this.losses = new LossNotice(document.getElementById("losses"));
    // The losses notice sits above every view: a view is drawn only once the
    // notice for its selection is in place, so nothing moves under the pointer
    // after the graph appears (a frame the user aims at stays where it was).
    this.noticeShown = Promise.resolve();
    this.showSeq = 0;
    this.renderCache = new Map();
    this.focusedFunction = "";
    // Apply (or Enter) always reloads, even when nothing in the bar changed.
    this.queryBar = new QueryBar(document.getElementById("query-bar"), (patch, error) => {
      if (error) return this.showBanner(error, "error");
      this.hideBanner();
      this.setState(patch, { force: true });
    });
    this.timeline = new TimelinePanel(document.getElementById("timeline-host"),
      (fromMs, untilMs) => this.setState({ from: String(fromMs), until: String(untilMs) }));
    this.autoRefresh = new AutoRefresh(document.getElementById("refresh-host"), {
      onRefresh: (auto) => this.refresh(auto),
      onInterval: (refresh) => this.setState({ refresh }, { push: false, reload: false }),
    });
    this.views = {
      profile: new ProfileView(document.getElementById("view-profile"), this),
      sandwich: new SandwichView(document.getElementById("view-sandwich"), this),
      threads: new ThreadsView(document.getElementById("view-threads"), this),
      diff: new DiffView(document.getElementById("view-diff"), this),
      labels: new LabelsView(document.getElementById("view-labels"), this),
      trace: new TraceView(document.getElementById("view-trace"), this),
      traces: new TracesView(document.getElementById("view-traces"), this),
    };
    this.tabs = [...document.querySelectorAll('[role="tab"]')];
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => this.setState({ tab: tab.dataset.tab }));
      tab.addEventListener("keydown", (e) => this.onTabKey(e));
    }
    window.addEventListener("popstate", () => {
      this.state = this.readURL();
      this.route(true);
    });
    this.route(true);
    this.dataChecked = this.checkForData(); // settles once the banner is decided
  }

  readURL() {
    const params = new URLSearchParams(location.search);
    const state = { ...DEFAULTS };
    for (const key of KEYS) if (params.has(key)) state[key] = params.get(key);
    if (state.trace && !params.has("tab")) state.tab = "trace";
    if (!TABS.includes(state.tab) || (state.tab === "trace" && !state.trace)) state.tab = "profile";
    return state;
  }

  writeURL(push) {
    const params = new URLSearchParams();
    for (const key of KEYS) {
      const value = this.state[key];
      if (value !== undefined && value !== null && value !== "") params.set(key, value);
    }
    const url = `${location.pathname}?${params.toString()}`;
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }

  // patch: keys to change (null/"" removes); push: new history entry;
  // reload: show the current view again.
  // force: reload the data even when the selection is the same (Apply).
  setState(patch, { push = true, reload = true, force = false } = {}) {
    const before = this.state;
    const next = { ...before };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null || value === undefined || value === "") delete next[key];
      else next[key] = String(value);
    }
    if (DATA_KEYS.some((k) => before[k] !== next[k])) {
      // another selection: the chosen thread may not exist there
      if (before.query !== next.query && !("tid" in patch)) delete next.tid;
    }
    // another function's sandwich: its callers and callees start unzoomed
    if (before.fn !== next.fn) for (const key of Object.values(SANDWICH_ZOOM)) if (!(key in patch)) delete next[key];
    // "show only" scopes the page's timeline too
    if (before.only !== next.only) this.timelineStale = true;
    this.state = next;
    this.writeURL(push);
    if (!reload) this.autoRefresh.set(next.refresh);
    if (reload) this.route(force || DATA_KEYS.some((k) => before[k] !== next[k]));
  }

  // The same selection again, newest data: relative ranges move to now.
  // auto: from the auto-refresh timer; the query bar (maybe being edited) stays.
  refresh(auto = false) {
    if (selectionProblem(this.state)) return;
    if (!auto) this.hideBanner();
    this.renderCache.clear();
    this.noticeShown = this.losses.show(this.state);
    if (!auto) this.queryBar.load(this.state);
    if (TIMELINE_TABS.includes(this.state.tab)) this.timeline.load(this.state);
    else this.timelineStale = true;
    this.showView(this.state, { refresh: true });
  }

  // The view of `state`, after the losses notice above it (see noticeShown);
  // only the newest call shows: a later route or refresh replaces an earlier one.
  showView(state, options = {}) {
    const seq = ++this.showSeq;
    this.noticeShown.then(() => {
      if (seq === this.showSeq) this.views[state.tab].show(state, options);
    });
  }

  route(dataChanged) {
    const state = this.state;
    document.getElementById("tab-trace").hidden = !state.trace;
    // one trace names its own time and threads; Traces takes the time range only
    this.queryBar.setMode(state.tab === "trace" ? "none" : state.tab === "traces" ? "time" : "full");
    for (const tab of this.tabs) {
      const on = tab.dataset.tab === state.tab;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    this.timeline.setVisible(state.tab);
    // An unreadable query or range: one message, the bar to fix it in, nothing half-drawn.
    const problem = TIMELINE_TABS.includes(state.tab) ? selectionProblem(state) : "";
    for (const name of TABS) document.getElementById(`view-${name}`).hidden = name !== state.tab || Boolean(problem);
    if (dataChanged) {
      this.timelineStale = true;
      this.renderCache.clear();
      this.selectionShown = false;
    }
    // The query bar's choices and the losses notice follow the selection, which
    // one trace ignores: loaded once a view that uses it shows, so that a trace
    // opened from a link has the server to itself.
    if (!this.selectionShown && state.tab !== "trace") {
      this.selectionShown = true;
      this.queryBar.load(state);
      if (!problem) this.noticeShown = this.losses.show(state);
    }
    this.autoRefresh.set(state.refresh);
    if (problem) {
      this.showSeq++; // a view still waiting on the notice stays unshown
      this.timeline.clear();
      this.showBanner(problem, "error");
      return;
    }
    if (dataChanged && this.banner.classList.contains("error")) this.hideBanner();
    if (TIMELINE_TABS.includes(state.tab) && this.timelineStale) {
      this.timelineStale = false;
      this.timeline.load(state);
    }
    this.showView(state);
  }

  onTabKey(event) {
    const i = this.tabs.indexOf(event.currentTarget);
    let j = -1;
    if (event.key === "ArrowRight") j = (i + 1) % this.tabs.length;
    else if (event.key === "ArrowLeft") j = (i - 1 + this.tabs.length) % this.tabs.length;
    else if (event.key === "Home") j = 0;
    else if (event.key === "End") j = this.tabs.length - 1;
    if (j < 0) return;
    event.preventDefault();
    this.tabs[j].focus();
    this.setState({ tab: this.tabs[j].dataset.tab });
  }

  // One /render per selection, shared by the views (relative times resolve on
  // the server, so the cache is cleared whenever the selection changes).
  render(query, from, until, extra = {}) {
    // the frame menu's "show only", unless the caller names its thread itself
    if (!("tid" in extra) && !("pid" in extra)) extra = { ...onlyOf(this.state), ...extra };
    const key = JSON.stringify([query, from, until, extra]);
    if (!this.renderCache.has(key)) {
      const early = Object.keys(extra).length ? null : renderAnswer(query, from, until);
      const promise = early || api.render(query, from, until, { maxNodes: MAX_NODES, ...extra });
      promise.catch(() => this.renderCache.delete(key));
      this.renderCache.set(key, promise);
    }
    return this.renderCache.get(key);
  }

  // Opens one trace (what `/?trace=TRACE_ID` does), from anywhere in the page;
  // another graph's zoom and sandwich are not of this one.
  openTrace(traceId) {
    this.setState({ trace: traceId, tab: "trace", span: null, window: null, zoom: null, fn: null });
  }

  setFocusedFunction(name) {
    this.focusedFunction = name;
  }

  showBanner(text, kind = "info") {
    this.banner.className = `banner ${kind}`;
    this.banner.textContent = text;
    this.banner.hidden = false;
  }

  hideBanner() {
    this.banner.hidden = true;
  }

  // A server with nothing in the last week, neither profile series nor traces,
  // gets one clear sentence at the top. Traces alone are data (an app that
  // sends spans, the Traces and trace views show them): a view short of
  // profiles says so in place.
  async checkForData() {
    await earlyRenderSettled; // an address naming a view shows it first
    try {
      const { names } = await api.labels("now-7d", "now");
      if (names && names.length) return;
      const { services } = await traceApi.services("now-7d", "now");
      if (!services || !services.length) {
        this.showBanner(`No data yet: is the agent running? Start it with: flamecam agent --server ${location.origin}`, "info");
      }
    } catch (err) {
      this.showBanner(`${err.message} ${err.hint || ""}`.trim(), "error");
    }
  }
}

// The server's vocabulary first (off-CPU reasons for colours and legends); a
// server that cannot say still gets a working page.
// Both asked at once (landingTab asks nothing when the address names a view).
const [meta, landing] = await Promise.allSettled([metaAnswer, landingTab(DEFAULTS.from, DEFAULTS.until)]);
if (meta.status === "fulfilled") setReasons(meta.value.offcpu_reasons);
else console.warn("api/v1/meta:", meta.reason.message);
// With traces stored, a bare address lands on them.
DEFAULTS.tab = (landing.status === "fulfilled" && landing.value) || DEFAULTS.tab;
window.flamecam = new App();
