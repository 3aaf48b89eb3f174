// The top-functions table: a real, sortable DOM table; its order goes to
// `sort` in the URL (onSort) and comes back from it (setSort).

import { KIND_HUES, KIND_LABELS, offcpuReason, reasonColor } from "./colors.js";
import { clear, el, fmtPercent, fmtValue } from "./format.js";
import { sortOf, sortParam } from "./viewstate.js";

const KEYS = ["name", "self", "total"];

export function kindChip(name, kind) {
  const reason = offcpuReason(name);
  const chip = el("span", { className: "kind-chip", text: reason ? `off-CPU ${reason}` : KIND_LABELS[kind] || kind || "?" });
  if (reason) {
    chip.style.background = reasonColor(reason);
    chip.style.color = "#fff";
  } else {
    const [h, s, l] = KIND_HUES[kind] || KIND_HUES.native;
    chip.style.background = `hsl(${h}, ${s}%, ${l + 8}%)`;
  }
  return chip;
}

export class TopTable {
  constructor(host, { onPick, caption, onSort } = {}) {
    this.host = host;
    this.onPick = onPick;
    this.onSort = onSort;
    this.caption = caption || "Top functions";
    this.rows = [];
    this.totalTicks = 0;
    this.sortKey = "self";
    this.sortDesc = true;
    this.search = "";
    this.limit = 300;
  }

  setData(functions, totalTicks, units = "nanoseconds") {
    this.rows = functions || [];
    this.totalTicks = totalTicks || 0;
    this.units = units;
    this.draw();
  }

  setSearch(term) {
    this.search = (term || "").toLowerCase();
    this.draw();
  }

  // The order of `sort` in the URL; self time, most first, by default.
  setSort(sort) {
    const [key, asc] = sortOf(sort, (k) => KEYS.includes(k), "self");
    this.sortKey = key;
    this.sortDesc = !asc;
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else {
      this.sortKey = key;
      this.sortDesc = key !== "name";
    }
    this.draw();
    if (this.onSort) this.onSort(sortParam(key, !this.sortDesc, "self"));
    const button = this.host.querySelector(`th[data-key="${key}"] button`);
    if (button) button.focus();
  }

  draw() {
    const host = clear(this.host);
    const key = this.sortKey;
    const dir = this.sortDesc ? -1 : 1;
    const rows = [...this.rows].sort((a, b) => {
      const va = a[key];
      const vb = b[key];
      if (va < vb) return -dir;
      if (va > vb) return dir;
      return a.name < b.name ? -1 : 1;
    });
    const header = (label, k) =>
      el("th", { scope: "col", dataset: { key: k }, "aria-sort": key === k ? (this.sortDesc ? "descending" : "ascending") : "none" }, [
        el("button", { type: "button", text: label + (key === k ? (this.sortDesc ? " ▼" : " ▲") : ""), onclick: () => this.sortBy(k) }),
      ]);
    const table = el("table", { className: "data top-table" }, [
      el("caption", { className: "sr-only", text: this.caption }),
      el("thead", {}, [el("tr", {}, [header("Function", "name"), el("th", { scope: "col", text: "Kind" }), header("Self", "self"), el("th", { scope: "col", text: "Self %" }), header("Total", "total"), el("th", { scope: "col", text: "Total %" })])]),
    ]);
    const body = el("tbody");
    const all = this.totalTicks || 1;
    for (const row of rows.slice(0, this.limit)) {
      const match = this.search && row.name.toLowerCase().includes(this.search);
      const nameCell = el("td", { className: "name" }, [
        this.onPick ? el("button", { type: "button", className: "linkish", text: row.name, title: "Show its callers and callees", onclick: () => this.onPick(row.name) }) : row.name,
      ]);
      body.append(
        el("tr", { className: match ? "match" : "", dataset: { name: row.name } }, [
          nameCell,
          el("td", {}, [kindChip(row.name, row.kind)]),
          el("td", { text: fmtValue(row.self, this.units) }),
          el("td", { text: fmtPercent(row.self / all) }),
          el("td", { text: fmtValue(row.total, this.units) }),
          el("td", { text: fmtPercent(row.total / all) }),
        ]),
      );
    }
    table.append(body);
    host.append(el("div", { className: "table-scroll" }, [table]));
    if (rows.length > this.limit) host.append(el("p", { className: "hint", text: `Showing the first ${this.limit} of ${rows.length} functions.` }));
  }
}
