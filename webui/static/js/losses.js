// What agents reported lost in the selection's range (/api/v1/losses): a
// notice under the query bar, so a flame graph with holes says it has them.

import { api } from "./api.js";
import { el } from "./format.js";

const SHOWN = 3; // lines; the rest are counted in one more

export class LossNotice {
  constructor(node) {
    this.node = node;
    this.seq = 0;
  }

  async show({ query, from, until }) {
    const seq = ++this.seq;
    let losses = [];
    try {
      ({ losses } = await api.losses(query, from, until));
    } catch (err) {
      console.warn("api/v1/losses:", err.message); // the views show the server's errors
    }
    if (seq !== this.seq) return;
    this.node.hidden = !losses.length;
    // Data lost first; then what was kept sampled rather than one by one,
    // which is no hole in the totals and so no cause for alarm.
    const lost = losses.filter((x) => x.lost !== false);
    const sampled = losses.filter((x) => x.lost === false);
    const parts = [];
    if (lost.length) parts.push(el("strong", { text: "Incomplete data: " }), listOf(lost, "lost on"));
    if (sampled.length) parts.push(el("strong", { text: "Sampled: " }), listOf(sampled, "on"));
    this.node.classList.toggle("sampled-only", !lost.length);
    this.node.replaceChildren(...parts);
  }
}

function listOf(losses, verb) {
  const lines = losses.slice(0, SHOWN).map((x) => el("li", {
    title: `${x.reason}, last reported ${new Date(x.last_ms).toLocaleString()}`,
    text: `${Number(x.count).toLocaleString("en-US")} ${x.unit} ${verb} ${x.host}: ${x.why}`,
  }));
  if (losses.length > SHOWN) lines.push(el("li", { text: `and ${losses.length - SHOWN} more` }));
  return el("ul", {}, lines);
}
