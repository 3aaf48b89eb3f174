"""The page says when agents lost data in the range it shows (issue 15 item 6):
a notice "N samples lost on HOST: why" fed by /api/v1/losses, in headless
Chromium against the real server. The batch is 3 hours old, so the other
UI tests (last 30 minutes) never see it."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from profiler.agent.batch import encode_batch
from profiler.model import Frame, Sample
from tests.webui.conftest import http_post, open_app, shoot
from tests.webui.test_ui import PROFILE, frame_rect, wait_frame

pytestmark = pytest.mark.browser


def _push(server, hours_ago: int, host: str, service: str, lost: dict) -> dict[str, str]:
    """Ten samples of `service` on `host` `hours_ago` hours back (stack main;work),
    with the agent's report of `lost`; the page's URL parameters over that range."""
    t0 = time.time_ns() - hours_ago * 3600 * 10**9
    stack = (Frame("main", "native"), Frame("work", "native"))
    samples = [Sample("cpu", t0 + i * 10**7, 7, 7, 0, service, service, stack, 10**7)
               for i in range(10)]
    data = encode_batch(samples, lambda s: {"host": host, "service_name": service},
                        agent_id=f"{service}-agent", seq=1, lost=lost)
    assert http_post(server.url + "/api/v1/agent/push", data,
                     "application/x-flamecam-batch", "zstd") == 200
    return {"query": f'cpu{{service_name="{service}"}}', "from": f"now-{hours_ago + 1}h",
            "until": f"now-{hours_ago - 1}h" if hours_ago > 1 else "now"}


def _push_and_open(page, server, hours_ago: int, host: str, service: str, lost: dict):
    """`_push`, then the page over that range: the losses notice."""
    params = _push(server, hours_ago, host, service, lost)
    open_app(page, f"{server.url}/?{urllib.parse.urlencode(params)}")
    notice = page.locator("#losses")
    notice.wait_for(state="visible")
    return notice, params


def test_losses_notice_names_count_host_and_reason(page, server):
    notice, params = _push_and_open(page, server, 3, "db-7", "lossy", {
        "spool_dropped": 365528, "rejected": 12, "lost_cpu": 3})
    lines = notice.locator("li").all_inner_texts()
    assert lines == [
        "365,528 samples lost on db-7: dropped from the agent's full spool or disk",
        "12 samples lost on db-7: refused by the server",
        "3 on-CPU sampler events lost on db-7: the kernel's buffer was full",
    ]
    assert notice.get_attribute("role") == "status"
    shoot(page, "20-losses-notice")
    # Another range of the same view has no losses: no notice.
    params["from"], params["until"] = "now-30m", "now"
    open_app(page, f"{server.url}/?{urllib.parse.urlencode(params)}")
    page.locator(".panel h2").first.wait_for()
    page.wait_for_function("() => document.getElementById('losses').hidden")


def test_intervals_summed_past_the_budget_are_sampled_not_lost(page, server):
    """Off-CPU intervals the agent summed past its CPU budget are no hole in the
    totals: the notice says "Sampled", not "Incomplete data", and looks calm."""
    notice, _ = _push_and_open(page, server, 5, "web-3", "budgeted", {"offcpu_summed": 404})
    assert notice.inner_text().startswith("Sampled:"), notice.inner_text()
    assert notice.locator("li").all_inner_texts() == [
        "404 off-CPU intervals on web-3: summed, not kept one by one (agent CPU budget): "
        "totals exact, waits sampled"]
    assert "sampled-only" in notice.get_attribute("class")
    shoot(page, "20-losses-sampled")


def test_a_late_notice_moves_nothing_under_the_pointer(page, server):
    """The notice sits above the graph. Were the graph drawn before the notice
    came, it would jump down under the user's pointer, and a click aimed at a
    frame would land on empty space (CI, 2026-11-28: a right-click on a frame
    opened no menu). Here the notice's answer comes 1.5 s after the graph's:
    the frame the user sees must stay where it first appeared."""
    params = _push(server, 1, "late-1", "latenotice", {"rejected": 5})
    page.add_init_script("""(() => {
        const fetch0 = window.fetch;
        window.fetch = (url, ...rest) => String(url).includes("/api/v1/losses")
            ? new Promise((ok) => setTimeout(ok, 1500)).then(() => fetch0(url, ...rest))
            : fetch0(url, ...rest);
    })()""")
    open_app(page, f"{server.url}/?{urllib.parse.urlencode(params)}")
    first = wait_frame(page, PROFILE, "work")
    page.locator("#losses").wait_for(state="visible")
    assert page.locator("#losses li").all_inner_texts() == [
        "5 samples lost on late-1: refused by the server"]
    assert frame_rect(page, PROFILE, "work") == first
