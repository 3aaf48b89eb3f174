// Group by a label (Pyroscope's tag explorer): the current query broken down
// by one label's values, or by process or thread, each with its total, its
// share and a small time series; choosing a value filters the query by it (a
// process or thread: shows only it) and opens its flame graph.

import { api } from "./api.js";
import { el, fmtPercent, fmtValue } from "./format.js";
import { labelValue, withLabel } from "./query.js";
import { onlyOf } from "./framemenu.js";
import { errorBox, loading, noData } from "./states.js";

const MAX_VALUES = 30;
const SVG_NS = "http://www.w3.org/2000/svg";
const PREFERRED = ["service_name", "service_version", "host"];

// A small line of `points` ([[ms, value], ..]) scaled to `max`.
function sparkline(points, max, label) {
  const w = 180;
  const h = 28;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(h));
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const n = points.length;
  if (n) {
    const xy = points.map(([, v], i) => `${n === 1 ? w / 2 : (i / (n - 1)) * (w - 2) + 1},${h - 1 - (v / (max || 1)) * (h - 3)}`);
    const area = document.createElementNS(SVG_NS, "polygon");
    area.setAttribute("points", `1,${h - 1} ${xy.join(" ")} ${w - 1},${h - 1}`);
    area.setAttribute("fill", "#f6c7a5");
    const line = document.createElementNS(SVG_NS, "polyline");
    line.setAttribute("points", xy.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#e0651f");
    line.setAttribute("stroke-width", "1.5");
    svg.append(area, line);
  }
  return svg;
}

// Dimensions that are no series label: every stack is rooted at its process
// (the flame graph's first level), and threads are the Threads tab's rows.
// Choosing one filters the view to it as the frame menu's "show only" does
// (`only=pid:N` or `only=tid:N` in the URL).
const DIMENSIONS = [
  { value: "process", text: "process (pid)" },
  { value: "thread", text: "thread (tid)" },
];

// What to group by: the address's choice if the server has it, else a main label.
function groupOf(state, names) {
  const dims = DIMENSIONS.filter((d) => !names.includes(d.value)).map((d) => d.value);
  return [...names, ...dims].includes(state.groupBy) ? state.groupBy : PREFERRED.find((n) => names.includes(n)) || names[0];
}

export class LabelsView {
  constructor(section, app) {
    this.app = app;
    this.seq = 0;
    this.select = el("select", { id: "group-by", onchange: (e) => app.setState({ groupBy: e.target.value }) });
    this.summary = el("p", { className: "hint", "aria-live": "polite" });
    this.body = el("div");
    section.append(
      el("div", { className: "panel" }, [
        el("h2", { text: "Group by a label, process or thread" }),
        el("div", { className: "toolbar" }, [el("label", { className: "field-inline", for: "group-by" }, ["Group by ", this.select])]),
        this.summary,
        this.body,
      ]),
    );
  }

  async show(state) {
    const seq = ++this.seq;
    // the choice follows the new state at once, among the labels last offered
    if (this.names) this.select.value = groupOf(state, this.names);
    this.body.replaceChildren(loading("Loading the labels"));
    this.summary.textContent = "";
    let names;
    try {
      names = ((await api.labels(state.from, state.until)).names || []).filter((n) => !n.startsWith("__"));
    } catch (err) {
      if (seq === this.seq) this.body.replaceChildren(errorBox(err, "Could not load the labels"));
      return;
    }
    if (seq !== this.seq) return;
    if (!names.length) {
      this.select.replaceChildren();
      this.body.replaceChildren(noData());
      return;
    }
    const dims = DIMENSIONS.filter((d) => !names.includes(d.value));
    const name = groupOf(state, names);
    this.names = names;
    this.select.replaceChildren(
      el("optgroup", { label: "Labels" }, names.map((n) => el("option", { value: n, text: n, selected: n === name }))),
      el("optgroup", { label: "Processes and threads" }, dims.map((d) => el("option", { value: d.value, text: d.text, selected: d.value === name }))),
    );
    try {
      if (names.includes(name)) await this.load(state, name, seq);
      else await this.loadGroups(state, name, seq);
    } catch (err) {
      if (seq === this.seq) this.body.replaceChildren(errorBox(err, "Could not group the selection"));
    }
  }

  async load(state, name, seq) {
    const { query, from, until } = state;
    const values = ((await api.labelValues(name, from, until, query)).values || []).slice(0, MAX_VALUES);
    const [all, ...series] = await Promise.all([
      api.timeline(query, from, until),
      ...values.map((v) => api.timeline(withLabel(query, name, v), from, until)),
    ]);
    if (seq !== this.seq) return;
    const sum = (tl) => (tl.points || []).reduce((s, [, v]) => s + v, 0);
    const current = labelValue(query, name);
    const rows = values.map((v, i) => ({
      text: v,
      points: series[i].points || [],
      total: sum(series[i]),
      selected: v === current,
      title: `Filter by ${name}="${v}"`,
      pick: () => this.app.setState({ query: withLabel(query, name, v), tab: "profile" }),
    }));
    this.draw(state, { name, rows, whole: sum(all), units: all.units, more: values.length === MAX_VALUES ? ` (the first ${MAX_VALUES})` : "", rest: (n) => `without a value of ${n} shown` });
  }

  // Processes or threads: one request answers each one's total and steps.
  async loadGroups(state, by, seq) {
    const { query, from, until } = state;
    const scope = onlyOf(state);
    const answer = await api.groups(query, from, until, by, scope.pid === undefined ? {} : { pid: scope.pid });
    if (seq !== this.seq) return;
    const groups = answer.groups || [];
    const only = (g) => (by === "process" ? `pid:${g.pid}` : `tid:${g.tid}`);
    const rows = groups.map((g) => ({
      text: by === "process" ? `${g.name || "?"} (pid ${g.pid})` : `${g.name || "?"} (tid ${g.tid}, pid ${g.pid})`,
      points: g.points || [],
      total: g.value,
      selected: state.only === only(g),
      title: `Show only this ${by}`,
      dataset: by === "process" ? { pid: String(g.pid) } : { pid: String(g.pid), tid: String(g.tid) },
      pick: () => this.app.setState({ only: only(g), tab: "profile", zoom: null }),
    }));
    const count = answer.count || rows.length;
    this.draw(state, { name: by, rows, whole: answer.total || 0, units: answer.units, more: count > rows.length ? ` (the largest ${rows.length} of ${count})` : "", rest: () => "in the others" });
  }

  draw(state, { name, rows, whole, units = "nanoseconds", more, rest }) {
    rows = rows.filter((r) => r.total > 0).sort((a, b) => b.total - a.total);
    if (!rows.length) {
      this.body.replaceChildren(noData(`${name} in this selection`));
      return;
    }
    const peak = rows.reduce((m, r) => Math.max(m, ...r.points.map(([, v]) => v)), 0);
    const shown = rows.reduce((s, r) => s + r.total, 0);
    this.summary.textContent = `${state.query} by ${name}: ${rows.length} value${rows.length === 1 ? "" : "s"}${more}, ${fmtValue(whole, units)} in all` +
      (whole > shown ? `; ${fmtValue(whole - shown, units)} ${rest(name)}` : "") + ". Choose a value to filter by it.";
    const body = el("tbody");
    for (const r of rows) {
      body.append(
        el("tr", { className: r.selected ? "selected" : "", dataset: { value: r.text, ...(r.dataset || {}) } }, [
          el("td", { className: "name" }, [el("button", { type: "button", className: "linkish", text: r.text, title: r.title, onclick: r.pick })]),
          el("td", { className: "num", text: fmtValue(r.total, units) }),
          el("td", { className: "num", text: fmtPercent(whole ? r.total / whole : 0, 1) }),
          el("td", {}, [sparkline(r.points, peak, `${r.text} over time`)]),
        ]),
      );
    }
    const th = (text) => el("th", { scope: "col", text });
    this.body.replaceChildren(
      el("div", { className: "table-scroll" }, [
        el("table", { className: "data labels-table" }, [
          el("caption", { className: "sr-only", text: `The selection by ${name}` }),
          el("thead", {}, [el("tr", {}, [th(name), th("Total"), th("Share"), th("Over time (same scale)")])]),
          body,
        ]),
      ]),
    );
  }
}
