// A canvas flame graph (root at the bottom) or icicle (root at the top).
//
// Frames are drawn from the decoded per-level arrays of tree.js: for each
// level, a binary search finds the first frame in the zoomed range, so
// zooming costs only what is visible. Names are painted as canvas text and
// shown in the DOM with textContent only.

import { diffColor, frameColor, KIND_LABELS, NOISE_COLOR, offcpuReason, SEARCH_DIM, SEARCH_MATCH, textColorFor } from "./colors.js";
import { Z_REAL, zScore } from "./diffscale.js";
import { el, fmtPercent, fmtValue, placeTooltip } from "./format.js";
import { searchTree } from "./tree.js";

export const ROW = 18;
export const FADED_ALPHA = 0.55; // the zoomed frame's callers
const FONT = '12px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';
const MIN_LABEL_PX = 26;
const MIN_FRAME_PX = 0.35;

// What a diff's sides are divided by before their colours compare them:
// their totals (shares), or 1 for per-request diffs (slow vs fast: time per request).
export function diffTicks(tree) {
  return tree.perRequest ? [1, 1] : [tree.leftTicks || 1, tree.rightTicks || 1];
}

function firstVisible(level, x0) {
  let lo = 0;
  let hi = level.n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (level.x[mid] + level.total[mid] <= x0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function nodeAt(level, tick) {
  const i = firstVisible(level, tick);
  if (i < level.n && level.x[i] <= tick) return i;
  return -1;
}

export class FlameGraph {
  constructor(host, options = {}) {
    this.host = host;
    this.options = options;
    this.tree = null;
    this.layout = "flame";
    this.search = { marks: null, count: 0, share: 0, ticks: 0 };
    this.zoom = { l: 0, i: -1, x0: 0, x1: 1 };
    this.cursor = null;
    this.lastRenderMs = 0;
    this.colorCache = [];

    this.scroller = el("div", { className: "flame-scroll" });
    this.canvas = el("canvas", {
      tabindex: "0",
      role: "application",
      "aria-roledescription": "flame graph",
      "aria-label": (options.label || "Flame graph") +
        ". Arrow keys move between frames, Enter zooms, Escape resets the zoom.",
    });
    this.scroller.append(this.canvas);
    this.status = el("div", { className: "frame-status", "aria-live": "polite" });
    this.tooltip = el("div", { className: "tooltip", role: "tooltip", hidden: true });
    this.root = el("div", { className: "flame" }, [this.scroller, this.status]);
    host.append(this.root);
    document.body.append(this.tooltip);

    this.canvas.addEventListener("mousemove", (e) => this.onMove(e));
    this.canvas.addEventListener("mouseleave", () => this.hideTooltip());
    this.canvas.addEventListener("click", (e) => this.onClick(e));
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    this.canvas.addEventListener("focus", () => this.onFocusIn());
    // How far the view is scrolled from the root's edge: a resize keeps it.
    this.fromRoot = 0;
    this.scroller.addEventListener("scroll", () => { this.fromRoot = this.scrolledFromRoot(); });
    this.resizeObserver = new ResizeObserver(() => {
      this.render();
      this.scrollFromRoot(this.fromRoot);
    });
    this.resizeObserver.observe(this.scroller);
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.tooltip.remove();
    this.root.remove();
  }

  setData(tree, { layout } = {}) {
    this.tree = tree;
    if (layout) this.layout = layout;
    this.colorCache = tree ? tree.names.map((n, i) => frameColor(n, tree.kinds[i])) : [];
    this.search = { marks: null, count: 0, share: 0, ticks: 0 };
    this.cursor = null;
    this.resetZoom(false);
    this.status.textContent = "";
    const ms = this.render();
    this.scrollToRoot();
    return ms;
  }

  // Deep graphs are taller than their box: keep the root (and the zoomed
  // frame) in view, at the bottom of a flame graph or the top of an icicle.
  scrollToRoot() {
    this.scrollFromRoot(0);
  }

  scrolledFromRoot() {
    const sc = this.scroller;
    return this.layout === "flame" ? sc.scrollHeight - sc.clientHeight - sc.scrollTop : sc.scrollTop;
  }

  scrollFromRoot(px) {
    const sc = this.scroller;
    sc.scrollTop = this.layout === "flame" ? sc.scrollHeight - sc.clientHeight - px : px;
    this.fromRoot = this.scrolledFromRoot();
  }

  // Tabbing to the graph puts the cursor on a frame at once (the zoomed one,
  // or the root), ringed and named in the status line.
  onFocusIn() {
    if (this.cursor || !this.tree || !this.tree.levels.length || !this.canvas.matches(":focus-visible")) return;
    const cur = this.zoom.i >= 0 ? { l: this.zoom.l, i: this.zoom.i } : { l: 0, i: firstVisible(this.tree.levels[0], this.zoom.x0) };
    this.moveCursor(cur);
  }

  setLayout(layout) {
    const next = layout === "icicle" ? "icicle" : "flame";
    const changed = next !== this.layout;
    this.layout = next;
    this.render();
    if (changed) this.scrollToRoot();
  }

  setSearch(term) {
    if (!this.tree) return this.search;
    this.search = searchTree(this.tree, term);
    this.render();
    return this.search;
  }

  rootRange() {
    const tree = this.tree;
    let end = tree.numTicks;
    if (tree.levels.length) {
      const top = tree.levels[0];
      end = Math.max(end, top.x[top.n - 1] + top.total[top.n - 1]);
    }
    return [0, end || 1];
  }

  resetZoom(draw = true) {
    const [x0, x1] = this.tree ? this.rootRange() : [0, 1];
    this.zoom = { l: 0, i: -1, x0, x1 };
    if (draw) {
      this.render();
      this.scrollToRoot();
    }
    if (this.options.onZoom) this.options.onZoom(null);
  }

  zoomTo(l, i) {
    const level = this.tree.levels[l];
    this.zoom = { l, i, x0: level.x[i], x1: level.x[i] + level.total[i] };
    this.cursor = { l, i };
    const ms = this.render();
    const sc = this.scroller;
    const y = this.rowY(l);
    sc.scrollTop = this.layout === "flame" ? Math.max(0, y + ROW - sc.clientHeight + 2 * ROW) : Math.max(0, y - 2 * ROW);
    this.announce(l, i);
    if (this.options.onZoom) this.options.onZoom(this.tree.names[level.name[i]]);
    return ms;
  }

  // Zooms to the widest frame named `name` (used by tests and links).
  zoomToName(name) {
    const idx = this.tree ? this.tree.names.indexOf(name) : -1;
    if (idx < 0) return false;
    let best = null;
    this.tree.levels.forEach((level, l) => {
      for (let i = 0; i < level.n; i++) {
        if (level.name[i] === idx && (!best || level.total[i] > best[2])) best = [l, i, level.total[i]];
      }
    });
    if (best) this.zoomTo(best[0], best[1]);
    return Boolean(best);
  }

  // The names from the root's child down to the zoomed frame ([] unzoomed):
  // what the URL keeps, so a link reopens the same zoom.
  zoomPath() {
    const path = [];
    let { l, i } = this.zoom;
    if (!this.tree || i < 0) return path;
    while (l > 0) {
      path.unshift(this.tree.names[this.tree.levels[l].name[i]]);
      i = this.tree.levels[l].parent[i];
      l--;
    }
    return path;
  }

  // Zooms to the frame at the end of `path` (as zoomPath gives); false when
  // the tree has no such stack.
  zoomToPath(path) {
    const tree = this.tree;
    if (!tree || !path.length || !tree.levels.length) return false;
    let found = null;
    let range = [0, tree.levels[0].n];
    for (let d = 0; d < path.length; d++) {
      const level = tree.levels[d + 1];
      if (!level) return false;
      const idx = tree.names.indexOf(path[d]);
      let hit = -1;
      for (let p = range[0]; p < range[1] && hit < 0; p++) {
        const up = tree.levels[d];
        for (let c = up.childStart[p]; c < up.childEnd[p]; c++) {
          if (level.name[c] === idx) {
            hit = c;
            break;
          }
        }
      }
      if (hit < 0) return false;
      found = { l: d + 1, i: hit };
      range = [hit, hit + 1];
    }
    this.zoomTo(found.l, found.i);
    return true;
  }

  // The frame under a mouse event or the keyboard cursor, for the frame menu.
  frameAt(event) {
    if (event && "clientX" in event) return this.hit(event);
    return this.cursor;
  }

  // Where the widest visible frame named `name` is drawn, in client pixels
  // (for tests and for scrolling a match into view); null when not drawn.
  frameRect(name) {
    const tree = this.tree;
    const idx = tree ? tree.names.indexOf(name) : -1;
    if (idx < 0) return null;
    const width = this.scroller.clientWidth;
    const { x0, x1 } = this.zoom;
    const k = width / (x1 - x0);
    let best = null;
    tree.levels.forEach((level, l) => {
      for (let i = 0; i < level.n; i++) {
        if (level.name[i] !== idx) continue;
        const left = Math.max(0, (level.x[i] - x0) * k);
        const right = Math.min(width, (level.x[i] + level.total[i] - x0) * k);
        if (right - left > (best ? best.w : 0.5)) best = { l, x: left, w: right - left };
      }
    });
    if (!best) return null;
    const rect = this.canvas.getBoundingClientRect();
    return { x: rect.left + best.x, y: rect.top + this.rowY(best.l), w: best.w, h: ROW - 1 };
  }

  rowY(l) {
    const rows = this.tree.levels.length;
    return this.layout === "flame" ? (rows - 1 - l) * ROW : l * ROW;
  }

  render() {
    const t0 = performance.now();
    const tree = this.tree;
    const width = this.scroller.clientWidth;
    if (!tree || width === 0) return 0;
    const rows = tree.levels.length;
    const height = Math.max(rows, 1) * ROW;
    const dpr = window.devicePixelRatio || 1;
    const canvas = this.canvas;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.height = height + "px";
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    if (!this.charWidth) this.charWidth = ctx.measureText("MMMMMMMMMM").width / 10 || 7.2;
    const charW = this.charWidth;

    const { x0, x1, l: zl } = this.zoom;
    const k = width / (x1 - x0);
    const marks = this.search.marks;
    const diff = tree.diff;
    const [lt, rt] = diffTicks(tree);

    for (let l = 0; l < rows; l++) {
      const level = tree.levels[l];
      const y = this.rowY(l);
      const faded = l < zl;
      ctx.globalAlpha = faded ? FADED_ALPHA : 1;
      for (let i = firstVisible(level, x0); i < level.n; i++) {
        const x = level.x[i];
        if (x >= x1) break;
        let left = (x - x0) * k;
        let right = left + level.total[i] * k;
        if (left < 0) left = 0;
        if (right > width) right = width;
        const w = right - left;
        if (w < MIN_FRAME_PX) continue;
        const nameIdx = level.name[i];
        let fill;
        if (marks) fill = marks[l][i] ? SEARCH_MATCH : SEARCH_DIM;
        else if (diff) fill = tree.noise && tree.noise[l][i] ? NOISE_COLOR : diffColor(level.lTotal[i] / lt, level.rTotal[i] / rt, tree.diffScale);
        else fill = this.colorCache[nameIdx];
        ctx.fillStyle = fill;
        ctx.fillRect(left, y, w > 2 ? w - 0.5 : w, ROW - 1);
        if (w >= MIN_LABEL_PX) {
          const name = tree.names[nameIdx];
          const maxChars = Math.floor((w - 6) / charW);
          if (maxChars >= 2) {
            const label = name.length <= maxChars ? name : name.slice(0, maxChars - 1) + "…";
            ctx.fillStyle = marks && marks[l][i] ? "#ffffff" : textColorFor(name);
            ctx.fillText(label, left + 3, y + ROW / 2);
          }
        }
      }
    }
    ctx.globalAlpha = 1;
    if (this.cursor && this.cursor.l < rows) {
      const { l, i } = this.cursor;
      const level = tree.levels[l];
      const left = Math.max(0, (level.x[i] - x0) * k);
      const right = Math.min(width, (level.x[i] + level.total[i] - x0) * k);
      if (right > left) {
        // a focus ring seen on any frame colour: dark blue, white inside
        const y = this.rowY(l);
        const w = Math.max(4, right - left);
        ctx.lineWidth = 3;
        ctx.strokeStyle = "#0b3d91";
        ctx.strokeRect(left + 1.5, y + 1.5, w - 3, ROW - 4);
        ctx.lineWidth = 1;
        ctx.strokeStyle = "#ffffff";
        ctx.strokeRect(left + 3.5, y + 3.5, Math.max(1, w - 7), ROW - 8);
      }
    }
    this.lastRenderMs = performance.now() - t0;
    return this.lastRenderMs;
  }

  hit(event) {
    if (!this.tree) return null;
    const rect = this.canvas.getBoundingClientRect();
    const px = event.clientX - rect.left;
    const py = event.clientY - rect.top;
    const rows = this.tree.levels.length;
    const row = Math.floor(py / ROW);
    const l = this.layout === "flame" ? rows - 1 - row : row;
    if (l < 0 || l >= rows) return null;
    const { x0, x1 } = this.zoom;
    const tick = x0 + (px / rect.width) * (x1 - x0);
    const i = nodeAt(this.tree.levels[l], tick);
    return i < 0 ? null : { l, i };
  }

  describe(l, i) {
    const tree = this.tree;
    const level = tree.levels[l];
    const name = tree.names[level.name[i]];
    const kind = tree.kinds[level.name[i]];
    const reason = offcpuReason(name);
    const lines = [];
    lines.push(reason ? `off-CPU: ${reason}` : `kind: ${KIND_LABELS[kind] || kind}`);
    if (tree.diff && tree.perRequest) {
      const change = level.rTotal[i] - level.lTotal[i];
      lines.push(`A: ${fmtValue(level.lTotal[i], tree.units)} per request, self ${fmtValue(level.lSelf[i], tree.units)}`);
      lines.push(`B: ${fmtValue(level.rTotal[i], tree.units)} per request, self ${fmtValue(level.rSelf[i], tree.units)}`);
      lines.push(`change: ${change >= 0 ? "+" : "−"}${fmtValue(Math.abs(change), tree.units)} per request`);
    } else if (tree.diff) {
      const lt = tree.leftTicks || 1;
      const rt = tree.rightTicks || 1;
      const a = level.lTotal[i] / lt;
      const b = level.rTotal[i] / rt;
      lines.push(`A total: ${fmtValue(level.lTotal[i], tree.units)} (${fmtPercent(a)}), self ${fmtValue(level.lSelf[i], tree.units)}`);
      lines.push(`B total: ${fmtValue(level.rTotal[i], tree.units)} (${fmtPercent(b)}), self ${fmtValue(level.rSelf[i], tree.units)}`);
      lines.push(`change: ${b >= a ? "+" : ""}${((b - a) * 100).toFixed(2)} pp of the total`);
      if (tree.sides) {
        const z = zScore(level.lTotal[i], level.lVar[i], level.rTotal[i], level.rVar[i], tree.sides);
        lines.push(`z = ${z.toFixed(1)}: ${Math.abs(z) >= Z_REAL ? "beyond the sampling noise" : "within the sampling noise"}`);
      }
    } else {
      const all = tree.numTicks || 1;
      lines.push(`total: ${fmtValue(level.total[i], tree.units)} (${fmtPercent(level.total[i] / all)})`);
      lines.push(`self: ${fmtValue(level.self[i], tree.units)} (${fmtPercent(level.self[i] / all)})`);
    }
    return { name, lines };
  }

  onMove(event) {
    const node = this.hit(event);
    if (!node) return this.hideTooltip();
    const { name, lines } = this.describe(node.l, node.i);
    const tip = this.tooltip;
    tip.replaceChildren(el("div", { className: "tt-name", text: name }), ...lines.map((t) => el("div", { className: "tt-row", text: t })));
    placeTooltip(tip, event);
    this.canvas.style.cursor = "pointer";
  }

  hideTooltip() {
    this.tooltip.hidden = true;
    this.canvas.style.cursor = "default";
  }

  onClick(event) {
    const node = this.hit(event);
    if (!node) return;
    this.zoomTo(node.l, node.i);
  }

  announce(l, i) {
    const { name, lines } = this.describe(l, i);
    this.status.textContent = `${name} · ${lines.join(" · ")}`;
    if (this.options.onFocus) this.options.onFocus(name);
  }

  visibleInLevel(l, i) {
    const level = this.tree.levels[l];
    return level.x[i] + level.total[i] > this.zoom.x0 && level.x[i] < this.zoom.x1;
  }

  moveCursor(next) {
    if (!next) return;
    this.cursor = next;
    this.render();
    this.announce(next.l, next.i);
    const y = this.rowY(next.l);
    const sc = this.scroller;
    if (y < sc.scrollTop) sc.scrollTop = y;
    else if (y + ROW > sc.scrollTop + sc.clientHeight) sc.scrollTop = y + ROW - sc.clientHeight;
    this.status.scrollIntoView({ block: "nearest" });
  }

  onKey(event) {
    if (!this.tree || !this.tree.levels.length) return;
    const tree = this.tree;
    let cur = this.cursor;
    if (!cur) cur = this.zoom.i >= 0 ? { l: this.zoom.l, i: this.zoom.i } : { l: 0, i: firstVisible(tree.levels[0], this.zoom.x0) };
    const level = tree.levels[cur.l];
    const toParent = () => (cur.l > 0 ? { l: cur.l - 1, i: level.parent[cur.i] } : null);
    const toChild = () => {
      const below = tree.levels[cur.l + 1];
      if (!below || level.childEnd[cur.i] <= level.childStart[cur.i]) return null;
      let best = level.childStart[cur.i];
      for (let c = best; c < level.childEnd[cur.i]; c++) if (below.total[c] > below.total[best]) best = c;
      return { l: cur.l + 1, i: best };
    };
    let next = null;
    switch (event.key) {
      case "ArrowUp":
        next = this.layout === "flame" ? toChild() : toParent();
        break;
      case "ArrowDown":
        next = this.layout === "flame" ? toParent() : toChild();
        break;
      case "ArrowLeft":
        if (cur.i > 0 && this.visibleInLevel(cur.l, cur.i - 1)) next = { l: cur.l, i: cur.i - 1 };
        break;
      case "ArrowRight":
        if (cur.i + 1 < level.n && this.visibleInLevel(cur.l, cur.i + 1)) next = { l: cur.l, i: cur.i + 1 };
        break;
      case "Enter":
      case " ":
        event.preventDefault();
        this.zoomTo(cur.l, cur.i);
        return;
      case "Escape":
        this.resetZoom();
        return;
      default:
        return;
    }
    event.preventDefault();
    if (!this.cursor && !next) next = cur;
    this.moveCursor(next || cur);
  }
}
