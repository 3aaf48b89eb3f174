// Export from the flame graph's toolbar: the selection's samples as pprof,
// folded stacks or speedscope (GET api/v1/export; of one target's waits or the
// off-wake view when the graph shows that), the graph as shown (focus,
// hidden functions and zoom applied) as JSON, PNG or SVG, and a link to this
// very view.

import { download } from "./api.js";
import { copyText, onlyOf } from "./framemenu.js";
import { diffColor, SEARCH_DIM, SEARCH_MATCH, textColorFor } from "./colors.js";
import { el } from "./format.js";
import { waitParams } from "./waits.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const ROW = 18;

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The frames the graph draws now (zoom, layout, search marks, colours) as an
// SVG document: names are text nodes, so any name stays text.
export function graphSVG(graph) {
  const tree = graph.tree;
  const width = graph.scroller.clientWidth || 1200;
  const rows = tree.levels.length;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("xmlns", SVG_NS);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(rows * ROW));
  svg.setAttribute("font-family", "ui-monospace, DejaVu Sans Mono, Menlo, monospace");
  svg.setAttribute("font-size", "12");
  const { x0, x1 } = graph.zoom;
  const k = width / (x1 - x0);
  const charW = graph.charWidth || 7.2;
  const marks = graph.search.marks;
  const lt = tree.leftTicks || 1;
  const rt = tree.rightTicks || 1;
  for (let l = 0; l < rows; l++) {
    const level = tree.levels[l];
    const y = graph.rowY(l);
    for (let i = 0; i < level.n; i++) {
      const left = Math.max(0, (level.x[i] - x0) * k);
      const right = Math.min(width, (level.x[i] + level.total[i] - x0) * k);
      if (right - left < 0.35) continue;
      const name = tree.names[level.name[i]];
      let fill;
      if (marks) fill = marks[l][i] ? SEARCH_MATCH : SEARCH_DIM;
      else if (tree.diff) fill = diffColor(level.lTotal[i] / lt, level.rTotal[i] / rt, tree.diffScale);
      else fill = graph.colorCache[level.name[i]];
      const g = document.createElementNS(SVG_NS, "g");
      const title = document.createElementNS(SVG_NS, "title");
      title.textContent = name;
      const rect = document.createElementNS(SVG_NS, "rect");
      for (const [a, v] of [["x", left], ["y", y], ["width", Math.max(0.35, right - left - 0.5)], ["height", ROW - 1], ["fill", fill]]) rect.setAttribute(a, String(v));
      g.append(title, rect);
      const maxChars = Math.floor((right - left - 6) / charW);
      if (maxChars >= 2) {
        const text = document.createElementNS(SVG_NS, "text");
        text.setAttribute("x", String(left + 3));
        text.setAttribute("y", String(y + ROW / 2 + 4));
        text.setAttribute("fill", marks && marks[l][i] ? "#ffffff" : textColorFor(name));
        text.textContent = name.length <= maxChars ? name : name.slice(0, maxChars - 1) + "…";
        g.append(text);
      }
      svg.append(g);
    }
  }
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
}

export class ExportMenu {
  // panel: the FlamePanel whose toolbar gets the button; app: for the state,
  // the cached render and the shown tree (view.tree)
  constructor(panel, app) {
    this.panel = panel;
    this.app = app;
    this.button = el("button", {
      type: "button",
      className: "btn export-btn",
      text: "Export ▾",
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      onclick: () => (this.menu.hidden ? this.open() : this.close()),
    });
    this.status = el("span", { className: "export-status", role: "status" });
    const item = (text, run, hint) => el("button", { type: "button", role: "menuitem", tabindex: "-1", dataset: { export: hint }, text, onclick: () => this.run(run) });
    this.menu = el("div", { className: "frame-menu export-menu", role: "menu", "aria-label": "Export", hidden: true }, [
      el("div", { className: "frame-menu-title", text: "The selection's samples" }),
      item("pprof (.pb.gz)", () => this.file("pprof"), "pprof"),
      item("Folded stacks (.folded)", () => this.file("folded"), "folded"),
      item("speedscope (.json)", () => this.file("speedscope"), "speedscope"),
      el("div", { className: "frame-menu-title", text: "The graph as shown" }),
      item("Flame graph JSON", () => this.json(), "json"),
      item("PNG image", () => this.png(), "png"),
      item("SVG image", () => this.svg(), "svg"),
      el("div", { className: "frame-menu-title", text: "This view" }),
      item("Copy link", () => this.copyLink(), "link"),
    ]);
    this.menu.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("mousedown", (e) => {
      if (!this.menu.hidden && !this.menu.contains(e.target) && e.target !== this.button) this.close(false);
    });
    panel.resetBtn.after(this.button);
    this.button.after(this.status);
    document.body.append(this.menu);
  }

  open() {
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    const r = this.button.getBoundingClientRect();
    this.menu.style.left = `${Math.min(r.left, window.innerWidth - this.menu.offsetWidth - 4)}px`;
    this.menu.style.top = `${r.bottom + 2}px`;
    this.menu.querySelector('[role="menuitem"]').focus();
  }

  close(refocus = true) {
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (refocus) this.button.focus();
  }

  onKey(event) {
    const items = [...this.menu.querySelectorAll('[role="menuitem"]')];
    const i = items.indexOf(document.activeElement);
    if (event.key === "Escape" || event.key === "Tab") {
      event.preventDefault();
      this.close();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      items[(i + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length].focus();
    }
  }

  async run(fn) {
    this.close();
    this.status.textContent = "";
    try {
      await fn();
    } catch (err) {
      this.status.textContent = `Export failed: ${err.message}`;
    }
  }

  base() {
    const s = this.app.state;
    // The files hold what the graph shows: one target's waits, the off-wake view.
    return { query: s.query, from: s.from, until: s.until, ...onlyOf(s), ...waitParams(s) };
  }

  async file(format) {
    const { blob, filename } = await download("api/v1/export", { ...this.base(), format });
    save(blob, filename || `flamecam.${format}`);
    this.status.textContent = `Saved ${filename || format}`;
  }

  // The tree the graph shows, in the server's flamebearer shape.
  json() {
    const tree = this.panel.graph.tree;
    const levels = tree.levels.map((level) => {
      const out = [];
      let end = 0;
      for (let i = 0; i < level.n; i++) {
        out.push(level.x[i] - end, level.total[i], level.self[i], level.name[i]);
        end = level.x[i] + level.total[i];
      }
      return out;
    });
    const body = {
      version: 1,
      flamebearer: { names: tree.names, levels, numTicks: tree.numTicks, maxSelf: 0 },
      metadata: { format: "single", units: tree.units || "nanoseconds", query: this.app.state.query, from: this.app.state.from, until: this.app.state.until },
      kinds: tree.kinds,
    };
    save(new Blob([JSON.stringify(body)], { type: "application/json" }), "flamecam.flamegraph.json");
    this.status.textContent = "Saved flamecam.flamegraph.json";
  }

  png() {
    return new Promise((resolve, reject) => {
      this.panel.graph.canvas.toBlob((blob) => {
        if (!blob) return reject(new Error("the canvas gave no image"));
        save(blob, "flamecam.png");
        this.status.textContent = "Saved flamecam.png";
        resolve();
      }, "image/png");
    });
  }

  svg() {
    save(new Blob([graphSVG(this.panel.graph)], { type: "image/svg+xml" }), "flamecam.svg");
    this.status.textContent = "Saved flamecam.svg";
  }

  async copyLink() {
    const ok = await copyText(location.href);
    this.status.textContent = ok ? "Link copied" : `Copy this link: ${location.href}`;
  }
}
