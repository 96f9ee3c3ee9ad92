"""The prediction service over real HTTP: a real uvicorn server (``mlpilot serve``) on
127.0.0.1, real registered models, real MLflow and metadata stores."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer

from mlpilot.governance import TokenStore
from mlpilot.project import Project
from mlpilot.serving import PredictionLog

from ._server import MLPILOT, Server, free_port, wait_for
from .conftest import ProjectFactory

pytestmark = pytest.mark.slow

ROWS = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(200)
RECORDS: list[dict[str, Any]] = ROWS.to_dict(orient="records")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Project:
    factory = ProjectFactory(
        tmp_path_factory.mktemp("serving"),
        f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}",
    )
    project = factory()
    project.run()
    Project.open(project.settings.project_dir, env={"MLPILOT_TRAIN__PARAMS": "{C=0.05}"}).run()
    return project


@pytest.fixture(scope="module")
def server(trained: Project) -> Iterator[Server]:
    srv = Server(trained)
    yield srv
    srv.stop()


def test_predict_single_and_batch(server: Server) -> None:
    r = server.client.post("/predict", json={"records": RECORDS[:1]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["variant"] == "champion"
    assert body["model_version"] == 1
    assert body["predictions"] in ([0], [1])
    r = server.client.post("/predict", json={"records": RECORDS[:50], "probabilities": True})
    body = r.json()
    assert len(body["predictions"]) == 50
    assert len(body["probabilities"][0]) == 2
    assert body["classes"] == [0, 1]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        (
            {"records": [{k: v for k, v in RECORDS[0].items() if k != "mean radius"}]},
            422,
            "records[0].mean radius",
        ),
        ({"records": [{**RECORDS[0], "colour": 1}]}, 422, "records[0].colour"),
        ({"records": [{**RECORDS[0], "mean radius": "big"}]}, 422, "records[0].mean radius"),
        ({"records": [{**RECORDS[0], "mean radius": None}]}, 422, "records[0].mean radius"),
        ({"records": []}, 422, "records"),
        ({"records": RECORDS[:1] * 301}, 422, "records"),
        ({"rows": RECORDS[:1]}, 422, "rows"),
    ],
    ids=["missing", "extra", "type", "null", "empty", "too-many", "unknown-key"],
)
def test_bad_records_get_a_structured_4xx(
    server: Server, payload: dict[str, Any], status: int, field: str
) -> None:
    r = server.client.post("/predict", json=payload)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field
    assert "Traceback" not in r.text
    assert len(r.text) < 1000  # never an echo of the whole payload
    assert server.client.post("/predict", json={"records": RECORDS[:1]}).status_code == 200


def test_malformed_body_media_type_and_size(server: Server) -> None:
    r = server.client.post(
        "/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["error"]["field"]) == (400, "body")
    r = server.client.post("/predict", content=b"a,b", headers={"content-type": "text/csv"})
    assert r.status_code == 415
    r = server.client.post(
        "/predict", content=b"x" * 500_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "PayloadTooLargeError"


def test_feedback_known_duplicate_unknown(server: Server) -> None:
    rid = server.client.post("/predict", json={"records": RECORDS[:1]}).json()["request_id"]
    r = server.client.post("/feedback", json={"request_id": rid, "label": 1})
    assert r.json() == {"recorded": 1, "duplicates": 0}
    r = server.client.post("/feedback", json={"request_id": rid, "label": 1})
    assert r.json() == {"recorded": 0, "duplicates": 1}
    ids = [
        server.client.post("/predict", json={"records": RECORDS[:1]}).json()["request_id"]
        for _ in range(3)
    ]
    batch = {"feedback": [{"request_id": i, "label": 0} for i in ids]}
    assert server.client.post("/feedback", json=batch).json() == {"recorded": 3, "duplicates": 0}
    settings = server.project.settings
    labelled = PredictionLog(settings.journal_dir, settings.predictions_url).query(
        "select count(*) as n from labelled where label is not null and request_id in "
        f"({', '.join(repr(i) for i in ids)})"
    )
    assert int(labelled["n"][0]) == 3
    r = server.client.post("/feedback", json={"request_id": "nope", "label": 1})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "PredictionNotFoundError"


def test_metrics_health_docs_and_v2(server: Server) -> None:
    server.client.post("/predict", json={"records": RECORDS[:1]})
    text = server.client.get("/metrics").text
    assert 'mlpilot_requests_total{deployment="' in text
    assert "mlpilot_request_latency_seconds_bucket" in text
    assert "mlpilot_journal_backlog_bytes" in text
    assert server.client.get("/health/live").status_code == 200
    assert server.client.get("/docs").status_code == 200
    assert "/predict" in server.client.get("/openapi.json").json()["paths"]
    name = server.project.name
    meta = server.client.get(f"/v2/models/{name}").json()
    assert len(meta["inputs"]) == 30
    values = [RECORDS[0][f["name"]] for f in meta["inputs"]]
    r = server.client.post(
        f"/v2/models/{name}/infer",
        json={
            "inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": values}]
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] in ([0], [1])
    assert server.client.get("/v2/models/other").status_code == 404
    wrong_shape = {"inputs": [{"name": "x", "shape": [1, 29], "data": values[:29]}]}
    r = server.client.post(f"/v2/models/{name}/infer", json=wrong_shape)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "inputs[0].shape")
    r = server.client.post(f"/v2/models/{name}/infer", json={"inputs": []})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "inputs")


def test_admin_needs_a_token_with_the_right_role(server: Server) -> None:
    tokens = TokenStore(server.project.store, server.project.audit)
    predict_token = tokens.create(f"p-{time.time_ns()}", "predict")
    r = server.client.post("/admin/route", json={"mode": "single"})
    assert r.status_code == 401
    r = server.client.post(
        "/admin/route",
        json={"mode": "single"},
        headers={"authorization": f"Bearer {predict_token}"},
    )
    assert r.status_code == 403


def test_canary_split_and_sticky_keys(server: Server) -> None:
    tokens = TokenStore(server.project.store, server.project.audit)
    op = {"authorization": f"Bearer {tokens.create(f'op-{time.time_ns()}', 'operate')}"}
    r = server.client.post(
        "/admin/route", json={"mode": "canary", "weights": {"challenger": 0.3}}, headers=op
    )
    assert r.status_code == 200, r.text
    n = 500
    variants = [
        server.client.post("/predict", json={"records": RECORDS[:1]}).json()["variant"]
        for _ in range(n)
    ]
    share = variants.count("challenger") / n
    assert abs(share - 0.3) < 3 * (0.3 * 0.7 / n) ** 0.5
    sticky = {
        server.client.post(
            "/predict", json={"records": RECORDS[:1], "request_key": "user-7"}
        ).json()["variant"]
        for _ in range(20)
    }
    assert len(sticky) == 1

    r = server.client.post("/admin/route", json={"mode": "shadow"}, headers=op)
    assert r.status_code == 200
    ids = [server.client.post("/predict", json={"records": RECORDS[:1]}).json() for _ in range(20)]
    assert {b["variant"] for b in ids} == {"champion"}
    log = PredictionLog(
        server.project.settings.journal_dir, server.project.settings.predictions_url
    )

    def shadowed() -> bool:
        frame = log.query(
            "select count(*) as n from predictions where shadow and variant = 'challenger'"
        )
        return int(frame["n"][0]) >= 20

    wait_for(shadowed)
    server.client.post("/admin/route", json={"mode": "single"}, headers=op)


def test_hot_swap_under_load_fails_no_request(server: Server) -> None:
    failures: list[str] = []
    versions: set[int] = set()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            while not stop.is_set():
                r = c.post("/predict", json={"records": RECORDS[:5]})
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    versions.add(r.json()["model_version"])

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    project = Project.open(server.project.settings.project_dir, env={})
    for i in range(3):
        project.promote(2, reason=f"swap {i}")
        wait_for(lambda: server.client.get("/health/ready").json()["models"]["champion"] == 2)
        project.rollback(reason=f"back {i}")
        wait_for(lambda: server.client.get("/health/ready").json()["models"]["champion"] == 1)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert versions == {1, 2}


def test_sigkill_loses_no_acknowledged_prediction(trained: Project) -> None:
    srv = Server(trained, "--set", "serve.compact_seconds=3600")
    acked = [
        srv.client.post("/predict", json={"records": RECORDS[:1]}).json()["request_id"]
        for _ in range(100)
    ]
    children = _children(srv.proc.pid)
    assert children  # the workers and the compactor
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    # nothing of the killed server lives on: its workers and compactor see they are orphaned
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert [_cmdline(pid) for pid in children if _alive(pid)] == []
    srv.stop()
    log = PredictionLog(trained.settings.journal_dir, trained.settings.predictions_url)
    missing = [rid for rid in acked if log.find(rid) is None]
    assert missing == []


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    return f"pid {pid}"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FEATURES = list(RECORDS[0])


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"records": st.lists(st.dictionaries(st.sampled_from(FEATURES), JSON), max_size=3)}
        ),
        st.fixed_dictionaries(
            {
                "records": st.lists(
                    st.fixed_dictionaries(dict.fromkeys(FEATURES[:30], JSON)), max_size=2
                )
            }
        ),
    )
)
def test_no_body_makes_the_service_fail_with_5xx(server: Server, body: Any) -> None:
    r = server.client.post(
        "/predict",
        content=json.dumps(body).encode(),  # NaN and huge integers included
        headers={"content-type": "application/json"},
    )
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert set(r.json()["error"]) <= {"type", "message", "field"}


def test_a_tampered_version_is_never_swapped_in(server: Server) -> None:
    project = Project.open(
        server.project.settings.project_dir, env={"MLPILOT_TRAIN__PARAMS": "{C=0.2}"}
    )
    summary = project.run()
    version = summary.model_version
    assert version is not None
    source = next(v for v in project.models() if v.version == version)
    artifacts = (project.settings.home / "artifacts").rglob("model.skops")
    files = sorted(artifacts, key=lambda p: p.stat().st_mtime)
    files[-1].write_bytes(files[-1].read_bytes() + b"tampered")
    before = server.client.get("/health/ready").json()["models"]["champion"]
    newest = project.audit.events(limit=1)[0].id
    project.promote(version, reason="tampered promote")
    try:
        wait_for(
            lambda: any(
                e.id > newest for e in project.audit.events(action="serving.swap_failed", limit=1)
            ),
            timeout=60.0,
        )
        assert server.client.get("/health/ready").json()["models"]["champion"] == before
        assert (
            server.client.post("/predict", json={"records": RECORDS[:1]}).json()["model_version"]
            == before
        )
        assert 'outcome="failed"' in server.client.get("/metrics").text
    finally:  # the later tests of this module share the server: give them a sound champion
        project.rollback(reason="undo the tampered promote")
    assert source.version == version


def test_admin_promote_endpoint_is_audited_with_the_token_name(server: Server) -> None:
    tokens = TokenStore(server.project.store, server.project.audit)
    name = f"ops-{time.time_ns()}"
    op = {"authorization": f"Bearer {tokens.create(name, 'operate')}"}
    r = server.client.post("/admin/promote", json={"version": 2, "reason": "via api"}, headers=op)
    assert r.status_code == 200, r.text
    wait_for(lambda: server.client.get("/health/ready").json()["models"]["champion"] == 2)
    event = server.project.audit_events(5)[0]
    assert (event.action, event.actor, event.reason) == (
        "model.promoted",
        f"token:{name}",
        "via api",
    )
    r = server.client.post("/admin/rollback", json={"reason": "back via api"}, headers=op)
    assert r.status_code == 200
    wait_for(lambda: server.client.get("/health/ready").json()["models"]["champion"] != 2)


def test_predictions_cli_reads_the_log(server: Server) -> None:
    rid = server.client.post("/predict", json={"records": RECORDS[:2]}).json()["request_id"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    out = subprocess.run(
        [
            MLPILOT,
            "predictions",
            "query",
            "--json",
            "-p",
            str(server.project.settings.project_dir),
            f"select count(*) as n from predictions where request_id = '{rid}'",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout) == [{"n": 2}]
    bad = subprocess.run(
        [
            MLPILOT,
            "predictions",
            "query",
            "-p",
            str(server.project.settings.project_dir),
            "selec nonsense",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr


def test_two_workers_follow_a_route_change(trained: Project) -> None:
    champion = trained.registry.by_alias("champion")
    assert champion is not None
    other = 2 if champion.version != 2 else 1  # versions 1 and 2 are intact
    trained.registry.set_alias("challenger", other, reason="two-worker test")
    srv = Server(trained, "--workers", "2")
    try:
        tokens = TokenStore(trained.store, trained.audit)
        op = {"authorization": f"Bearer {tokens.create(f'w-{time.time_ns()}', 'operate')}"}
        r = srv.client.post(
            "/admin/route",
            json={"mode": "ab", "weights": {"champion": 0.5, "challenger": 0.5}},
            headers=op,
        )
        assert r.status_code == 200, r.text
        time.sleep(1.0)  # every worker polls the route every 0.2 s
        seen = {
            srv.client.post("/predict", json={"records": RECORDS[:1]}).json()["variant"]
            for _ in range(60)
        }
        assert seen == {"champion", "challenger"}
        assert "mlpilot_requests_total" in srv.client.get("/metrics").text
        srv.client.post("/admin/route", json={"mode": "single"}, headers=op)
    finally:
        srv.stop()


class _BrokenModel:
    """A model that fails or stalls on every request (after it was swapped in)."""

    def __init__(self, delay: float, message: str = "challenger exploded") -> None:
        self.delay = delay
        self.message = message

    def predict(self, x: Any) -> Any:
        time.sleep(self.delay)
        raise RuntimeError(self.message)


@contextlib.contextmanager
def _in_process(trained: Project, worker: str) -> Iterator[tuple[Any, httpx.Client]]:
    """The app in this process behind a real uvicorn server (its models can be replaced)."""
    import uvicorn

    from mlpilot.serving import create_app

    settings = trained.settings.model_copy(
        update={"serve": trained.settings.serve.model_copy(update={"poll_seconds": 3600.0})}
    )
    app = create_app(settings, worker=worker)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=60)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield app, client
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def _log_of(project: Project) -> PredictionLog:
    return PredictionLog(project.settings.journal_dir, project.settings.predictions_url)


def test_shadow_errors_and_slowness_never_reach_clients(trained: Project) -> None:
    from dataclasses import replace

    champion = trained.registry.by_alias("champion")
    assert champion is not None
    other = 2 if champion.version != 2 else 1  # versions 1 and 2 are intact
    trained.registry.set_alias("challenger", other, reason="shadow test")
    with _in_process(trained, "shadow-test") as (app, client):
        deployment = app.state.service.deployment
        assert "challenger" in deployment.served
        deployment.served["challenger"] = replace(
            deployment.served["challenger"], model=_BrokenModel(0.2)
        )
        deployment.route = deployment.route.__class__("shadow", {"champion": 1.0}, 99)
        t0 = time.perf_counter()
        answers = [client.post("/predict", json={"records": RECORDS[:1]}) for _ in range(10)]
        elapsed = time.perf_counter() - t0
        assert [a.status_code for a in answers] == [200] * 10
        assert {a.json()["variant"] for a in answers} == {"champion"}
        assert elapsed < 10 * 0.2  # the challenger's 0.2 s per copy is off the response path
        text = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = client.get("/metrics").text
            if 'outcome="failed"' in text:
                break
            time.sleep(0.1)
        assert 'mlpilot_shadow_requests_total{deployment="' in text
        assert 'outcome="failed"' in text

        # Each failed shadow copy is journaled as an error of the challenger's version.
        ids = ", ".join(f"'{a.json()['request_id']}'" for a in answers)
        log = _log_of(trained)
        query = f"SELECT * FROM errors WHERE request_id IN ({ids})"
        wait_for(lambda: len(log.query(query)) == 10)
        errors = log.query(query)
        assert set(errors["shadow"]) == {True}
        assert set(errors["variant"]) == {"challenger"}
        assert set(errors["model_version"]) == {other}
        assert set(errors["status"]) == {500}
        assert set(errors["error"]) == {"RuntimeError"}
        assert set(errors["message"]) == {"challenger exploded"}


def test_a_rejected_prediction_request_is_journaled(server: Server) -> None:
    log = _log_of(server.project)
    name = f"colour-{uuid.uuid4().hex[:12]}"
    r = server.client.post("/predict", json={"records": [{**RECORDS[0], name: 1}]})
    assert (r.status_code, r.json()["error"]["field"]) == (422, f"records[0].{name}")
    frame = log.query(f"SELECT * FROM errors WHERE field = 'records[0].{name}'")
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["status"], row["error"], row["shadow"]) == (422, "RequestValidationError", False)
    assert (row["deployment"], row["variant"]) == (server.project.name, "champion")
    assert row["model_version"] >= 1  # routed before the records were parsed
    assert name in row["message"]
    assert row["date"] == row["ts"].date()

    def count(where: str) -> int:
        return int(log.query(f"SELECT count(*) AS n FROM errors WHERE {where}")["n"][0])

    # Unrouted failures (bad media type, unknown model name) are journaled without a variant.
    before = count("status = 415 AND variant IS NULL")
    r = server.client.post("/predict", content=b"a,b", headers={"content-type": "text/csv"})
    assert r.status_code == 415
    assert count("status = 415 AND variant IS NULL") == before + 1
    before = count("status = 404 AND error = 'PredictionNotFoundError'")
    assert server.client.post("/v2/models/other/infer", json={"inputs": []}).status_code == 404
    assert count("status = 404 AND error = 'PredictionNotFoundError'") == before + 1
    # An OIP request is routed to the champion before its tensors are read.
    wrong = {"inputs": [{"name": "x", "shape": [1, 2], "data": [1.0, 2.0]}]}
    before = count("field = 'inputs[0].shape' AND variant = 'champion'")
    r = server.client.post(f"/v2/models/{server.project.name}/infer", json=wrong)
    assert r.status_code == 422
    assert count("field = 'inputs[0].shape' AND variant = 'champion'") == before + 1

    # Only the prediction endpoints journal failures. (Shadow failures of the previous test's
    # challenger may still be arriving: they are journaled in the background.)
    before, last = count("NOT shadow"), -1
    while before != last:  # earlier tests' failures still being journaled: let them land
        last = before
        time.sleep(1.0)
        before = count("NOT shadow")
    assert (
        server.client.post("/feedback", json={"request_id": "nope", "label": 1}).status_code == 404
    )
    assert server.client.post("/admin/route", json={"mode": "single"}).status_code == 401
    assert server.client.get("/v2/models/other").status_code == 404
    assert count("NOT shadow") == before


def test_a_failing_model_is_journaled_as_a_5xx(trained: Project) -> None:
    from dataclasses import replace

    message = f"champion exploded {uuid.uuid4().hex}"
    with _in_process(trained, "failing-test") as (app, client):
        deployment = app.state.service.deployment
        champion = deployment.served["champion"]
        deployment.served["champion"] = replace(champion, model=_BrokenModel(0, message))
        r = client.post("/predict", json={"records": RECORDS[:1]})
        assert r.status_code == 500
        assert r.json()["error"]["type"] == "InternalError"
        assert message not in r.text  # the cause is in the journal and the log, not the answer
        frame = _log_of(trained).query(f"SELECT * FROM errors WHERE message = '{message}'")
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["status"], row["error"], row["shadow"]) == (500, "RuntimeError", False)
    assert (row["variant"], row["model_version"]) == ("champion", champion.version)


def test_a_journal_failure_never_turns_a_4xx_into_a_500(
    trained: Project, caplog: pytest.LogCaptureFixture
) -> None:
    with _in_process(trained, "closed-journal-test") as (app, client):
        app.state.service.journal.close()  # as when the worker shuts down, or the disk fails
        with caplog.at_level(logging.WARNING, logger="mlpilot.serving"):
            r = client.post("/predict", json={"records": [{**RECORDS[0], "colour": 1}]})
            assert (r.status_code, r.json()["error"]["field"]) == (422, "records[0].colour")
            r = client.post("/predict", content=b"a,b", headers={"content-type": "text/csv"})
            assert r.status_code == 415
        assert "could not journal a failed request (422 RequestValidationError)" in caplog.text
        assert "could not journal a failed request (415 UnsupportedMediaError)" in caplog.text
        # An answer that cannot be journaled is not sent: that is the service failing (503).
        r = client.post("/predict", json={"records": RECORDS[:1]})
        assert (r.status_code, r.json()["error"]["type"]) == (503, "ServingError")


def test_predict_can_require_a_token(trained: Project) -> None:
    srv = Server(trained, "--set", "serve.require_predict_token=true")
    try:
        r = srv.client.post("/predict", json={"records": RECORDS[:1]})
        assert r.status_code == 401
        assert r.json()["error"]["type"] == "AuthError"
        token = TokenStore(trained.store, trained.audit).create(f"app-{time.time_ns()}", "predict")
        r = srv.client.post(
            "/predict",
            json={"records": RECORDS[:1]},
            headers={"authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
    finally:
        srv.stop()
