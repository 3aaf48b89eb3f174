// Why the selection waited, by target (`/api/v1/waits`): the files, sockets
// (by peer), locks and pipes its kept off-CPU intervals waited on, ranked by
// off-CPU time, with counts and p50/p99 of one wait. A row filters the flame
// graph to the waits on its target (`waitTarget` + `waitSyscall` in the URL,
// sent to `/render` as `target` + `syscall`). Also the graph's switch between
// blocked stacks and the off-wake graph (`offwake=1`: each blocked stack with
// its waker's stack on top, `/render?view=offwake`).

import { api } from "./api.js";
import { reasonColor } from "./colors.js";
import { clear, el, fmtDuration } from "./format.js";
import { errorBox, loading } from "./states.js";
import { sortOf, sortParam } from "./viewstate.js";

const COLUMNS = [
  ["target", "Waited on"],
  ["syscall", "System call"],
  ["reason", "Reason"],
  ["count", "Waits"],
  ["total_ns", "Total"],
  ["p50_ns", "p50"],
  ["p99_ns", "p99"],
];
const NUMERIC = new Set(["count", "total_ns", "p50_ns", "p99_ns"]);

// The chosen row of the URL's state, or null: { target, syscall } (a space
// in the URL stands for "", which the URL cannot keep).
export function waitOf(state) {
  if (state.waitTarget === undefined && state.waitSyscall === undefined) return null;
  return { target: (state.waitTarget || "").trim(), syscall: (state.waitSyscall || "").trim() };
}

// What `/render` takes for the state's wait filter and graph mode.
export function waitParams(state) {
  const only = waitOf(state);
  const out = state.offwake === "1" ? { view: "offwake" } : {};
  // urlFor leaves empty values out: "" is the server's default for either
  if (only) Object.assign(out, { target: only.target, syscall: only.syscall });
  return out;
}

// The state patch that picks a row (or drops the pick when it is the same).
export function pickPatch(state, row) {
  const same = row && waitOf(state) && waitOf(state).target === row.target && waitOf(state).syscall === row.syscall;
  if (!row || same) return { waitTarget: null, waitSyscall: null, zoom: null };
  // "" cannot stay in the URL (setState drops it): a space means "no target"
  return { waitTarget: row.target || " ", waitSyscall: row.syscall || " ", zoom: null };
}

// A row's target as people read it.
export function targetText(row) {
  return row.target || (row.syscall ? `(nothing: ${row.syscall})` : "(nothing named)");
}

export function chipOf(state, app) {
  const only = waitOf(state);
  if (!only) return [];
  return [{
    text: `Only waits on ${targetText(only)}${only.syscall ? ` in ${only.syscall}()` : ""}`,
    title: "Show every wait again",
    undo: () => app.setState(pickPatch(app.state, null)),
  }];
}

// The two graph modes of off-CPU time, as a pressed-button pair.
export class OffwakeSwitch {
  constructor(onChange) {
    this.buttons = [["0", "Blocked stacks"], ["1", "Off-wake: wakers on top"]].map(([v, text]) =>
      el("button", { type: "button", className: "btn", text, dataset: { offwake: v },
        title: v === "1" ? "Each blocked stack with the stack of the thread (or interrupt) that woke it stacked on top, upside down" : "Where the threads blocked",
        onclick: () => onChange(v === "1" ? "1" : null) }));
    this.root = el("div", { className: "pane-switch offwake-switch", role: "group", "aria-label": "Off-CPU graph" }, this.buttons);
  }

  set(on, visible = true) {
    this.root.hidden = !visible;
    for (const b of this.buttons) b.setAttribute("aria-pressed", String((b.dataset.offwake === "1") === Boolean(on)));
  }
}

export class WaitsTable {
  // onPick(row): a row was chosen; onSort(sort): the order, for the URL.
  constructor(host, { onPick, caption, onSort } = {}) {
    this.host = host;
    this.onPick = onPick;
    this.onSort = onSort;
    this.caption = caption || "Waits by target";
    this.rows = [];
    this.sortKey = "total_ns";
    this.sortDesc = true;
    this.picked = null;
    this.seq = 0;
  }

  // params: query, from, until and pid/tid/trace_id/span_id as the API takes them.
  async load(params) {
    const seq = ++this.seq;
    this.host.replaceChildren(loading("Loading the waits"));
    let answer;
    try {
      answer = await api.waits(params);
    } catch (err) {
      if (seq === this.seq) this.host.replaceChildren(errorBox(err, "Could not load the waits"));
      return;
    }
    if (seq !== this.seq) return;
    this.rows = answer.waits || [];
    this.draw();
  }

  setPicked(picked) {
    this.picked = picked;
    if (this.rows.length) this.draw();
  }

  // The order of `sort` in the URL; the most off-CPU time first by default.
  setSort(sort) {
    const [key, asc] = sortOf(sort, (k) => COLUMNS.some(([c]) => c === k), "total_ns");
    this.sortKey = key;
    this.sortDesc = !asc;
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else {
      this.sortKey = key;
      this.sortDesc = NUMERIC.has(key);
    }
    this.draw();
    if (this.onSort) this.onSort(sortParam(key, !this.sortDesc, "total_ns"));
    const button = this.host.querySelector(`th[data-key="${key}"] button`);
    if (button) button.focus();
  }

  draw() {
    const host = clear(this.host);
    if (!this.rows.length) {
      host.append(el("div", { className: "empty", role: "status" }, [
        el("strong", { text: "No wait here says what it waited on." }),
        "Only off-CPU intervals at or above the agent's threshold (1 ms by default) are kept one by one with their system call, target and waker; shorter ones are summed. Choose an off-CPU or wall query, or a wider range.",
      ]));
      return;
    }
    const key = this.sortKey;
    const dir = this.sortDesc ? -1 : 1;
    const rows = [...this.rows].sort((a, b) => (a[key] < b[key] ? -dir : a[key] > b[key] ? dir : b.total_ns - a.total_ns));
    const header = ([k, label]) => el("th", { scope: "col", dataset: { key: k }, "aria-sort": key === k ? (this.sortDesc ? "descending" : "ascending") : "none" }, [
      el("button", { type: "button", text: label + (key === k ? (this.sortDesc ? " ▼" : " ▲") : ""), onclick: () => this.sortBy(k) }),
    ]);
    const all = this.rows.reduce((s, r) => s + r.total_ns, 0) || 1;
    const body = el("tbody");
    for (const row of rows) {
      const on = Boolean(this.picked && this.picked.target === row.target && this.picked.syscall === row.syscall);
      const chip = el("span", { className: "kind-chip", text: row.reason });
      chip.style.background = reasonColor(row.reason);
      chip.style.color = "#fff";
      const bar = el("span", { className: "wait-bar" });
      bar.style.width = `${Math.max(1, Math.round((row.total_ns / all) * 60))}px`;
      bar.style.background = reasonColor(row.reason);
      body.append(el("tr", { className: on ? "picked" : "", dataset: { target: row.target, syscall: row.syscall } }, [
        el("td", { className: "name" }, [el("button", {
          type: "button", className: "linkish", text: targetText(row), "aria-pressed": String(on),
          title: on ? "Show every wait again" : "Show only the waits on this in the flame graph",
          onclick: () => this.onPick && this.onPick(row),
        })]),
        el("td", { text: row.syscall ? `${row.syscall}()` : "" }),
        el("td", {}, [chip]),
        el("td", { className: "num", text: String(row.count) }),
        el("td", { className: "num" }, [bar, fmtDuration(row.total_ns)]),
        el("td", { className: "num", text: fmtDuration(row.p50_ns) }),
        el("td", { className: "num", text: fmtDuration(row.p99_ns) }),
      ]));
    }
    const table = el("table", { className: "data waits-table" }, [
      el("caption", { className: "sr-only", text: this.caption }),
      el("thead", {}, [el("tr", {}, COLUMNS.map(header))]),
      body,
    ]);
    host.append(el("div", { className: "table-scroll" }, [table]));
  }
}
