"""Flame graph renderer benchmark: a 50,000-node flame graph in headless Chromium.

Goals (issue 6): first render (JSON parse + decode + draw) under 1 s, a zoom
under 100 ms. Serves the web UI's own ES modules with a tiny Flask app on
loopback, loads a synthetic flamebearer into the canvas renderer and prints
the timings. Needs Debian's chromium (/usr/bin/chromium) and playwright.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import sys
import threading
from pathlib import Path

from flask import Flask
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webui import blueprint  # noqa: E402

NODES = 50_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/ui/css/app.css"></head>
<body style="width:1280px"><div id="host" style="width:1240px;padding:10px"></div></body></html>"""


def synthetic_flamebearer(n_nodes: int, seed: int = 1) -> dict:
    """A random call tree of exactly n_nodes nodes (root included), as flamebearer."""
    rng = random.Random(seed)
    kinds = ["native", "python", "kernel", "java", "jit"]
    names = ["total"] + [f"module{i % 97}.function_{i}" for i in range(1, 6000)]
    name_kinds = ["root"] + [kinds[i % len(kinds)] for i in range(1, 6000)]
    names += [f"[off-cpu:{r}]" for r in ("sleep", "lock", "io", "runqueue")]
    name_kinds += ["offcpu"] * 4
    parent = [-1]
    depth = [0]
    name = [0]
    for i in range(1, n_nodes):
        # prefer recent nodes: deep, bushy stacks like real programs
        p = rng.randrange(max(0, i - 200), i) if rng.random() < 0.8 else rng.randrange(i)
        while depth[p] >= 60:
            p = parent[p]
        parent.append(p)
        depth.append(depth[p] + 1)
        name.append(rng.randrange(1, len(names)))
    children: list[list[int]] = [[] for _ in range(n_nodes)]
    for i in range(1, n_nodes):
        children[parent[i]].append(i)
    self_ = [rng.randrange(1, 50) * 10_101_010 if rng.random() < 0.6 or not children[i] else 0
             for i in range(n_nodes)]
    total = self_[:]
    for i in range(n_nodes - 1, 0, -1):
        total[parent[i]] += total[i]
    levels: list[list[int]] = []
    ends: list[int] = []
    todo = [(0, 0)]  # (node, x)
    while todo:
        node, x = todo.pop()
        d = depth[node]
        while len(levels) <= d:
            levels.append([])
            ends.append(0)
        levels[d].extend((x - ends[d], total[node], self_[node], name[node]))
        ends[d] = x + total[node]
        kids = sorted(children[node], key=lambda c: names[name[c]])
        placed = []
        cx = x
        for c in kids:
            placed.append((c, cx))
            cx += total[c]
        todo.extend(reversed(placed))
    return {
        "flamebearer": {"names": names, "levels": levels, "numTicks": total[0],
                        "maxSelf": max(self_)},
        "metadata": {"format": "single", "units": "nanoseconds"},
        "kinds": name_kinds,
    }


def serve() -> tuple[object, str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = Flask(__name__)
    app.register_blueprint(blueprint)
    app.add_url_rule("/bench", "bench", lambda: PAGE)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


MEASURE = """async (payload) => {
  const { FlameGraph } = await import('/ui/js/flamegraph.js');
  const { decodeFlamebearer, functionTotals, sandwich } = await import('/ui/js/tree.js');
  const nextFrame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const host = document.getElementById('host');
  host.replaceChildren();
  const t0 = performance.now();
  const answer = JSON.parse(payload);
  const t1 = performance.now();
  const tree = decodeFlamebearer(answer);
  const t2 = performance.now();
  const graph = new FlameGraph(host, {});
  graph.setData(tree, { layout: 'flame' });
  const t3 = performance.now();
  await nextFrame();
  const t4 = performance.now();
  // zoom into frames at several depths, widest first at each depth
  const zooms = [];
  const painted = [];
  for (const depth of [1, 2, 3, 5, 8, 12, 20]) {
    const level = tree.levels[depth];
    if (!level) continue;
    let best = 0;
    for (let i = 1; i < level.n; i++) if (level.total[i] > level.total[best]) best = i;
    const z0 = performance.now();
    graph.zoomTo(depth, best);
    const z1 = performance.now();
    await nextFrame();
    zooms.push(z1 - z0);
    painted.push(performance.now() - z0);
  }
  const r0 = performance.now();
  graph.resetZoom();
  const r1 = performance.now();
  const s0 = performance.now();
  const found = graph.setSearch('function_12');
  const s1 = performance.now();
  const f0 = performance.now();
  const functions = functionTotals(tree);
  const f1 = performance.now();
  const busiest = functions.filter((f) => f.kind !== 'root').sort((a, b) => b.total - a.total)[0];
  const w0 = performance.now();
  sandwich(tree, busiest.name);
  const w1 = performance.now();
  return { table: f1 - f0, functions: functions.length, sandwich: w1 - w0,
           nodes: tree.nodeCount, levels: tree.levels.length, parse: t1 - t0, decode: t2 - t1,
           draw: t3 - t2, firstRender: t3 - t0, firstPaint: t4 - t0, zooms, painted,
           reset: r1 - r0, search: s1 - s0, searchMatches: found.count };
}"""


def main() -> int:
    from playwright.sync_api import sync_playwright

    payload = json.dumps(synthetic_flamebearer(NODES))
    server, base = serve()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(base + "/bench")
                runs = [page.evaluate(MEASURE, payload) for _ in range(3)]
            finally:
                browser.close()
    finally:
        server.shutdown()
    first = runs[0]
    print(f"ui_render: {first['nodes']} nodes, {first['levels']} levels, "
          f"payload {len(payload) / 1e6:.1f} MB JSON, viewport 1280x800, headless Chromium")
    for i, r in enumerate(runs, 1):
        print(f"  run {i}: parse {r['parse']:.1f} ms + decode {r['decode']:.1f} ms + "
              f"draw {r['draw']:.1f} ms = first render {r['firstRender']:.1f} ms "
              f"(to next frame {r['firstPaint']:.1f} ms)")
    zooms = [z for r in runs for z in r["zooms"]]
    painted = [z for r in runs for z in r["painted"]]
    worst_first = max(r["firstPaint"] for r in runs)
    print(f"  zoom: median {statistics.median(zooms):.1f} ms, max {max(zooms):.1f} ms "
          f"(to next frame: median {statistics.median(painted):.1f} ms, max {max(painted):.1f} ms, "
          f"{len(zooms)} zooms)")
    print(f"  reset zoom {first['reset']:.1f} ms, search {first['search']:.1f} ms "
          f"({first['searchMatches']} matches), top-functions table {first['table']:.1f} ms "
          f"({first['functions']} functions), sandwich {first['sandwich']:.1f} ms")
    ok = worst_first < 1000 and max(painted) < 100
    print(f"  goal: first render < 1000 ms: {worst_first:.0f} ms; zoom < 100 ms: "
          f"{max(painted):.0f} ms -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
