// How a graph is shown, kept in the URL with the same keys in every view, so
// that a reload, Back and Forward, or a copied link show exactly what was
// shown: a flame graph's `layout` (flame|icicle), `order` (heavy: left-heavy),
// `search` and `zoom` (the names from the root's child to the zoomed frame, as
// JSON); a track component's zoom `window` ("LO-HI", ms from an origin).
// These change only the drawing: they replace the current history entry and
// draw nothing again (the graph has drawn the change already).

import { FlamePanel } from "./flamepanel.js";
import { zoomPathOf } from "./treefilter.js";

const QUIET = { push: false, reload: false };

// A FlamePanel whose layout, order, search and zoom go to the app's URL;
// `onSearch` (optional) hears the search too (a table beside the graph).
export function urlFlamePanel(host, app, { onSearch, ...options } = {}) {
  const panel = new FlamePanel(host, {
    ...options,
    onLayout: (layout) => app.setState({ layout }, QUIET),
    onOrder: (order) => app.setState({ order }, QUIET),
    onSearch: (search) => {
      if (onSearch) onSearch(search);
      app.setState({ search }, QUIET);
    },
    // not while the state is being drawn (setData resets the zoom first)
    onZoom: () => {
      if (panel.restoring) return;
      const path = panel.graph.zoomPath();
      app.setState({ zoom: path.length ? JSON.stringify(path) : null }, QUIET);
    },
  });
  return panel;
}

// The URL's layout, order and search on `panel` (before its data arrives, so
// the toolbar is right at once); with `tree`, the tree drawn, zoomed as the
// URL says. Nothing of this writes the URL back.
export function showPanelState(panel, state, tree = null) {
  panel.restoring = true;
  try {
    panel.setLayout(state.layout === "icicle" ? "icicle" : "flame");
    panel.setOrder(state.order === "heavy" ? "heavy" : "");
    if (panel.searchInput.value !== (state.search || "")) {
      panel.searchInput.value = state.search || "";
      if (panel.source) panel.applySearch(false);
    }
    if (tree) {
      panel.setData(tree);
      const path = zoomPathOf(state);
      if (path.length) panel.graph.zoomToPath(path);
    }
  } finally {
    panel.restoring = false;
  }
}

// `window` in the URL as [lo, hi] ms (origin added); null when absent or unreadable.
export function windowOf(state, origin = 0) {
  const m = /^(-?[\d.]+)-(-?[\d.]+)$/.exec(state.window || "");
  if (!m) return null;
  const lo = origin + Number(m[1]);
  const hi = origin + Number(m[2]);
  return hi > lo ? [lo, hi] : null;
}

// `sort` in the URL, as a table's header writes it: a column's key, "-asc"
// appended when ascending. [key, ascending]; `fallback` (descending) for none
// or for a key `valid` refuses (another view's).
export function sortOf(sort, valid, fallback) {
  const s = sort || fallback;
  const asc = s.endsWith("-asc");
  const key = asc ? s.slice(0, -4) : s;
  return valid(key) ? [key, asc] : [fallback, false];
}

// The value a header writes; null for the table's own order (`fallback`, descending).
export const sortParam = (key, ascending, fallback = "") =>
  (key === fallback && !ascending ? null : ascending ? `${key}-asc` : key);

// The track window's URL value (null: the whole range, nothing to keep).
export function windowParam(lo, hi, full, origin = 0) {
  return full ? null : `${(lo - origin).toFixed(3)}-${(hi - origin).toFixed(3)}`;
}
