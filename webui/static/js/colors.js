// Colours: frames by kind, off-CPU frames by reason, diff frames by change.

export const KIND_HUES = {
  kernel: [28, 85, 62],
  native: [4, 70, 68],
  python: [207, 65, 66],
  java: [110, 45, 58],
  jit: [275, 45, 68],
  unknown: [0, 0, 72],
  offcpu: [0, 0, 45],
  root: [220, 10, 78],
};

export const KIND_LABELS = {
  kernel: "kernel",
  native: "native",
  python: "Python",
  java: "Java",
  jit: "JIT",
  unknown: "unknown",
};

// Dark, saturated colours so waiting stands apart from running.
export const REASON_COLORS = {
  runqueue: "#8e6c00",
  sleep: "#2c5d8a",
  lock: "#8b1e3f",
  io: "#5b3a8c",
  net: "#1e6b52",
  poll: "#2f7f7f",
  gil: "#7a4b1f",
  other: "#555a61",
};

export const REASONS = Object.keys(REASON_COLORS);

const OFFCPU_RE = /^\[off-cpu:([a-z]+)\]$/;

export function offcpuReason(name) {
  const m = OFFCPU_RE.exec(name);
  return m ? m[1] : null;
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
  if (reason) return REASON_COLORS[reason] || REASON_COLORS.other;
  if (kind === "offcpu") return REASON_COLORS.other;
  const [h, s, l] = KIND_HUES[kind] || KIND_HUES.native;
  const v = hash(name);
  const dh = s === 0 ? 0 : (v % 15) - 7;
  const dl = ((v >>> 8) % 13) - 6;
  return `hsl(${h + dh}, ${s}%, ${l + dl}%)`;
}

export function textColorFor(name) {
  return offcpuReason(name) ? "#ffffff" : "#1d1f24";
}

// Diff: share grew (red) or shrank (green), relative to the frame's own share.
export function diffColor(leftShare, rightShare) {
  let change;
  if (leftShare === 0) change = rightShare > 0 ? 1 : 0;
  else change = (rightShare - leftShare) / leftShare;
  const t = Math.min(1, Math.abs(change));
  if (t < 0.02) return "hsl(0, 0%, 86%)";
  const light = 88 - 38 * t;
  return change > 0 ? `hsl(0, 80%, ${light}%)` : `hsl(130, 55%, ${light}%)`;
}

export const SEARCH_MATCH = "#d6409f";
export const SEARCH_DIM = "#e4e6ea";
