// Colours: frames by kind, off-CPU frames by reason, diff frames by change.

export const KIND_HUES = {
  kernel: [28, 85, 62],
  native: [4, 70, 68],
  python: [207, 65, 66],
  java: [110, 45, 58],
  jit: [275, 45, 68],
  unknown: [0, 0, 72],
  offcpu: [0, 0, 45],
  process: [190, 30, 70],
  waker: [168, 55, 58],
  root: [220, 10, 78],
  other: [45, 12, 84],
};

export const KIND_LABELS = {
  kernel: "kernel",
  native: "native",
  python: "Python",
  java: "Java",
  jit: "JIT",
  unknown: "unknown",
  process: "process",
  waker: "waker (off-wake graph: who woke the thread)",
  other: "other: smaller frames merged",
};

// Off-CPU reasons. Which reasons exist, and their order, is the server's
// (GET api/v1/meta: profiler/model.py OFFCPU_REASONS), set once at start-up by
// setReasons. The palette only styles the reasons it knows: any other reason
// still gets a colour of its own (reasonColor) and a place in the legends
// (reasonsIn), so a reason added on the server needs no change here.
// Dark, saturated colours so waiting stands apart from running.
const REASON_PALETTE = {
  runqueue: "#8e6c00",
  sleep: "#2c5d8a",
  lock: "#8b1e3f",
  io: "#5b3a8c",
  net: "#1e6b52",
  poll: "#2f7f7f",
  gil: "#7a4b1f",
  other: "#555a61",
};

let reasonOrder = [];

export function setReasons(reasons) {
  reasonOrder = Array.isArray(reasons) ? reasons.map(String) : [];
}

// The reasons of `seen` (a Set) in the server's order, any unknown ones after.
export function reasonsIn(seen) {
  const known = reasonOrder.filter((r) => seen.has(r));
  const rest = [...seen].filter((r) => !reasonOrder.includes(r)).sort();
  return [...known, ...rest];
}

// Legend entries ([colour, text]) for the reasons of `seen`, in order.
export function reasonLegend(seen) {
  return reasonsIn(seen).map((reason) => [reasonColor(reason), `off-CPU: ${reason}`]);
}

export function reasonColor(reason) {
  const color = REASON_PALETTE[reason || "other"];
  if (color) return color;
  const v = hash(reason);
  return `hsl(${v % 360}, ${40 + (v >>> 9) % 20}%, ${28 + (v >>> 17) % 10}%)`;
}

// The reason of an off-CPU frame (`[off-cpu:REASON]`, whatever REASON is), or null.
const OFFCPU_PREFIX = "[off-cpu:";

export function offcpuReason(name) {
  if (!name.startsWith(OFFCPU_PREFIX) || !name.endsWith("]")) return null;
  return name.slice(OFFCPU_PREFIX.length, -1) || "other";
}

function hash(str) {
  let h = 2166136261;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

// Guess a kind when the server did not send one (folded names keep `_[k]`).
export function guessKind(name) {
  if (offcpuReason(name)) return "offcpu";
  if (name.endsWith("_[k]")) return "kernel";
  if (name.endsWith("_[j]")) return "jit";
  if (name.includes(".py")) return "python";
  return "native";
}

// One colour per name, stable across renders, varied a little within a kind so
// neighbours stay distinguishable.
export function frameColor(name, kind) {
  const reason = offcpuReason(name);
  if (reason) return reasonColor(reason);
  if (kind === "offcpu") return reasonColor("other");
  const [h, s, l] = KIND_HUES[kind] || KIND_HUES.native;
  const v = hash(name);
  const dh = s === 0 ? 0 : (v % 15) - 7;
  const dl = ((v >>> 8) % 13) - 6;
  return `hsl(${h + dh}, ${s}%, ${l + dl}%)`;
}

export function textColorFor(name) {
  return offcpuReason(name) ? "#ffffff" : "#1d1f24";
}

// Diff colours: a value in −1 … +1, red grew, green shrank, grey unchanged.
export function scaleColor(v) {
  const t = Math.min(1, Math.abs(v));
  if (t < 0.02) return "hsl(0, 0%, 86%)";
  const light = 88 - 38 * t;
  return v > 0 ? `hsl(0, 80%, ${light}%)` : `hsl(130, 55%, ${light}%)`;
}

// A frame whose share went from leftShare (A) to rightShare (B), on `scale`
// (diffscale.js): relative change of its own share (clipped to ±100%, the
// default), or absolute change in points of the total over `scale.max`.
export function diffColor(leftShare, rightShare, scale) {
  if (scale && scale.mode === "absolute") return scaleColor((rightShare - leftShare) / (scale.max || 1));
  let change;
  if (leftShare === 0) change = rightShare > 0 ? 1 : 0;
  else change = (rightShare - leftShare) / leftShare;
  return scaleColor(change);
}

// A diff frame whose change is within the sampling noise (diffscale.js): the
// grey of "unchanged", since no change can be told from it.
export const NOISE_COLOR = scaleColor(0);

export const SEARCH_MATCH = "#d6409f";
export const SEARCH_DIM = "#e4e6ea";
