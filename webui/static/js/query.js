// Selectors (`cpu{service_name="api"}`), time expressions, and the query bar.

import { api } from "./api.js";
import { earlyRenderSettled } from "./early.js";
import { clear, el, fmtClock } from "./format.js";

export const PROFILE_TYPES = [
  ["cpu", "On-CPU"],
  ["offcpu", "Off-CPU"],
  ["wall", "Wall (on + off-CPU)"],
];

// A client's type (`memory:alloc_space:bytes:space:bytes`) as people read it.
export function typeTitle(id) {
  const parts = String(id).split(":");
  if (parts.length !== 5) return `Flame graph (${id})`;
  const [name, sampleType, unit] = parts;
  return `${name}: ${sampleType.replace(/_/g, " ")} (${unit})`;
}

export const MAIN_LABELS = [
  ["service_name", "Service"],
  ["service_version", "Version"],
  ["host", "Host"],
];

export const PRESETS = [
  ["now-5m", "Last 5 minutes"],
  ["now-15m", "Last 15 minutes"],
  ["now-30m", "Last 30 minutes"],
  ["now-1h", "Last hour"],
  ["now-6h", "Last 6 hours"],
  ["now-24h", "Last 24 hours"],
  ["now-7d", "Last 7 days"],
];

// ---- selectors ---------------------------------------------------------------

const MATCHER_RE = /\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

export function parseQuery(text) {
  const src = String(text || "").trim();
  const brace = src.indexOf("{");
  if (brace < 0) return { type: src || "cpu", matchers: [] };
  if (!src.endsWith("}")) throw new Error("The selector must end with }.");
  const type = src.slice(0, brace).trim() || "cpu";
  const body = src.slice(brace + 1, -1).trim();
  const matchers = [];
  MATCHER_RE.lastIndex = 0;
  while (MATCHER_RE.lastIndex < body.length) {
    const start = MATCHER_RE.lastIndex;
    const m = MATCHER_RE.exec(body);
    if (!m || m.index !== start) throw new Error(`Cannot read the selector near "${body.slice(start, start + 20)}".`);
    matchers.push({ name: m[1], op: m[2], value: m[3].replace(/\\(.)/g, "$1") });
    if (!m[4]) break;
  }
  return { type, matchers };
}

function quote(value) {
  return '"' + String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
}

export function buildQuery(type, matchers) {
  const parts = matchers.filter((m) => m.value !== "" || m.op !== "=").map((m) => `${m.name}${m.op}${quote(m.value)}`);
  return `${type || "cpu"}{${parts.join(",")}}`;
}

export function withLabel(query, name, value) {
  const { type, matchers } = parseQuery(query);
  const rest = matchers.filter((m) => m.name !== name);
  if (value !== "" && value !== null && value !== undefined) rest.push({ name, op: "=", value });
  return buildQuery(type, rest);
}

export function withType(query, type) {
  const { matchers } = parseQuery(query);
  return buildQuery(type, matchers);
}

export function labelValue(query, name) {
  try {
    const m = parseQuery(query).matchers.find((x) => x.name === name && x.op === "=");
    return m ? m.value : "";
  } catch {
    return "";
  }
}

// ---- time ----------------------------------------------------------------------

const RELATIVE_RE = /^now(?:([-+])(\d+)(s|m|h|d|w))?$/;
const UNIT_MS = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 };

// Milliseconds for `now`, `now-1h`, or Unix seconds, ms or ns.
export function resolveTime(text, nowMs = Date.now()) {
  const s = String(text || "").trim();
  const rel = RELATIVE_RE.exec(s);
  if (rel) return rel[1] ? nowMs + (rel[1] === "-" ? -1 : 1) * Number(rel[2]) * UNIT_MS[rel[3]] : nowMs;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1e11) return n * 1000;
    if (n < 1e14) return n;
    return Math.floor(n / 1e6);
  }
  return NaN;
}

// What the user typed, as the API wants it: relative stays relative, a
// local date and time becomes Unix milliseconds. Null when unreadable.
export function normalizeTimeInput(text) {
  const s = String(text || "").trim();
  if (RELATIVE_RE.test(s) || /^\d+$/.test(s)) return s;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] || 0), Number(m[5] || 0), Number(m[6] || 0));
  return isNaN(d.getTime()) ? null : String(d.getTime());
}

const QUERY_HELP = 'Write it like cpu{service_name="api"}.';
const TIME_HELP = "The time range is not valid: use now, now-1h, Unix time, or a local date like 2026-01-31 14:00.";

// Why a selection (query, from, until) cannot be shown, in one sentence; "" when it can.
export function selectionProblem({ query, from, until }) {
  try {
    parseQuery(query);
  } catch (err) {
    return `The query is not valid: ${err.message} ${QUERY_HELP}`;
  }
  const fromMs = resolveTime(from);
  const untilMs = resolveTime(until);
  if (!Number.isFinite(fromMs) || !Number.isFinite(untilMs)) return TIME_HELP;
  if (untilMs <= fromMs) return "The time range is empty: Until must be after From.";
  return "";
}

export function displayTime(text) {
  const s = String(text || "");
  return /^\d+$/.test(s) ? fmtClock(resolveTime(s), true) : s;
}

// ---- the bar -------------------------------------------------------------------

export class QueryBar {
  constructor(form, onChange) {
    this.form = form;
    this.onChange = onChange;
    this.state = null;
    this.labelNames = [];
    this.types = [];
    this.valuesCache = new Map();
    this.mode = "full";
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.applyText();
    });
  }

  // "full": query, type, labels and time range; "time": the time range only
  // (the Traces tab picks its service and endpoint itself); "none": hidden
  // (one trace names its own time and threads).
  setMode(mode) {
    this.form.hidden = mode === "none";
    if (mode === this.mode) return;
    this.mode = mode;
    if (this.state) this.draw();
  }

  async load(state) {
    this.state = state;
    this.draw();
    // An unreadable range still offers the selectors (over the last hour) to fix it with.
    const [from, until] = this.lookupRange(state);
    await earlyRenderSettled; // the bar is drawn; its choices can wait for the graph
    try {
      const [{ names }, { types }] = await Promise.all([
        api.labels(from, until),
        api.profileTypes(from, until).catch(() => ({ types: [] })),
      ]);
      this.labelNames = (names || []).filter((n) => !n.startsWith("__"));
      this.types = (types || []).map((t) => t.id).filter((id) => !PROFILE_TYPES.some(([v]) => v === id));
    } catch {
      /* the selectors of the last answer stay */
    }
    if (this.state !== state) return;
    await this.loadValues(state);
    if (this.state === state) this.draw();
  }

  lookupRange(state) {
    return selectionProblem({ ...state, query: "cpu" }) ? ["now-1h", "now"] : [state.from, state.until];
  }

  async loadValues(state) {
    const names = this.selectNames();
    const [from, until] = this.lookupRange(state);
    await Promise.all(
      names.map(async (name) => {
        const key = `${name}|${from}|${until}`;
        if (this.valuesCache.has(key)) return;
        try {
          const { values } = await api.labelValues(name, from, until, "");
          this.valuesCache.set(key, values || []);
        } catch {
          /* the select offers "(all)" only; the next load asks again */
        }
      }),
    );
  }

  selectNames() {
    const main = MAIN_LABELS.map(([n]) => n);
    const others = this.labelNames.filter((n) => !main.includes(n)).slice(0, 6);
    return [...main, ...others];
  }

  values(name) {
    const [from, until] = this.lookupRange(this.state);
    return this.valuesCache.get(`${name}|${from}|${until}`) || [];
  }

  draw() {
    const state = this.state;
    const form = clear(this.form);
    const top = el("div", { className: "qb-row" });
    const bottom = el("div", { className: "qb-row" });
    form.append(top, bottom);
    if (this.mode === "time") {
      top.remove();
      this.queryInput = null;
      this.drawTime(state, bottom);
      bottom.append(el("button", { type: "submit", className: "primary", text: "Apply" }));
      return;
    }
    let type = "cpu";
    try {
      type = parseQuery(state.query).type;
    } catch {
      /* shown by the page */
    }
    this.queryInput = el("input", { id: "q-text", type: "text", value: state.query, spellcheck: "false", "aria-describedby": "q-help" });
    top.append(el("label", { for: "q-text", className: "query-text" }, ["Query (profile type and label selector)", this.queryInput]));
    top.append(el("button", { type: "submit", className: "primary", text: "Apply" }));
    top.append(el("span", { id: "q-help", className: "sr-only", text: "A selector such as cpu{service_name=\"api\"}; types are cpu, offcpu, wall and the types clients sent, such as memory:alloc_space:bytes:space:bytes. Enter applies it." }));

    // Flamecam's own types, then what clients sent in this range (heap, locks, ...).
    const offered = [...PROFILE_TYPES, ...this.types.map((id) => [id, typeTitle(id)])];
    const typeSelect = el(
      "select",
      { id: "q-type", onchange: (e) => this.change({ query: withType(state.query, e.target.value) }) },
      offered.map(([v, t]) => el("option", { value: v, text: t, selected: v === type })),
    );
    if (!offered.some(([v]) => v === type)) typeSelect.append(el("option", { value: type, text: type, selected: true }));
    bottom.append(el("label", { for: "q-type" }, ["Profile type", typeSelect]));

    const titles = Object.fromEntries(MAIN_LABELS);
    for (const name of this.selectNames()) {
      const current = labelValue(state.query, name);
      const values = this.values(name);
      const id = `q-label-${name}`;
      const select = el(
        "select",
        { id, dataset: { label: name }, onchange: (e) => this.change({ query: withLabel(state.query, name, e.target.value) }) },
        [el("option", { value: "", text: "(all)" })],
      );
      for (const v of values) select.append(el("option", { value: v, text: v, selected: v === current }));
      if (current && !values.includes(current)) select.append(el("option", { value: current, text: current, selected: true }));
      bottom.append(el("label", { for: id }, [titles[name] || name, select]));
    }

    bottom.append(el("span", { className: "spacer" }));
    this.drawTime(state, bottom);
  }

  drawTime(state, bottom) {
    const preset = PRESETS.some(([v]) => v === state.from) && state.until === "now" ? state.from : "";
    const presetSelect = el(
      "select",
      { id: "q-preset", onchange: (e) => e.target.value && this.change({ from: e.target.value, until: "now" }) },
      [el("option", { value: "", text: "Custom range", selected: !preset }), ...PRESETS.map(([v, t]) => el("option", { value: v, text: t, selected: v === preset }))],
    );
    bottom.append(el("label", { for: "q-preset" }, ["Time range", presetSelect]));
    this.fromInput = el("input", { id: "q-from", type: "text", value: displayTime(state.from), placeholder: "now-1h or 2026-01-31 14:00" });
    this.untilInput = el("input", { id: "q-until", type: "text", value: displayTime(state.until), placeholder: "now" });
    bottom.append(el("label", { for: "q-from", className: "time" }, ["From", this.fromInput]));
    bottom.append(el("label", { for: "q-until", className: "time" }, ["Until", this.untilInput]));
  }

  applyText() {
    const query = this.queryInput ? this.queryInput.value.trim() : this.state.query;
    try {
      parseQuery(query);
    } catch (err) {
      this.onChange(null, `The query is not valid: ${err.message} ${QUERY_HELP}`);
      return;
    }
    const from = normalizeTimeInput(this.fromInput.value);
    const until = normalizeTimeInput(this.untilInput.value);
    if (from === null || until === null) {
      this.onChange(null, TIME_HELP);
      return;
    }
    this.change({ query, from, until });
  }

  change(patch) {
    this.onChange(patch, null);
  }
}
