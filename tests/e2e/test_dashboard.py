"""The dashboard in a real browser (Debian's chromium driven by Playwright) against a real
`holdfast serve` on a database loaded by `holdfast demo`.

Without chromium or playwright these tests skip, unless HOLDFAST_REQUIRE_BROWSER=1 (CI), where
they fail. Screenshots go to test-artifacts/; HOLDFAST_WRITE_DOCS_SCREENSHOT=1 also refreshes
docs/dashboard.png for the README.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    PREPARED_DATABASE,
    ServerInfo,
    bearer,
    create_database,
    drop_database,
)
from tests.e2e.helpers import Server, clean_env, run_cli

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHARTS = ("churn", "mrr", "tiersNow", "tiersTrend", "reasons")
TIMEOUT_MS = 20_000


def browser_missing(chromium: Path = CHROMIUM) -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not chromium.exists():
        return f"Debian's chromium is not installed at {chromium} (apt-get install chromium)"
    return None


def require_browser(missing: str | None, required: bool) -> None:
    """Skip with the reason, or fail when the browser is required (CI)."""
    if missing is None:
        return
    if required:
        pytest.fail(f"HOLDFAST_REQUIRE_BROWSER=1 but {missing}")
    pytest.skip(missing)


@pytest.fixture(scope="module")
def browser_available() -> None:
    require_browser(browser_missing(), os.environ.get("HOLDFAST_REQUIRE_BROWSER") == "1")


def test_without_chromium_the_browser_tests_skip_unless_required(tmp_path: Path) -> None:
    missing = browser_missing(tmp_path / "no-chromium")
    assert missing is not None
    assert "chromium" in missing or "playwright" in missing
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install chromium|playwright"):
        require_browser(missing, required=False)
    with pytest.raises(pytest.fail.Exception, match="HOLDFAST_REQUIRE_BROWSER=1"):
        require_browser(missing, required=True)
    require_browser(None, required=True)


@dataclass
class Demo:
    server: Server
    read_key: str
    admin_key: str

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/dashboard"

    def api(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.server.base_url}{path}",
            headers=bearer(key or self.admin_key),
            timeout=30,
            **kwargs,
        )
        assert response.is_success, response.text
        return response.json() if response.content else None

    def key(self, *scopes: str) -> tuple[str, str]:
        created = self.api("POST", "/v1/api-keys", json={"name": "e2e", "scopes": list(scopes)})
        return created["id"], created["key"]


@pytest.fixture(scope="module")
async def demo_database(pg_server: ServerInfo, browser_available: None) -> AsyncIterator[str]:
    if PREPARED_DATABASE:
        pytest.skip("creates its own database; TEST_DATABASE_PREPARED=1 runs in one database")
    name = f"holdfast_dashboard_{uuid.uuid4().hex[:12]}"
    url = await create_database(pg_server.admin_url, name)
    yield url
    await drop_database(pg_server.admin_url, name)


@pytest.fixture(scope="module")
def demo(demo_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    env = clean_env(DATABASE_URL=demo_database, HOLDFAST_RESCORE_INTERVAL_S="0")
    started = time.perf_counter()
    loaded = run_cli(
        "demo", "--customers", "150", "--months", "8", "--seed", "3", env=env, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr
    read_key = re.search(r"read API key\s+(hf_\S+)", loaded.stdout)
    admin_key = re.search(r"admin API key\s+(hf_\S+)", loaded.stdout)
    assert read_key and admin_key, loaded.stdout
    server = Server(tmp_path_factory.mktemp("dashboard") / "data", env=env)
    server.start()
    print(f"demo loaded and server ready in {time.perf_counter() - started:.1f} s")
    try:
        yield Demo(server, read_key.group(1), admin_key.group(1))
    finally:
        try:
            server.stop()
        finally:
            server.kill()
            server.log.close()
        log = server.log_path.read_text()
        # The key travels in a header only: never in a logged URL.
        assert read_key.group(1) not in log
        assert admin_key.group(1) not in log


@pytest.fixture(scope="module")
def browser(browser_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


class Tab:
    """A fresh browser context (its own sessionStorage) with the page's errors collected."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1440, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

    def sign_in(self, demo: Demo, key: str | None = None) -> None:
        page = self.page
        page.goto(demo.url)
        page.get_by_label("Read API key").fill(key or demo.read_key)
        page.get_by_label("Read API key").press("Enter")

    def wait_for_overview(self) -> None:
        self.page.wait_for_selector("body[data-overview]", state="attached")
        assert self.page.get_attribute("body", "data-overview") == "ready"

    def storage(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(
            "() => ({session: {...sessionStorage}, local: {...localStorage},"
            " cookies: document.cookie, url: location.href})"
        )
        return result

    def unexpected_errors(self, *allowed: str) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in allowed)]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    opened = Tab(browser)
    yield opened
    opened.close()


def screenshot(tab: Tab, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    tab.page.screenshot(path=str(path), full_page=True)
    return path


def chart_summary(tab: Tab) -> dict[str, Any]:
    """Per registered chart: data points per dataset that are not null or zero, and how many
    pixels of its canvas were painted."""
    summary: dict[str, Any] = tab.page.evaluate(
        """() => Object.fromEntries(Object.entries(window.holdfastCharts).map(([name, chart]) => {
            const {width, height} = chart.canvas;
            const pixels = chart.ctx.getImageData(0, 0, width, height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
            return [name, {
                datasets: chart.data.datasets.map(
                    (d) => d.data.filter((v) => v !== null && v !== 0).length),
                labels: chart.data.labels.length,
                painted,
                ariaLabel: chart.canvas.getAttribute("aria-label"),
                role: chart.canvas.getAttribute("role"),
            }];
        }))"""
    )
    return summary


def test_sign_in_and_every_panel_renders_with_data(demo: Demo, tab: Tab) -> None:
    started = time.perf_counter()
    page = tab.page
    tab.sign_in(demo)
    tab.wait_for_overview()
    print(f"signed in and every panel loaded in {time.perf_counter() - started:.2f} s")

    charts = chart_summary(tab)
    assert set(CHARTS) <= set(charts)
    for name in CHARTS:
        chart = charts[name]
        assert chart["labels"] > 0, name
        assert max(chart["datasets"]) > 0, name
        assert chart["painted"] > 1000, name
        assert chart["role"] == "img"
        assert re.search(r"\d", chart["ariaLabel"]), name
    # Four stacked MRR movements and the net line; a tier per dataset in the trend.
    assert len(charts["mrr"]["datasets"]) == 5
    assert len(charts["tiersTrend"]["datasets"]) == 4

    summary = demo.api("GET", "/v1/metrics/summary", demo.read_key)
    kpis = page.locator("#kpis")
    assert (
        page.locator("#kpi-customers .kpi-value").inner_text()
        == f"{summary['customers']['active']:,}"
    )
    dollars = summary["mrr"] // 100
    assert f"${dollars:,}" in page.locator("#kpi-mrr .kpi-value").inner_text()
    badge = {"healthy": "Healthy", "watch": "Watch", "needs_attention": "Needs attention"}
    assert badge[summary["benchmark"]] in page.locator("#kpi-churn .kpi-badge").inner_text()
    assert "%" in page.locator("#kpi-nrr .kpi-value").inner_text()
    # The save rate of the flows the demo replays: offers shown, keep window over.
    flows = demo.api(
        "GET",
        "/v1/cancellation-flows/report",
        demo.read_key,
        params={
            "start": (datetime.now(UTC) - timedelta(days=365)).isoformat(),
            "end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        },
    )
    treatment = flows["totals"]["treatment"]
    assert treatment["resolved"] > 0
    save_rate = kpis.locator("#kpi-save-rate")
    assert save_rate.locator(".kpi-value").inner_text() == f"{treatment['save_rate'] * 100:.1f}%"
    assert f"{treatment['saved']} saved of {treatment['resolved']}" in save_rate.inner_text()

    # Lifetime value over the last 12 full months, repeat purchases over the last 12 months.
    now = datetime.now(UTC)
    first_full = now.year * 12 + now.month - 1 - 12
    ltv = demo.api(
        "GET",
        "/v1/metrics/ltv",
        demo.read_key,
        params={
            "start": f"{first_full // 12:04d}-{first_full % 12 + 1:02d}-01",
            "end": f"{now.year:04d}-{now.month:02d}-01",
        },
    )
    assert ltv["ltv"] is not None  # the demo loses customers every month
    assert f"${round(ltv['ltv']) / 100:,.2f}" == kpis.locator("#kpi-ltv .kpi-value").inner_text()
    repeat = kpis.locator("#kpi-repeat")
    assert repeat.locator(".kpi-value").inner_text().endswith("%")
    assert "buyers bought on 2+ days" in repeat.inner_text()

    # The page asks for the cohorts of the last 12 months, this one included.
    now = datetime.now(UTC)
    months_ago = now.year * 12 + now.month - 1 - 11
    cohorts = demo.api(
        "GET",
        "/v1/metrics/cohorts",
        demo.read_key,
        params={
            "start": f"{months_ago // 12:04d}-{months_ago % 12 + 1:02d}-01",
            "end": (now + timedelta(days=40)).strftime("%Y-%m-01"),
        },
    )
    signed_up = [c for c in cohorts["cohorts"] if c["customers"] > 0]
    assert page.locator("#cohort-table tbody tr").count() == len(signed_up) > 0
    cells = sum(len(c["periods"]) for c in signed_up)
    assert page.locator("#cohort-table td.on-dark, #cohort-table td.on-light").count() == cells

    attention = demo.api(
        "GET",
        "/v1/customers",
        demo.read_key,
        params={"order": "score", "status": "active", "limit": 15},
    )
    rows = page.locator("#panel-risk tbody tr")
    assert rows.count() == len(attention["items"])
    first = rows.first.locator("th").inner_text()
    assert first == attention["items"][0]["customer_id"]
    assert attention["items"][0]["summary"] in rows.first.inner_text()

    offers = page.locator("#panel-offers")
    assert f"{flows['totals']['flows']} flows" in offers.inner_text()
    assert offers.locator("tbody tr").count() == len(flows["rows"]) > 0

    path = screenshot(tab, "dashboard.png")
    if os.environ.get("HOLDFAST_WRITE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(path, ROOT / "docs" / "dashboard.png")

    # A data table behind every chart, opened from the keyboard.
    details = page.locator("#panel-churn details summary")
    details.focus()
    page.keyboard.press("Enter")
    assert page.locator("#panel-churn details table tbody tr").count() == charts["churn"]["labels"]

    stored = tab.storage()
    assert stored["session"] == {"holdfast.readKey": demo.read_key}
    assert stored["local"] == {}
    assert stored["cookies"] == ""
    assert demo.read_key not in stored["url"]
    assert page.get_by_label("Read API key").input_value() == ""

    assert tab.unexpected_errors() == []


def cadence(days: list[date]) -> str:
    """How far apart the snapshots are, as the page words it (the oracle for the note)."""
    gaps = [(b - a).days for a, b in pairwise(days)]
    every = {1: "daily", 7: "weekly"}
    words = [every.get(g, f"every {g} days") for g in sorted(set(gaps))]
    if len(words) == 1:
        return words[0]
    common = min(set(gaps), key=lambda g: (-gaps.count(g), g))
    named = every.get(common, f"every {common} days")
    return f"mostly {named} ({min(gaps)} to {max(gaps)} days apart)"


def test_customer_page_from_the_attention_list(demo: Demo, tab: Tab) -> None:
    page = tab.page
    tab.sign_in(demo)
    tab.wait_for_overview()
    link = page.locator("#panel-risk tbody a").first
    customer_id = link.inner_text()
    link.focus()
    page.keyboard.press("Enter")  # keyboard navigation, not only the mouse
    page.wait_for_selector("body[data-customer]", state="attached")
    assert page.get_attribute("body", "data-customer") == "ready"
    assert page.locator("#customer-title").inner_text() == f"Customer {customer_id}"

    health = demo.api("GET", f"/v1/customers/{customer_id}/health", demo.read_key)
    factor_rows = page.locator("#panel-factors tbody tr")
    assert factor_rows.count() == len(health["factors"])
    shown = [
        float(factor_rows.nth(i).locator("td").last.inner_text().removesuffix(" pts"))
        for i in range(factor_rows.count())
    ]
    assert abs(sum(shown) - health["score"]) <= 0.05 * len(shown) + 0.01
    assert f"{health['score']:.1f}" == page.locator("#score-value").inner_text()
    assert health["summary"] in page.locator("#panel-score").inner_text()

    charts = chart_summary(tab)
    history = demo.api("GET", f"/v1/customers/{customer_id}/health/history", demo.read_key)
    assert charts["history"]["labels"] == len(history["snapshots"]) > 0
    days = [date.fromisoformat(s["day"]) for s in history["snapshots"]]
    note = page.locator("#panel-history .panel-note").inner_text()
    assert f"taken {cadence(days)} (UTC days)" in note, note
    assert charts["history"]["painted"] > 1000
    assert charts["factors"]["labels"] == len(health["factors"])

    events = demo.api(
        "GET", f"/v1/customers/{customer_id}/events", demo.read_key, params={"limit": 500}
    )["items"]
    timeline = page.locator("#timeline li")
    assert timeline.count() == min(25, len(events))
    assert timeline.first.locator("time").get_attribute("datetime") is not None
    if len(events) > 25:
        page.get_by_role("button", name="Older events").click()
        timeline.nth(25).wait_for()
        assert timeline.count() == min(50, len(events))

    screenshot(tab, "customer.png")
    page.get_by_role("link", name="← Overview").click()
    page.locator("#overview-view").wait_for()
    assert tab.unexpected_errors() == []


def test_an_unknown_customer_shows_an_error_not_a_blank(demo: Demo, tab: Tab) -> None:
    tab.sign_in(demo)
    tab.wait_for_overview()
    tab.page.goto(f"{demo.url}#/customers/cus_nobody")
    tab.page.wait_for_selector("body[data-customer]", state="attached")
    assert "No customer cus_nobody" in tab.page.locator("#panel-state [role=alert]").inner_text()
    assert tab.unexpected_errors("404") == []


def test_a_wrong_key_shows_an_error(demo: Demo, tab: Tab) -> None:
    page = tab.page
    tab.sign_in(demo, "hf_notarealkey_0000000000000000000000000000000000000000")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "not accepted" in alert.inner_text()
    assert page.locator("#signin-view").is_visible()
    assert page.locator("#overview-view").is_hidden()
    assert tab.storage()["session"] == {}

    _, writer = demo.key("events:write")
    page.get_by_label("Read API key").fill(writer)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("lacks the read scope").wait_for()
    assert tab.storage()["session"] == {}
    assert tab.unexpected_errors("401", "403") == []


def test_a_revoked_key_sends_you_back_to_sign_in(demo: Demo, tab: Tab) -> None:
    key_id, key = demo.key("read")
    tab.sign_in(demo, key)
    tab.wait_for_overview()
    demo.api("DELETE", f"/v1/api-keys/{key_id}")
    tab.page.get_by_role("button", name="Refresh").click()
    alert = tab.page.get_by_role("alert")
    alert.wait_for()
    assert "no longer accepted" in alert.inner_text()
    assert tab.page.locator("#signin-view").is_visible()
    assert tab.storage()["session"] == {}
    assert tab.page.evaluate("() => Object.keys(window.holdfastCharts).length") == 0
    assert tab.unexpected_errors("401") == []


def test_sign_out_forgets_the_key(demo: Demo, tab: Tab) -> None:
    tab.sign_in(demo)
    tab.wait_for_overview()
    tab.page.get_by_role("button", name="Sign out").click()
    tab.page.locator("#signin-view").wait_for()
    assert tab.storage()["session"] == {}
    assert tab.page.locator("#kpis li").count() == 0
    tab.page.reload()
    tab.page.locator("#signin-view").wait_for()
    assert tab.unexpected_errors() == []


def test_a_tenant_without_data_shows_empty_panels_not_errors(demo: Demo, tab: Tab) -> None:
    created = run_cli("create-tenant", "empty", "--json", env=demo.server.env)
    assert created.returncode == 0, created.stderr
    admin = json.loads(created.stdout)["api_key"]
    reader = demo.api("POST", "/v1/api-keys", admin, json={"name": "e2e", "scopes": ["read"]})
    tab.sign_in(demo, reader["key"])
    tab.wait_for_overview()
    page = tab.page
    assert page.locator("#kpi-customers .kpi-value").inner_text() == "0"
    assert "no cancellation flows" in page.locator("#kpi-save-rate").inner_text()
    for panel, text in {
        "churn": "No subscribers",
        "mrr": "No MRR",
        "tiers": "No subscribers have a score yet",
        "reasons": "No cancellation took effect",
        "cohorts": "No customer signed up",
        "risk": "No customer matches",
        "offers": "No cancellation flow started",
    }.items():
        assert text in page.locator(f"#panel-{panel}").inner_text(), panel
    assert page.locator("[role=alert]:visible").count() == 0
    assert tab.page.evaluate("() => Object.keys(window.holdfastCharts).length") == 0
    assert tab.unexpected_errors() == []


WIDTHS = (390, 1024, 1280, 1440)

# Every visible element whose box leaves the viewport, unless it is inside a horizontally
# scrollable box (a wide table in its panel), and every KPI card whose text leaves the card
# (or whose figure breaks over two lines).
LAYOUT_PROBLEMS = """() => {
    const viewport = document.documentElement.clientWidth;
    const name = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${el.className}`;
    const scroller = (el) => {
        for (let a = el.parentElement; a; a = a.parentElement) {
            if (["auto", "scroll"].includes(getComputedStyle(a).overflowX)) return a;
        }
        return null;
    };
    const outside = [];
    for (const el of document.querySelectorAll("body *")) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || !el.checkVisibility()) continue;
        if (scroller(el)) continue;  // scrolls inside its panel; the page's width catches leaks
        if (r.left < -1 || r.right > viewport + 1) {
            outside.push(`${name(el)} ${Math.round(r.left)}..${Math.round(r.right)}`);
        }
    }
    const overflowing = [];
    for (const card of document.querySelectorAll("#kpis .kpi")) {
        const c = card.getBoundingClientRect();
        const style = getComputedStyle(card);
        const left = c.left + parseFloat(style.borderLeftWidth);
        const right = c.right - parseFloat(style.borderRightWidth);
        for (const p of card.children) {
            const range = document.createRange();
            range.selectNodeContents(p);
            const t = range.getBoundingClientRect();
            const broken = p.classList.contains("kpi-value") && range.getClientRects().length > 1;
            if (t.left < left - 1 || t.right > right + 1 || p.scrollWidth > p.clientWidth + 1
                || broken) {
                overflowing.push(`${card.id} ${p.className} "${p.textContent}"`);
            }
        }
    }
    // A card or panel alone on its row, narrower than the row: a gap next to it.
    const alone = [];
    for (const list of document.querySelectorAll("#kpis, #overview-view .grid")) {
        const width = list.getBoundingClientRect().width;
        const rows = new Map();
        for (const item of list.children) {
            const r = item.getBoundingClientRect();
            if (r.height === 0) continue;
            const top = Math.round(r.top);
            rows.set(top, [...(rows.get(top) ?? []), [item, r.width]]);
        }
        for (const items of rows.values()) {
            if (items.length === 1 && items[0][1] < width - 2) alone.push(name(items[0][0]));
        }
    }
    return {
        scrollWidth: document.documentElement.scrollWidth, viewport, outside, overflowing, alone
    };
}"""

HUGE_MRR = 999_999_999_999_99  # minor units: "$999,999,999,999.99"


def with_huge_mrr(route: Any) -> None:
    """The real summary, with an MRR far beyond the demo's, for the page's own renderer."""
    response = route.fetch()
    summary = response.json()
    summary["mrr"] = HUGE_MRR
    route.fulfill(response=response, json=summary)


def layout_problems(tab: Tab) -> dict[str, Any]:
    found = tab.page.evaluate(LAYOUT_PROBLEMS)
    problems = {k: found[k] for k in ("outside", "overflowing", "alone") if found[k]}
    if found["scrollWidth"] > found["viewport"]:
        problems["page wider than the viewport"] = found["scrollWidth"]
    return problems


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_overflows_the_viewport_or_its_card(demo: Demo, tab: Tab, width: int) -> None:
    started = time.perf_counter()
    tab.page.set_viewport_size({"width": width, "height": 900})
    tab.page.route("**/v1/metrics/summary", with_huge_mrr)
    tab.sign_in(demo)
    tab.wait_for_overview()
    assert tab.page.locator("#kpi-mrr .kpi-value").inner_text() == "$999,999,999,999.99"
    problems = layout_problems(tab)
    assert problems == {}, problems
    screenshot(tab, f"dashboard-{width}.png")
    assert tab.unexpected_errors() == []
    print(f"{width} px checked in {time.perf_counter() - started:.2f} s")


def test_new_flows_show_up_pending(demo: Demo, tab: Tab) -> None:
    """Last: it adds cancellation flows to the shared demo tenant."""
    range_ = {
        "start": (datetime.now(UTC) - timedelta(days=365)).isoformat(),
        "end": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
    }
    before = demo.api("GET", "/v1/cancellation-flows/report", params=range_)["totals"]
    active = demo.api(
        "GET", "/v1/customers", params={"status": "active", "order": "-score", "limit": 20}
    )["items"]
    flows = []
    for c in active:
        started = httpx.post(
            f"{demo.server.base_url}/v1/customers/{c['customer_id']}/cancellation-flows",
            json={"reason": "too_expensive"},
            headers=bearer(demo.admin_key),
        )
        if started.status_code == 201:  # 200: the demo left this customer an open flow
            flows.append(started.json())
        if len(flows) == 3:
            break
    with_offers = [f for f in flows if f["offers"]]
    assert len(flows) == 3 and with_offers, flows
    demo.api(
        "POST",
        f"/v1/cancellation-flows/{with_offers[0]['flow_id']}/accept",
        json={"offer_id": with_offers[0]["offers"][0]["offer_id"]},
    )
    declined = next(f for f in flows if f is not with_offers[0])
    demo.api("POST", f"/v1/cancellation-flows/{declined['flow_id']}/decline", json={})

    tab.sign_in(demo)
    tab.wait_for_overview()
    after = demo.api("GET", "/v1/cancellation-flows/report", params=range_)
    assert after["totals"]["pending"] == before["pending"] + 3
    panel = tab.page.locator("#panel-offers")
    assert f"{after['totals']['flows']} flows" in panel.inner_text()
    assert f"{after['totals']['pending']} pending" in panel.inner_text()
    assert (
        f"{after['totals']['pending']} flows pending"
        in tab.page.locator("#kpi-save-rate").inner_text()
    )
    assert tab.unexpected_errors() == []
