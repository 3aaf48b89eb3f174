// A diff you can read: a numeric colour scale, relative or absolute change,
// per-side trees for the side-by-side mode, and which changes are real.
//
// Relative change: (b − a) / a of a frame's share of its side's total,
// clipped to −100% … +100% (a frame new in B is +100%). Absolute change: b − a
// in percentage points of the total, on a scale up to the largest change, so
// a tiny frame that doubled stays pale beside a large regression.
//
// Significance (profiler/query/significance.py computes the inputs): each
// side is a sum of sampled events, on-CPU samples worth the sampling period or
// off-CPU intervals worth their measured lengths; as a compound Poisson
// process a node's value S = Σd has variance Q = Σd². The server sends each
// node's weight w = Q / S per side (what is not stored event by event bounded
// from above), so S / w is its effective number of events. A share s = S / T
// of a side's total T has, by the delta method, variance
// ((1 − s)² Q + s² (Q_T − Q)) / T² (Q_T: the whole side's); for samples of
// one weight this is the binomial s (1 − s) / n. z = (sB − sA) / √(VarA + VarB).
// |z| ≥ 3.29 (two-sided p < 0.001, strict because many frames are tested at
// once) marks a change as real; below it, as within the noise (drawn grey).

import { scaleColor } from "./colors.js";
import { el } from "./format.js";

export const Z_REAL = 3.29;
const NICE = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

// The scale of a diff tree: { mode: "relative" } or { mode: "absolute", max }
// (max: the largest absolute change of any frame, rounded up).
export function scaleFor(tree, mode) {
  if (mode !== "absolute") return { mode: "relative" };
  const lt = tree.leftTicks || 1;
  const rt = tree.rightTicks || 1;
  let max = 0;
  for (const level of tree.levels) {
    for (let i = 0; i < level.n; i++) max = Math.max(max, Math.abs(level.rTotal[i] / rt - level.lTotal[i] / lt));
  }
  return { mode: "absolute", max: NICE.find((n) => n >= max) || 1 };
}

// The legend: a gradient from −100% to +100% (or −max … +max pp) with ticks.
export function scaleLegend(scale) {
  const abs = scale && scale.mode === "absolute";
  const ticks = [-1, -0.5, 0, 0.5, 1];
  const label = (t) => {
    if (t === 0) return abs ? "0 pp" : "0%";
    if (!abs) return `${t > 0 ? "+" : "−"}${Math.abs(t * 100)}%`;
    const pp = Math.abs(t * scale.max * 100);
    return `${t > 0 ? "+" : "−"}${pp < 1 ? String(Number(pp.toFixed(2))) : pp.toFixed(0)} pp`;
  };
  const bar = el("div", { className: "diff-scale-bar", role: "img", "aria-label": `Colour scale from ${label(-1)} (green, shrank in B) to ${label(1)} (red, grew in B)` });
  const stops = [];
  for (let k = 0; k <= 20; k++) stops.push(`${scaleColor(-1 + k / 10)} ${k * 5}%`);
  bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
  return el("div", { className: "diff-scale" }, [
    el("span", { className: "diff-scale-title", text: abs ? "Change in points of the total" : "Relative change of the share" }),
    el("div", { className: "diff-scale-body" }, [
      bar,
      el("div", { className: "diff-scale-ticks" }, ticks.map((t) => el("span", { text: label(t) }))),
    ]),
  ]);
}

// Each node's variance per side (lVar, rVar: w × value, see the top of this
// file) from the answer's `weights`; false when the answer has none (an older
// server, a gauge type) or they do not fit the levels.
export function attachVariances(tree, weights) {
  if (!Array.isArray(weights) || weights.length < tree.levels.length) return false;
  for (let l = 0; l < tree.levels.length; l++) {
    if (!Array.isArray(weights[l]) || weights[l].length !== 2 * tree.levels[l].n) return false;
  }
  tree.levels.forEach((level, l) => {
    level.lVar = new Float64Array(level.n);
    level.rVar = new Float64Array(level.n);
    for (let i = 0; i < level.n; i++) {
      level.lVar[i] = weights[l][2 * i] * level.lTotal[i];
      level.rVar[i] = weights[l][2 * i + 1] * level.rTotal[i];
    }
  });
  const root = tree.levels[0];
  tree.sides = { lt: tree.leftTicks || 0, rt: tree.rightTicks || 0, qa: root.lVar[0], qb: root.rVar[0] };
  return true;
}

// The variance of a share v / total of a side whose total's variance is all.
function shareVariance(v, q, total, all) {
  if (!(total > 0)) return 0;
  const s = v / total;
  return ((1 - s) ** 2 * q + s * s * Math.max(0, all - q)) / (total * total);
}

// z of a change of share from a (variance qa) of A to b (qb) of B.
export function zScore(a, qa, b, qb, sides) {
  const { lt, rt, qa: allA, qb: allB } = sides;
  const se = Math.sqrt(shareVariance(a, qa, lt, allA) + shareVariance(b, qb, rt, allB));
  if (!(se > 0) || !(lt > 0) || !(rt > 0)) return 0;
  return (b / rt - a / lt) / se;
}

// Per node, whether its change of total share is within the noise (|z| <
// Z_REAL): tree.noise, a Uint8Array per level (what the graph draws grey).
export function markNoise(tree) {
  tree.noise = tree.levels.map((level) => {
    const out = new Uint8Array(level.n);
    for (let i = 0; i < level.n; i++) {
      out[i] = Math.abs(zScore(level.lTotal[i], level.lVar[i], level.rTotal[i], level.rVar[i], tree.sides)) < Z_REAL ? 1 : 0;
    }
    return out;
  });
}

// Each function's self variance per side, by name index: a node's self
// variance is its total's less its children's (as its self value is).
export function selfVariances(tree) {
  const out = new Map();
  tree.levels.forEach((level, l) => {
    const below = tree.levels[l + 1];
    for (let i = 0; i < level.n; i++) {
      let lv = level.lVar[i];
      let rv = level.rVar[i];
      if (below) {
        for (let c = level.childStart[i]; c < level.childEnd[i]; c++) {
          lv -= below.lVar[c];
          rv -= below.rVar[c];
        }
      }
      const row = out.get(level.name[i]) || { l: 0, r: 0 };
      row.l += Math.max(0, lv);
      row.r += Math.max(0, rv);
      out.set(level.name[i], row);
    }
  });
  return out;
}

// One side of a diff tree as a tree of its own (widths from that side only,
// colours still from the comparison): what the side-by-side mode draws.
export function sideTree(tree, side) {
  const totalKey = side === "left" ? "lTotal" : "rTotal";
  const selfKey = side === "left" ? "lSelf" : "rSelf";
  const levels = tree.levels.map((level) => ({
    ...level,
    x: new Float64Array(level.n),
    total: Float64Array.from(level[totalKey]),
    self: Float64Array.from(level[selfKey]),
  }));
  for (let l = 0; l < levels.length; l++) {
    const level = levels[l];
    if (l === 0) {
      let x = 0;
      for (let i = 0; i < level.n; i++) {
        level.x[i] = x;
        x += level.total[i];
      }
      continue;
    }
    const up = levels[l - 1];
    for (let p = 0; p < up.n; p++) {
      let x = up.x[p];
      for (let c = up.childStart[p]; c < up.childEnd[p]; c++) {
        level.x[c] = x;
        x += level.total[c];
      }
    }
  }
  return { ...tree, levels, numTicks: side === "left" ? tree.leftTicks : tree.rightTicks, side };
}
