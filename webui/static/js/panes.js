// Pyroscope's layout switch: the top-functions table, both side by side, or
// the flame graph alone (`panes=table|both|flame` in the URL; both by default).

import { el } from "./format.js";

export const PANES = [
  ["table", "Table"],
  ["both", "Both"],
  ["flame", "Graph"],
];

export function panesOf(state) {
  return PANES.some(([v]) => v === state.panes) ? state.panes : "both";
}

export class PaneSwitch {
  // box: the element holding the two panes; onChange(value) stores the choice.
  constructor(box, onChange) {
    this.box = box;
    this.buttons = PANES.map(([value, text]) =>
      el("button", { type: "button", className: "btn", text, dataset: { panes: value }, onclick: () => onChange(value) }));
    this.root = el("div", { className: "pane-switch", role: "group", "aria-label": "Show" }, this.buttons);
  }

  set(value) {
    for (const b of this.buttons) b.setAttribute("aria-pressed", String(b.dataset.panes === value));
    this.box.dataset.panes = value;
  }
}
