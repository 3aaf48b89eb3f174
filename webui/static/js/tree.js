// Flame graph data: flamebearer JSON decoded into per-level typed arrays, plus
// the derived trees (sandwich) and aggregates (functions, search share).
//
// A tree is { format, names, kinds, numTicks, leftTicks, rightTicks, levels,
// nodeCount }; each level holds parallel arrays sorted by x (ticks from the
// left edge): x, total, self, name, parent (index in the level above),
// childStart/childEnd (range in the level below), and for diffs lTotal, lSelf,
// rTotal, rSelf.

import { guessKind } from "./colors.js";

function emptyLevel(n, diff) {
  const level = {
    n,
    x: new Float64Array(n),
    total: new Float64Array(n),
    self: new Float64Array(n),
    name: new Int32Array(n),
    parent: new Int32Array(n),
    childStart: new Int32Array(n),
    childEnd: new Int32Array(n),
  };
  if (diff) {
    level.lTotal = new Float64Array(n);
    level.lSelf = new Float64Array(n);
    level.rTotal = new Float64Array(n);
    level.rSelf = new Float64Array(n);
  }
  return level;
}

// Links each node to its parent and each parent to its children range.
function linkLevels(levels) {
  for (let l = 0; l < levels.length; l++) {
    const level = levels[l];
    level.childStart.fill(0);
    level.childEnd.fill(0);
    if (l === 0) {
      level.parent.fill(-1);
      continue;
    }
    const up = levels[l - 1];
    let p = 0;
    for (let i = 0; i < level.n; i++) {
      const x = level.x[i];
      while (p < up.n - 1 && up.x[p] + up.total[p] <= x) p++;
      level.parent[i] = p;
      if (i === 0 || level.parent[i - 1] !== p) up.childStart[p] = i;
      up.childEnd[p] = i + 1;
    }
  }
}

// Decodes a /render or /render-diff answer (Pyroscope's flamebearer format:
// offsets are deltas from the end of the previous node of the same level).
export function decodeFlamebearer(answer) {
  const fb = answer && answer.flamebearer;
  if (!fb || !Array.isArray(fb.levels) || !Array.isArray(fb.names)) {
    throw new Error("The server's answer has no flame graph in it.");
  }
  const format = (answer.metadata && answer.metadata.format) || fb.format || "single";
  const units = (answer.metadata && answer.metadata.units) || "nanoseconds";
  const diff = format === "double";
  const step = diff ? 7 : 4;
  const names = fb.names.map((n) => String(n));
  const kindsIn = answer.kinds || fb.kinds || [];
  const kinds = names.map((n, i) => kindsIn[i] || guessKind(n));
  const levels = [];
  let nodeCount = 0;
  for (const raw of fb.levels) {
    const n = Math.floor(raw.length / step);
    const level = emptyLevel(n, diff);
    if (diff) {
      let prevL = 0;
      let prevR = 0;
      for (let i = 0, j = 0; i < n; i++, j += step) {
        const xl = prevL + raw[j];
        const xr = prevR + raw[j + 3];
        prevL = xl + raw[j + 1];
        prevR = xr + raw[j + 4];
        level.lTotal[i] = raw[j + 1];
        level.lSelf[i] = raw[j + 2];
        level.rTotal[i] = raw[j + 4];
        level.rSelf[i] = raw[j + 5];
        level.x[i] = xl + xr;
        level.total[i] = raw[j + 1] + raw[j + 4];
        level.self[i] = raw[j + 2] + raw[j + 5];
        level.name[i] = raw[j + 6];
      }
    } else {
      let prev = 0;
      for (let i = 0, j = 0; i < n; i++, j += step) {
        const x = prev + raw[j];
        prev = x + raw[j + 1];
        level.x[i] = x;
        level.total[i] = raw[j + 1];
        level.self[i] = raw[j + 2];
        level.name[i] = raw[j + 3];
      }
    }
    nodeCount += n;
    levels.push(level);
  }
  while (levels.length && levels[levels.length - 1].n === 0) levels.pop();
  linkLevels(levels);
  const leftTicks = Number(answer.leftTicks ?? fb.leftTicks ?? 0);
  const rightTicks = Number(answer.rightTicks ?? fb.rightTicks ?? 0);
  let numTicks = Number(fb.numTicks || 0);
  if (!numTicks && levels.length) {
    for (let i = 0; i < levels[0].n; i++) numTicks += levels[0].total[i];
  }
  return { format, diff, names, kinds, numTicks, leftTicks, rightTicks, levels, nodeCount, units };
}

// ---- building trees from paths (sandwich views, benchmarks) ----------------

export function newTrieNode(name, kind) {
  return { name, kind, total: 0, self: 0, children: new Map() };
}

export function trieInsert(root, path, kinds, value) {
  root.total += value;
  let node = root;
  for (let i = 0; i < path.length; i++) {
    let child = node.children.get(path[i]);
    if (!child) {
      child = newTrieNode(path[i], kinds ? kinds[i] : guessKind(path[i]));
      node.children.set(path[i], child);
    }
    child.total += value;
    node = child;
  }
  node.self += value;
}

// Lays a trie out into a tree: children ordered by name, like Pyroscope, or
// with `heavy` widest first (speedscope's left-heavy).
const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const widestFirst = (a, b) => b.total - a.total || byName(a, b);

export function treeFromTrie(root, { heavy = false } = {}) {
  const names = [];
  const kinds = [];
  const nameIndex = new Map();
  const perLevel = [];
  const visit = (node, depth, x) => {
    let idx = nameIndex.get(node.name);
    if (idx === undefined) {
      idx = names.length;
      nameIndex.set(node.name, idx);
      names.push(node.name);
      kinds.push(node.kind);
    }
    if (!perLevel[depth]) perLevel[depth] = [];
    perLevel[depth].push(x, node.total, node.self, idx);
    let cx = x;
    const children = [...node.children.values()].sort(heavy ? widestFirst : byName);
    for (const child of children) {
      visit(child, depth + 1, cx);
      cx += child.total;
    }
  };
  visit(root, 0, 0);
  const levels = perLevel.map((flat) => {
    const n = flat.length / 4;
    const level = emptyLevel(n, false);
    for (let i = 0; i < n; i++) {
      level.x[i] = flat[4 * i];
      level.total[i] = flat[4 * i + 1];
      level.self[i] = flat[4 * i + 2];
      level.name[i] = flat[4 * i + 3];
    }
    return level;
  });
  linkLevels(levels);
  const nodeCount = levels.reduce((s, l) => s + l.n, 0);
  return { format: "single", diff: false, names, kinds, numTicks: root.total, leftTicks: 0, rightTicks: 0, levels, nodeCount };
}

// ---- sandwich --------------------------------------------------------------

// Nodes named `nameIdx` with no ancestor of the same name (recursion counted once).
function outermost(tree, nameIdx) {
  const found = [];
  let inside = tree.levels.length ? new Uint8Array(tree.levels[0].n) : null;
  for (let l = 0; l < tree.levels.length; l++) {
    const level = tree.levels[l];
    const here = new Uint8Array(level.n);
    for (let i = 0; i < level.n; i++) {
      const ancestorHas = l > 0 && inside[level.parent[i]] === 1;
      if (level.name[i] === nameIdx && !ancestorHas) found.push([l, i]);
      here[i] = ancestorHas || level.name[i] === nameIdx ? 1 : 0;
    }
    inside = here;
  }
  return found;
}

// Callers and callees of one function, as two trees rooted at it.
export function sandwich(tree, name) {
  const nameIdx = tree.names.indexOf(name);
  if (nameIdx < 0) return null;
  const kind = tree.kinds[nameIdx];
  const callers = newTrieNode(name, kind);
  const callees = newTrieNode(name, kind);
  let selfTotal = 0;
  for (const [l, i] of outermost(tree, nameIdx)) {
    const value = tree.levels[l].total[i];
    // callers: the path up to the root, nearest caller first
    const path = [];
    const pathKinds = [];
    let pl = l - 1;
    let pi = tree.levels[l].parent[i];
    while (pl >= 0) {
      const idx = tree.levels[pl].name[pi];
      if (!(pl === 0 && tree.names[idx] === "total")) {
        path.push(tree.names[idx]);
        pathKinds.push(tree.kinds[idx]);
      }
      pi = tree.levels[pl].parent[pi];
      pl--;
    }
    trieInsert(callers, path, pathKinds, value);
    // callees: merge the subtree
    callees.total += value;
    callees.self += tree.levels[l].self[i];
    selfTotal += tree.levels[l].self[i];
    mergeSubtree(tree, l, i, callees);
  }
  return { callers: treeFromTrie(callers), callees: treeFromTrie(callees), total: callees.total, self: selfTotal };
}

function mergeSubtree(tree, l, i, into) {
  const next = tree.levels[l + 1];
  if (!next) return;
  const level = tree.levels[l];
  for (let c = level.childStart[i]; c < level.childEnd[i]; c++) {
    const cname = tree.names[next.name[c]];
    let child = into.children.get(cname);
    if (!child) {
      child = newTrieNode(cname, tree.kinds[next.name[c]]);
      into.children.set(cname, child);
    }
    child.total += next.total[c];
    child.self += next.self[c];
    mergeSubtree(tree, l + 1, c, child);
  }
}

// ---- aggregates --------------------------------------------------------------

// Per function: self, and total counted once per stack (recursion-safe).
// For diffs, left and right separately.
export function functionTotals(tree) {
  const byName = new Map();
  const get = (idx) => {
    let row = byName.get(idx);
    if (!row) {
      row = { name: tree.names[idx], kind: tree.kinds[idx], self: 0, total: 0, lSelf: 0, lTotal: 0, rSelf: 0, rTotal: 0 };
      byName.set(idx, row);
    }
    return row;
  };
  for (let l = 0; l < tree.levels.length; l++) {
    const level = tree.levels[l];
    for (let i = 0; i < level.n; i++) {
      const idx = level.name[i];
      const row = get(idx);
      row.self += level.self[i];
      if (tree.diff) {
        row.lSelf += level.lSelf[i];
        row.rSelf += level.rSelf[i];
      }
      let seen = false;
      for (let pl = l - 1, pi = level.parent[i]; pl >= 0; pi = tree.levels[pl].parent[pi], pl--) {
        if (tree.levels[pl].name[pi] === idx) {
          seen = true;
          break;
        }
      }
      if (seen) continue;
      row.total += level.total[i];
      if (tree.diff) {
        row.lTotal += level.lTotal[i];
        row.rTotal += level.rTotal[i];
      }
    }
  }
  return [...byName.values()];
}

// Marks frames whose name contains `term` (case-insensitive) and returns the
// share of the total they cover, not counting a match inside another twice.
export function searchTree(tree, term) {
  const marks = tree.levels.map((level) => new Uint8Array(level.n));
  if (!term) return { marks: null, count: 0, share: 0, ticks: 0 };
  const needle = term.toLowerCase();
  const nameHit = tree.names.map((n) => n.toLowerCase().includes(needle));
  let count = 0;
  let ticks = 0;
  let covered = null;
  for (let l = 0; l < tree.levels.length; l++) {
    const level = tree.levels[l];
    const here = new Uint8Array(level.n);
    for (let i = 0; i < level.n; i++) {
      const hit = nameHit[level.name[i]];
      const above = l > 0 && covered[level.parent[i]] === 1;
      if (hit) {
        marks[l][i] = 1;
        count++;
        if (!above) ticks += level.total[i];
      }
      here[i] = hit || above ? 1 : 0;
    }
    covered = here;
  }
  return { marks, count, ticks, share: tree.numTicks ? ticks / tree.numTicks : 0 };
}
