// Views of a flame graph tree the user chose from the frame menu, as pprof
// names them: `focus` keeps only the stacks that pass through a function (its
// share stays a share of the whole selection), `hide` removes functions from
// every stack (their time goes to their callers' callees, as if inlined away).
// Both rebuild the tree from its stacks, so the table and the graph agree.

import { newTrieNode, treeFromTrie, trieInsert } from "./tree.js";

// Calls visit(path, kinds, self) for every node with self time (root excluded
// from the path), in the tree's order.
function eachStack(tree, visit) {
  const names = [];
  const kinds = [];
  const walk = (l, i) => {
    const level = tree.levels[l];
    if (l > 0) {
      names.push(tree.names[level.name[i]]);
      kinds.push(tree.kinds[level.name[i]]);
    }
    if (level.self[i] > 0) visit(names, kinds, level.self[i]);
    const below = tree.levels[l + 1];
    if (below) for (let c = level.childStart[i]; c < level.childEnd[i]; c++) walk(l + 1, c);
    if (l > 0) {
      names.pop();
      kinds.pop();
    }
  };
  if (tree.levels.length) for (let i = 0; i < tree.levels[0].n; i++) walk(0, i);
}

// The tree with `focus` (a name, or "") and `hide` (names) applied; the same
// tree when neither is set. Diff trees are left as they are.
export function filterTree(tree, { focus = "", hide = [] } = {}) {
  if (tree.diff || (!focus && !hide.length)) return tree;
  const hidden = new Set(hide);
  const root = newTrieNode("total", "root");
  eachStack(tree, (names, kinds, value) => {
    if (focus && !names.includes(focus)) return;
    if (!hidden.size) return trieInsert(root, names, kinds, value);
    const keep = [];
    const keepKinds = [];
    names.forEach((n, k) => {
      if (!hidden.has(n)) {
        keep.push(n);
        keepKinds.push(kinds[k]);
      }
    });
    trieInsert(root, keep, keepKinds, value);
  });
  const out = treeFromTrie(root);
  out.units = tree.units;
  // shares stay shares of the whole selection
  out.wholeTicks = tree.numTicks;
  return out;
}

// The tree with each frame's callees widest first (speedscope's left-heavy
// order): the heaviest stacks line up at the left whatever their names.
// Diff trees are left as they are.
export function leftHeavy(tree) {
  if (tree.diff || !tree.levels.length) return tree;
  const top = tree.levels[0];
  const root = newTrieNode(tree.names[top.name[0]], tree.kinds[top.name[0]]);
  eachStack(tree, (names, kinds, value) => trieInsert(root, names, kinds, value));
  const out = treeFromTrie(root, { heavy: true });
  out.units = tree.units;
  if (tree.wholeTicks) out.wholeTicks = tree.wholeTicks;
  return out;
}

// A JSON list of names from the URL (frame names may hold any character);
// [] when absent or unreadable.
function namesOf(text) {
  try {
    const list = JSON.parse(text || "[]");
    return Array.isArray(list) ? list.map(String) : [];
  } catch {
    return [];
  }
}

// `hide` in the URL: the hidden functions.
export const hiddenOf = (state) => namesOf(state.hide);

// `zoom` (or another graph's zoom `key`) in the URL: the names from the
// root's child to the zoomed frame.
export const zoomPathOf = (state, key = "zoom") => namesOf(state[key]);
