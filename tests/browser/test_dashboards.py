"""The Superset dashboards, imported from superset/bundle into a fresh Superset, show the demo world's real
figures in a real browser (headless Chromium): the same numbers `loyalty report --format json` prints; and
`loyalty report --html` renders its charts from the file alone.

Each test saves a screenshot of its dashboard under .state/artifacts/browser (LOYALTY_ARTIFACTS_DIR moves it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import yaml

from loyalty.bi import superset

from .conftest import loyalty_cli, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(900)]


def _is_chart(node: object) -> bool:
    return isinstance(node, dict) and node.get("type") == "CHART"


ERRORS = ("Unexpected error", "An error occurred", "Traceback", "Network error")


def _count(value: float | int | None) -> str:
    return f"{int(value or 0):,}"


def _pct(value: float | None, sign: str = "") -> str:
    return f"{value:{sign}.2%}"


def _workflows(figures: dict) -> list[str]:
    expected = []
    for row in figures["workflows"]:
        expected += [_count(row[key]) for key in ("audience", "sent", "delivered", "opened", "clicked", "converted")]
        expected += [_pct(row["conversion_rate"]), f"{row['revenue']:,.2f}"]
        if row["absolute_lift"] is not None:
            expected += [_pct(row[key], "+") for key in ("absolute_lift", "lift_ci_low", "lift_ci_high")]
    return expected


def _experiments(figures: dict) -> list[str]:
    mismatched = {row["workflow_id"] for row in figures["experiments"] if row["is_sample_ratio_mismatch"]}
    expected = [str(len(mismatched))]
    for row in figures["experiments"]:
        if not row["entries"]:
            continue
        expected += [_count(row["entries"]), _pct(row["observed_share"]), _pct(row["conversion_rate"])]
        expected += [_pct(row["conversion_rate_ci_low"]), _pct(row["conversion_rate_ci_high"])]
        expected.append(f"{row['srm_p_value']:.4f}")
        if row["difference_vs_control"] is not None:
            expected += [
                _pct(row[key], "+") for key in ("difference_vs_control", "difference_ci_low", "difference_ci_high")
            ]
    return expected


def _program(figures: dict) -> list[str]:
    program = figures["program"]
    expected = [f"{program['revenue']:,.2f}", _count(program["orders"]), _count(program["customers_with_orders"])]
    expected += [_count(tier["customers"]) for tier in program["tiers"]]
    points = program["points_liability"]
    assert points and points["points_outstanding"] > 0, "the demo world earns points (completed orders)"
    expected += [f"{points['liability_value']:,.2f}", _count(points["points_outstanding"])]  # the latest day's
    latest = program["months"][-1]
    expected += [_count(latest["buyers"]), _count(latest["orders"]), f"{latest['revenue']:,.2f}"]
    return expected


def _data_quality(figures: dict) -> list[str]:
    quality = figures["data_quality"]
    expected = [_count(quality["quarantined"]), _count(quality["checks"]), _count(quality["checks_failed"])]
    expected += [row["quarantine_rule"] for row in quality["quarantine"]]
    expected += [row["suite_name"] for row in quality["suites"]]
    return expected


DASHBOARDS: dict[str, Callable[[dict], list[str]]] = {
    "program-overview": _program,
    "workflows": _workflows,
    "experiment-detail": _experiments,
    "data-quality": _data_quality,
}


class TestDashboards:
    def test_bundle_imported_into_a_fresh_superset(self, superset_server: superset.Superset) -> None:
        """Every dashboard of the bundle exists with all its charts, readable anonymously (the public view)."""
        assert set(DASHBOARDS) == set(superset.DASHBOARDS)
        for path in sorted((superset.BUNDLE_DIR / "dashboards").glob("*.yaml")):
            dashboard = yaml.safe_load(path.read_text())
            placed = {node["meta"]["sliceName"] for node in dashboard["position"].values() if _is_chart(node)}
            response = httpx.get(f"{superset_server.url}/api/v1/dashboard/{dashboard['slug']}/charts", timeout=30)
            assert response.status_code == 200, (path, response.text[:300])
            assert {chart["slice_name"] for chart in response.json()["result"]} == placed, path

    def test_public_view_is_read_only(self, superset_server: superset.Superset) -> None:
        """Anonymous visitors read dashboards but reach neither SQL Lab nor the database settings, nor write; the
        pages' Content-Security-Policy allows this server only."""
        with httpx.Client(base_url=superset_server.url, timeout=30) as client:
            dashboard = client.get("/superset/dashboard/workflows/")
            assert dashboard.status_code == 200
            policy = dashboard.headers["content-security-policy"]
            assert "https:" not in policy, policy  # the page may load nothing from the internet (no telemetry)
            assert client.get("/sqllab/").status_code in {302, 401, 403}
            assert client.get("/api/v1/database/").status_code in {401, 403}
            created = client.post("/api/v1/dashboard/", json={"dashboard_title": "defaced"})
            assert created.status_code >= 400
        titles = httpx.get(f"{superset_server.url}/api/v1/dashboard/", timeout=30).json()["result"]
        assert "defaced" not in {row["dashboard_title"] for row in titles}

    @pytest.mark.parametrize("slug", list(DASHBOARDS))
    def test_dashboard_shows_the_marts_figures(
        self, browser, superset_server: superset.Superset, demo_world: dict, slug: str
    ) -> None:
        """The dashboard renders every chart without error and shows the figures of `loyalty report --format json`."""
        expected = DASHBOARDS[slug](demo_world)
        assert expected, slug
        browser.get(superset_server.dashboard_url(slug) + "?standalone=1")
        deadline, missing, text = time.monotonic() + 120, expected, ""
        while time.monotonic() < deadline:
            text = browser.find_element("tag name", "body").text.replace("\u2212", "-")  # d3's minus sign
            missing = [figure for figure in expected if figure not in text]
            loading = browser.find_elements("css selector", ".loading, [data-test='loading-indicator']")
            if not missing and not loading:
                break
            time.sleep(1)
        time.sleep(1)  # let the last chart finish painting before the picture
        screenshot = save_screenshot(browser, slug)
        assert missing == [], f"{slug} lacks {missing}; screenshot {screenshot}"
        assert not [error for error in ERRORS if error in text], f"{slug} shows an error; screenshot {screenshot}"


class TestHtmlReport:
    def test_html_report_opens_offline_with_its_charts(self, browser, demo_world: dict, tmp_path) -> None:
        """`loyalty report --html` on the demo world: Chromium renders every chart from the file alone (no URL in
        it) and shows the scorecard's figures."""
        page = tmp_path / "report.html"
        loyalty_cli("report", "--html", str(page))
        assert "http:" not in page.read_text() and "https:" not in page.read_text()
        browser.get(page.as_uri())
        # The module's browser comes from a Superset dashboard still running its scripts, which can
        # navigate after get() returned (a redirect to its login page was seen): wait until the report
        # itself is the loaded document, and open it again if something navigated away.
        deadline, charts = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            if browser.current_url != page.as_uri():
                browser.get(page.as_uri())
            charts = browser.find_elements("css selector", "figure svg")
            if browser.title == "Loyalty workflows report" and len(charts) >= 8:
                break
            time.sleep(0.5)
        assert browser.title == "Loyalty workflows report", (browser.current_url, browser.title)
        assert len(charts) >= 8
        assert all(chart.size["width"] > 100 and chart.size["height"] > 50 for chart in charts)
        text = browser.find_element("tag name", "body").text
        missing = [figure for figure in _workflows(demo_world) if figure not in text]
        browser.set_window_size(1200, 4200)
        save_screenshot(browser, "report-html")
        browser.set_window_size(1600, 2400)
        assert missing == [], missing
