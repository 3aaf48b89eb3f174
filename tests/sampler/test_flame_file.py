"""`flamecam record -o FILE.html|.svg`: a flame graph a person opens, in headless Chromium.

The recording is of tests/workloads/launched.c (70/30 burn_a/burn_b), so
what the page must show is known. Network access is blocked: the files must
be self-contained. Screenshots go to test-artifacts/screenshots/cli/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler.flame_file import Palette, _static_dir

from .conftest import ROOT, flamecam

pytestmark = pytest.mark.bpf

SHOTS = ROOT / "test-artifacts" / "screenshots" / "cli"


@pytest.fixture(scope="module")
def pages(launched_exe, tmp_path_factory):
    d = tmp_path_factory.mktemp("pages")
    out = {}
    for ext in ("html", "svg"):
        path = d / f"launched.{ext}"
        r = flamecam("record", "-F", "199", "-o", str(path), "--", str(launched_exe), "2", "0")
        assert r.returncode == 0, r.stderr
        assert f"or: open {path} in a browser" in r.stderr
        out[ext] = path
    return out


@pytest.fixture
def open_page(browser):
    made = []

    def go(path: Path):
        pg = browser.new_page(viewport={"width": 1280, "height": 800})
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(str(e)))
        pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        # Self-contained: anything but the file itself is refused (and noticed).
        pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                 else (problems.append(f"fetched {r.request.url}"), r.abort()))
        pg.goto(path.as_uri())
        made.append((pg, problems))
        return pg, problems

    yield go
    for pg, problems in made:
        pg.close()
        assert not problems, problems


def test_html_searches_zooms_and_switches_modes(pages, open_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg, _ = open_page(pages["html"])
    pg.locator("canvas").wait_for()
    assert pg.locator("button[data-mode=merged]").get_attribute("aria-pressed") == "true"
    pg.screenshot(path=str(SHOTS / "html-merged.png"))
    pg.fill("input[type=search]", "burn_a")
    pg.locator(".search-result.hit").wait_for()
    share = float(re.search(r"([\d.]+)% of the total", pg.inner_text(".search-result")).group(1))
    assert 50 < share < 80, share  # ~70% of the parent's CPU, with the child and waits beside
    pg.screenshot(path=str(SHOTS / "html-search-burn_a.png"))
    pg.click("button[data-mode=cpu]")
    assert pg.locator("button[data-mode=cpu]").get_attribute("aria-pressed") == "true"
    assert "#cpu" in pg.url
    # Click a frame (the fifth row up from the root, burn_a's level): it zooms.
    canvas = pg.locator("canvas")
    box = canvas.bounding_box()
    canvas.click(position={"x": 30, "y": box["height"] - 9 - 18 * 5})
    status = pg.inner_text(".frame-status")
    assert status, "clicking a frame says what is zoomed"
    pg.screenshot(path=str(SHOTS / "html-zoomed.png"))


def test_html_colours_match_the_svg_palette(pages, open_page):
    """The Python port of colors.js frameColor (used by the SVG) gives the UI's colours."""
    pg, _ = open_page(pages["html"])
    pg.locator("canvas").wait_for()
    cases = [("burn_a", "native"), ("schedule_[k]", "kernel"), ("slow_path (app.py)", "python"),
             ("[off-cpu:lock]", "offcpu"), ("[off-cpu:brand-new]", "offcpu"), ("x", "jit"),
             ("é€𝄞", "native"), ("total", "root"), ("python3", "process")]
    ui = pg.evaluate("cases => cases.map(([n, k]) => __m_colors.frameColor(n, k))", cases)
    palette = Palette((_static_dir() / "js" / "colors.js").read_text())
    assert ui == [palette.color(n, k) for n, k in cases]


def test_svg_draws_searches_and_zooms(pages, open_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    text = pages["svg"].read_text()
    assert ">burn_a</text>" in text and ">burn_b</text>" in text  # drawn without a script
    pg, _ = open_page(pages["svg"])
    pg.screenshot(path=str(SHOTS / "svg-merged.png"))
    burn_b = pg.locator("g.graph[data-mode=merged] g.f", has_text="burn_b").first
    assert burn_b.is_visible()
    pg.locator("g.graph[data-mode=merged] g.f", has_text="burn_a").first.click()
    assert not burn_b.is_visible()  # zoomed into burn_a: its sibling is gone
    assert "Zoomed on burn_a" in pg.inner_html("#info")
    pg.screenshot(path=str(SHOTS / "svg-zoomed.png"))
    pg.click("#reset")
    assert burn_b.is_visible()
    pg.once("dialog", lambda d: d.accept("burn_b"))
    pg.click("#search")
    info = pg.inner_html("#info")
    share = float(re.search(r"([\d.]+)% of the total", info).group(1))
    assert 15 < share < 40, info
    pg.click("text=On-CPU")
    # The same search, re-applied to the on-CPU graph (its own share, its frames marked).
    on_cpu = float(re.search(r"([\d.]+)% of the total", pg.inner_html("#info")).group(1))
    assert 15 < on_cpu < 40, on_cpu
    match = Palette((_static_dir() / "js" / "colors.js").read_text()).search_match
    assert pg.locator(f'g.graph[data-mode=cpu] rect[fill="{match}"]').count() >= 1
    assert pg.locator("g.graph[data-mode=cpu]").get_attribute("display") is None
    assert pg.locator("g.graph[data-mode=merged]").get_attribute("display") == "none"
    pg.screenshot(path=str(SHOTS / "svg-search-cpu.png"))


def test_frame_names_are_text_not_markup(tmp_path, open_page):
    """Names from a profile are data: a hostile one stays text in both files."""
    from profiler.flame_file import write_html, write_svg
    from profiler.model import Frame, Profile, Sample

    evil = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
    s = Sample(kind="cpu", ts_ns=0, pid=1, tid=1, cpu=0, comm="app", thread_name="app",
               stack=(Frame("main"), Frame(evil)), value_ns=10**9)
    prof = Profile(samples=[s], start_ns=0, end_ns=10**9, hz=99)
    for ext, write in (("html", write_html), ("svg", write_svg)):
        path = tmp_path / f"evil.{ext}"
        write(prof, str(path))
        pg, problems = open_page(path)
        pg.wait_for_timeout(300)
        assert pg.locator("img").count() == 0
        assert not problems
    assert _static_dir().is_dir()
