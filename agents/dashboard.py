"""The trader's dashboard at ``/``: one static page (HTML, CSS, vanilla JS) over the JSON views.

The page polls ``/odds/events``, ``/odds/events/{id}``, ``/runs``, ``/runs/stats`` and ``/schedule``
and posts ``/scrape``, ``/schedule`` and retries (``runs.js`` holds the runs side); this
module only reads its files (package data in ``agents/static``), once, for the root to serve.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

__all__ = ["ASSETS", "assets"]

# URL path -> (file in agents/static, content type; aiohttp adds charset=utf-8 to text)
ASSETS: Final[dict[str, tuple[str, str]]] = {
    "/": ("dashboard.html", "text/html"),
    "/dashboard.css": ("dashboard.css", "text/css"),
    "/dashboard.js": ("dashboard.js", "text/javascript"),
    "/token.js": ("token.js", "text/javascript"),
    "/stream.js": ("stream.js", "text/javascript"),
    "/runs.js": ("runs.js", "text/javascript"),
    "/history.js": ("history.js", "text/javascript"),
    "/vendor/uplot/uPlot.iife.min.js": ("vendor/uplot/uPlot.iife.min.js", "text/javascript"),
    "/vendor/uplot/uPlot.min.css": ("vendor/uplot/uPlot.min.css", "text/css"),
    "/vendor/uplot/LICENSE": ("vendor/uplot/LICENSE", "text/plain"),
}


def assets() -> list[tuple[str, str, str]]:
    """``(URL path, body, content type)`` of every file of the dashboard."""
    static = files("agents") / "static"
    return [
        (path, static.joinpath(name).read_text(encoding="utf-8"), content_type)
        for path, (name, content_type) in ASSETS.items()
    ]
