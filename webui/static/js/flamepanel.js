// A flame graph with its toolbar: flame/icicle, search with the matches'
// share, reset zoom, and a legend of the colours in use. Its box ends at the
// window's bottom (fit.js), so the root is on screen wherever the panel is.

import { KIND_HUES, KIND_LABELS, offcpuReason, reasonLegend } from "./colors.js";
import { scaleLegend } from "./diffscale.js";
import { fitToWindow } from "./fit.js";
import { FlameGraph } from "./flamegraph.js";
import { el, fmtPercent, swatches } from "./format.js";
import { leftHeavy } from "./treefilter.js";

export class FlamePanel {
  // fitGap: px kept under the graph's box (its status line, the panel's edge).
  // order: "heavy" lays each frame's callees widest first (left-heavy), else by name.
  constructor(host, { label, layout = "flame", order = "", search = "", onLayout, onOrder, onSearch, onFocus, onZoom, idPrefix = "fg", fitGap = 56 } = {}) {
    this.fitGap = fitGap;
    this.onLayout = onLayout;
    this.onOrder = onOrder;
    this.heavy = order === "heavy";
    this.onSearch = onSearch;
    this.flameBtn = el("button", { type: "button", className: "btn", text: "Flame graph", onclick: () => this.setLayout("flame", true) });
    this.icicleBtn = el("button", { type: "button", className: "btn", text: "Icicle", onclick: () => this.setLayout("icicle", true) });
    this.searchInput = el("input", {
      type: "search",
      id: `${idPrefix}-search`,
      placeholder: "Search functions",
      value: search,
      "aria-label": "Search functions in the flame graph",
    });
    this.searchInput.addEventListener("input", () => this.applySearch(true));
    this.searchResult = el("span", { className: "search-result", "aria-live": "polite" });
    this.heavyBtn = el("button", { type: "button", className: "btn", text: "Left-heavy", title: "Each frame's callees widest first (else by name)", onclick: () => this.setOrder(this.heavy ? "" : "heavy", true) });
    this.resetBtn = el("button", { type: "button", className: "btn", text: "Reset zoom", onclick: () => this.graph.resetZoom() });
    this.legend = el("div", { className: "legend", "aria-label": "Colours" });
    const toolbar = this.toolbar = el("div", { className: "toolbar", role: "toolbar", "aria-label": `${label || "Flame graph"} controls` }, [
      this.flameBtn,
      this.icicleBtn,
      this.heavyBtn,
      this.resetBtn,
      this.searchInput,
      this.searchResult,
      this.legend,
    ]);
    // the legend ends the toolbar's row: one row less above the graph
    host.append(toolbar);
    this.graph = new FlameGraph(host, { label, onFocus, onZoom });
    this.layout = layout;
    this.updateLayoutButtons();
    this.heavyBtn.setAttribute("aria-pressed", String(this.heavy));
  }

  setData(tree) {
    this.source = tree;
    this.tree = this.heavy ? leftHeavy(tree) : tree;
    this.heavyBtn.hidden = Boolean(tree.diff); // a diff keeps its sides' order
    const ms = this.graph.setData(this.tree, { layout: this.layout });
    this.drawLegend();
    this.applySearch(false);
    this.fit();
    return ms;
  }

  // The graph's box to the window's bottom; the view stays as far from the root.
  fit() {
    const graph = this.graph;
    fitToWindow(graph.scroller, { gap: this.fitGap, head: this.toolbar });
    graph.scrollFromRoot(graph.fromRoot);
  }

  // Left-heavy or by name: the same frames, so the zoom stays where it was.
  setOrder(order, fromUser = false) {
    const heavy = order === "heavy";
    this.heavyBtn.setAttribute("aria-pressed", String(heavy));
    if (heavy === this.heavy) return;
    this.heavy = heavy;
    if (this.source) {
      const path = this.graph.zoomPath();
      this.setData(this.source);
      if (path.length) this.graph.zoomToPath(path);
    }
    if (fromUser && this.onOrder) this.onOrder(order);
  }

  setLayout(layout, fromUser = false) {
    this.layout = layout;
    this.graph.setLayout(layout);
    this.updateLayoutButtons();
    if (fromUser && this.onLayout) this.onLayout(layout);
  }

  updateLayoutButtons() {
    this.flameBtn.setAttribute("aria-pressed", String(this.layout === "flame"));
    this.icicleBtn.setAttribute("aria-pressed", String(this.layout === "icicle"));
  }

  applySearch(fromUser) {
    const term = this.searchInput.value.trim();
    const result = this.graph.setSearch(term);
    if (!term) {
      this.searchResult.textContent = "";
      this.searchResult.classList.remove("hit");
    } else if (!result.count) {
      this.searchResult.textContent = `No frame matches "${term}"`;
      this.searchResult.classList.remove("hit");
    } else {
      const frames = result.count === 1 ? "1 frame matches" : `${result.count} frames match`;
      this.searchResult.textContent = `${frames} "${term}": ${fmtPercent(result.share)} of the total`;
      this.searchResult.classList.add("hit");
    }
    if (fromUser && this.onSearch) this.onSearch(term);
  }

  drawLegend() {
    const tree = this.tree;
    const items = [];
    if (tree.diff && tree.diffScale) {
      this.legend.replaceChildren(scaleLegend(tree.diffScale));
      return;
    }
    if (tree.diff) {
      items.push(["hsl(0, 80%, 60%)", "grew in B"], ["hsl(130, 55%, 60%)", "shrank in B"], ["hsl(0, 0%, 86%)", "unchanged"]);
    } else {
      const kinds = new Set(tree.kinds);
      for (const kind of Object.keys(KIND_LABELS)) {
        if (kinds.has(kind)) {
          const [h, s, l] = KIND_HUES[kind];
          items.push([`hsl(${h}, ${s}%, ${l}%)`, KIND_LABELS[kind]]);
        }
      }
      const reasons = new Set(tree.names.map(offcpuReason).filter(Boolean));
      items.push(...reasonLegend(reasons));
    }
    this.legend.replaceChildren(...swatches(items));
  }
}
