"""The dashboard's page and assets as served (the browser tests in tests/e2e/test_dashboard.py
check what they do): no key needed to load them, everything from this origin under a strict
CSP, nothing in the OpenAPI document, and every file shipped in the package."""

import hashlib
import re
from pathlib import Path

import httpx
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "app" / "web"
STATIC = WEB / "static"


async def test_the_page_loads_without_a_key_under_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self'" in policy
    assert "unsafe" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    html = response.text
    assert '<label for="api-key">' in html
    assert 'type="password"' in html


async def test_every_asset_the_page_names_is_served_from_this_origin(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/dashboard")).text
    references = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert len(references) >= 4
    for reference in references:
        assert not re.match(r"^([a-z]+:)?//", reference), reference  # no CDN, no other host
        response = await client.get(f"/{reference}")
        assert response.status_code == 200, reference
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_module_import_resolves(client: httpx.AsyncClient) -> None:
    scripts = sorted((STATIC / "js").glob("*.js"))
    assert scripts
    for script in scripts:
        served = await client.get(f"/dashboard/static/js/{script.name}")
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("text/javascript")
        for target in re.findall(r'from "(\./[^"]+)"', served.text):
            assert (script.parent / target).resolve().is_file(), f"{script.name} -> {target}"


async def test_assets_outside_the_static_folder_are_not_served(
    client: httpx.AsyncClient,
) -> None:
    for path in (
        "/dashboard/static/%2e%2e/endpoints.py",
        "/dashboard/static/..%2fendpoints.py",
        "/dashboard/static/nothing.js",
        "/dashboard/static/",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path


def test_the_dashboard_is_not_part_of_the_api(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert not [p for p in paths if p.startswith("/dashboard")]


def test_the_vendored_chart_library_is_the_one_noted() -> None:
    bundle = (STATIC / "vendor" / "chart.umd.min.js").read_bytes()
    note = (STATIC / "vendor" / "README.txt").read_text()
    version = re.search(r"Chart\.js (\d+\.\d+\.\d+)", note)
    assert version
    assert f"Chart.js v{version.group(1)}".encode() in bundle[:200]
    assert hashlib.sha256(bundle).hexdigest() in note
    assert "MIT License" in (STATIC / "vendor" / "chart.js-LICENSE.txt").read_text()
