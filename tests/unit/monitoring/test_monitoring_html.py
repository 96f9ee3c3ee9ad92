import html
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests._browser import rendered_dom

from mlpilot.monitoring import (
    Alert,
    Distribution,
    DriftResult,
    FeatureDrift,
    FeatureQuality,
    HistoryPoint,
    MonitorReport,
    OperationalResult,
    PerformanceResult,
    QualityResult,
    Scope,
    ScopeReport,
    Statistic,
    Window,
    render_html,
    write_html,
)

XSS = "<script>alert(1)</script>"
# Closes the JSON <script> element the figures live in, if anything left it unescaped.
BREAKOUT = '</script><script>document.documentElement.dataset.pwned="json"</script>'
IMG = "<img src=x onerror=\"document.documentElement.dataset.pwned='img'\">"
T0 = 1_790_000_000.0
HOUR = 3600.0


def numeric(name: str, *, drifted: bool, psi: float) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind="numeric",
        rows=950,
        method="psi",
        threshold=0.2,
        score=psi,
        drifted=drifted,
        statistics=(
            Statistic(method="psi", value=psi, threshold=0.2, drifted=drifted, decides=True),
            Statistic(
                method="ks",
                value=0.31 if drifted else 0.02,
                p_value=1.2e-9 if drifted else 0.61,
                threshold=0.05,
                drifted=drifted,
            ),
            Statistic(method="wasserstein", value=0.4, threshold=0.1, drifted=None),
        ),
        distribution=Distribution(
            labels=("[0, 10)", "[10, 20)", "[20, 30)", "[30, 40]"),
            reference=(0.25, 0.25, 0.25, 0.25),
            current=(0.55, 0.25, 0.15, 0.05) if drifted else (0.24, 0.26, 0.25, 0.25),
        ),
    )


def categorical(name: str, *, drifted: bool, labels: Sequence[str]) -> FeatureDrift:
    n = len(labels)
    return FeatureDrift(
        name=name,
        kind="categorical",
        rows=950,
        method="chisquare",
        threshold=0.05,
        score=0.0004 if drifted else 0.4,
        drifted=drifted,
        statistics=(
            Statistic(
                method="chisquare",
                value=31.5,
                p_value=0.0004 if drifted else 0.4,
                threshold=0.05,
                drifted=drifted,
                decides=True,
            ),
            Statistic(method="jensenshannon", value=0.08, threshold=0.1, drifted=False),
        ),
        distribution=Distribution(
            labels=tuple(labels),
            reference=tuple(1 / n for _ in labels),
            current=tuple((2 if i == 0 else 1) / (n + 1) for i in range(n)),
        ),
    )


def not_judged(name: str) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind="datetime",
        rows=0,
        method="psi",
        threshold=0.2,
        score=None,
        drifted=None,
        message="every value of this feature is null in the window",
    )


def prediction_drift(drifted: bool) -> FeatureDrift:
    return FeatureDrift(
        name="prediction",
        kind="prediction",
        rows=1000,
        method="chisquare",
        threshold=0.05,
        score=0.01 if drifted else 0.7,
        drifted=drifted,
        statistics=(
            Statistic(
                method="chisquare",
                value=6.6,
                p_value=0.01 if drifted else 0.7,
                threshold=0.05,
                drifted=drifted,
                decides=True,
            ),
        ),
        distribution=Distribution(
            labels=("0", "1"), reference=(0.63, 0.37), current=(0.5, 0.5) if drifted else (0.6, 0.4)
        ),
    )


def drift(features: Sequence[FeatureDrift]) -> DriftResult:
    judged = [f for f in features if f.drifted is not None]
    drifted = sum(bool(f.drifted) for f in judged)
    share = drifted / len(judged)
    return DriftResult(
        features=tuple(features),
        evaluated=len(judged),
        drifted_count=drifted,
        share=share,
        share_threshold=0.3,
        drifted=share >= 0.3,
    )


def quality() -> QualityResult:
    return QualityResult(
        features=(
            FeatureQuality(
                name="mean radius",
                rows=1000,
                null_rate=0.0,
                reference_null_rate=0.0,
                out_of_range=0.002,
                unseen=None,
                breached=False,
            ),
            FeatureQuality(
                name=XSS,
                rows=1000,
                null_rate=0.12,
                reference_null_rate=0.01,
                out_of_range=None,
                unseen=0.05,
                unseen_examples=(IMG, "purple"),
                breached=True,
                message="null rate 12.0% against 1.0% in training",
            ),
        ),
        requests=1010,
        rejected=10,
        rejected_share=10 / 1010,
        rejected_by_field={XSS: 7, "mean radius": 3},
        breached=True,
    )


def operational(p99: float) -> OperationalResult:
    return OperationalResult(
        requests=1000,
        rows=1000,
        errors=3,
        error_rate=0.003,
        request_rate_per_second=0.28,
        latency_p50_ms=2.1,
        latency_p99_ms=p99,
        max_error_rate=0.01,
        max_p99_ms=50.0,
        breached=False,
    )


def make_report() -> MonitorReport:
    features = [
        numeric("mean radius", drifted=False, psi=0.03),
        numeric(XSS, drifted=True, psi=0.41),
        categorical("colour", drifted=False, labels=("red", "green", "blue")),
        categorical(BREAKOUT, drifted=True, labels=(IMG, XSS, "plain")),
        not_judged("signup date"),
    ]
    deployment = ScopeReport(
        scope=Scope(kind="deployment", profile_version=3),
        rows=1000,
        drift=drift(features),
        prediction_drift=(prediction_drift(True),),
        quality=quality(),
        performance=PerformanceResult(
            task="classification",
            metrics={"accuracy": 0.91, "roc_auc": 0.95, "f1": 0.9},
            metric="accuracy",
            value=0.91,
            min=0.9,
            breached=False,
            predictions=1000,
            labelled=420,
            coverage=0.42,
            delay_p50_seconds=5400.0,
            delay_p90_seconds=86400.0 * 2,
        ),
        operational=operational(12.5),
        messages=("rows answered by v2 and v3; compared with the profile of v3",),
    )
    version = ScopeReport(
        scope=Scope(kind="version", variant="champion", model_version=3, profile_version=3),
        rows=900,
        drift=drift(features[:3]),
        prediction_drift=(prediction_drift(False),),
        quality=None,
        performance=PerformanceResult(
            task="classification",
            metric="accuracy",
            min=0.9,
            predictions=900,
            labelled=0,
            coverage=0.0,
            message="no labels yet: send them to /feedback",
        ),
        operational=operational(11.0),
    )
    return MonitorReport(
        id="rep-0001",
        deployment=f"breast-cancer {XSS}",
        generated_at=T0 + 5 * HOUR,
        window=Window(start=T0 + 4 * HOUR, end=T0 + 5 * HOUR, rows=1000, asked_rows=1000),
        # the version scope first: the page puts the deployment first anyway
        scopes=(version, deployment),
        alerts=(
            Alert(
                id="a1",
                ts=T0 + 5 * HOUR,
                deployment="breast-cancer",
                monitor=f"drift.feature.{XSS}",
                scope="deployment",
                value=0.41,
                threshold=0.2,
                message=f"feature {XSS} drifted: psi 0.41 >= 0.2",
            ),
            Alert(
                id="a2",
                ts=T0 + 5 * HOUR,
                deployment="breast-cancer",
                monitor="drift.share",
                scope="deployment",
                value=0.5,
                threshold=0.3,
                message="50% of the features drifted (threshold 30%)",
            ),
        ),
        messages=("the window holds fewer rows than asked for",),
    )


def point(
    i: int,
    monitor: str,
    value: float | None,
    threshold: float | None = None,
    *,
    version: int | None = None,
) -> HistoryPoint:
    breached = None if threshold is None or value is None else value >= threshold
    if monitor.startswith("performance.") and threshold is not None and value is not None:
        breached = value < threshold
    return HistoryPoint(
        ts=T0 + i * HOUR,
        monitor=monitor,
        scope="version" if version else "deployment",
        variant="champion" if version else None,
        model_version=version,
        value=value,
        threshold=threshold,
        breached=breached,
    )


def make_history() -> list[HistoryPoint]:
    points = []
    for i in range(6):
        for version in (None, 3):
            points += [
                point(i, "drift.share", 0.1 * i, 0.3, version=version),
                point(i, "drift.feature.mean radius", 0.03, 0.2, version=version),
                point(i, f"drift.feature.{XSS}", 0.08 * i, 0.2, version=version),
                point(i, "operational.latency_p50_ms", 2.0 + 0.1 * i, version=version),
                point(i, "operational.latency_p99_ms", 10.0 + i, 50.0, version=version),
                point(i, "operational.error_rate", 0.001 * i, 0.01, version=version),
            ]
        points += [
            point(i, "performance.accuracy", 0.95 - 0.01 * i if i else None, 0.9),
            point(i, "performance.coverage", 0.1 * i),
        ]
    # v2's points belong to no scope of this report: not plotted
    points.append(point(0, "drift.share", 0.9, 0.3, version=2))
    return points


# figures: deployment: 4 input distributions + 1 prediction + 5 over time (share, features,
# performance, latency, error rate); v3: 3 inputs + 1 prediction + 4 over time (no performance)
FIGURES = 4 + 1 + 5 + 3 + 1 + 4


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(make_report(), make_history())


def sections(page: str) -> list[str]:
    return re.findall(r'<section class="scope" id="scope-\d+">.*?</section>', page, re.S)


def test_header_names_the_deployment_window_and_alert_count(page: str) -> None:
    assert "<title>Monitoring report: breast-cancer &lt;script&gt;" in page
    header = page[page.index("<header>") : page.index("</header>")]
    assert "2026-09-21 18:13:20 UTC" in header  # window start
    assert "2026-09-21 19:13:20 UTC" in header  # window end and generated
    assert "1,000 (asked for the last 1,000 rows)" in header
    assert '<span class="badge bad">2</span>' in header
    assert "rep-0001" in header
    assert "the window holds fewer rows than asked for" in page


def test_alerts_are_listed_with_their_messages(page: str) -> None:
    alerts = page[page.index('<section id="alerts">') :].split("</section>", 1)[0]
    assert "<h2>Alerts (2)</h2>" in alerts
    assert "50% of the features drifted (threshold 30%)" in alerts
    assert f"drift.feature.{html.escape(XSS)}" in alerts


def test_the_deployment_comes_first_then_each_version(page: str) -> None:
    deployment, version = sections(page)
    assert "<h2>Deployment</h2>" in deployment
    assert "<h2>Model version 3, variant champion</h2>" in version
    assert "rows answered by v2 and v3" in deployment


def test_drift_table_lists_drifted_features_first_with_every_statistic(page: str) -> None:
    deployment = sections(page)[0]
    drift = deployment[deployment.index("<h3>Input drift</h3>") :]
    table = drift[: drift.index("</table>")]
    names = re.findall(r'<span class="name">(.*?)</span>', table)
    assert names == [
        html.escape(XSS),
        html.escape(BREAKOUT),
        "signup date",
        "mean radius",
        "colour",
    ]
    assert "2 of 4" in drift  # drifted of evaluated
    assert "ks 0.31, p=1.2e-09, threshold 0.05" in table
    assert '<li class="decides" title="decides the verdict">psi 0.41' in table
    assert "every value of this feature is null in the window" in table
    assert '<span class="badge unknown">not judged</span>' in table


def test_quality_performance_and_operations_are_shown(page: str) -> None:
    deployment, version = sections(page)
    assert "null rate 12.0% against 1.0% in training" in deployment
    assert "Rejected requests by field" in deployment
    assert "42.0%" in deployment  # label coverage
    assert "1.5 h" in deployment  # label delay p50
    assert "2.0 d" in deployment  # p90
    assert "accuracy = 0.91 (min 0.9)" in deployment
    assert "12.5 ms (max 50.0 ms)" in deployment
    assert "0.3% (max 1.0%)" in deployment
    assert "no labels yet: send them to /feedback" in version
    assert "Data quality was not evaluated." in version


def test_user_text_is_escaped_everywhere(page: str) -> None:
    for raw in (XSS, BREAKOUT, IMG, "<script>document", "<img "):
        assert raw not in page
    assert html.escape(XSS) in page
    # each <script> element is one of the page's own: the bundle, the figures, the renderer
    assert page.count("<script") == 3
    figures = page[page.index('id="mlpilot-figures">') :].split("</script>", 1)[0]
    assert "<" not in figures.removeprefix('id="mlpilot-figures">')


def test_nothing_is_loaded_from_the_network(page: str) -> None:
    outside_bundle = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert "http://" not in outside_bundle
    assert "https://" not in outside_bundle
    for load in ('src="http', "src='http", 'href="http', "href='http", "@import", "url("):
        assert load not in outside_bundle
    assert re.findall(r"<script[^>]*>", page) == [
        "<script>",
        '<script type="application/json" id="mlpilot-figures">',
        "<script>",
    ]
    assert "<link" not in outside_bundle
    assert "default-src 'none'" in page  # and the policy forbids it anyway
    assert page.count("plotly.js v") == 1  # the bundle is inlined once


def test_every_figure_has_a_div_and_a_spec(page: str) -> None:
    assert page.count("data-figure") == FIGURES
    ids = re.findall(r'\{"id":"(figure-\d+)"', page)
    assert ids == [f"figure-{i}" for i in range(1, FIGURES + 1)]
    assert "Performance and label coverage" in page
    assert "label coverage" in page
    assert "dashed: thresholds" in page


def test_the_distribution_plots_are_capped_with_a_note() -> None:
    page = render_html(make_report(), max_feature_plots=2)
    assert "Showing 2 of 4 distributions (drifted first)" in page
    assert "No stored history for this scope yet" in page


def test_a_report_without_figures_does_not_inline_plotly() -> None:
    report = MonitorReport(
        id="empty",
        deployment="d",
        generated_at=T0,
        window=Window(start=None, end=None, rows=0),
        scopes=(ScopeReport(scope=Scope(kind="deployment"), rows=0, drift=None),),
        messages=("the prediction log is empty",),
    )
    page = render_html(report)
    assert "<script" not in page
    assert len(page) < 20_000
    assert "the prediction log is empty" in page
    assert "Input drift was not evaluated." in page


def test_write_html_writes_one_file(tmp_path: Path) -> None:
    path = write_html(tmp_path / "reports" / "r.html", make_report(), make_history())
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]
    assert path.stat().st_size < 6_000_000


# --------------------------------------------------------------------------- in a browser


@pytest.mark.browser
def test_the_page_draws_every_plot_offline_in_chromium(tmp_path: Path) -> None:
    dom, log = rendered_dom(render_html(make_report(), make_history()), tmp_path)
    assert dom.count('data-rendered="true"') == FIGURES, log[-2000:]
    assert 'data-error="true"' not in dom
    assert dom.count("js-plotly-plot") >= FIGURES
    assert dom.count('class="main-svg"') >= FIGURES
    # the escaped names are drawn as text, and nothing ran
    assert "data-pwned" not in dom
    # plotly drew the name as text in its SVG (legend and tick labels), not as markup
    svg_texts = re.findall(r"<text[^>]*>(.*?)</text>", dom, re.S)
    assert html.escape(XSS, quote=False) in svg_texts
    assert "Content Security Policy" not in log  # nothing was refused
