// The threads table of the Threads view: sortable columns (name, pid, tid,
// on-CPU, off-CPU and each off-CPU reason), a filter, and a bar per thread
// split into on-CPU time and each reason, in the legend's colours. The order
// and the filter are in the URL: `sort` (as every table writes it,
// viewstate.js) and `filter`.
//
// A thread's name is the runtime's (Python threading, Java) when the server
// has one; the kernel's name of that tid (comm) is always shown beside it.

import { reasonColor, reasonLegend, reasonsIn } from "./colors.js";
import { el, fmtDuration, swatches } from "./format.js";
import { sortOf, sortParam } from "./viewstate.js";

export const ON_CPU_COLOR = "#e0651f";
// Off-CPU time the stored samples no longer split (downsampled data).
const UNSPLIT = "unsplit";
const LIMIT = 300;
const BAR_PX = 120;
const DEFAULT_SORT = "cpu";
const KEYS = new Set(["name", "pid", "tid", "cpu", "off"]);

// `sort` in the URL: [key, descending]; the on-CPU column, most first, by default.
function threadSort(sort) {
  const [key, asc] = sortOf(sort, (k) => KEYS.has(k) || k.startsWith("r:"), DEFAULT_SORT);
  return [key, !asc];
}

// The columns a user can sort by: [key, header, value of a row, first direction].
function columns(reasons) {
  return [
    ["name", "Thread", (t) => (t.thread_name || t.comm || "").toLowerCase(), "asc"],
    ["pid", "PID", (t) => Number(t.pid) || 0, "asc"],
    ["tid", "TID", (t) => Number(t.tid) || 0, "asc"],
    ["cpu", "On-CPU", (t) => t.cpu_ns || 0, "desc"],
    ["off", "Off-CPU", (t) => t.offcpu_ns || 0, "desc"],
    ...reasons.map((r) => [`r:${r}`, r, (t) => reasonPart(t, r), "desc"]),
  ];
}

function reasonPart(t, reason) {
  const by = t.offcpu_by_reason || {};
  if (reason === UNSPLIT) return Math.max(0, (t.offcpu_ns || 0) - Object.values(by).reduce((s, v) => s + v, 0));
  return by[reason] || 0;
}

// Every reason of the threads (server order), and "unsplit" when some
// off-CPU time has no reason left.
export function reasonsOf(threads) {
  const seen = new Set();
  let unsplit = false;
  for (const t of threads) {
    for (const [r, v] of Object.entries(t.offcpu_by_reason || {})) if (v > 0) seen.add(r);
    if (reasonPart(t, UNSPLIT) > 0) unsplit = true;
  }
  const reasons = reasonsIn(seen);
  if (unsplit) reasons.push(UNSPLIT);
  return reasons;
}

const colorOf = (reason) => (reason === UNSPLIT ? "#b9bec6" : reasonColor(reason));

export class ThreadList {
  // onRow(thread, selected, chosen) -> the cells of the name and track columns;
  // onView({sort, filter}): the user changed the order or the filter.
  constructor(host, { onRow, chosen, onView }) {
    this.host = host;
    this.onRow = onRow;
    this.chosen = chosen;
    this.onView = onView;
    [this.sortKey, this.sortDesc] = threadSort("");
    this.threads = [];
    this.filter = el("input", {
      type: "search",
      className: "thread-filter",
      placeholder: "Filter by thread, kernel name, pid or tid",
      "aria-label": "Filter threads",
    });
    this.filter.addEventListener("input", () => {
      this.draw();
      if (this.onView) this.onView({ filter: this.filter.value });
    });
    this.legend = el("div", { className: "legend thread-legend", "aria-label": "Colours of the bars" });
    this.body = el("div");
    host.append(this.filter, this.legend, this.body);
  }

  // The order and filter of the URL's state (drawn with the next data).
  setView(state) {
    [this.sortKey, this.sortDesc] = threadSort(state.sort);
    if (this.filter.value !== (state.filter || "")) this.filter.value = state.filter || "";
  }

  setData(threads) {
    this.threads = threads;
    this.reasons = reasonsOf(threads);
    this.legend.replaceChildren(...swatches([
      [ON_CPU_COLOR, "on-CPU"],
      ...reasonLegend(new Set(this.reasons.filter((r) => r !== UNSPLIT))),
      ...(this.reasons.includes(UNSPLIT) ? [[colorOf(UNSPLIT), "off-CPU, reason not kept"]] : []),
    ]));
    this.draw();
  }

  setBusy(node) {
    this.legend.replaceChildren();
    this.body.replaceChildren(node);
  }

  sortBy(key) {
    const col = columns(this.reasons).find((c) => c[0] === key);
    if (!col) return;
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else {
      this.sortKey = key;
      this.sortDesc = col[3] === "desc";
    }
    this.draw();
    if (this.onView) this.onView({ sort: sortParam(key, !this.sortDesc, DEFAULT_SORT) });
    const button = this.body.querySelector(`th[data-key="${CSS.escape(key)}"] button`);
    if (button) button.focus();
  }

  // The threads that pass the filter, in the table's order.
  visible() {
    const needle = this.filter.value.trim().toLowerCase();
    const rows = needle
      ? this.threads.filter((t) => `${t.thread_name} ${t.comm} ${t.tid} ${t.pid}`.toLowerCase().includes(needle))
      : [...this.threads];
    const cols = columns(this.reasons);
    const col = cols.find((c) => c[0] === this.sortKey) || cols[3];
    const value = col[2];
    const dir = this.sortDesc ? -1 : 1;
    return rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va < vb) return -dir;
      if (va > vb) return dir;
      return a.tid - b.tid;
    });
  }

  draw() {
    const threads = this.visible();
    const reasons = this.reasons;
    const cols = columns(reasons);
    const max = threads.reduce((m, t) => Math.max(m, (t.cpu_ns || 0) + (t.offcpu_ns || 0)), 0) || 1;
    const chosen = this.chosen();
    const body = el("tbody");
    for (const t of threads.slice(0, LIMIT)) {
      const selected = chosen.includes(t.tid);
      const [nameCell, trackCell] = this.onRow(t, selected, chosen);
      const bar = el("span", { className: "thread-bar", title: barTitle(t, reasons) });
      const part = (value, color) => {
        if (!(value > 0)) return;
        const seg = el("span", { className: "bar" });
        seg.style.width = `${(value / max) * BAR_PX}px`;
        seg.style.background = color;
        bar.append(seg);
      };
      part(t.cpu_ns, ON_CPU_COLOR);
      for (const r of reasons) part(reasonPart(t, r), colorOf(r));
      body.append(
        el("tr", { className: selected ? "selected" : "", dataset: { tid: t.tid } }, [
          nameCell,
          trackCell,
          el("td", { text: String(t.pid) }),
          el("td", { text: String(t.tid) }),
          el("td", { className: "num-cpu", text: fmtDuration(t.cpu_ns) }),
          el("td", { className: "num-off", text: fmtDuration(t.offcpu_ns) }),
          ...reasons.map((r) => el("td", { dataset: { reason: r }, text: reasonPart(t, r) ? fmtDuration(reasonPart(t, r)) : "" })),
          el("td", { className: "bar-cell" }, [bar]),
        ]),
      );
    }
    const header = ([key, label]) => {
      const on = this.sortKey === key;
      const th = el("th", { scope: "col", dataset: { key }, "aria-sort": on ? (this.sortDesc ? "descending" : "ascending") : "none" }, [
        el("button", { type: "button", text: label + (on ? (this.sortDesc ? " ▼" : " ▲") : ""), title: `Sort by ${label}`, onclick: () => this.sortBy(key) }),
      ]);
      if (key.startsWith("r:")) {
        const chip = el("i", { className: "reason-dot" });
        chip.style.background = colorOf(key.slice(2));
        th.prepend(chip);
      }
      return th;
    };
    const heads = cols.map(header);
    // name first, then the track toggle, then the numbers
    const headRow = el("tr", {}, [heads[0], el("th", { scope: "col", text: "Track" }), ...heads.slice(1), el("th", { scope: "col", text: "On / off-CPU" })]);
    const table = el("table", { className: "data threads-table" }, [
      el("caption", { className: "sr-only", text: "Threads of the selection; the column headers sort" }),
      el("thead", {}, [headRow]),
      body,
    ]);
    const shown = Math.min(threads.length, LIMIT);
    const note = el("p", {
      className: "hint thread-count",
      text: threads.length > LIMIT
        ? `The first ${LIMIT} of ${threads.length} threads in this order; filter to find others.`
        : `${shown} of ${this.threads.length} threads.`,
    });
    this.body.replaceChildren(note, el("div", { className: "table-scroll" }, [table]));
    // who follows the list's order (all threads' tracks): the rows, and whether the filter cut some
    if (this.onDraw) this.onDraw(threads, threads.length < this.threads.length);
  }
}

function barTitle(t, reasons) {
  const parts = [`on-CPU ${fmtDuration(t.cpu_ns)}`];
  for (const r of reasons) {
    const v = reasonPart(t, r);
    if (v) parts.push(`${r} ${fmtDuration(v)}`);
  }
  return parts.join(", ");
}
