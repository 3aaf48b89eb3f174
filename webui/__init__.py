"""Flamecam's web UI: a single-page app served by the Flask server.

`create_app` registers `blueprint`; the page is `/` and its assets live under
`/ui/`. Everything the page shows comes from the HTTP query API in
docs/CONTRACTS.md, so the UI has no server-side logic of its own.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC_DIR = Path(__file__).parent / "static"

blueprint = Blueprint(
    "webui",
    __name__,
    static_folder=str(STATIC_DIR),
    static_url_path="/ui",
)

# Frame names are data: the page never builds markup from them, and this
# policy makes sure no injected script or inline handler could run anyway.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


@blueprint.get("/")
def index() -> Response:
    response = send_from_directory(STATIC_DIR, "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response

