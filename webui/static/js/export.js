// Export, one menu for every view that shows a flame graph: the samples behind
// the graph as pprof, folded stacks or speedscope (GET api/v1/export with the
// view's own parameters: its selection, thread, trace or span, waits, focus
// and hidden functions), the graph(s) as drawn as JSON, PNG or SVG (zoom,
// search marks and colours as on screen), and a link to this very view.
//
// A view hands ExportMenu a source:
//   files()  -> [{ title, params, formats?: ["pprof", "folded", "speedscope"], hint? }]
//               one group per file set (a diff has A's and B's); [] for none
//   graphs() -> [{ graph, title }] the FlameGraphs drawn now, left to right
//   json()   -> the JSON document (default: the first graph's tree as flamebearer,
//               with meta() in its metadata), jsonLabel and jsonNote to name it
//   name     -> file name stem ("flamecam-sandwich")

import { download } from "./api.js";
import { copyText } from "./framemenu.js";
import { diffColor, SEARCH_DIM, SEARCH_MATCH, textColorFor } from "./colors.js";
import { ROW, diffTicks, FADED_ALPHA } from "./flamegraph.js";
import { el } from "./format.js";
import { hiddenOf } from "./treefilter.js";

const SVG_NS = "http://www.w3.org/2000/svg";
// Several graphs in one image: side by side, GAP px apart, each under a TITLE px title.
export const GAP = 16;
export const TITLE = 22;
const TITLE_FONT = '600 13px system-ui, "DejaVu Sans", sans-serif';

// What each file holds, said in the menu.
const FILES = {
  pprof: ["pprof (.pb.gz)", "gzipped protobuf with labels; go tool pprof, Pyroscope"],
  folded: ["Folded stacks (.folded)", "one stack and its time per line; flamegraph.pl, inferno"],
  speedscope: ["speedscope (.json)", "one profile per thread; speedscope.app"],
};

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// One graph's frames as drawn now (zoom, layout, faded callers, search
// marks, colours) as an SVG group: names are text nodes, so any name stays text.
function graphGroup(graph) {
  const tree = graph.tree;
  const width = graph.scroller.clientWidth || 1200;
  const rows = tree.levels.length;
  const group = document.createElementNS(SVG_NS, "g");
  const { x0, x1, l: zl } = graph.zoom;
  const k = width / (x1 - x0);
  const charW = graph.charWidth || 7.2;
  const marks = graph.search.marks;
  const [lt, rt] = diffTicks(tree);
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
      if (l < zl) g.setAttribute("opacity", String(FADED_ALPHA));
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
      group.append(g);
    }
  }
  return { group, width, height: Math.max(rows, 1) * ROW };
}

// The graphs as drawn, side by side (titled when there are several), as an SVG document.
export function graphsSVG(parts) {
  const titled = parts.length > 1;
  const head = titled ? TITLE : 0;
  const drawn = parts.map((p) => graphGroup(p.graph));
  const width = drawn.reduce((s, d) => s + d.width, 0) + GAP * (drawn.length - 1);
  const height = head + Math.max(...drawn.map((d) => d.height));
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("font-family", "ui-monospace, DejaVu Sans Mono, Menlo, monospace");
  svg.setAttribute("font-size", "12");
  let x = 0;
  drawn.forEach((d, n) => {
    if (titled) {
      const text = document.createElementNS(SVG_NS, "text");
      for (const [a, v] of [["x", x], ["y", TITLE - 7], ["font-family", "system-ui, DejaVu Sans, sans-serif"], ["font-size", "13"], ["font-weight", "600"]]) text.setAttribute(a, String(v));
      text.textContent = parts[n].title;
      svg.append(text);
    }
    d.group.setAttribute("transform", `translate(${x} ${head})`);
    svg.append(d.group);
    x += d.width + GAP;
  });
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
}

// The graphs' canvases as drawn, on white, side by side (titled when there
// are several): one graph's image is its canvas, pixel for pixel.
export function graphsCanvas(parts) {
  const dpr = window.devicePixelRatio || 1;
  const canvases = parts.map((p) => p.graph.canvas);
  const titled = parts.length > 1;
  const head = titled ? Math.round(TITLE * dpr) : 0;
  const gap = Math.round(GAP * dpr);
  const out = document.createElement("canvas");
  out.width = canvases.reduce((s, c) => s + c.width, 0) + gap * (canvases.length - 1);
  out.height = head + Math.max(...canvases.map((c) => c.height));
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, out.width, out.height);
  let x = 0;
  canvases.forEach((c, n) => {
    if (titled) {
      ctx.save();
      ctx.scale(dpr, dpr);
      ctx.font = TITLE_FONT;
      ctx.fillStyle = "#1f2328";
      ctx.fillText(parts[n].title, x / dpr, TITLE - 7, c.width / dpr);
      ctx.restore();
    }
    ctx.drawImage(c, x, head);
    x += c.width + gap;
  });
  return out;
}

// A flame graph tree in the server's flamebearer shape (single graphs).
export function flamebearer(tree, metadata = {}) {
  const levels = tree.levels.map((level) => {
    const out = [];
    let end = 0;
    for (let i = 0; i < level.n; i++) {
      out.push(level.x[i] - end, level.total[i], level.self[i], level.name[i]);
      end = level.x[i] + level.total[i];
    }
    return out;
  });
  return {
    version: 1,
    flamebearer: { names: tree.names, levels, numTicks: tree.numTicks, maxSelf: 0 },
    metadata: { format: "single", units: tree.units || "nanoseconds", ...metadata },
    kinds: tree.kinds,
  };
}

// One menu element for every export button (one is open at a time).
let shared = null;
function sharedMenu() {
  if (!shared) {
    const menu = el("div", { className: "frame-menu export-menu", role: "menu", "aria-label": "Export", hidden: true });
    shared = { el: menu, owner: null };
    menu.addEventListener("keydown", (e) => shared.owner && shared.owner.onKey(e));
    document.addEventListener("mousedown", (e) => {
      const o = shared.owner;
      if (o && !menu.hidden && !menu.contains(e.target) && !o.button.contains(e.target)) o.close(false);
    });
    document.body.append(menu);
  }
  return shared;
}

export class ExportMenu {
  constructor(source) {
    this.source = source;
    this.button = el("button", {
      type: "button",
      className: "btn export-btn",
      text: "Export ▾",
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      onclick: () => (this.isOpen() ? this.close() : this.open()),
    });
    this.status = el("span", { className: "export-status", role: "status" });
    // the view places it: a toolbar or a panel's head
    this.root = el("span", { className: "export" }, [this.button, this.status]);
    this.shared = sharedMenu();
  }

  get menu() {
    return this.shared.el;
  }

  isOpen() {
    return this.shared.owner === this && !this.menu.hidden;
  }

  // The items, from the view's state now (a span, a wait, the off-wake view
  // change what the files hold).
  items() {
    const item = (text, hint, note, run) => el("button", { type: "button", role: "menuitem", tabindex: "-1", dataset: { export: hint }, onclick: () => this.run(run) }, [
      el("span", { text }),
      ...(note ? [el("span", { className: "export-note", text: note })] : []),
    ]);
    const title = (text) => el("div", { className: "frame-menu-title", text });
    const out = [];
    const told = new Set(); // each format's note once (a diff has A's and B's files)
    for (const group of this.source.files()) {
      out.push(title(group.title));
      for (const format of group.formats || ["pprof", "folded", "speedscope"]) {
        const [text, note] = FILES[format];
        out.push(item(text, `${group.hint ? group.hint + "-" : ""}${format}`, told.has(format) ? "" : note, () => this.file(group.params, format)));
        told.add(format);
      }
    }
    const graphs = this.source.graphs();
    if (graphs.length) {
      const several = graphs.length > 1;
      out.push(title(several ? `The graphs as drawn: ${graphs.map((g) => g.title).join(", ")}` : "The graph as drawn"));
      out.push(item(this.source.jsonLabel || "Flame graph JSON", "json", this.source.jsonNote || "the tree drawn, as the server's flamebearer", () => this.json()));
      out.push(item("PNG image", "png", `${several ? "side by side, " : ""}pixels as on screen, zoom included`, () => this.png()));
      out.push(item("SVG image", "svg", "vector, names as text, zoom included", () => this.svg()));
    }
    out.push(title("This view"));
    out.push(item("Copy link", "link", "its address: reopens this view as it is", () => this.copyLink()));
    return out;
  }

  open() {
    const shared = this.shared;
    if (shared.owner && shared.owner !== this) shared.owner.close(false);
    shared.owner = this;
    this.menu.replaceChildren(...this.items());
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    const r = this.button.getBoundingClientRect();
    this.menu.style.left = `${Math.max(4, Math.min(r.left, window.innerWidth - this.menu.offsetWidth - 4))}px`;
    // below the button, else above it; when neither has room, on the roomier
    // side, scrolling: the button stays in sight
    this.menu.style.maxHeight = "";
    const h = this.menu.offsetHeight;
    const below = window.innerHeight - r.bottom - 6;
    const above = r.top - 6;
    let top = r.bottom + 2;
    if (h > below && h <= above) top = r.top - h - 2;
    else if (h > below) {
      this.menu.style.maxHeight = `${Math.max(above, below)}px`;
      if (above > below) top = r.top - 2 - above;
    }
    this.menu.style.top = `${top}px`;
    this.menu.querySelector('[role="menuitem"]').focus();
  }

  close(refocus = true) {
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (this.shared.owner === this) this.shared.owner = null;
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

  saved(blob, filename) {
    save(blob, filename);
    this.status.textContent = `Saved ${filename}`;
  }

  get stem() {
    return this.source.name || "flamecam";
  }

  async file(params, format) {
    const { blob, filename } = await download("api/v1/export", { ...params, format });
    this.saved(blob, filename || `${this.stem}.${format}`);
  }

  json() {
    const graphs = this.source.graphs();
    const meta = { zoom: graphs[0].graph.zoomPath(), ...(this.source.meta ? this.source.meta() : {}) };
    const doc = this.source.json ? this.source.json() : flamebearer(graphs[0].graph.tree, meta);
    this.saved(new Blob([JSON.stringify(doc)], { type: "application/json" }), `${this.stem}.flamegraph.json`);
  }

  png() {
    const canvas = graphsCanvas(this.source.graphs());
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => {
        if (!blob) return reject(new Error("the canvas gave no image"));
        this.saved(blob, `${this.stem}.png`);
        resolve();
      }, "image/png");
    });
  }

  svg() {
    this.saved(new Blob([graphsSVG(this.source.graphs())], { type: "image/svg+xml" }), `${this.stem}.svg`);
  }

  async copyLink() {
    const ok = await copyText(location.href);
    this.status.textContent = ok ? "Link copied" : `Copy this link: ${location.href}`;
  }
}

// The frame menu's focus and hidden functions (and `also`, more frames the
// view keeps to: a sandwich's function) as export parameters: the files then
// hold what the graph shows.
export function shapeParams(state, also = []) {
  return { focus: [state.focus, ...also].filter(Boolean), hide: hiddenOf(state) };
}
