"""The trader's dashboard at ``/``: one static page (HTML, CSS, vanilla JS) over the JSON views.

The page polls ``/odds/events``, ``/odds/events/{id}`` and ``/runs`` and posts ``/scrape``; this
module only serves its files (package data in ``agents/static``), read once at registration.
"""

from __future__ import annotations

from importlib.resources import files

import faust
from faust.web import Request, Response, View

from streams.app import Runtime

__all__ = ["ASSETS", "register"]

# URL path -> (file in agents/static, content type; aiohttp adds charset=utf-8 to text)
ASSETS: dict[str, tuple[str, str]] = {
    "/": ("dashboard.html", "text/html"),
    "/dashboard.css": ("dashboard.css", "text/css"),
    "/dashboard.js": ("dashboard.js", "text/javascript"),
}


def _asset_view(body: str, content_type: str) -> type[View]:
    class Asset(View):
        async def get(self, request: Request) -> Response:
            return self.text(body, content_type=content_type, headers={"cache-control": "no-cache"})

    return Asset


def register(app: faust.App, rt: Runtime) -> None:
    static = files("agents") / "static"
    for path, (name, content_type) in ASSETS.items():
        app.page(path)(_asset_view(static.joinpath(name).read_text(encoding="utf-8"), content_type))
