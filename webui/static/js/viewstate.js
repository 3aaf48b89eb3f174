// How a graph is shown, kept in the URL with the same keys in every view, so
// that a reload, Back and Forward, or a copied link show exactly what was
// shown: a flame graph's `layout` (flame|icicle), `order` (heavy: left-heavy),
// `search` and `zoom` (the names from the root's child to the zoomed frame, as
// JSON); a track component's zoom `window` ("LO-HI", ms from an origin).
// A view with two graphs side by side shares them (a diff's A and B) or keeps
// each under its own key (a sandwich's `callersZoom` and `calleesZoom`).
// These change only the drawing: they replace the current history entry and
// draw nothing again (the graph has drawn the change already).

import { FlamePanel } from "./flamepanel.js";
import { zoomPathOf } from "./treefilter.js";

const QUIET = { push: false, reload: false };

// The URL keys a graph keeps its state under; a view with several graphs
// names its own (null: that state is not kept, the panel's default stays).
const KEYS = { layout: "layout", order: "order", search: "search", zoom: "zoom" };

// The zoom keys of a sandwich's two graphs (the Sandwich view's and a
// trace's): another function's sandwich starts unzoomed (app.js).
export const SANDWICH_ZOOM = { callers: "callersZoom", callees: "calleesZoom" };

// A FlamePanel whose layout, order, search and zoom go to the app's URL under
// `keys` (default: KEYS); `onSearch` (optional) hears the search too (a table
// beside the graph). Panels linked with linkPanels share what they keep
// under the same key: one side's zoom zooms the other to the same frame.
export function urlFlamePanel(host, app, { onSearch, keys = {}, ...options } = {}) {
  const k = { ...KEYS, ...keys };
  const write = (key, value) => {
    if (key) app.setState({ [key]: value }, QUIET);
  };
  const panel = new FlamePanel(host, {
    ...options,
    onLayout: (layout) => {
      write(k.layout, layout);
      echo(panel, "layout", (peer) => peer.setLayout(layout));
    },
    onOrder: (order) => {
      write(k.order, order);
      echo(panel, "order", (peer) => peer.setOrder(order));
    },
    onSearch: (search) => {
      if (onSearch) onSearch(search);
      write(k.search, search);
      echo(panel, "search", (peer) => searchPanel(peer, search));
    },
    // not while the state is being drawn (setData resets the zoom first)
    onZoom: () => {
      if (panel.restoring) return;
      const path = panel.graph.zoomPath();
      write(k.zoom, path.length ? JSON.stringify(path) : null);
      echo(panel, "zoom", (peer) => zoomPanel(peer, path));
    },
  });
  panel.urlKeys = k;
  panel.peers = [];
  return panel;
}

// Graphs of one view that show their state together (a diff's A and B, a
// sandwich's callers and callees): a change to one is made to the others
// that keep it under the same key.
export function linkPanels(panels) {
  for (const panel of panels) panel.peers = panels.filter((p) => p !== panel);
}

function echo(panel, field, apply) {
  const key = panel.urlKeys[field];
  if (!key) return;
  for (const peer of panel.peers) {
    if (peer.urlKeys[field] !== key) continue;
    peer.restoring = true;
    try {
      apply(peer);
    } finally {
      peer.restoring = false;
    }
  }
}

function searchPanel(panel, term) {
  if (panel.searchInput.value === term) return;
  panel.searchInput.value = term;
  if (panel.source) panel.applySearch(false);
}

// Zoomed to the frame at the end of `path`; the whole graph when it has no
// such frame or that frame is empty (a side of a diff without it).
function zoomPanel(panel, path) {
  const graph = panel.graph;
  if (!graph.tree) return;
  if (path.length && graph.zoomToPath(path) && graph.zoom.x1 > graph.zoom.x0) return;
  if (graph.zoom.i >= 0) graph.resetZoom();
}

// The URL's layout, order and search on `panel` (before its data arrives, so
// the toolbar is right at once); with `tree`, the tree drawn, zoomed as the
// URL says. Under the panel's keys (urlFlamePanel's; a plain panel: KEYS).
// Nothing of this writes the URL back.
export function showPanelState(panel, state, tree = null) {
  const k = panel.urlKeys || KEYS;
  panel.restoring = true;
  try {
    if (k.layout) panel.setLayout(state[k.layout] === "icicle" ? "icicle" : "flame");
    if (k.order) panel.setOrder(state[k.order] === "heavy" ? "heavy" : "");
    if (k.search) searchPanel(panel, state[k.search] || "");
    if (tree) {
      panel.setData(tree);
      if (k.zoom) zoomPanel(panel, zoomPathOf(state, k.zoom));
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
