"""Which differences are real (issue 16 item 6), in headless Chromium against the
real server: two releases with known sample counts (tests/server/diff_data.py)
pushed through the agent ingest endpoint. A tiny frame that doubled on a few
samples is marked noise (and drawn grey), a large regression real, in a CPU
diff and in a wall diff whose off-CPU intervals have measured lengths; each
z shown is the z of the events themselves."""

from __future__ import annotations

import time

import pytest

from tests.server import diff_data
from tests.webui.conftest import http_post, shoot
from tests.webui.test_ui import open_page, pixel, wait_frame
from tests.webui.test_ui_people import params

pytestmark = pytest.mark.browser

DIFF = "views.diff.panel.graph"
GREY = (219, 219, 219)  # colors.js NOISE_COLOR: hsl(0, 0%, 86%)


@pytest.fixture(scope="module")
def releases(server) -> str:
    """Both releases stored (a minute ago); the server's URL."""
    diff_data.push(lambda body: http_post(f"{server.url}/api/v1/agent/push", body,
                                          "application/x-flamecam-batch", "zstd"),
                   time.time_ns() - 60 * 10**9)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        values = server.api("/api/v1/labels/service_version/values", **{
            "from": "now-30m", "until": "now",
            "query": f'cpu{{service_name="{diff_data.SERVICE}"}}'})["values"]
        if {"1.0", "2.0"} <= set(values):
            return server.url
        time.sleep(0.5)
    raise AssertionError("the releases never showed up")


def open_diff(page, server, kind: str, **extra) -> None:
    def side(version: str) -> str:
        return f'{kind}{{service_name="{diff_data.SERVICE}",service_version="{version}"}}'

    open_page(page, server, query=f'{kind}{{service_name="{diff_data.SERVICE}"}}', tab="diff",
              leftQuery=side("1.0"), rightQuery=side("2.0"), **extra)
    page.locator(".diff-table.regressions tbody tr").first.wait_for()


def table_row(page, name: str) -> dict:
    """The diff table's row of `name`: its z, verdict and relative change."""
    row = page.locator(f'.diff-table tbody tr[data-name="{name}"]').first
    return {"z": float(row.locator("td.z").inner_text()),
            "verdict": row.locator("td.verdict").inner_text(),
            "relative": row.locator("td").nth(5).inner_text()}


def noise_of(page, name: str) -> int | None:
    """The graph's mark of the first frame `name`: 1 within the noise, 0 real."""
    return page.evaluate(f"""(n) => {{
        const t = window.flamecam.{DIFF}.tree;
        for (let l = 0; l < t.levels.length; l++)
            for (let i = 0; i < t.levels[l].n; i++)
                if (t.names[t.levels[l].name[i]] === n) return t.noise ? t.noise[l][i] : null;
        return null;
    }}""", name)


def colour(page, name: str) -> tuple[int, int, int]:
    rect = wait_frame(page, DIFF, name)
    return pixel(page, DIFF, rect["x"] + min(1, rect["w"] / 2), rect["y"] + 2)


def reddish(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return r > g + 40 and r > b + 40


def test_cpu_diff_marks_a_tiny_doubling_noise_and_a_regression_real(page, server, releases):
    open_diff(page, server, "cpu")
    kinds = ("cpu",)
    tiny, hot, steady = (table_row(page, n) for n in ("tiny", "hot", "steady"))
    # tiny: 2 -> 4 of 1000 samples, +100% of its share, yet noise
    assert tiny["relative"] == "+100%" and tiny["verdict"] == "noise"
    assert tiny["z"] == pytest.approx(diff_data.expected_z(kinds, "tiny"), abs=0.06)
    assert hot["verdict"] == "real" and steady["verdict"] == "real"
    assert hot["z"] == pytest.approx(diff_data.expected_z(kinds, "hot"), abs=0.06)
    assert steady["z"] == pytest.approx(diff_data.expected_z(kinds, "steady"), abs=0.06)
    # the graph: tiny grey, hot red
    assert noise_of(page, "tiny") == 1 and noise_of(page, "hot") == 0
    assert colour(page, "tiny") == GREY and reddish(colour(page, "hot"))
    method = page.locator(".diff-method").text_content()
    assert "compound Poisson" in method and "z = (sB − sA) / √(Var A + Var B)" in method
    shoot(page, "50-diff-significance-cpu")
    # coloured as before on request: the tiny doubling reads red (+100%)
    page.get_by_label("grey: within the noise").uncheck()
    page.wait_for_function("() => location.search.includes('diffNoise=coloured')")
    assert reddish(colour(page, "tiny"))
    assert params(page)["diffNoise"] == "coloured"


def test_wall_diff_marks_two_long_waits_noise_and_the_lock_real(page, server, releases):
    """Off-CPU intervals of measured lengths (GCD 1 ns): two 30 ms waits that
    became four are two events, not 60 million; 50 -> 300 lock waits are real."""
    open_diff(page, server, "wall")
    kinds = ("cpu", "offcpu")
    io, lock, tiny, hot = (table_row(page, n) for n in
                           ("[off-cpu:io]", "[off-cpu:lock]", "tiny", "hot"))
    assert io["verdict"] == "noise" and abs(io["z"]) < 1
    assert io["z"] == pytest.approx(diff_data.expected_z(kinds, "[off-cpu:io]"), abs=0.06)
    assert lock["verdict"] == "real"
    assert lock["z"] == pytest.approx(diff_data.expected_z(kinds, "[off-cpu:lock]"), abs=0.06)
    assert tiny["verdict"] == "noise" and hot["verdict"] == "real"
    assert noise_of(page, "tiny_wait") == 1 and noise_of(page, "lock_wait") == 0
    assert colour(page, "tiny_wait") == GREY and reddish(colour(page, "lock_wait"))
    # the tooltip says it too
    rect = wait_frame(page, DIFF, "lock_wait")
    page.mouse.move(rect["x"] + 4, rect["y"] + rect["h"] / 2)
    tip = page.locator(".tooltip:not([hidden])")
    tip.wait_for(state="visible")
    assert "beyond the sampling noise" in tip.inner_text()
    shoot(page, "51-diff-significance-wall")
