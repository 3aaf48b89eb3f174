"""index.html names every ES module the page runs (`<link rel="modulepreload">`),
so a browser asks for them all at once instead of one level of imports after
another (six deep): a module added to the import graph and not to that list
would load a round trip later, one left in the list after its last import is
gone would load for nothing. No browser: the files themselves."""

from __future__ import annotations

import re
from pathlib import Path

from webui import STATIC_DIR

JS = STATIC_DIR / "js"
IMPORT = re.compile(r'^import\s[^;]*?\sfrom\s"\./([\w-]+\.js)";', re.M)


def imports(name: str) -> set[str]:
    return set(IMPORT.findall((JS / name).read_text()))


def test_index_preloads_every_module_the_page_imports():
    html = (STATIC_DIR / "index.html").read_text()
    scripts = set(re.findall(r'<script type="module" src="ui/js/([\w-]+\.js)"', html))
    preloaded = re.findall(r'<link rel="modulepreload" href="ui/js/([\w-]+\.js)">', html)
    assert scripts == {"app.js", "early.js"}
    reached: set[str] = set()
    todo = list(scripts)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(imports(name))
    assert len(preloaded) == len(set(preloaded))
    assert set(preloaded) == reached - scripts
    # every module in the folder is part of the page (none left behind)
    assert {p.name for p in JS.glob("*.js")} == reached
    assert len(reached) > 30 and "tracks.js" in reached  # the parse found the graph


def test_the_import_pattern_reads_every_import_form_the_modules_use():
    """Each `import` statement of a module is one the pattern reads (a form it
    missed would leave a module out of the list above)."""
    for path in JS.glob("*.js"):
        text = path.read_text()
        statements = re.findall(r"^import\b", text, re.M)
        assert len(statements) == len(IMPORT.findall(text)), Path(path).name
