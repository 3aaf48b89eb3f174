// The frame menu of a flame graph: right-click a frame, or press M (or the
// context-menu key, or Shift+F10) on the keyboard cursor. Zoom, focus on the
// function, open it in the sandwich view, copy its name, show only one of the
// threads or processes that ran it, hide it. Also the chips that say which of
// these are in effect, each with a button that undoes it.

import { api } from "./api.js";
import { el, fmtValue } from "./format.js";
import { hiddenOf } from "./treefilter.js";

// Copies text; the async clipboard needs a secure context, the fallback not.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = el("textarea", { className: "sr-only", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

// `only` in the URL ("pid:123" or "tid:456"): the render's scope.
export function onlyOf(state) {
  const m = /^(pid|tid):(\d+)$/.exec(state.only || "");
  return m ? { [m[1]]: Number(m[2]) } : {};
}

// One menu element for every graph of the page (one menu is open at a time);
// `owner` is the FrameMenu that opened it, which its keys and clicks go to.
let shared = null;
function sharedMenu() {
  if (!shared) {
    const menu = el("div", { className: "frame-menu frame-ctx", role: "menu", hidden: true });
    shared = { el: menu, owner: null };
    menu.addEventListener("keydown", (e) => shared.owner && shared.owner.onMenuKey(e));
    document.addEventListener("mousedown", (e) => {
      if (shared.owner && !menu.hidden && !menu.contains(e.target)) shared.owner.close(false);
    });
    document.body.append(menu);
  }
  return shared;
}

export class FrameMenu {
  // graph: a FlameGraph; actions: { zoom(node), focus(name), sandwich(name),
  // hide(name), only({pid}|{tid}, label), scope() -> {query, from, until} };
  // a view offers only the actions that mean something there (zoom and copy
  // always): the menu lists those.
  constructor(graph, actions) {
    this.graph = graph;
    this.actions = actions;
    this.shared = sharedMenu();
    this.menu = this.shared.el;
    graph.canvas.addEventListener("contextmenu", (e) => {
      const node = graph.frameAt(e);
      if (!node) return;
      e.preventDefault();
      this.open(node, e.clientX, e.clientY);
    });
    graph.canvas.addEventListener("keydown", (e) => {
      const wants = e.key === "m" || e.key === "M" || e.key === "ContextMenu" || (e.key === "F10" && e.shiftKey);
      if (!wants || e.ctrlKey || e.metaKey || e.altKey) return;
      const node = graph.frameAt(null);
      if (!node) return;
      e.preventDefault();
      const r = graph.canvas.getBoundingClientRect();
      const level = graph.tree.levels[node.l];
      const { x0, x1 } = graph.zoom;
      const x = r.left + Math.max(0, (level.x[node.i] - x0) * (r.width / (x1 - x0))) + 8;
      this.open(node, Math.min(x, r.right - 40), r.top + graph.rowY(node.l) + 14);
    });
  }

  // For graphs a view replaces (a trace's sandwich): an open menu closes with them.
  destroy() {
    if (this.shared.owner !== this) return;
    this.menu.hidden = true;
    this.shared.owner = null;
  }

  open(node, x, y) {
    const tree = this.graph.tree;
    const name = tree.names[tree.levels[node.l].name[node.i]];
    this.node = node;
    this.name = name;
    this.shared.owner = this;
    const a = this.actions;
    const item = (text, run, extra = {}) => el("button", { type: "button", role: "menuitem", tabindex: "-1", text, onclick: () => run(), ...extra });
    this.onlyBox = el("div", { role: "group", "aria-label": "Show only" }, [
      item("Show only a thread or process running it…", () => this.listThreads()),
    ]);
    // the whole selection's root ("total") is no function: zoom and copy only
    const fn = tree.kinds[tree.levels[node.l].name[node.i]] !== "root";
    const zoom = a.zoom || ((n) => this.graph.zoomTo(n.l, n.i));
    this.menu.replaceChildren(
      el("div", { className: "frame-menu-title", text: name }),
      item("Zoom to this frame", () => this.run(() => zoom(node))),
      ...(fn && a.focus ? [item("Focus on this function (only stacks through it)", () => this.run(() => a.focus(name)))] : []),
      ...(fn && a.sandwich ? [item("Open in sandwich view", () => this.run(() => a.sandwich(name)))] : []),
      item("Copy name", () => this.copy(name)),
      ...(fn && a.only ? [this.onlyBox] : []),
      ...(fn && a.hide ? [item("Hide this function", () => this.run(() => a.hide(name)))] : []),
    );
    this.menu.hidden = false;
    const w = this.menu.offsetWidth;
    const h = this.menu.offsetHeight;
    this.menu.style.left = `${Math.max(4, Math.min(x, window.innerWidth - w - 4))}px`;
    this.menu.style.top = `${Math.max(4, Math.min(y, window.innerHeight - h - 4))}px`;
    this.items()[0].focus();
  }

  items() {
    return [...this.menu.querySelectorAll('[role="menuitem"]')];
  }

  close(refocus = true) {
    this.menu.hidden = true;
    if (refocus) this.graph.canvas.focus();
  }

  run(fn) {
    this.close();
    fn();
  }

  async copy(name) {
    const ok = await copyText(name);
    this.close();
    this.graph.status.textContent = ok ? `Copied: ${name}` : `Could not copy; the name is: ${name}`;
  }

  // Asks the server which threads ran this frame, then offers each of them
  // and their processes.
  async listThreads() {
    const name = this.name;
    const { query, from, until } = this.actions.scope();
    this.onlyBox.replaceChildren(el("div", { className: "hint", role: "status", text: "Finding the threads…" }));
    let threads = [];
    try {
      threads = (await api.frameThreads(query, from, until, name)).threads || [];
    } catch (err) {
      this.onlyBox.replaceChildren(el("div", { className: "hint", role: "alert", text: err.message }));
      return;
    }
    if (this.name !== name || this.menu.hidden || this.shared.owner !== this) return;
    if (!threads.length) {
      this.onlyBox.replaceChildren(el("div", { className: "hint", text: "No stored samples name the threads of this frame." }));
      return;
    }
    const units = this.graph.tree.units;
    const pids = new Map();
    for (const t of threads) pids.set(t.pid, (pids.get(t.pid) || 0) + t.value);
    const button = (text, run) => el("button", { type: "button", role: "menuitem", tabindex: "-1", className: "sub", text, onclick: () => this.run(run) });
    this.onlyBox.replaceChildren(
      ...threads.slice(0, 6).map((t) => button(
        `Only thread ${t.thread_name || t.comm || "?"} (tid ${t.tid}): ${fmtValue(t.value, units)}`,
        () => this.actions.only({ tid: t.tid }, `thread ${t.thread_name || t.comm || "?"} (tid ${t.tid})`),
      )),
      ...[...pids].slice(0, 3).map(([pid, value]) => button(
        `Only process ${pid}: ${fmtValue(value, units)}`,
        () => this.actions.only({ pid }, `process ${pid}`),
      )),
    );
    const first = this.onlyBox.querySelector('[role="menuitem"]');
    if (first) first.focus();
  }

  onMenuKey(event) {
    const items = this.items();
    const i = items.indexOf(document.activeElement);
    let j = -1;
    if (event.key === "ArrowDown") j = (i + 1) % items.length;
    else if (event.key === "ArrowUp") j = (i - 1 + items.length) % items.length;
    else if (event.key === "Home") j = 0;
    else if (event.key === "End") j = items.length - 1;
    else if (event.key === "Escape" || event.key === "Tab") {
      event.preventDefault();
      this.close();
      return;
    }
    if (j < 0) return;
    event.preventDefault();
    items[j].focus();
  }
}

// One chip per view change in effect (focus, hidden functions, one thread or
// process, zoom), each with its own undo.
export function filterChips(host, chips) {
  host.replaceChildren(
    ...chips.map(({ text, title, undo }) => el("span", { className: "filter-chip" }, [
      el("span", { text }),
      el("button", { type: "button", className: "chip-x", text: "×", title, "aria-label": title, onclick: undo }),
    ])),
  );
  host.hidden = !chips.length;
}

// The frame menu of the app's main flame graph: every action is a change of
// the URL's state (focus, hide, only, tab and fn), so Back undoes it.
export function appFrameMenu(graph, app) {
  return new FrameMenu(graph, {
    focus: (name) => app.setState({ focus: name, zoom: null }),
    sandwich: (name) => app.setState({ tab: "sandwich", fn: name }),
    hide: (name) => app.setState({ hide: JSON.stringify([...hiddenOf(app.state).filter((n) => n !== name), name]), zoom: null }),
    only: (scope) => app.setState({ only: scope.tid ? `tid:${scope.tid}` : `pid:${scope.pid}`, zoom: null }),
    scope: () => app.state,
  });
}

// The chips of the view changes in `state`; `share`: the focused part of the
// whole selection (0..1), when focused; `extra`: the view's own chips first.
export function appChips(host, state, app, share, extra = []) {
  const chips = [...extra];
  if (state.only) {
    const [kind, id] = state.only.split(":");
    chips.push({ text: `Only ${kind === "tid" ? "thread" : "process"} ${id}`, title: "Show every thread again", undo: () => app.setState({ only: null }) });
  }
  if (state.focus) {
    const of = share === undefined ? "" : ` (${(share * 100).toFixed(1)}% of the selection)`;
    chips.push({ text: `Focus: ${state.focus}${of}`, title: "Remove the focus", undo: () => app.setState({ focus: null, zoom: null }) });
  }
  for (const name of hiddenOf(state)) {
    chips.push({
      text: `Hidden: ${name}`,
      title: `Show ${name} again`,
      undo: () => {
        const rest = hiddenOf(app.state).filter((n) => n !== name);
        app.setState({ hide: rest.length ? JSON.stringify(rest) : null, zoom: null });
      },
    });
  }
  filterChips(host, chips);
}
