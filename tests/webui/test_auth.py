"""The UI against a server started with --auth-token: the token comes from the
page's fragment or from a prompt, and the flame graph then loads."""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest

from tests.webui.conftest import open_app, start_server, stop_server
from tests.webui.test_ui import PROFILE, wait_frame

pytestmark = pytest.mark.browser

TOKEN = "s3cret-token"
QUERY = 'cpu{service_name="auth-demo"}'


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("auth-server")
    srv = start_server(work, work / "server.log", "--workers", "1", "--auth-token", TOKEN)
    try:
        params = urllib.parse.urlencode({"name": "auth-demo.cpu", "format": "folded"})
        req = urllib.request.Request(
            f"{srv.url}/ingest?{params}", data=b"main;serve;handle_login 300\nmain;idle 20\n",
            method="POST", headers={"Content-Type": "text/plain",
                                    "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        yield srv.url
    finally:
        stop_server(srv)


def page_url(base: str, fragment: str = "") -> str:
    q = urllib.parse.urlencode({"query": QUERY, "from": "now-30m", "until": "now"})
    return f"{base}/?{q}" + (f"#{fragment}" if fragment else "")


def test_token_in_fragment_is_used_and_removed(browser, auth_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        open_app(page, page_url(auth_server, f"token={TOKEN}"))
        assert wait_frame(page, PROFILE, "handle_login")["w"] > 0
        assert TOKEN not in page.url
        assert dialogs == []
    finally:
        context.close()


def test_prompt_asks_for_the_token_once(browser, auth_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept(TOKEN)

    page.on("dialog", answer)
    try:
        open_app(page, page_url(auth_server))
        assert wait_frame(page, PROFILE, "handle_login")["w"] > 0
        assert len(asked) == 1 and "token" in asked[0]
        page.reload()  # kept for the tab: no second prompt
        assert wait_frame(page, PROFILE, "handle_login")["w"] > 0
        assert len(asked) == 1
    finally:
        context.close()
