"""Monitoring what is served, end to end: a real ``mlpilot serve`` answers real HTTP requests,
labels come back through ``/feedback``, and ``mlpilot monitor`` (the real CLI) reads the
prediction log against the registered versions' reference profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, roc_auc_score

from mlpilot.monitoring import MonitorReport
from mlpilot.project import Project

from ._server import Server, wait_for
from .conftest import ProjectFactory

pytestmark = pytest.mark.slow

MLPILOT = str(Path(sys.executable).parent / "mlpilot")
DATA = load_breast_cancer(as_frame=True).frame
FEATURES = DATA.drop(columns=["target"])
SHIFTED = ("mean radius", "mean texture", "worst area")


def _monitor(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    return subprocess.run(
        [MLPILOT, "monitor", "--project", str(project.settings.project_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _report(project: Project, *args: str) -> MonitorReport:
    done = _monitor(project, "--json", *args)
    assert done.returncode == 0, done.stderr
    return MonitorReport.model_validate(json.loads(done.stdout))


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, hook: str) -> Iterator[dict[str, Any]]:
    """Two versions, traffic with labels, invalid requests, then a shifted batch."""
    factory = ProjectFactory(
        tmp_path_factory.mktemp("monitoring"),
        f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}",
    )
    project = factory(
        store_extra=(
            "\n[monitor]\n"
            "drift = { window = 400, min_rows = 50, share = 0.05 }\n"
            'performance = { metric = "accuracy", min = 0.99, min_labels = 20 }\n'
            f'alerts = {{ webhook = "{hook}", allow_loopback = true, backoff_seconds = 0.05 }}\n'
        )
    )
    project.run()
    server = Server(project)
    client = server.client
    rng = np.random.default_rng(0)
    sent: list[tuple[str, int, Any, float]] = []  # request_id, row, prediction, probability
    truth: dict[tuple[str, int], int] = {}
    for start in range(0, 300, 10):
        rows = DATA.iloc[start : start + 10]
        body = {
            "records": rows.drop(columns=["target"]).to_dict(orient="records"),
            "probabilities": True,
        }
        answer = client.post("/predict", json=body).json()
        for i, (pred, proba) in enumerate(
            zip(answer["predictions"], answer["probabilities"], strict=True)
        ):
            sent.append((answer["request_id"], i, pred, proba[1]))
            truth[(answer["request_id"], i)] = int(rows["target"].iloc[i])
    labelled = [key for key in truth if rng.random() < 0.6]
    for request_id, row in labelled:
        r = client.post(
            "/feedback",
            json={"request_id": request_id, "row": row, "label": truth[(request_id, row)]},
        )
        assert r.status_code == 200, r.text
    invalid = 0
    for _ in range(4):
        bad = FEATURES.iloc[:1].to_dict(orient="records")
        bad[0]["mean radius"] = "wide"
        assert client.post("/predict", json={"records": bad}).status_code == 422
        invalid += 1
    # A shifted batch: three features far from training, the others as usual.
    shifted = FEATURES.sample(100, random_state=1, replace=True).reset_index(drop=True)
    for name in SHIFTED:
        shifted[name] = shifted[name] * 1.8
    for start in range(0, 100, 25):
        records = shifted.iloc[start : start + 25].to_dict(orient="records")
        assert client.post("/predict", json={"records": records}).status_code == 200
    yield {
        "project": project,
        "server": server,
        "sent": sent,
        "truth": truth,
        "labelled": labelled,
        "invalid": invalid,
    }
    server.stop()


def test_monitor_reports_every_part_for_the_deployment(served: dict[str, Any]) -> None:
    project: Project = served["project"]
    report = _report(project, "--window", "100")
    deployment = report.scope("deployment")
    assert report.window.rows == 100
    assert deployment.rows == 100
    drift = deployment.drift
    assert drift is not None
    drifted = {f.name for f in drift.features if f.drifted}
    assert set(SHIFTED) <= drifted
    # 30 features, 3 shifted; correlated ones may follow, but not most of them.
    assert len(drifted) < 10
    assert drift.drifted, "3 of 30 features drifted is over the configured share of 0.05"
    share = [a for a in report.alerts if a.monitor == "drift.share"]
    assert len(share) == 1
    assert "mean radius" in share[0].message
    assert deployment.operational is not None
    assert deployment.operational.requests == 4
    assert deployment.operational.latency_p50_ms is not None
    assert deployment.operational.latency_p50_ms > 0


def test_performance_matches_scikit_learn_on_the_labelled_rows(served: dict[str, Any]) -> None:
    project: Project = served["project"]
    report = _report(project, "--window", "400")
    deployment = report.scope("deployment")
    perf = deployment.performance
    assert perf is not None
    labelled = set(served["labelled"])
    rows = [s for s in served["sent"] if (s[0], s[1]) in labelled]
    y_true = [served["truth"][(r[0], r[1])] for r in rows]
    y_pred = [int(r[2]) for r in rows]
    assert perf.labelled == len(rows)
    assert perf.metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert perf.metrics["roc_auc"] == pytest.approx(roc_auc_score(y_true, [r[3] for r in rows]))
    assert perf.coverage == pytest.approx(len(rows) / 400)
    assert perf.delay_p50_seconds is not None
    assert perf.delay_p50_seconds >= 0


def test_rejected_requests_show_as_training_serving_skew(served: dict[str, Any]) -> None:
    report = _report(served["project"], "--since", "1h")
    quality = report.scope("deployment").quality
    assert quality is not None
    assert quality.rejected == served["invalid"]
    assert quality.rejected_by_field == {"mean radius": served["invalid"]}
    op = report.scope("deployment").operational
    assert op is not None
    assert op.errors == served["invalid"]


def test_results_are_stored_as_a_time_series_and_alerts_reach_the_webhook(
    served: dict[str, Any], tmp_path: Path
) -> None:
    project: Project = served["project"]
    Hook.received.clear()
    html = tmp_path / "report.html"
    done = _monitor(project, "--window", "100", "--html", str(html))
    assert done.returncode == 0, done.stderr
    assert "DRIFT" in done.stdout
    assert html.is_file()
    assert "mean radius" in html.read_text(encoding="utf-8")
    history = project.monitor().history()
    share = [p for p in history if p.monitor == "drift.share" and p.scope == "deployment"]
    assert len(share) >= 1
    assert share[-1].value is not None
    assert share[-1].value > 0
    wait_for(lambda: len(Hook.received) > 0, timeout=20)
    assert Hook.received[0]["deployment"] == project.name
    listed = subprocess.run(
        [MLPILOT, "alerts", "--project", str(project.settings.project_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    alerts = json.loads(listed.stdout)
    assert alerts
    assert any(a["delivery"] == "sent" for a in alerts)


def test_an_empty_window_says_so(served: dict[str, Any], make_project: ProjectFactory) -> None:
    fresh = make_project()
    done = _monitor(fresh, "--window", "10")
    assert done.returncode == 0, done.stderr
    assert "no predictions" in done.stdout


def test_bad_window_options_give_clear_errors(served: dict[str, Any]) -> None:
    project: Project = served["project"]
    both = _monitor(project, "--window", "5", "--since", "1h")
    assert both.returncode != 0
    assert "either --window" in both.stderr
    bad = _monitor(project, "--since", "soon")
    assert bad.returncode != 0
    assert "not a duration" in bad.stderr
