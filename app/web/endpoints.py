"""The dashboard: one HTML page and its static assets, served by Holdfast itself.

The page holds no data and needs no key to load: it signs in with a ``read`` API key kept in the
browser tab's ``sessionStorage`` and reads everything through the public JSON API. None of this
is part of the API, so it stays out of the OpenAPI document.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).parent
STATIC_PATH = "/dashboard/static"

# Everything the page loads comes from this origin: no CDN, no inline script, nothing framed.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

router = APIRouter(include_in_schema=False)


@cache
def _page() -> str:
    return (WEB_DIR / "templates" / "dashboard.html").read_text(encoding="utf-8")


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page() -> HTMLResponse:
    return HTMLResponse(_page(), headers=PAGE_HEADERS)


class DashboardStatic(StaticFiles):
    """Static files that browsers revalidate on every load (a cheap 304 by ETag), so an upgraded
    Holdfast never runs a mix of old and new scripts."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_files() -> DashboardStatic:
    return DashboardStatic(directory=WEB_DIR / "static")
