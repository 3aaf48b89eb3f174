// Traces: a service's requests over time (scatter), its endpoints with their
// latency percentiles, and its slowest traces; a trace opens at /?trace=ID.
// Brushing the scatter, or "Slow vs fast" on an endpoint, compares requests.

import { traceApi } from "./api.js";
import { reasonColor, reasonsIn } from "./colors.js";
import { el, fmtClock, fmtDuration } from "./format.js";
import { labelValue } from "./query.js";
import { ENDPOINT_COLORS, SIDE_COLORS, Scatter } from "./scatter.js";
import { CPU_COLOR, SlowFastView } from "./slowfast.js";
import { errorBox, loading } from "./states.js";
import { sortOf, sortParam } from "./viewstate.js";

// URL keys of this view (app.js keeps them in the address).
// scope=service: a latency comparison over all endpoints (else over one endpoint).
export const TRACE_KEYS = ["service", "endpoint", "scope", "sort", "compare", "slow", "fast", "box"];
const LIST_LIMIT = 200;

// Where a trace opens (the one-trace view reads ?trace=ID); the tenant goes along.
export function traceURL(traceId, spanId = "") {
  const params = new URLSearchParams({ trace: traceId });
  if (spanId) params.set("span", spanId);
  const org = new URLSearchParams(location.search).get("orgID");
  if (org) params.set("orgID", org);
  return `${location.pathname}?${params.toString()}`;
}

export function openTrace(traceId, spanId = "") {
  location.assign(traceURL(traceId, spanId));
}

// No traces at all: what to do about it.
export function noTraces() {
  return el("div", { className: "empty", role: "status" }, [
    el("strong", { text: "No traces in this time range." }),
    "Point your OpenTelemetry exporter at ",
    el("code", { text: location.origin }),
    ` (OTEL_EXPORTER_OTLP_ENDPOINT=${location.origin}), see README, section "Traces from your app". `,
    "For the threads behind each request, install flamecam_otel in the app and run the agent on its host.",
  ]);
}

// The endpoint a latency comparison opens on when none is chosen: the one
// with the slowest requests (highest p99, then p90).
export function slowestEndpoint(endpoints) {
  let best = null;
  for (const e of endpoints) {
    if (!best || e.p99_ms > best.p99_ms || (e.p99_ms === best.p99_ms && e.p90_ms > best.p90_ms)) best = e;
  }
  return best ? best.name : "";
}

// The service shown: the address's, else the query's (if it has traces), else the first.
function serviceOf(state, services) {
  const fromQuery = labelValue(state.query, "service_name");
  return state.service || (services.includes(fromQuery) ? fromQuery : services[0]);
}

const offTotal = (t) => Object.values(t.offcpu_ns || {}).reduce((s, v) => s + v, 0);

const COLUMNS = [
  ["start_ms", "Started", (t) => t.start_ms],
  ["root", "Endpoint", (t) => t.root],
  ["duration_ms", "Duration", (t) => t.duration_ms],
  ["cpu_ns", "CPU", (t) => t.cpu_ns],
  ["offcpu", "Off-CPU (by reason)", offTotal],
  ["threads", "Threads", (t) => t.threads],
];

export class TracesView {
  constructor(section, app) {
    this.app = app;
    this.seq = 0;
    this.controls = el("div", { className: "traces-controls" });
    this.head = el("div", { className: "panel" }, [el("h2", { text: "Traces" }), this.controls]);
    this.state = el("div");
    this.scatterLegend = el("div", { className: "legend", "aria-label": "Colours" });
    this.scatterNote = el("p", { className: "hint", "aria-live": "polite" });
    this.scatterPanel = el("div", { className: "panel" }, [el("h2", { text: "Request durations over time" }), this.scatterLegend]);
    this.compareBox = el("div");
    this.endpointsBody = el("div");
    this.listBody = el("div");
    this.lists = el("div", {}, [
      el("div", { className: "panel" }, [el("h2", { text: "Endpoints" }), this.endpointsBody]),
      el("div", { className: "panel" }, [el("h2", { text: `Slowest traces (up to ${LIST_LIMIT}; click one to open it)` }), this.listBody]),
    ]);
    this.body = el("div", {}, [this.scatterPanel, this.compareBox, this.lists]);
    section.append(this.head, this.state, this.body);
    this.scatter = new Scatter(this.scatterPanel, {
      onPick: (pt) => openTrace(pt[2]),
      onBrush: (b) => this.app.setState({ compare: "box", scope: null, box: `${b.fromMs},${b.untilMs},${b.minMs},${b.maxMs}`, slow: null, fast: null }),
    });
    this.scatterPanel.append(this.scatterNote);
    this.slowFast = new SlowFastView(this.compareBox, app);
  }

  async show(state) {
    const seq = ++this.seq;
    // The toolbar follows the new state at once (the endpoint just picked
    // reads picked), offering what it last did until the lists load.
    const offered = this.offered;
    if (offered) {
      const service = serviceOf(state, offered.services);
      this.drawControls(state, offered.services, service, service === offered.service ? offered.endpoints : []);
    }
    this.state.replaceChildren(loading("Loading traces"));
    this.body.hidden = true;
    let services;
    try {
      services = (await traceApi.services(state.from, state.until)).services || [];
    } catch (err) {
      if (seq === this.seq) this.state.replaceChildren(errorBox(err, "Could not load the traces"));
      return;
    }
    if (seq !== this.seq) return;
    const service = serviceOf(state, services);
    this.drawControls(state, services, service, []);
    // Nothing to choose from: only what to do about it.
    this.head.hidden = !services.length && !state.service;
    if (this.head.hidden) {
      this.state.replaceChildren(noTraces());
      return;
    }
    this.state.replaceChildren();
    this.body.hidden = false;
    this.service = service;
    const base = { service, from: state.from, until: state.until };
    const endpoints = traceApi.endpoints(base);
    // Slow vs fast compares the requests of one endpoint (the slowest's unless
    // chosen, or all of them with scope=service); the choice goes in the URL.
    if (state.compare === "latency" && !state.endpoint && state.scope !== "service") {
      let name = "";
      try {
        name = slowestEndpoint((await endpoints).endpoints || []);
      } catch {
        /* the comparison says what failed */
      }
      if (seq !== this.seq) return;
      if (name) {
        this.app.setState({ endpoint: name }, { push: false, reload: false });
        state = this.app.state;
      }
    }
    const comparing = state.compare === "box" || state.compare === "latency";
    this.lists.hidden = comparing;
    this.compareBox.hidden = !comparing;
    this.endpointsBody.replaceChildren(loading("Loading endpoints"));
    this.listBody.replaceChildren(loading("Loading traces"));
    const scatter = traceApi.scatter({ ...base, endpoint: state.endpoint || "" });
    endpoints
      .then((e) => seq === this.seq && this.drawControls(state, services, service, e.endpoints || []))
      .catch(() => {});
    const compared = comparing ? this.slowFast.show(state, service) : Promise.resolve(null);
    if (!comparing) {
      endpoints
        .then((e) => seq === this.seq && this.drawEndpoints(state, e.endpoints || []))
        .catch((err) => seq === this.seq && this.endpointsBody.replaceChildren(errorBox(err, "Could not load the endpoints")));
      traceApi
        .list({ ...base, endpoint: state.endpoint || "", limit: LIST_LIMIT })
        .then((l) => seq === this.seq && this.drawList(state, l.traces || []))
        .catch((err) => seq === this.seq && this.listBody.replaceChildren(errorBox(err, "Could not load the traces")));
    }
    let points;
    try {
      points = await scatter;
    } catch (err) {
      if (seq === this.seq) this.scatterNote.replaceChildren(errorBox(err, "Could not load the requests"));
      return;
    }
    if (seq !== this.seq) return;
    this.drawScatter(state, points, null);
    const answer = await compared;
    if (seq === this.seq && answer) this.drawScatter(state, points, answer);
  }

  drawControls(state, services, service, endpoints) {
    this.offered = { services, service, endpoints };
    const serviceSelect = el(
      "select",
      { id: "tr-service", onchange: (e) => this.app.setState({ service: e.target.value, endpoint: null, compare: null, box: null, slow: null, fast: null }) },
      services.map((s) => el("option", { value: s, text: s, selected: s === service })),
    );
    if (service && !services.includes(service)) serviceSelect.append(el("option", { value: service, text: service, selected: true }));
    const names = endpoints.map((e) => e.name);
    // In a latency comparison "(all endpoints)" is a choice of its own (scope=service),
    // and another endpoint's latencies make the thresholds moot.
    const latency = state.compare === "latency";
    const pick = (name) => this.app.setState(latency
      ? { endpoint: name, scope: name ? null : "service", slow: null, fast: null }
      : { endpoint: name, box: null, compare: state.compare === "box" ? null : state.compare });
    const endpointSelect = el(
      "select",
      { id: "tr-endpoint", onchange: (e) => pick(e.target.value) },
      [el("option", { value: "", text: "(all endpoints)", selected: !state.endpoint }), ...names.map((n) => el("option", { value: n, text: n, selected: n === state.endpoint }))],
    );
    if (state.endpoint && !names.includes(state.endpoint)) endpointSelect.append(el("option", { value: state.endpoint, text: state.endpoint, selected: true }));
    this.controls.replaceChildren(
      el("label", { className: "field", for: "tr-service" }, ["Service", serviceSelect]),
      el("label", { className: "field", for: "tr-endpoint" }, ["Endpoint", endpointSelect]),
      el("button", {
        type: "button",
        className: "btn",
        id: "tr-compare",
        text: "Slow vs fast",
        title: "Requests of one endpoint (the slowest, unless one is chosen) above p90 against those below p50",
        onclick: () => this.app.setState({ compare: "latency", scope: null, box: null, slow: null, fast: null }),
      }),
      el("span", { className: "hint", text: "Drag across the scatter to compare those requests with the rest; click a dot or a row to open its trace." }),
    );
  }

  drawScatter(state, data, answer) {
    const points = data.points || [];
    let colorOf;
    let legend;
    let lines = [];
    let box = null;
    if (answer && answer.box) {
      const bx = answer.box;
      box = { fromMs: bx.from_ms, untilMs: bx.until_ms, minMs: bx.min_ms, maxMs: bx.max_ms };
      const inside = (p) => p[0] >= bx.from_ms && p[0] < bx.until_ms && p[1] >= bx.min_ms && p[1] <= bx.max_ms;
      colorOf = (p) => (inside(p) ? SIDE_COLORS.b : SIDE_COLORS.a);
      legend = [[SIDE_COLORS.b, "B: in the box"], [SIDE_COLORS.a, "A: the rest"]];
    } else if (answer) {
      const { slow_ms: slow, fast_ms: fast } = answer;
      const ep = state.endpoint;
      const mine = (p) => !ep || p[3] === ep;
      colorOf = (p) => (!mine(p) ? SIDE_COLORS.none : p[1] >= slow ? SIDE_COLORS.b : p[1] <= fast ? SIDE_COLORS.a : SIDE_COLORS.none);
      legend = [[SIDE_COLORS.b, `B (slow): ≥ ${fmtDuration(slow * 1e6)}`], [SIDE_COLORS.a, `A (fast): ≤ ${fmtDuration(fast * 1e6)}`], [SIDE_COLORS.none, "neither"]];
      lines = [
        { ms: slow, color: SIDE_COLORS.b, label: `B ≥ ${fmtDuration(slow * 1e6)}` },
        { ms: fast, color: SIDE_COLORS.a, label: `A ≤ ${fmtDuration(fast * 1e6)}` },
      ];
    } else {
      const names = [...new Set(points.map((p) => p[3]))].sort();
      const color = new Map(names.map((n, i) => [n, ENDPOINT_COLORS[i % ENDPOINT_COLORS.length]]));
      colorOf = (p) => color.get(p[3]);
      legend = names.slice(0, 12).map((n) => [color.get(n), n]);
    }
    if (data.mode === "heatmap") legend.push(["hsl(22, 85%, 62%)", "requests per cell (darker: more)"]);
    this.scatter.setData(data, { colorOf, box, lines });
    this.scatterLegend.replaceChildren(
      ...legend.map(([c, text], i) => {
        const dot = el("i", { className: data.mode === "heatmap" && i === legend.length - 1 ? "" : "dot" });
        dot.style.background = c;
        return el("span", { className: "item" }, [dot, text]);
      }),
    );
    const heat = data.mode === "heatmap" ? ` A heatmap of counts (darker: more requests), with the ${points.length} slowest as dots.` : "";
    this.scatterNote.textContent = data.total ? `${data.total} requests${state.endpoint ? ` of ${state.endpoint}` : ""}.${heat}` : "No requests in this time range.";
  }

  drawEndpoints(state, endpoints) {
    if (!endpoints.length) {
      this.endpointsBody.replaceChildren(el("p", { className: "hint", text: "No requests of this service in the time range." }));
      return;
    }
    const body = el("tbody");
    for (const e of endpoints) {
      const selected = e.name === state.endpoint;
      body.append(
        el("tr", { className: selected ? "selected" : "", dataset: { endpoint: e.name } }, [
          el("td", { className: "name" }, [
            el("button", { type: "button", className: "linkish", text: e.name, "aria-pressed": String(selected), title: "Show only this endpoint", onclick: () => this.app.setState({ endpoint: selected ? null : e.name }) }),
          ]),
          el("td", { text: String(e.count) }),
          el("td", { text: fmtDuration(e.p50_ms * 1e6) }),
          el("td", { text: fmtDuration(e.p90_ms * 1e6) }),
          el("td", { text: fmtDuration(e.p99_ms * 1e6) }),
          el("td", {}, [
            el("button", { type: "button", className: "btn sf-open", text: "Slow vs fast", title: "Its requests above p90 against those below p50", onclick: () => this.app.setState({ endpoint: e.name, compare: "latency", scope: null, box: null, slow: null, fast: null }) }),
          ]),
        ]),
      );
    }
    const th = (text) => el("th", { scope: "col", text });
    this.endpointsBody.replaceChildren(
      el("div", { className: "table-scroll" }, [
        el("table", { className: "data endpoints-table" }, [
          el("caption", { className: "sr-only", text: "Endpoints with their request count and latency percentiles" }),
          el("thead", {}, [el("tr", {}, [th("Endpoint"), th("Requests"), th("p50"), th("p90"), th("p99"), th("")])]),
          body,
        ]),
      ]),
    );
  }

  drawList(state, traces) {
    if (!traces.length) {
      this.listBody.replaceChildren(el("p", { className: "hint", text: "No traces match." }));
      return;
    }
    const [key, dir] = traceSort(state.sort);
    const getter = getterOf(key);
    const rows = [...traces].sort((a, b) => {
      const va = getter(a);
      const vb = getter(b);
      return (va < vb ? -1 : va > vb ? 1 : 0) * dir || b.duration_ms - a.duration_ms;
    });
    const maxOff = Math.max(1, ...traces.map((t) => Math.max(offTotal(t), t.cpu_ns)));
    const body = el("tbody");
    for (const t of rows) {
      const href = traceURL(t.trace_id);
      const noThreads = t.linking === "none";
      const row = el("tr", { className: "trace-row", dataset: { trace: t.trace_id }, onclick: (e) => !e.target.closest("a") && openTrace(t.trace_id) }, [
        el("td", { text: fmtClock(t.start_ms, true) }),
        el("td", { className: "name" }, [el("a", { href, className: "trace-link", text: t.root || "(unnamed)", title: `Open trace ${t.trace_id}` })]),
        el("td", { text: fmtDuration(t.duration_ms * 1e6) }),
        el("td", noThreads ? { text: "–", title: "No thread data: install flamecam_otel in the app and run the agent on its host." } : { text: fmtDuration(t.cpu_ns) }),
        el("td", {}, noThreads ? ["–"] : offCell(t, maxOff)),
        el("td", { text: noThreads ? "–" : String(t.threads) }),
      ]);
      body.append(row);
    }
    const sortButton = (k, label, props = {}) =>
      el("button", {
        type: "button",
        ...props,
        text: label + (key === k ? (dir < 0 ? " ▼" : " ▲") : ""),
        onclick: () => this.app.setState({ sort: sortParam(k, key === k && dir < 0, "duration_ms") }, { push: false }),
      });
    // The off-CPU column sorts by its total, or by one reason ("offcpu:lock").
    const reasons = reasonsIn(new Set(traces.flatMap((t) => Object.keys(t.offcpu_ns || {}))));
    const header = ([k, label]) =>
      el("th", { scope: "col", dataset: { key: k }, "aria-sort": key === k || (k === "offcpu" && key.startsWith("offcpu:")) ? (dir < 0 ? "descending" : "ascending") : "none" }, [
        sortButton(k, label),
        ...(k === "offcpu" ? reasons.map((r) => sortButton(`offcpu:${r}`, r, { className: "sort-reason", dataset: { reason: r }, title: `Sort by ${r} time` })) : []),
      ]);
    this.listBody.replaceChildren(
      el("div", { className: "table-scroll" }, [
        el("table", { className: "data traces-table" }, [
          el("caption", { className: "sr-only", text: "Traces, slowest first; sort by a column's header" }),
          el("thead", {}, [el("tr", {}, COLUMNS.map(header))]),
          body,
        ]),
      ]),
    );
  }
}

// "duration_ms" (descending) or "duration_ms-asc"; "offcpu:REASON" for one reason.
function traceSort(sort) {
  const [key, asc] = sortOf(sort, (k) => COLUMNS.some((c) => c[0] === k) || k.startsWith("offcpu:"), "duration_ms");
  return [key, asc ? 1 : -1];
}

function getterOf(key) {
  if (key.startsWith("offcpu:")) {
    const reason = key.slice("offcpu:".length);
    return (t) => (t.offcpu_ns || {})[reason] || 0;
  }
  return (COLUMNS.find((c) => c[0] === key) || COLUMNS[2])[2];
}

function offCell(t, max) {
  const reasons = reasonsIn(new Set(Object.keys(t.offcpu_ns || {})));
  const bar = el("span", { className: "off-bar" });
  const cpu = el("span", { className: "bar", title: `CPU ${fmtDuration(t.cpu_ns)}` });
  cpu.style.width = `${(t.cpu_ns / max) * 60}px`;
  cpu.style.background = CPU_COLOR;
  bar.append(cpu);
  for (const r of reasons) {
    const seg = el("span", { className: "bar", title: `${r} ${fmtDuration(t.offcpu_ns[r])}` });
    seg.style.width = `${(t.offcpu_ns[r] / max) * 60}px`;
    seg.style.background = reasonColor(r);
    bar.append(seg);
  }
  const top = [...reasons].sort((a, b) => t.offcpu_ns[b] - t.offcpu_ns[a]).slice(0, 3);
  const text = top.length ? top.map((r) => `${r} ${fmtDuration(t.offcpu_ns[r])}`).join(", ") : "none";
  return [el("span", { className: "off-text", text: `${fmtDuration(offTotal(t))}: ${text}` }), " ", bar];
}

// The landing view: Traces when the address names no view (no tab, query or
// trace) and the last hour has traces; null otherwise.
export async function landingTab(from = "now-1h", until = "now") {
  const params = new URLSearchParams(location.search);
  if (["tab", "query", "trace"].some((k) => params.has(k))) return null;
  try {
    const { services } = await traceApi.services(from, until);
    return services && services.length ? "traces" : null;
  } catch {
    return null;
  }
}
