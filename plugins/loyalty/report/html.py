"""A static HTML report with the dashboards' key charts, for stakeholders who get results by email.

One self-contained file: the charts are inline SVG drawn by matplotlib (text kept as text), the style is
inline CSS, and nothing refers to the network — it opens offline, in a mail client's preview or a browser.
Input is `report.fetch_report` (the figures `loyalty report --format json` prints and the dashboards show).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from loyalty.report.figures import Report, Row

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PALETTE = ("#1FA8C9", "#454E7C", "#5AC189", "#FF7F44", "#666666", "#E04355", "#FCC700", "#A868B7")
STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1d1d1f; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; } p.note { color: #555; font-size: .9rem; }
table { border-collapse: collapse; font-size: .82rem; margin: .6rem 0 1rem; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .25rem .5rem; text-align: right; white-space: nowrap; }
th { background: #f5f5f7; } td.text, th.text { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; } figure { margin: 0; } svg { max-width: 100%; height: auto; }
.flag { color: #b00020; font-weight: 600; }
"""


def _svg(figure: Figure) -> str:
    """The figure as inline SVG: no XML prolog, DOCTYPE, metadata or namespace URLs (HTML5 needs none)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    return re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)


def _figure(width: float = 5.2, height: float = 3.0) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _percent_axis(axes: Axes, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (axes.yaxis if axis == "y" else axes.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def _grouped_bars(labels: Sequence[str], series: dict[str, Sequence[float]], title: str, rotation: int = 15) -> str:
    figure, axes = _figure(6.4, 3.2)
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series.items()):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(labels))]
        axes.bar(positions, values, width, label=name, color=PALETTE[index % len(PALETTE)])
    axes.set_xticks(range(len(labels)), labels, rotation=rotation, ha="right", fontsize=8)
    axes.set_title(title, fontsize=10, loc="left")
    axes.legend(fontsize=7, ncols=3, frameon=False)
    return _svg(figure)


def _intervals(labels: Sequence[str], points: Sequence[float], lows: Sequence[float], highs: Sequence[float],
               title: str, zero_line: bool = True) -> str:  # fmt: skip
    figure, axes = _figure(5.2, 0.6 + 0.45 * max(len(labels), 1))
    axes.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    axes.grid(axis="y", visible=False)
    positions = list(range(len(labels)))
    errors = [
        [p - lo for p, lo in zip(points, lows, strict=True)],
        [hi - p for p, hi in zip(points, highs, strict=True)],
    ]
    axes.errorbar(points, positions, xerr=errors, fmt="o", color=PALETTE[1], ecolor=PALETTE[0], capsize=4)
    for point, position in zip(points, positions, strict=True):
        axes.annotate(f"{point:+.2%}", (point, position), textcoords="offset points", xytext=(0, 7), fontsize=7,
                      ha="center")  # fmt: skip
    if zero_line:
        axes.axvline(0, color="#999", linewidth=0.8, linestyle="--")
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_ylim(-0.6, len(labels) - 0.4)
    _percent_axis(axes, "x")
    axes.set_title(title, fontsize=10, loc="left")
    return _svg(figure)


def _lines(dates: Sequence[str], series: dict[str, Sequence[float]], title: str, percent: bool = False,
           target: float | None = None, integer: bool = False) -> str:  # fmt: skip
    figure, axes = _figure()
    for index, (name, values) in enumerate(series.items()):
        axes.plot(dates, values, marker="o", markersize=3, label=name, color=PALETTE[index % len(PALETTE)])
    if target is not None:
        axes.axhline(target, color=PALETTE[5], linestyle="--", linewidth=1, label="target")
    if percent:
        _percent_axis(axes)
    if integer:  # thousands separators, no scientific offset
        axes.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    axes.tick_params(axis="x", labelsize=7, rotation=30)
    axes.tick_params(axis="y", labelsize=8)
    axes.set_title(title, fontsize=10, loc="left")
    axes.legend(fontsize=7, frameon=False)
    return _svg(figure)


def _heatmap(rows: list[Row]) -> str:
    cohorts = sorted({row["cohort_month"] for row in rows})
    months = max((row["months_since_first_order"] for row in rows), default=0) + 1
    grid = [[float("nan")] * months for _ in cohorts]
    for row in rows:
        grid[cohorts.index(row["cohort_month"])][row["months_since_first_order"]] = row["retention_rate"] or 0
    figure, axes = _figure(6.4, 0.8 + 0.22 * max(len(cohorts), 1))
    axes.grid(visible=False)
    image = axes.imshow(grid, aspect="auto", cmap="YlGnBu", vmin=0, vmax=1)
    axes.set_yticks(range(len(cohorts)), [str(c)[:7] for c in cohorts], fontsize=7)
    axes.set_xticks(range(months), [str(m) for m in range(months)], fontsize=7)
    axes.set_xlabel("months since first order", fontsize=8)
    figure.colorbar(image, ax=axes, format=lambda value, _: f"{value:.0%}").ax.tick_params(labelsize=7)
    axes.set_title("Retention by monthly cohort", fontsize=10, loc="left")
    return _svg(figure)


def _hbars(labels: Sequence[str], values: Sequence[float], title: str) -> str:
    figure, axes = _figure(5.2, 0.8 + 0.35 * max(len(labels), 1))
    axes.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    axes.grid(axis="y", visible=False)
    axes.barh(range(len(labels)), values, color=PALETTE[0])
    for position, value in enumerate(values):
        axes.annotate(f"{value:,.0f}", (value, position), textcoords="offset points", xytext=(3, -3), fontsize=7)
    axes.set_yticks(range(len(labels)), labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_title(title, fontsize=10, loc="left")
    return _svg(figure)


def _count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def _pct(value: Any, sign: str = "") -> str:
    return "—" if value is None else f"{value:{sign}.2%}"


def _money(value: Any) -> str:
    return "—" if value is None else f"{value:,.2f}"


Column = tuple[str, str, Callable[[Any], str]]  # header, key, formatter


def _table(rows: Iterable[Row], columns: Sequence[Column]) -> str:
    text_keys = {"workflow_id", "variant", "suite_name", "expectation_type", "source_table", "quarantine_rule",
                 "quarantine_scope", "loyalty_tier", "objective_metric", "winning_variant"}  # fmt: skip
    head = "".join(
        f'<th class="{"text" if key in text_keys else ""}">{html.escape(header)}</th>' for header, key, _ in columns
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"text" if key in text_keys else ""}">{html.escape(fmt(row.get(key)))}</td>'
            for _, key, fmt in columns
        )
        body.append(f"<tr>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div style="overflow-x:auto">{table}</div>'


def _text(value: Any) -> str:
    return "—" if value is None else str(value)


def _ratio(value: Any) -> str:
    return "—" if value is None else f"{value:.1f}×"


def _arm(row: Row) -> str:
    return f"{row['workflow_id']} / {row['variant']}"


def render_html(report: Report, generated_at: dt.datetime | None = None) -> str:
    """The whole report as one HTML document (see module docstring)."""
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    workflows, experiments = report["workflows"], [r for r in report["experiments"] if r.get("entries")]
    program, quality = report["program"], report["data_quality"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Loyalty workflows report</title><style>{STYLE}</style></head><body>",
        "<h1>Loyalty workflows report</h1>",
        f'<p class="note">Generated {generated_at:%Y-%m-%d %H:%M} UTC from the warehouse\'s metric marts — the same '
        "figures as the Superset dashboards and <code>loyalty report --format json</code>. Per journey entry; lift "
        "is against the workflow's own holdout with a 95% interval.</p>",
        "<h2>Workflows</h2>",
    ]
    if workflows:
        treated = [r for r in workflows if not r["is_holdout"]]
        stages = ("audience", "sent", "delivered", "opened", "clicked", "converted")
        parts.append('<div class="charts">')
        parts.append(
            "<figure>"
            + _grouped_bars(
                [_arm(r) for r in workflows], {s: [r[s] or 0 for r in workflows] for s in stages}, "Funnel per arm"
            )
            + "</figure>"
        )
        measured = [r for r in treated if r["absolute_lift"] is not None]
        if measured:
            parts.append(
                "<figure>"
                + _intervals(
                    [_arm(r) for r in measured],
                    [r["absolute_lift"] for r in measured],
                    [r["lift_ci_low"] for r in measured],
                    [r["lift_ci_high"] for r in measured],
                    "Lift against holdout, 95% interval",
                )
                + "</figure>"
            )
        if report["daily"]:
            daily = report["daily"]
            parts.append(
                "<figure>"
                + _lines(
                    [str(d["run_date"]) for d in daily],
                    {k: [d[k] for d in daily] for k in ("sent", "delivered", "opened", "converted")},
                    "Daily sends and outcomes",
                )
                + "</figure>"
            )
        for workflow_id in sorted({o["workflow_id"] for o in report["objectives"]}):
            weeks = [o for o in report["objectives"] if o["workflow_id"] == workflow_id]
            parts.append(
                "<figure>"
                + _lines(
                    [str(o["entry_week"]) for o in weeks],
                    {weeks[-1]["objective_metric"] or "value": [o["cumulative_value"] or 0 for o in weeks]},
                    f"Objective of {workflow_id}",
                    percent=weeks[-1]["objective_metric"] != "revenue_per_customer",
                    target=weeks[-1]["objective_target"],
                )
                + "</figure>"
            )
        parts.append("</div><h3>Scorecard</h3>")
        parts.append(
            _table(
                workflows,
                [
                    ("workflow", "workflow_id", _text),
                    ("variant", "variant", _text),
                    *[(s, s, _count) for s in (*stages[:5], "unsubscribed", "converted")],
                    ("conv. rate", "conversion_rate", _pct),
                    ("revenue", "revenue", _money),
                    ("lift", "absolute_lift", lambda v: _pct(v, "+")),
                    ("95% CI low", "lift_ci_low", lambda v: _pct(v, "+")),
                    ("95% CI high", "lift_ci_high", lambda v: _pct(v, "+")),
                    ("objective", "objective_progress", lambda v: "—" if v is None else f"{v:.0%}"),
                ],
            )
        )
        channels = report.get("channels") or []
        if channels:
            parts.append(
                "<h3>Per channel</h3>"
                '<p class="note">The treated arms\' messages per workflow and channel: what went out, what the '
                "providers and apps reported back, what failed for good and what still waits for a day under the "
                "frequency cap.</p>"
            )
            parts.append(
                _table(
                    channels,
                    [
                        ("workflow", "workflow_id", _text),
                        ("channel", "channel", _text),
                        *[(key, key, _count) for key in ("sent", "delivered")],
                        ("delivered ÷ sent", "delivered_per_sent", _pct),
                        *[(key, key, _count) for key in ("opened", "clicked")],
                        ("clicked ÷ delivered", "clicked_per_delivered", _pct),
                        *[(key, key, _count) for key in ("bounced", "failed")],
                        ("deferred", "deferred_waiting", _count),
                    ],
                )
            )
        attribution = report.get("attribution") or []
        if attribution:
            parts.append(
                "<h3>Attributed vs incremental</h3>"
                '<p class="note">What an attribution rule would credit (every order inside a delivered message\'s '
                "window; last touch; clicks only) next to the incremental revenue measured against the holdout: "
                "the ratio is the over-credit.</p>"
            )
            parts.append(
                _table(
                    attribution,
                    [
                        ("workflow", "workflow_id", _text),
                        ("variant", "variant", _text),
                        ("window revenue", "window_revenue", _money),
                        ("last-touch revenue", "last_touch_revenue", _money),
                        ("click-only revenue", "click_revenue", _money),
                        ("incremental revenue", "incremental_revenue", _money),
                        ("95% CI low", "incremental_revenue_ci_low", _money),
                        ("95% CI high", "incremental_revenue_ci_high", _money),
                        ("window ÷ incremental", "window_to_incremental_revenue_ratio", _ratio),
                    ],
                )
            )
    else:
        parts.append('<p class="note">No workflow results yet: run the metrics DAG (make demo does).</p>')

    parts.append("<h2>Experiment detail</h2>")
    mismatched = sorted({r["workflow_id"] for r in experiments if r["is_sample_ratio_mismatch"]})
    parts.append(
        f'<p class="flag">Sample-ratio mismatch in: {", ".join(mismatched)} — do not trust those results.</p>'
        if mismatched
        else '<p class="note">Sample-ratio check: every workflow\'s assignment matches its spec (p ≥ 0.001).</p>'
    )
    if experiments:
        parts.append('<div class="charts"><figure>')
        parts.append(
            _intervals(
                [_arm(r) for r in experiments],
                [r["conversion_rate"] or 0 for r in experiments],
                [r["conversion_rate_ci_low"] or 0 for r in experiments],
                [r["conversion_rate_ci_high"] or 0 for r in experiments],
                "Conversion rate per variant, 95% Wilson interval",
                zero_line=False,
            )
        )
        parts.append("</figure></div>")
        parts.append(
            _table(
                experiments,
                [
                    ("workflow", "workflow_id", _text),
                    ("variant", "variant", _text),
                    ("entries", "entries", _count),
                    ("expected share", "expected_share", _pct),
                    ("observed share", "observed_share", _pct),
                    ("conv. rate", "conversion_rate", _pct),
                    ("95% CI low", "conversion_rate_ci_low", _pct),
                    ("95% CI high", "conversion_rate_ci_high", _pct),
                    ("vs control", "difference_vs_control", lambda v: _pct(v, "+")),
                    ("CI low", "difference_ci_low", lambda v: _pct(v, "+")),
                    ("CI high", "difference_ci_high", lambda v: _pct(v, "+")),
                    ("SRM p", "srm_p_value", lambda v: "—" if v is None else f"{v:.4f}"),
                    ("winner", "winning_variant", _text),
                ],
            )
        )

    parts.append("<h2>Program overview</h2>")
    parts.append(
        f"<p>Revenue (all months) <b>{_money(program['revenue'])}</b> · orders <b>{_count(program['orders'])}</b> · "
        f"customers with orders <b>{_count(program['customers_with_orders'])}</b></p>"
    )
    liability, points_months = program.get("points_liability"), program.get("points_monthly") or []
    parts.append(
        f"<p>Points liability <b>{_money(liability['liability_value'])}</b> · points outstanding "
        f"<b>{_count(liability['points_outstanding'])}</b> (as of {liability['activity_date']})</p>"
        if liability
        else '<p class="note">Points liability: no points ledger built yet (marts.metrics_points_liability).</p>'
    )
    months = program["months"]
    parts.append('<div class="charts">')
    if points_months:
        labels = [str(m["month"])[:7] for m in points_months]
        parts.append(
            "<figure>"
            + _lines(
                labels,
                {"points outstanding": [m["points_outstanding"] or 0 for m in points_months]},
                "Points outstanding (month end)",
                integer=True,
            )
            + "</figure><figure>"
            + _grouped_bars(
                labels,
                {
                    "earned": [m["points_earned"] or 0 for m in points_months],
                    "granted by rewards": [m["points_rewarded"] or 0 for m in points_months],
                    "expired": [m["points_expired"] or 0 for m in points_months],
                },
                "Points earned, granted by rewards and expired per month",
                rotation=45,
            )
            + "</figure>"
        )
    if months:
        dates = [str(m["order_month"])[:7] for m in months]
        parts.append("<figure>" + _lines(dates, {"revenue": [m["revenue"] or 0 for m in months]}, "Monthly revenue"))
        parts.append("</figure><figure>")
        parts.append(
            _lines(
                dates,
                {
                    "repeat customer rate": [m["repeat_customer_rate"] or 0 for m in months],
                    "churn rate": [m["churn_rate"] or 0 for m in months],
                },
                "Repeat and churn rates",
                percent=True,
            )
            + "</figure>"
        )
    if program["tiers"]:
        tiers = program["tiers"]
        parts.append(
            "<figure>"
            + _hbars(
                [t["loyalty_tier"] or "none" for t in tiers], [t["customers"] for t in tiers], "Customers per tier"
            )
            + "</figure>"
        )
    if program["retention"]:
        parts.append("<figure>" + _heatmap(program["retention"]) + "</figure>")
    parts.append("</div>")
    if program["tiers"]:
        parts.append(
            _table(
                program["tiers"],
                [
                    ("tier", "loyalty_tier", _text),
                    ("customers", "customers", _count),
                    ("revenue 365d", "revenue_365d", _money),
                ],
            )
        )
    if months:
        parts.append(
            _table(
                list(reversed(months))[:12],
                [
                    ("month", "order_month", lambda v: str(v)[:7]),
                    ("buyers", "buyers", _count),
                    ("orders", "orders", _count),
                    ("revenue", "revenue", _money),
                    ("repeat rate", "repeat_customer_rate", _pct),
                    ("AOV", "average_order_value", _money),
                    ("churn rate", "churn_rate", _pct),
                    ("historic CLV", "historic_clv", _money),
                ],
            )
        )

    parts.append("<h2>Data quality</h2>")
    parts.append(
        f"<p>Quarantined rows and values <b>{_count(quality['quarantined'])}</b> · Great Expectations checks "
        f"<b>{_count(quality['checks'])}</b>, failed <b>{_count(quality['checks_failed'])}</b></p>"
    )
    if quality["quarantine"]:
        rules = quality["quarantine"]
        parts.append(
            '<div class="charts"><figure>'
            + _hbars(
                [f"{r['source_table']}: {r['quarantine_rule']}" for r in rules],
                [r["rows"] for r in rules],
                "Quarantine per table and rule",
            )
            + "</figure></div>"
        )
        parts.append(
            _table(
                rules,
                [
                    ("table", "source_table", _text),
                    ("rule", "quarantine_rule", _text),
                    ("scope", "quarantine_scope", _text),
                    ("rows", "rows", _count),
                ],
            )
        )
    if quality["suites"]:
        parts.append(
            _table(
                quality["suites"],
                [
                    ("suite", "suite_name", _text),
                    ("expectation", "expectation_type", _text),
                    ("checks", "checks", _count),
                    ("failed", "failed", _count),
                    ("unexpected values", "unexpected_values", _count),
                ],
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)
