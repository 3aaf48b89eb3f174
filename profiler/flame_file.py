"""A flame graph a person can open: `flamecam record -o profile.html` (or `.svg`).

The HTML file is the web UI's own flame graph (its ES modules from webui/,
bundled into one script), with the recording's merged, on-CPU and off-CPU
graphs inside, so it looks and behaves as the UI does (search, click to
zoom, tooltips, flame or icicle, the reason colours) and needs no network.
The SVG file is drawn as rectangles any viewer shows, with a small script
for search and click-to-zoom where scripts run (a browser), like
FlameGraph's and py-spy's SVGs.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import socket
from pathlib import Path

from .model import OFFCPU, OFFCPU_REASONS, PROCESS_KIND, Profile, Sample
from .query.flamegraph import Names, flamebearer_from_levels, levels_sorted, stack_key
from .report import seconds

MODES = (("merged", "On + off CPU"), ("cpu", "On-CPU"), ("offcpu", "Off-CPU"))
# The web UI modules the page needs, found from these by their imports.
_ENTRY_MODULES = ("flamepanel.js", "tree.js", "colors.js")
_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./([\w.-]+)";?[ \t]*$', re.M)
_EXPORT = re.compile(r"^export\s+((?:async\s+)?(?:function\*?|class|const|let|var)\s+"
                     r"([A-Za-z_$][\w$]*))", re.M)


def _static_dir() -> Path:
    """webui/static, found without importing webui (which would import Flask)."""
    spec = importlib.util.find_spec("webui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the webui package is not installed; reinstall flamecam")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _bundle(js_dir: Path) -> str:
    """The UI's modules as one classic script: each module a function scope.

    `import { a, b } from "./m.js"` becomes `const { a, b } = __m_m;` and each
    `export` declaration a plain one returned from the module's scope, so the
    modules keep their own names and need no server to load.
    """
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for _, dep in _IMPORT.findall((js_dir / name).read_text()):
            visit(dep)
        order.append(name)

    for entry in _ENTRY_MODULES:
        visit(entry)
    parts = []
    for name in order:
        text = (js_dir / name).read_text()
        text = _IMPORT.sub(lambda m: f"const {{{m.group(1).replace(' as ', ': ')}}} = "
                                     f"{_var(m.group(2))};", text)
        exports = [m.group(2) for m in _EXPORT.finditer(text)]
        text = _EXPORT.sub(r"\1", text)
        if re.search(r"^export\b", text, re.M):
            raise RuntimeError(f"{name}: an export form the bundler does not know")
        parts.append(f"const {_var(name)} = (() => {{\n{text}\nreturn {{ "
                     f"{', '.join(exports)} }};\n}})();")
    return "\n".join(parts)


def _var(module: str) -> str:
    return "__m_" + re.sub(r"\W", "_", module.removesuffix(".js"))


def _stacks(samples: list[Sample], kinds: tuple[str, ...], names: Names
            ) -> dict[bytes, int]:
    """Weighted stacks (`stack_key`s) rooted at the process, as the flame graph reads them."""
    out: dict[bytes, int] = {}
    for s in samples:
        if s.kind not in kinds or s.value_ns <= 0:
            continue
        stack = [names(s.comm or "[unknown process]", PROCESS_KIND)]
        stack += [names(f.folded_name() if f.kind == "kernel" else f.name, f.kind)
                  for f in s.stack]
        if s.kind == OFFCPU:
            stack.append(names(f"[off-cpu:{s.reason or 'other'}]", "offcpu"))
        key = stack_key(stack)
        out[key] = out.get(key, 0) + s.value_ns
    return out


def graphs(profile: Profile) -> dict[str, dict]:
    """The merged, on-CPU and off-CPU flame graphs, in the API's flamebearer form."""
    out = {}
    for mode, kinds in (("merged", ("cpu", OFFCPU)), ("cpu", ("cpu",)), ("offcpu", (OFFCPU,))):
        names = Names()
        levels, total, _ = levels_sorted(_stacks(profile.samples, kinds, names), None)
        out[mode] = flamebearer_from_levels(levels, total, names)
    return out


def _title(profile: Profile) -> str:
    host = profile.meta.get("host") or socket.gethostname()
    return f"Flamecam: {host}, {seconds(profile.end_ns - profile.start_ns)}"


def _json_for_script(doc: object) -> str:
    """JSON that cannot end its <script> element: every '<' escaped."""
    return json.dumps(doc, separators=(",", ":")).replace("<", "\\u003c")


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}
.file-head {{ display: flex; gap: 12px; align-items: center; flex-wrap: wrap; padding: 8px 12px; }}
.file-head h1 {{ font-size: 16px; margin: 0; }}
.file-graph {{ padding: 0 12px 12px; }}
</style>
</head>
<body>
<header class="file-head"><h1>{title}</h1>
<div class="toolbar" role="toolbar" aria-label="What to show" id="modes"></div></header>
<main class="file-graph" id="graph"></main>
<script type="application/json" id="flamecam-data">{data}</script>
<script>
{bundle}
(() => {{
  const {{ FlamePanel }} = __m_flamepanel;
  const {{ decodeFlamebearer }} = __m_tree;
  const {{ setReasons }} = __m_colors;
  const {{ fmtDuration }} = __m_format;
  const data = JSON.parse(document.getElementById("flamecam-data").textContent);
  setReasons(data.reasons);
  const panel = new FlamePanel(document.getElementById("graph"), {{ label: data.title }});
  const modes = document.getElementById("modes");
  const buttons = {{}};
  function show(mode) {{
    panel.setData(decodeFlamebearer(data.graphs[mode]));
    for (const [m, b] of Object.entries(buttons)) {{
      b.setAttribute("aria-pressed", String(m === mode));
    }}
    history.replaceState(null, "", "#" + mode);
  }}
  for (const [mode, label] of data.modes) {{
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn";
    b.dataset.mode = mode;
    b.textContent = `${{label}} (${{fmtDuration(data.graphs[mode].flamebearer.numTicks)}})`;
    b.addEventListener("click", () => show(mode));
    buttons[mode] = b;
    modes.append(b);
  }}
  const first = location.hash.slice(1);
  show(data.graphs[first] ? first : "merged");
}})();
</script>
</body>
</html>
"""


def to_html(profile: Profile) -> str:
    """A self-contained, interactive HTML flame graph of `profile`."""
    static = _static_dir()
    title = _title(profile)
    data = {"title": title, "reasons": list(OFFCPU_REASONS), "modes": MODES,
            "graphs": graphs(profile)}
    return _PAGE.format(title=html.escape(title), css=(static / "css" / "app.css").read_text(),
                        data=_json_for_script(data), bundle=_bundle(static / "js"))


def write_html(profile: Profile, path: str) -> None:
    Path(path).write_text(to_html(profile))


# ---------------------------------------------------------------- SVG

SVG_WIDTH = 1200
ROW = 17
_PAD_TOP = 56  # title, mode switch, search line
_CHAR_PX = 7.0  # 12px monospace
_MIN_PX = 0.3  # narrower frames are left out, as FlameGraph does


class Palette:
    """The web UI's frame colours (webui/static/js/colors.js, read from there), in Python.

    The hues and the reason palette are parsed from colors.js, so there is one
    source; `color` follows its `frameColor` (tests pin the two together in
    Chromium), so a frame has the same colour in the UI, the HTML and the SVG.
    """

    def __init__(self, colors_js: str) -> None:
        self.kinds = {k: (int(h), int(s), int(lum)) for k, h, s, lum in re.findall(
            r"^\s+(\w+): \[(\d+), (\d+), (\d+)\],", _block(colors_js, "KIND_HUES"), re.M)}
        self.reasons = dict(re.findall(r'^\s+(\w+): "(#[0-9a-f]{6})",',
                                       _block(colors_js, "REASON_PALETTE"), re.M))
        self.search_match = re.search(r'SEARCH_MATCH = "(#[0-9a-f]{6})"', colors_js).group(1)

    def reason(self, reason: str) -> str:
        c = self.reasons.get(reason or "other")
        if c:
            return c
        v = _fnv(reason)
        return f"hsl({v % 360}, {40 + (v >> 9) % 20}%, {28 + (v >> 17) % 10}%)"

    def color(self, name: str, kind: str) -> str:
        reason = _offcpu_reason(name)
        if reason is not None:
            return self.reason(reason)
        if kind == "offcpu":
            return self.reason("other")
        h, s, lum = self.kinds.get(kind) or self.kinds["native"]
        v = _fnv(name)
        dh = 0 if s == 0 else (v % 15) - 7
        dl = ((v >> 8) % 13) - 6
        return f"hsl({h + dh}, {s}%, {lum + dl}%)"


def _block(js: str, const: str) -> str:
    m = re.search(rf"const {const} = \{{(.*?)\n\}};", js, re.S)
    if m is None:
        raise RuntimeError(f"colors.js has no {const}: update profiler/flame_file.py")
    return m.group(1)


def _fnv(text: str) -> int:
    """colors.js's hash: FNV-1a over UTF-16 code units, 32 bits."""
    h = 2166136261
    data = text.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h ^= data[i] | data[i + 1] << 8
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def _offcpu_reason(name: str) -> str | None:
    if name.startswith("[off-cpu:") and name.endswith("]"):
        return name[len("[off-cpu:"):-1] or "other"
    return None


def _nodes(fb: dict) -> list[tuple[int, int, int, int]]:
    """(depth, x, total, name index) of every node of a flamebearer."""
    out = []
    for depth, raw in enumerate(fb["flamebearer"]["levels"]):
        prev = 0
        for j in range(0, len(raw), 4):
            x = prev + raw[j]
            prev = x + raw[j + 1]
            out.append((depth, x, raw[j + 1], raw[j + 3]))
    return out


def _label(name: str, px: float) -> str:
    n = int((px - 6) / _CHAR_PX)
    if n < 3:
        return ""
    return name if len(name) <= n else name[: n - 2] + ".."


def _svg_graph(mode: str, fb: dict, palette: Palette, height: int, visible: bool) -> str:
    names, kinds = fb["flamebearer"]["names"], fb["kinds"]
    total = fb["flamebearer"]["numTicks"] or 1
    scale = (SVG_WIDTH - 20) / total
    hidden = "" if visible else ' display="none"'
    parts = [f'<g class="graph" data-mode="{mode}" data-total="{total}"{hidden}>']
    for depth, x, t, ni in _nodes(fb):
        w = t * scale
        if w < _MIN_PX:
            continue
        name = names[ni]
        y = height - (depth + 1) * ROW
        tip = f"{name} ({seconds(t)}, {100 * t / total:.2f}%)"
        fill = palette.color(name, kinds[ni])
        text_fill = "#ffffff" if _offcpu_reason(name) else "#1d1f24"
        parts.append(
            f'<g class="f" data-x="{x}" data-w="{t}" data-d="{depth}">'
            f"<title>{html.escape(tip)}</title>"
            f'<rect x="{10 + x * scale:.2f}" y="{y}" width="{w:.2f}" height="{ROW - 1}" '
            f'fill="{fill}" data-fill="{fill}" rx="1"/>'
            f'<text x="{13 + x * scale:.2f}" y="{y + ROW - 5}" fill="{text_fill}">'
            f"{html.escape(_label(name, w))}</text></g>")
    parts.append("</g>")
    return "\n".join(parts)


_SVG_SCRIPT = """
const W = %(width)d, MARGIN = 10, CHAR = %(char)s, MATCH = "%(match)s";
const svg = document.documentElement;
const info = document.getElementById("info");
let current = null;
function graphs() { return [...svg.querySelectorAll("g.graph")]; }
function label(name, px) {
  const n = Math.floor((px - 6) / CHAR);
  if (n < 3) return "";
  return name.length <= n ? name : name.slice(0, n - 2) + "..";
}
function nameOf(g) { return g.querySelector("title").textContent.replace(/ \\([^()]*\\)$/, ""); }
function layout(graph, zx, zw, zd) {
  const scale = (W - 2 * MARGIN) / zw;
  for (const g of graph.querySelectorAll("g.f")) {
    const x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d;
    const inside = x >= zx && x + w <= zx + zw;
    const above = d < zd && x <= zx && x + w >= zx + zw;
    if (!inside && !above) { g.setAttribute("display", "none"); continue; }
    g.removeAttribute("display");
    const nx = above ? 0 : (x - zx) * scale, nw = above ? W - 2 * MARGIN : w * scale;
    const r = g.querySelector("rect"), t = g.querySelector("text");
    r.setAttribute("x", MARGIN + nx); r.setAttribute("width", nw);
    t.setAttribute("x", MARGIN + 3 + nx); t.textContent = label(nameOf(g), nw);
    g.style.opacity = above ? 0.6 : 1;
  }
}
function reset() {
  for (const graph of graphs()) layout(graph, 0, +graph.dataset.total, 0);
  info.textContent = "Click a frame to zoom, Search to highlight.";
}
function show(mode) {
  for (const graph of graphs()) {
    if (graph.dataset.mode === mode) graph.removeAttribute("display");
    else graph.setAttribute("display", "none");
  }
  for (const b of svg.querySelectorAll(".mode")) b.classList.toggle("on", b.dataset.mode === mode);
  if (current) highlight(current);
}
function search() {
  const term = prompt("Search functions (a regular expression)", current || "");
  if (term !== null) highlight(term);
}
function highlight(term) {
  current = term;
  let re;
  try {
    re = new RegExp(term);
  } catch (e) {
    info.textContent = "Not a regular expression: " + e.message;
    return;
  }
  for (const graph of graphs()) {
    let matched = 0, last = -1;
    const frames = [...graph.querySelectorAll("g.f")]
      .sort((a, b) => +a.dataset.x - +b.dataset.x || +a.dataset.d - +b.dataset.d);
    for (const g of frames) {
      const hit = term !== "" && re.test(nameOf(g));
      const rect = g.querySelector("rect");
      rect.setAttribute("fill", hit ? MATCH : rect.dataset.fill);
      const x = +g.dataset.x, w = +g.dataset.w;
      if (hit && x >= last) { matched += w; last = x + w; }
    }
    if (graph.getAttribute("display") !== "none") {
      const pct = (100 * matched / +graph.dataset.total).toFixed(2);
      info.textContent = term === "" ? "" : `Matched "${term}": ${pct}%% of the total`;
    }
  }
}
svg.addEventListener("click", (e) => {
  const g = e.target.closest("g.f");
  if (g) {
    layout(g.closest("g.graph"), +g.dataset.x, Math.max(1, +g.dataset.w), +g.dataset.d);
    info.textContent = "Zoomed on " + nameOf(g) + ". Reset zoom to see all.";
  } else if (e.target.closest("#reset")) reset();
  else if (e.target.closest("#search")) search();
  else if (e.target.closest(".mode")) show(e.target.closest(".mode").dataset.mode);
});
reset();
"""


def to_svg(profile: Profile) -> str:
    """An SVG flame graph: rectangles any viewer shows; search and zoom in a browser."""
    colors_js = (_static_dir() / "js" / "colors.js").read_text()
    palette = Palette(colors_js)
    fbs = graphs(profile)
    depth = max((len(fb["flamebearer"]["levels"]) for fb in fbs.values()), default=1)
    height = _PAD_TOP + depth * ROW + 10
    title = _title(profile)
    buttons, x = [], 10
    for mode, label in MODES:
        text = f"{label} ({seconds(fbs[mode]['flamebearer']['numTicks'])})"
        buttons.append(f'<text class="mode btn{" on" if mode == "merged" else ""}" '
                       f'data-mode="{mode}" x="{x}" y="42">{html.escape(text)}</text>')
        x += int(len(text) * _CHAR_PX) + 24
    script = _SVG_SCRIPT % {"width": SVG_WIDTH, "char": _CHAR_PX,
                            "match": palette.search_match}
    graphs_svg = "\n".join(_svg_graph(mode, fbs[mode], palette, height - 10, mode == "merged")
                           for mode, _ in MODES)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{height}" '
        f'viewBox="0 0 {SVG_WIDTH} {height}" font-family="ui-monospace, DejaVu Sans Mono, '
        f'monospace" font-size="12">\n'
        "<style>.f{cursor:pointer}.f:hover rect{stroke:#1d1f24;stroke-width:0.7}"
        ".btn{cursor:pointer;fill:#2c5d8a;text-decoration:underline}.mode.on{fill:#1d1f24;"
        "font-weight:bold;text-decoration:none}</style>\n"
        f'<rect width="100%" height="100%" fill="#fafafa"/>\n'
        f'<text x="10" y="20" font-size="15" font-weight="bold">{html.escape(title)}</text>\n'
        f'<text id="search" class="btn" x="{SVG_WIDTH - 170}" y="20">Search</text>'
        f'<text id="reset" class="btn" x="{SVG_WIDTH - 100}" y="20">Reset zoom</text>\n'
        + "\n".join(buttons)
        + f'\n<text id="info" x="{SVG_WIDTH // 2}" y="42" fill="#555a61"></text>\n'
        + graphs_svg
        + f"\n<script><![CDATA[{script}]]></script>\n</svg>\n"
    )


def write_svg(profile: Profile, path: str) -> None:
    Path(path).write_text(to_svg(profile))
