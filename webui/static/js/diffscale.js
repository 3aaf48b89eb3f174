// A diff you can read: a numeric colour scale, relative or absolute change,
// per-side trees for the side-by-side mode, and which changes are real.
//
// Relative change: (b − a) / a of a frame's share of its side's total,
// clipped to −100% … +100% (a frame new in B is +100%). Absolute change: b − a
// in percentage points of the total, on a scale up to the largest change, so
// a tiny frame that doubled stays pale beside a large regression.
//
// Significance: a two-proportion z-test on sample counts. A side's count of
// samples is its total divided by the greatest common divisor of its frames'
// self values (the weight of one sample for on-CPU profiles taken at a fixed
// rate; off-CPU values are measured durations, where this unit can be far
// smaller than one wait and the test too confident); a function's count is
// its self value divided by the same unit. With pooled
// p = (kA + kB) / (nA + nB), z = (kB/nB − kA/nA) / sqrt(p (1 − p) (1/nA + 1/nB)).
// |z| ≥ 3.29 (two-sided p < 0.001, strict because many functions are tested
// at once) marks a change as real; below it, as within the noise.

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

function gcd(a, b) {
  while (b) [a, b] = [b, a % b];
  return a;
}

// The weight of one sample of one side: the greatest common divisor of its
// frames' self values (on-CPU samples all weigh 1e9/Hz ns).
function unitOf(tree, key) {
  let unit = 0;
  for (const level of tree.levels) {
    const v = level[key];
    for (let i = 0; i < level.n; i++) if (v[i] > 0) unit = gcd(Math.round(v[i]), unit);
  }
  return unit || 1;
}

// Sample counts of each side (see the top of this file).
export function sampleCounts(tree) {
  const ua = unitOf(tree, "lSelf");
  const ub = unitOf(tree, "rSelf");
  return { ua, ub, nA: Math.max(1, Math.round((tree.leftTicks || 0) / ua)), nB: Math.max(1, Math.round((tree.rightTicks || 0) / ub)) };
}

// z of a change from a/ua of nA samples to b/ub of nB samples.
export function zScore(a, b, counts) {
  const { ua, ub, nA, nB } = counts;
  const kA = a / ua;
  const kB = b / ub;
  const p = (kA + kB) / (nA + nB);
  const se = Math.sqrt(p * (1 - p) * (1 / nA + 1 / nB));
  if (!(se > 0)) return 0;
  return (kB / nB - kA / nA) / se;
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
