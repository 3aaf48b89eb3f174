"""Reading what the web UI's Export menu saved, as a user's tools would: the
menu driven in the page, each file decoded on its own (pprof with the
project's reader, folded text, speedscope JSON, PNG with zlib, SVG as XML).
Shared by the export tests of every view."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from pathlib import Path

from profiler.formats import pprof
from profiler.model import Sample
from tests.webui.conftest import ARTIFACTS

SHOTS = ARTIFACTS / "exports"
# export.js: several graphs in one image, GAP px apart under TITLE px of titles
GAP, TITLE = 16, 22
SVG_NS = "{http://www.w3.org/2000/svg}"


def open_menu(page, view: str) -> None:
    """Opens the Export menu of the view (its section's id, `view-<tab>`); a
    view with two menus names the part that holds one after its tab ("trace
    .trace-sandwich": a trace's sandwich)."""
    page.locator(f"#view-{view} .export-btn").click()
    page.locator(".export-menu:not([hidden])").wait_for()


def download(page, view: str, item: str) -> tuple[str, bytes]:
    """The file the menu item `item` (its data-export) saves, and its name."""
    open_menu(page, view)
    with page.expect_download() as info:
        page.locator(f".export-menu [data-export='{item}']").click()
    d = info.value
    return d.suggested_filename, Path(d.path()).read_bytes()


def menu_shot(page, view: str, name: str) -> list[str]:
    """The open menu at 1280x800 as a user sees it (test-artifacts/webui/exports/);
    its items' data-export values."""
    open_menu(page, view)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    items = page.locator(".export-menu [role=menuitem]").evaluate_all(
        "(items) => items.map((i) => i.dataset.export)")
    page.keyboard.press("Escape")
    return items


def samples(body: bytes) -> list[Sample]:
    """A pprof file's samples, decoded by the project's own reader."""
    return pprof.decode(body)


def folded(body: bytes) -> dict[str, int]:
    """Folded text: stack -> value (a stack written twice is an error here)."""
    out: dict[str, int] = {}
    for line in body.decode().splitlines():
        stack, value = line.rsplit(" ", 1)
        assert stack not in out, f"stack twice: {stack}"
        out[stack] = int(value)
    return out


def speedscope_frames(body: bytes) -> set[str]:
    doc = json.loads(body)
    assert "speedscope" in doc["$schema"]
    assert doc["profiles"] and all(p["type"] == "sampled" for p in doc["profiles"])
    return {f["name"] for f in doc["shared"]["frames"]}


def speedscope_total(body: bytes) -> int:
    return sum(sum(p["weights"]) for p in json.loads(body)["profiles"])


@dataclass
class Png:
    width: int
    height: int
    pixels: list[bytes]  # rows of RGBA (or RGB) bytes
    channels: int

    def at(self, x: int, y: int) -> tuple[int, int, int]:
        row = self.pixels[y]
        return tuple(row[x * self.channels:x * self.channels + 3])

    def colours(self, limit: int = 50) -> set[tuple[int, int, int]]:
        """Up to `limit` distinct colours, sampled over the whole image."""
        seen: set[tuple[int, int, int]] = set()
        for y in range(0, self.height, max(1, self.height // 40)):
            for x in range(0, self.width, max(1, self.width // 80)):
                seen.add(self.at(x, y))
                if len(seen) >= limit:
                    return seen
        return seen


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png(body: bytes) -> Png:
    """A PNG decoded from its bytes (8-bit RGB or RGBA, not interlaced, as
    canvas.toBlob writes them): the chunks read, IDAT inflated, rows unfiltered."""
    assert body[:8] == b"\x89PNG\r\n\x1a\n", body[:8]
    pos, idat, head = 8, b"", None
    while pos < len(body):
        n, kind = struct.unpack(">I4s", body[pos:pos + 8])
        data = body[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + data) == struct.unpack(">I", body[pos + 8 + n:pos + 12 + n])[0]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    width, height, depth, colour, _, _, interlace = head
    assert depth == 8 and colour in (2, 6) and interlace == 0, head
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    assert len(raw) == height * (stride + 1), (len(raw), width, height)
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 255
        elif f == 2:
            row = bytearray((a + b) & 255 for a, b in zip(row, prev, strict=True))
        elif f == 3:
            for i in range(stride):
                row[i] = (row[i] + ((row[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + _paeth(left, prev[i], up_left)) & 255
        else:
            assert f == 0, f"filter {f}"
        rows.append(bytes(row))
        prev = row
    return Png(width, height, rows, bpp)


def canvas_size(page, graph: str) -> tuple[int, int]:
    """The backing size of a graph's canvas (`views.X.panel.graph`)."""
    return tuple(page.evaluate(f"() => {{ const c = window.flamecam.{graph}.canvas; "
                               "return [c.width, c.height]; }"))


def canvas_pixel(page, graph: str, x: int, y: int) -> tuple[int, int, int]:
    """A canvas pixel in backing-store coordinates."""
    return tuple(page.evaluate(
        f"([x, y]) => [...window.flamecam.{graph}.canvas.getContext('2d')"
        ".getImageData(x, y, 1, 1).data].slice(0, 3)", [x, y]))


def frame_pixel(page, graph: str, name: str) -> tuple[int, int]:
    """Backing-store coordinates of a point inside the widest drawn frame `name`."""
    return tuple(page.evaluate(
        f"""(n) => {{
            const g = window.flamecam.{graph};
            const r = g.frameRect(n), c = g.canvas.getBoundingClientRect();
            const d = g.canvas.width / c.width;
            return [Math.round((r.x - c.left + Math.min(4, r.w / 2)) * d),
                    Math.round((r.y - c.top + r.h / 2) * d)];
        }}""", name))


def check_png(page, body: bytes, graphs: list[str], frame: str) -> Png:
    """The PNG of the graphs drawn: one graph's is its canvas, pixel for pixel
    (on white); several are side by side, GAP px apart under TITLE px of
    titles (export.js). More colours than a blank image's, and `frame` painted
    where each canvas paints it."""
    img = png(body)
    sizes = [canvas_size(page, g) for g in graphs]
    dpr = page.evaluate("() => window.devicePixelRatio")
    head = round(TITLE * dpr) if len(graphs) > 1 else 0
    gap = round(GAP * dpr)
    assert (img.width, img.height) == (sum(w for w, _ in sizes) + gap * (len(sizes) - 1),
                                       head + max(h for _, h in sizes)), (img.width, sizes)
    assert len(img.colours()) >= 4, img.colours()
    left = 0
    for g, (w, _) in zip(graphs, sizes, strict=True):
        x, y = frame_pixel(page, g, frame)
        assert img.at(left + x, head + y) == canvas_pixel(page, g, x, y), (g, frame, x, y)
        left += w + gap
    return img


def svg_texts(body: bytes) -> list[str]:
    """The drawn labels of an SVG export (its <text> nodes), parsed as XML."""
    root = ET.fromstring(body)
    assert root.tag == f"{SVG_NS}svg"
    return [t.text or "" for t in root.iter(f"{SVG_NS}text")]


def svg_has_frame(body: bytes, name: str) -> bool:
    """Whether the SVG draws a frame named `name` (its tooltip title, escaped
    in the file: a name is text, never markup)."""
    root = ET.fromstring(body)
    return any(t.text == name for t in root.iter(f"{SVG_NS}title"))


def escaped(name: str) -> str:
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def total_of(page, graph: str) -> int:
    """What the view shows as its graph's total."""
    return page.evaluate(f"() => window.flamecam.{graph}.tree.numTicks")


# What a view with the selection's files, images and link offers, in order.
ITEMS = ["pprof", "folded", "speedscope", "json", "png", "svg", "link"]


def pprof_of_view(page, view: str, graph: str) -> list[Sample]:
    """The view's pprof file decoded: its samples total what the graph shows."""
    _, body = download(page, view, "pprof")
    got = samples(body)
    assert sum(s.value_ns for s in got) == total_of(page, graph)
    return got


def labels_of(body: bytes, key: str) -> set[str]:
    return {s.labels.get(key, "") for s in samples(body)}


def link_copied(page, view: str) -> str:
    """Copy link, then what the clipboard holds."""
    open_menu(page, view)
    page.locator(".export-menu [data-export='link']").click()
    page.locator(f"#view-{view} .export-status", has_text="Link copied").wait_for()
    return page.evaluate("() => navigator.clipboard.readText()")

