import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.conftest import write_project

from mlpilot.config import AlertSettings
from mlpilot.errors import ConfigError, StoreError
from mlpilot.monitoring import Alert
from mlpilot.monitoring._alerts import AlertDispatcher, check_webhook_url, recent_alerts
from mlpilot.project import Project
from mlpilot.store import AlertRow, Store

DEPLOYMENT = "churn"


def alert(*, ts: float | None = None, message: str = "input drift: 50% of features") -> Alert:
    return Alert(
        id=str(uuid.uuid4()),
        ts=time.time() if ts is None else ts,
        deployment=DEPLOYMENT,
        monitor="drift.share",
        scope="deployment",
        value=0.5,
        threshold=0.3,
        message=message,
    )


def rows(store: Store) -> dict[str, AlertRow]:
    with store.session() as s:
        return {r.id: r for r in s.execute(select(AlertRow)).scalars()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    yield s
    s.dispose()


class Hook:
    """A real webhook receiver on 127.0.0.1 that answers the statuses it is given, in order
    (the last one for every later request), optionally holding each request until ``gate``."""

    def __init__(self, statuses: list[int], gate: threading.Event | None = None) -> None:
        self.statuses = statuses
        self.gate = gate
        self.requests: list[dict[str, Any]] = []
        self.gate_opened: list[bool] = []
        self.answered = threading.Semaphore(0)
        self.lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/secret-token"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        with self.lock:
            self.requests.append(
                {"path": handler.path, "headers": dict(handler.headers), "json": json.loads(body)}
            )
            status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        if self.gate is not None:
            self.gate_opened.append(self.gate.wait(5))
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "7")
            if 300 <= status < 400:
                handler.send_header("Location", "/elsewhere")
            handler.end_headers()
            handler.wfile.write(b"answer!")
        except OSError:
            pass  # the client gave up (timeout)
        self.answered.release()


@contextmanager
def serve(statuses: list[int], gate: threading.Event | None = None) -> Iterator[Hook]:
    hook = Hook(statuses, gate)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hook.handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        if gate is not None:
            gate.set()
        server.shutdown()
        server.server_close()
        thread.join()


def settings(url: str | None, **kw: Any) -> AlertSettings:
    base: dict[str, Any] = {
        "webhook": url,
        "allow_loopback": True,
        "backoff_seconds": 0.01,
        "retries": 2,
        "timeout_seconds": 5.0,
    }
    return AlertSettings(**(base | kw))


# --- delivery -----------------------------------------------------------------------------------


def test_emit_logs_records_and_delivers_one_post(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    a = alert()
    with serve([200]) as hook:
        with (
            caplog.at_level(logging.WARNING, logger="mlpilot.monitoring"),
            AlertDispatcher(store, settings(hook.url), DEPLOYMENT) as d,
        ):
            d.emit([a], "eval-1")
        assert len(hook.requests) == 1
    row = rows(store)[a.id]
    assert (row.delivery, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.evaluation_id == "eval-1"
    request = hook.requests[0]
    assert request["path"] == "/hooks/secret-token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Host"] == f"127.0.0.1:{hook.port}"
    body = request["json"]
    assert body["id"] == a.id
    assert body["deployment"] == DEPLOYMENT
    assert (body["monitor"], body["value"], body["threshold"]) == ("drift.share", 0.5, 0.3)
    assert body["evaluation_id"] == "eval-1"
    assert body["text"] == f"[mlpilot] {DEPLOYMENT} (deployment): {a.message}"
    warnings = [r for r in caplog.records if r.name == "mlpilot.monitoring"]
    assert any(a.message in r.getMessage() and r.levelno == logging.WARNING for r in warnings)


def test_emit_without_webhook_records_rows_with_no_delivery(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    alerts = [alert(), alert(message="accuracy 0.71 below 0.9")]
    with (
        caplog.at_level(logging.WARNING, logger="mlpilot.monitoring"),
        AlertDispatcher(store, settings(None), DEPLOYMENT) as d,
    ):
        d.emit(alerts, None)
        assert d._thread is None  # no worker without a webhook
    stored = rows(store)
    assert {r.delivery for r in stored.values()} == {"none"}
    assert set(stored) == {a.id for a in alerts}
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("accuracy 0.71 below 0.9" in m for m in logged) == 1


def test_emit_records_all_alerts_in_one_transaction(store: Store) -> None:
    first, second = alert(), alert()
    with AlertDispatcher(store, settings(None), DEPLOYMENT) as d:
        d.emit([first], None)
        with pytest.raises(StoreError, match="none was recorded"):
            d.emit([second, first], None)  # `first` again: the whole batch is refused
    assert set(rows(store)) == {first.id}


def test_server_errors_are_retried_until_sent(store: Store) -> None:
    a = alert()
    with serve([500, 500, 200]) as hook:
        with AlertDispatcher(store, settings(hook.url, retries=2), DEPLOYMENT) as d:
            d.emit([a], None)
        assert len(hook.requests) == 3
    row = rows(store)[a.id]
    assert (row.delivery, row.attempts, row.last_error) == ("sent", 3, None)


def test_server_errors_fail_after_all_retries(store: Store) -> None:
    a = alert()
    with serve([500]) as hook:
        with AlertDispatcher(store, settings(hook.url, retries=2), DEPLOYMENT) as d:
            d.emit([a], None)
        assert len(hook.requests) == 3
    row = rows(store)[a.id]
    assert (row.delivery, row.attempts) == ("failed", 3)
    assert row.last_error is not None
    assert "HTTP 500: answer!" in row.last_error
    assert "secret-token" not in row.last_error


def test_too_many_requests_is_retried(store: Store) -> None:
    a = alert()
    with serve([429, 200]) as hook:
        with AlertDispatcher(store, settings(hook.url), DEPLOYMENT) as d:
            d.emit([a], None)
        assert len(hook.requests) == 2
    assert (rows(store)[a.id].delivery, rows(store)[a.id].attempts) == ("sent", 2)


@pytest.mark.parametrize(
    ("status", "reason"), [(400, "HTTP 400"), (302, "not followed")], ids=["4xx", "redirect"]
)
def test_client_errors_and_redirects_are_final(store: Store, status: int, reason: str) -> None:
    a = alert()
    with serve([status, 200]) as hook:
        with AlertDispatcher(store, settings(hook.url, retries=3), DEPLOYMENT) as d:
            d.emit([a], None)
        assert len(hook.requests) == 1
    row = rows(store)[a.id]
    assert (row.delivery, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert reason in row.last_error


def test_emit_returns_before_the_webhook_answers(store: Store) -> None:
    # The receiver answers only once emit has returned; a blocking emit would make it wait
    # out its gate (recorded as False) instead.
    emitted = threading.Event()
    a = alert()
    with serve([200], gate=emitted) as hook:
        with AlertDispatcher(store, settings(hook.url, timeout_seconds=30), DEPLOYMENT) as d:
            d.emit([a], None)
            emitted.set()
        assert hook.gate_opened == [True]
    assert (rows(store)[a.id].delivery, rows(store)[a.id].attempts) == ("sent", 1)


def test_slow_webhook_times_out_and_fails_after_retries(store: Store) -> None:
    never = threading.Event()  # opened only when the server stops
    a = alert()
    with serve([200], gate=never) as hook:
        d = AlertDispatcher(store, settings(hook.url, timeout_seconds=0.2, retries=1), DEPLOYMENT)
        d.emit([a], None)
        d.close(timeout=30)
        assert len(hook.requests) == 2
    row = rows(store)[a.id]
    assert (row.delivery, row.attempts) == ("failed", 2)
    assert row.last_error is not None
    assert "timed out" in row.last_error


def test_refused_webhook_marks_rows_failed_without_a_request(store: Store) -> None:
    alerts = [alert(), alert()]
    with serve([200]) as hook:
        refused = settings(hook.url, allow_loopback=False)
        with AlertDispatcher(store, refused, DEPLOYMENT) as d:
            d.emit(alerts, None)
        assert hook.requests == []
    for row in rows(store).values():
        assert (row.delivery, row.attempts) == ("failed", 0)
        assert row.last_error is not None
        assert "loopback" in row.last_error


def test_delivery_goes_to_the_address_that_was_checked(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the name answers 127.0.0.1 once, then a metadata address. The request must
    # go to the checked address (with the name as Host), not to a second resolution.
    real = socket.getaddrinfo
    calls: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.rebind.test":
            return real(host, port, *args, **kwargs)
        calls.append(host)
        ip = "127.0.0.1" if len(calls) == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    a = alert()
    with serve([200]) as hook:
        url = f"http://hooks.rebind.test:{hook.port}/x"
        with AlertDispatcher(store, settings(url), DEPLOYMENT) as d:
            d.emit([a], None)
        assert len(hook.requests) == 1
        assert hook.requests[0]["headers"]["Host"] == f"hooks.rebind.test:{hook.port}"
    assert calls == ["hooks.rebind.test"]
    assert rows(store)[a.id].delivery == "sent"


def test_close_gives_up_at_timeout_and_retry_pending_resends(store: Store) -> None:
    a = alert()
    with serve([503, 200]) as hook:
        slow = settings(hook.url, retries=3, backoff_seconds=30)
        first = AlertDispatcher(store, slow, DEPLOYMENT)
        first.emit([a], None)
        assert hook.answered.acquire(timeout=10)  # the 503
        deadline = time.monotonic() + 10
        while rows(store)[a.id].attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.close(timeout=0.2)  # the next attempt is >= 15 s away: give up, stay pending
        row = rows(store)[a.id]
        assert (row.delivery, row.attempts) == ("pending", 1)

        with AlertDispatcher(store, settings(hook.url, retries=3), DEPLOYMENT) as second:
            assert [p["id"] for p in second.pending_alerts()] == [a.id]
            assert second.retry_pending() == 1
        assert len(hook.requests) == 2
    row = rows(store)[a.id]
    assert (row.delivery, row.attempts, row.last_error) == ("sent", 2, None)


def test_retry_pending_skips_alerts_this_dispatcher_is_delivering(store: Store) -> None:
    release = threading.Event()
    a = alert()
    with serve([200], gate=release) as hook:
        with AlertDispatcher(store, settings(hook.url), DEPLOYMENT) as d:
            d.emit([a], None)
            assert d.retry_pending() == 0  # queued or in flight already
            release.set()
        assert len(hook.requests) == 1
    assert rows(store)[a.id].delivery == "sent"


def test_retry_pending_without_webhook_marks_rows_failed(store: Store) -> None:
    a = alert()
    with store.session() as s:  # left by a process that had a webhook
        s.add(
            AlertRow(
                id=a.id,
                deployment=DEPLOYMENT,
                ts=datetime.fromtimestamp(a.ts, UTC),
                monitor=a.monitor,
                scope=a.scope,
                message=a.message,
                delivery="pending",
            )
        )
    with AlertDispatcher(store, settings(None), DEPLOYMENT) as d:
        assert d.retry_pending() == 0
    row = rows(store)[a.id]
    assert row.delivery == "failed"
    assert row.last_error is not None
    assert "no webhook" in row.last_error


def test_recent_alerts_newest_first(store: Store) -> None:
    alerts = [alert(ts=1_700_000_000.0 + i, message=f"m{i}") for i in range(5)]
    with AlertDispatcher(store, settings(None), DEPLOYMENT) as d:
        d.emit(alerts[:3], "e1")
        d.emit(alerts[3:], "e2")
    recent = recent_alerts(store, DEPLOYMENT, limit=3)
    assert [r["message"] for r in recent] == ["m4", "m3", "m2"]
    assert recent[0]["ts"] == pytest.approx(1_700_000_004.0)
    assert recent[0]["delivery"] == "none"
    assert recent_alerts(store, "other") == []
    with pytest.raises(ConfigError, match="at least 1"):
        recent_alerts(store, DEPLOYMENT, limit=0)


def test_emit_refuses_alerts_of_another_deployment(store: Store) -> None:
    other = alert().model_copy(update={"deployment": "other"})
    with (
        AlertDispatcher(store, settings(None), DEPLOYMENT) as d,
        pytest.raises(ValueError, match="deployment 'other'"),
    ):
        d.emit([other], None)
    assert rows(store) == {}


# --- checking the URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kw", "match"),
    [
        ("http://169.254.169.254/latest/meta-data/", {}, "link-local"),
        ("http://[fe80::1]/", {}, "link-local"),
        ("http://[fd00:ec2::254]/", {"allow_private": True}, "metadata"),
        ("http://100.100.100.200/", {"allow_private": True}, "metadata"),
        ("http://127.0.0.1/", {}, "loopback"),
        ("http://127.0.0.1:8080/hook", {}, "allow_loopback = true"),
        ("http://[::1]/", {}, "loopback"),
        ("http://localhost/", {}, "loopback name"),
        ("http://LOCALHOST./", {}, "loopback name"),
        ("http://2130706433/", {}, "127.0.0.1, a loopback"),
        ("http://[::ffff:127.0.0.1]/", {}, "loopback"),
        ("http://[::ffff:169.254.169.254]/", {"allow_loopback": True}, "link-local"),
        ("http://10.0.0.1/", {}, "private"),
        ("http://192.168.1.10/", {}, "allow_private = true"),
        ("http://100.64.0.1/", {}, "private"),
        ("http://[fd12::1]/", {}, "private"),
        ("http://[::ffff:10.0.0.1]/", {}, "private"),
        ("http://[64:ff9b::a00:1]/", {}, "private"),
        ("http://0.0.0.0/", {}, "unspecified"),
        ("http://[::]/", {}, "unspecified"),
        ("http://224.0.0.1/", {}, "multicast"),
        ("http://240.0.0.1/", {}, "reserved"),
        ("http://192.0.2.1/", {}, "not publicly routable"),
        ("ftp://hooks.example.com/x", {}, "scheme 'ftp'"),
        ("file:///etc/passwd", {}, "scheme 'file'"),
        ("http://user:pw@hooks.example.com/", {}, "credentials"),
        ("https://evil.example.com/x", {"allow_hosts": ("hooks.example.com",)}, "allow_hosts"),
        ("http:///path", {}, "no host"),
    ],
)
def test_check_refuses(url: str, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        check_webhook_url(url, AlertSettings(**kw))
    assert info.value.key == "monitor.alerts.webhook"
    assert "pw" not in info.value.message
    assert "meta-data" not in info.value.message  # the path is not shown


def test_check_message_names_the_url_problem_and_fix() -> None:
    with pytest.raises(ConfigError) as info:
        check_webhook_url("http://10.0.0.1:9000/hooks/T000/secret?token=abc", AlertSettings())
    message = info.value.message
    assert message.startswith("the alert webhook http://10.0.0.1:9000/… ")
    assert "private address" in message
    assert "allow_private = true" in message
    assert "secret" not in message
    assert "abc" not in message


@pytest.mark.parametrize(
    ("url", "kw"),
    [
        ("http://127.0.0.1:8080/hook", {"allow_loopback": True}),
        ("http://localhost/hook", {"allow_loopback": True}),
        ("http://10.0.0.1/hook", {"allow_private": True}),
        ("https://93.184.215.14/hook", {}),
        ("https://[2606:4700::1111]/hook", {}),
        ("http://[::ffff:8.8.8.8]/", {}),
        ("https://1.1.1.1/", {"allow_hosts": ("1.1.1.1",)}),
    ],
)
def test_check_accepts(url: str, kw: dict[str, Any]) -> None:
    check_webhook_url(url, AlertSettings(**kw))


def test_check_allow_hosts_is_case_insensitive_and_without_resolving() -> None:
    allowed = AlertSettings(allow_hosts=("Hooks.Example.COM",))
    check_webhook_url("https://hooks.example.com./services/x", allowed, resolve=False)
    with pytest.raises(ConfigError, match="allow_hosts"):
        check_webhook_url("https://hooks.example.org/x", allowed, resolve=False)
    # An IP literal is judged by address even without resolving.
    with pytest.raises(ConfigError, match="link-local"):
        check_webhook_url("http://169.254.169.254/", AlertSettings(), resolve=False)


def test_a_project_with_an_unsafe_webhook_refuses_to_monitor(tmp_path: Path) -> None:
    directory = write_project(
        tmp_path / "proj",
        extra='\n[monitor.alerts]\nwebhook = "http://169.254.169.254/latest/meta-data"\n',
    )
    with pytest.raises(ConfigError) as caught:
        Project.open(directory, env={}).monitor()
    assert caught.value.key == "monitor.alerts.webhook"
    assert "link-local" in caught.value.message


def test_a_project_sends_alerts_a_stopped_process_left_pending(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        directory = write_project(
            tmp_path / "proj",
            extra=f'\n[monitor.alerts]\nwebhook = "{url}"\nallow_loopback = true\n',
        )
        project = Project.open(directory, env={})
        # A process that recorded an alert and stopped before delivering it.
        with project.store.session() as s:
            s.add(
                AlertRow(
                    id="left-behind",
                    ts=datetime.now(UTC),
                    deployment=project.name,
                    monitor="drift.share",
                    scope="deployment",
                    value=0.6,
                    threshold=0.5,
                    message="input drift",
                    delivery="pending",
                    attempts=0,
                )
            )
        monitor = project.monitor()
        assert monitor.dispatcher is not None
        monitor.dispatcher.close(timeout=10.0)
        assert [r["id"] for r in received] == ["left-behind"]
        assert rows(project.store)["left-behind"].delivery == "sent"
    finally:
        server.shutdown()
        server.server_close()
