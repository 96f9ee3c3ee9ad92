"""The autopilot with real processes: ``mlpilot serve`` and ``mlpilot autopilot`` run as
subprocesses, clients talk HTTP to the server, and the controller is SIGKILLed at each state
boundary of a release (``MLPILOT_AUTOPILOT_CRASH_AT``) before another one takes over.

One project is trained for the module (MLflow and the metadata store on SQLite, as ``mlpilot
init`` makes it): v1 is the champion, v2 (trained on 90% of the rows) is as good, v3 (trained
on labels a broken join inverted, registered past a lenient gate) is bad. One server and one
traffic thread run for the whole module: single-row ``/predict`` requests from the
breast-cancer rows, each followed by its true label on ``/feedback``, so the releases are
judged on what the real models answer. Every test leaves v1 the champion and nothing in flight.

Starting Python and importing MLflow, pandas and scikit-learn costs some twenty seconds of CPU
on a small machine, so every command but the happy path's controller (started exactly as a
user does, ``python -m mlpilot autopilot``) is a child of a :class:`ForkServer` that did those
imports once: a real process running ``mlpilot.cli.entry``, as ``python -m mlpilot`` does, that
starts in a moment. A crash test starts a controller with the crash point, makes a release
reach it, waits for the controller's SIGKILL, checks where it stopped, then starts a controller
without the crash variable: it takes the dead holder's lease, reconciles, and ends the release.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sqlalchemy import func, select, update
from tests.conftest import write_project
from tests.integration._server import Server

from mlpilot.autopilot import Autopilot, Release, ReleaseBook
from mlpilot.autopilot._releases import CRASH_ENV
from mlpilot.project import Project
from mlpilot.project._demo_data import bad_labels
from mlpilot.serving import RouteStore
from mlpilot.store import PipelineRunRow, ReleaseRow, TriggerEventRow

pytestmark = pytest.mark.slow

DEADLINE = 180.0
"""Seconds any one wait may take (generous: two cores, and other work may share them)."""
SETTINGS = """
[release]
strategy = "canary"
canary_traffic = 0.5

[release.analysis]
min_requests = 40
min_labels = 40
margin = 0.1

[autopilot]
tick_seconds = 0.3
monitor_seconds = 600
monitor_window = 100  # each controller evaluates the monitors once, as it starts: keep it cheap
cooldown_minutes = 0
lease_seconds = 5
"""
TRAIN_PY = """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(frame, target, max_iter=1000):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    return model.fit(frame.drop(columns=[target]), frame[target])
"""
LENIENT = {"gate.metrics": {"roc_auc": ">= 0", "accuracy": ">= 0"}, "gate.vs_champion": None}
GOOD, BAD = 2, 3
FORK_SERVER = """\
import faulthandler, json, os, select, signal, sys, time, traceback
began = time.monotonic()
import duckdb, mlflow, pyarrow.parquet, scipy.stats, sklearn.linear_model, sklearn.metrics
import mlflow.store.model_registry.sqlalchemy_store, mlflow.store.tracking.sqlalchemy_store
import mlpilot.autopilot, mlpilot.cli, mlpilot.monitoring, mlpilot.pipeline, mlpilot.project
from mlpilot.cli import entry
print(f"imported in {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)


def run(order):
    for fd, path in ((1, order["stdout"]), (2, order["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test's timeout: stacks
    os.environ.update(order["env"])
    sys.argv = ["mlpilot", *order["args"]]
    code = 1
    try:
        entry()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


children = set()
pending = b""
while True:
    if select.select([0], [], [], 0.05)[0]:
        data = os.read(0, 65536)
        if not data:
            break
        pending += data
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            order = json.loads(line)
            pid = os.fork()
            if pid == 0:
                run(order)
            children.add(pid)
            print("started", order["token"], pid, flush=True)
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        children.discard(pid)
        print("ended", pid, os.waitstatus_to_exitcode(status), flush=True)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""

T = TypeVar("T")


# -- helpers --------------------------------------------------------------------------------


def say(what: str) -> None:
    """A line of the test's timeline (pytest shows it when the test fails)."""
    print(f"{time.strftime('%H:%M:%S')} {what}", flush=True)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", MLPILOT_ACTOR="e2e", COLUMNS="200")
    return env


def wait_for(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float = DEADLINE,
    context: Callable[[], str] = str,
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``context()`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout:g} s for {what}; it did not happen\n{context()}")


def write_data(directory: Path, frame: pd.DataFrame) -> None:
    """Replace the project's data source atomically (as a data export would)."""
    partial = directory / "data.partial"
    frame.to_csv(partial, index=False)
    partial.replace(directory / "data.csv")


@dataclass(frozen=True)
class Answer:
    status: int
    version: int | None
    variant: str | None


class Traffic(threading.Thread):
    """Clients: single-row ``/predict`` requests from the breast-cancer rows (up to ``rate``
    per second), each followed at once by its true label on ``/feedback``."""

    def __init__(self, url: str, frame: pd.DataFrame, *, rate: float = 30.0) -> None:
        super().__init__(name="e2e-traffic", daemon=True)
        self.url = url
        self.rate = rate
        shuffled = frame.sample(frac=1.0, random_state=0)
        features = shuffled.drop(columns=["target"])
        self.rows = [
            ({str(k): float(v) for k, v in record.items()}, int(label))
            for record, label in zip(features.to_dict("records"), shuffled["target"], strict=True)
        ]
        self.answers: list[Answer] = []
        self.failures: list[str] = []  # /predict not answered with 200
        self.lost_labels: list[str] = []  # /feedback not answered with 200
        self.stop = threading.Event()

    def mark(self) -> int:
        return len(self.answers)

    def since(self, mark: int) -> list[Answer]:
        return self.answers[mark:]

    def failed_since(self, mark: int) -> list[str]:
        return [f for f in self.failures if int(f.split(":", 1)[0]) >= mark]

    def run(self) -> None:
        pause = 1.0 / self.rate
        i = 0
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                record, label = self.rows[i % len(self.rows)]
                i += 1
                self.answers.append(self._one(client, record, label))
                self.stop.wait(max(0.0, pause - (time.monotonic() - started)))

    def _one(self, client: httpx.Client, record: dict[str, float], label: int) -> Answer:
        index = len(self.answers)
        try:
            reply = client.post("/predict", json={"records": [record]})
        except httpx.HTTPError as exc:
            self.failures.append(f"{index}: /predict {exc!r}")
            return Answer(0, None, None)
        if reply.status_code != 200:
            self.failures.append(f"{index}: /predict {reply.status_code} {reply.text[:300]}")
            return Answer(reply.status_code, None, None)
        body = reply.json()
        try:
            back = client.post("/feedback", json={"request_id": body["request_id"], "label": label})
            if back.status_code != 200:
                self.lost_labels.append(f"{index}: /feedback {back.status_code} {back.text[:300]}")
        except httpx.HTTPError as exc:
            self.lost_labels.append(f"{index}: /feedback {exc!r}")
        return Answer(200, int(body["model_version"]), str(body["variant"]))


class ForkServer:
    """A Python process that imported what ``mlpilot`` needs, then forks one child per command
    and runs ``mlpilot.cli.entry`` in it with the command's arguments, extra environment and
    output files, as ``python -m mlpilot`` would; it reaps the children and reports how each
    ended. A command starts in a moment instead of the seconds importing MLflow, pandas and
    scikit-learn takes (CPU that two cores cannot spare for some thirty processes)."""

    def __init__(self, directory: Path) -> None:
        self.log = directory / "fork-server.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", FORK_SERVER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=child_env(),
                cwd=directory,
            )
        self.started: dict[str, int] = {}  # token → pid
        self.ended: dict[int, int] = {}  # pid → exit code (-N: killed by signal N)
        self.gone = False
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, name="e2e-fork-server", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, key, value = line.decode().split()
            with self.changed:
                if kind == "started":
                    self.started[key] = int(value)
                else:
                    self.ended[int(key)] = int(value)
                self.changed.notify_all()
        with self.changed:
            self.gone = True
            self.changed.notify_all()

    def run(
        self, args: list[str], *, stdout: Path, stderr: Path, env: dict[str, str] | None = None
    ) -> Forked:
        """``mlpilot ARGS`` in a new child; its output goes to the files ``stdout``, ``stderr``."""
        token = uuid.uuid4().hex
        order = {
            "token": token,
            "args": args,
            "env": env or {},
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(order).encode() + b"\n")
        self.proc.stdin.flush()
        with self.changed:
            self.changed.wait_for(lambda: token in self.started or self.gone, timeout=DEADLINE)
            if token not in self.started:
                raise AssertionError(f"the fork server did not start {args}: {_read(self.log)}")
            return Forked(self, self.started[token])

    def wait(self, pid: int, timeout: float | None) -> int | None:
        with self.changed:
            self.changed.wait_for(lambda: pid in self.ended or self.gone, timeout=timeout)
            return self.ended.get(pid)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # it kills what still runs, reaps it and exits
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


class Forked:
    """A child of the :class:`ForkServer`, with the part of ``Popen`` the tests use."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid

    def poll(self) -> int | None:
        return self.server.ended.get(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        code = self.server.wait(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended, not yet reported
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@dataclass
class Stage:
    """The module's project, its server, its clients and the fork server for commands."""

    directory: Path
    frame: pd.DataFrame
    project: Project
    book: ReleaseBook
    routes: RouteStore
    verbs: Autopilot  # release_version, retrain here (what the CLI calls); it never ticks
    server: Server
    traffic: Traffic
    forks: ForkServer

    @property
    def lease(self) -> str:
        return f"autopilot:{self.project.name}"

    def champion(self) -> int | None:
        found = self.project.registry.by_alias("champion")
        return None if found is None else found.version

    def challenger(self) -> int | None:
        found = self.project.registry.by_alias("challenger")
        return None if found is None else found.version

    def route(self) -> str:
        return self.routes.get(self.project.name).mode


@dataclass
class Process:
    """A command or controller started by a test, with its output files."""

    proc: subprocess.Popen[bytes] | Forked
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        if self.stderr == self.stdout:
            return _read(self.stdout)
        return _read(self.stdout) + _read(self.stderr)

    def finish(self, timeout: float = DEADLINE) -> tuple[int, str, str]:
        """Wait for its end (killed after ``timeout`` s): exit code, stdout, stderr."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # its stacks, into its stderr
            time.sleep(1)
            self.proc.kill()
            code = self.proc.wait()
        return code, _read(self.stdout), _read(self.stderr)


def _read(path: Path) -> str:
    """A command's output file (it exists once the command started)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


@dataclass
class Pilots:
    """The processes one test starts; stopped (SIGTERM, then SIGKILL) and reaped at its end."""

    stage: Stage
    logs: Path
    started: list[Process] = field(default_factory=list)

    def _files(self, name: str, *, merged: bool) -> tuple[Path, Path]:
        stem = self.logs / f"{len(self.started):02d}-{name}"
        if merged:
            return stem.with_suffix(".log"), stem.with_suffix(".log")
        return stem.with_suffix(".out"), stem.with_suffix(".err")

    def command(self, *args: str) -> Process:
        """``mlpilot ARGS --project DIR`` started; :meth:`Process.finish` waits for it."""
        out, err = self._files(args[0], merged=False)
        proc = self.stage.forks.run(
            [*args, "--project", str(self.stage.directory)], stdout=out, stderr=err
        )
        self.started.append(Process(proc, out, err))
        return self.started[-1]

    def run(self, *args: str) -> tuple[int, str, str]:
        return self.command(*args).finish()

    def start(self, crash: str | None = None) -> Process:
        """``mlpilot autopilot``, SIGKILLing itself at ``crash`` when given."""
        log, _ = self._files(f"autopilot-{(crash or 'normal').replace(':', '-')}", merged=True)
        proc = self.stage.forks.run(
            ["autopilot", "--project", str(self.stage.directory)],
            stdout=log,
            stderr=log,
            env={CRASH_ENV: crash} if crash else None,
        )
        self.started.append(Process(proc, log, log))
        return self.started[-1]

    def start_cold(self) -> Process:
        """``python -m mlpilot autopilot`` exactly as a user starts it."""
        log, _ = self._files("autopilot-cold", merged=True)
        with log.open("w") as handle:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlpilot",
                    "autopilot",
                    "--project",
                    str(self.stage.directory),
                ],
                env=child_env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        self.started.append(Process(proc, log, log))
        return self.started[-1]

    def holds_lease(self, controller: Process) -> bool:
        holder = self.stage.project.store.holder(self.stage.lease)
        return holder is not None and holder.startswith(f"pid {controller.pid} ")

    def wait_active(self, controller: Process) -> None:
        """Until ``controller`` holds the lease."""

        def check() -> bool:
            if controller.proc.poll() is not None:
                raise AssertionError(f"the controller exited early:\n{self.context()}")
            return self.holds_lease(controller)

        wait_for(f"controller {controller.pid} to hold the lease", check, context=self.context)

    def wait_done(self, release_id: str) -> Release:
        """Until the release ``release_id`` (or a prefix of it) is terminal."""

        def check() -> Release | None:
            release = self.stage.book.get(release_id)
            return release if release.done else None

        return wait_for(f"release {release_id[:8]} to end", check, context=self.context)

    def context(self) -> str:
        """The controllers' logs and the latest releases, for a failure's message."""
        parts = [
            f"--- {p.stdout.name} (pid {p.pid}, rc {p.proc.poll()})\n{p.text()[-3000:]}"
            for p in self.started
            if "autopilot" in p.stdout.name
        ]
        releases = [
            f"{r.id[:8]} {r.state} v{r.model_version} decision={r.decision} "
            f"{states(r)} {r.analysis.get('reason', '')}"
            for r in self.stage.book.recent(5)
        ]
        return "\n".join([*parts, "--- releases", *releases])

    def close(self) -> None:
        began = time.monotonic()
        for p in self.started:
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in self.started:
            try:
                p.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                say(f"process {p.pid} ignored SIGTERM for 30 s; its stacks are in {p.stderr}")
                p.proc.send_signal(signal.SIGUSR1)
                time.sleep(2)
                p.proc.kill()
                p.proc.wait()
        say(f"processes stopped in {time.monotonic() - began:.1f} s")


def tidy(stage: Stage) -> None:
    """Back to the module's resting state: nothing in flight or pending, route single, no
    challenger, v1 the champion (after a passing test only the last may need doing)."""
    project = stage.project
    with project.store.session() as s:
        s.execute(
            update(ReleaseRow)
            .where(ReleaseRow.project == project.name, ReleaseRow.finished_at.is_(None))
            .values(state="failed", finished_at=ReleaseRow.updated_at)
        )
        s.execute(
            update(TriggerEventRow)
            .where(TriggerEventRow.project == project.name, TriggerEventRow.status == "pending")
            .values(status="refused")
        )
    if stage.route() != "single":
        stage.routes.set(project.name, "single", reason="e2e teardown")
    if stage.challenger() is not None:
        project.registry.remove_alias("challenger", reason="e2e teardown")
    if stage.champion() != 1:
        project.promote(1, reason="e2e: v1 is the champion again for the next test")


def check_invariants(stage: Stage) -> None:
    """What must hold whenever no release is in flight, whatever crashed before."""
    project = stage.project
    versions = project.registry.list_versions()
    champions = [v.version for v in versions if "champion" in v.aliases]
    assert len(champions) == 1, champions
    assert stage.challenger() is None
    middle = [(r.id[:8], r.state) for r in stage.book.recent(500) if not r.done]
    assert middle == []
    assert stage.route() == "single"
    with project.store.session() as s:
        doubled = list(
            s.execute(
                select(ReleaseRow.trigger_id, func.count())
                .where(ReleaseRow.project == project.name)
                .group_by(ReleaseRow.trigger_id)
                .having(func.count() > 1)
            )
        )
        assert doubled == [], "several releases for one trigger"
        runs: dict[str, str] = {
            str(run_id): str(trigger)
            for run_id, trigger in s.execute(
                select(PipelineRunRow.id, PipelineRunRow.trigger).where(
                    PipelineRunRow.project == project.name,
                    PipelineRunRow.trigger.startswith("release:"),
                )
            )
        }
    registered: dict[str, list[int]] = {}  # release → the versions its runs registered
    for v in versions:
        trigger = runs.get(v.lineage.get("mlpilot.pipeline_run_id", ""))
        if trigger is not None:
            registered.setdefault(trigger, []).append(v.version)
    assert all(len(vs) == 1 for vs in registered.values()), registered
    report = project.verify_audit()
    assert report.ok, report


def states(release: Release) -> list[str]:
    return [t["state"] for t in release.transitions]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    root = tmp_path_factory.mktemp("autopilot-e2e")
    directory = write_project(
        root / "proj",
        name="pilot-e2e",
        source="data.csv",
        entrypoint="pipeline.py:train",
        extra=SETTINGS,
    )
    (directory / "pipeline.py").write_text(TRAIN_PY, encoding="utf-8")
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    project = Project.open(directory, env={})
    forks = ForkServer(root)  # it imports while the versions train
    starting: list[Server | BaseException] = []
    verbs: Autopilot | None = None
    traffic: Traffic | None = None
    try:
        write_data(directory, frame)
        assert project.run().model_version == 1
        say("v1 trained")
        # the server starts (in its own process) while v2 and v3 train here
        starter = threading.Thread(target=_start_server, args=(project, starting), daemon=True)
        starter.start()
        try:
            write_data(directory, frame.sample(frac=0.9, random_state=1))
            assert project.run().model_version == GOOD
            project.registry.remove_alias("challenger", reason="e2e setup: released by hand")
            write_data(directory, bad_labels(frame, np.random.default_rng(3)))
            lenient = Project.open(directory, env={}, overrides=LENIENT)
            bad = lenient.run()
            lenient.store.dispose()
            assert bad.model_version == BAD, bad.message
            project.registry.remove_alias("challenger", reason="e2e setup: released by hand")
            write_data(directory, frame)
            say("v2 and v3 registered")
        finally:
            starter.join()
        server = starting[0]
        if not isinstance(server, Server):
            raise server
        say(f"serving at {server.url}")
        traffic = Traffic(server.url, frame)
        traffic.start()
        verbs = project.autopilot(tag="e2e-verbs", monitors=False)
        yield Stage(
            directory=directory,
            frame=frame,
            project=project,
            book=verbs.book,
            routes=verbs.routes,
            verbs=verbs,
            server=server,
            traffic=traffic,
            forks=forks,
        )
    finally:
        if traffic is not None:
            traffic.stop.set()
            traffic.join(timeout=30)
        for started in starting:
            if isinstance(started, Server):
                started.stop()
        if verbs is not None:
            verbs.close()
        forks.close()
        project.store.dispose()
    print(
        f"traffic: {len(traffic.answers)} requests in the module, {len(traffic.failures)} "
        f"failed, {len(traffic.lost_labels)} labels refused"
    )
    assert traffic.failures == [], traffic.failures[:10]
    assert traffic.lost_labels == [], traffic.lost_labels[:10]


def _start_server(project: Project, out: list[Server | BaseException]) -> None:
    try:
        # compacting every 20 s, not the helper's 0.5 s: fewer, larger part files
        out.append(Server(project, "--set", "serve.compact_seconds=20"))
    except BaseException as exc:
        out.append(exc)


@pytest.fixture
def pilots(stage: Stage, tmp_path: Path) -> Iterator[Pilots]:
    started = Pilots(stage, tmp_path)
    try:
        yield started
    finally:
        started.close()
        tidy(stage)


# -- the happy path -------------------------------------------------------------------------


def test_releases_run_by_real_processes_promote_the_good_and_roll_back_the_bad(
    stage: Stage, pilots: Pilots
) -> None:
    traffic = stage.traffic
    mark = traffic.mark()
    controller = pilots.start_cold()
    pilots.wait_active(controller)
    say(f"controller {controller.pid} holds the lease")

    # a second controller stays passive while the first holds the lease
    code, _, err = pilots.run("autopilot", "--once")
    assert code == 0, err
    assert "passive: the lease is held by" in err, err

    code, out, err = pilots.run("release", "start", str(GOOD), "--reason", "e2e: v2 by hand")
    assert code == 0, err
    found = re.search(r"release (\w{8}) of version 2 is gated", out)
    assert found, out
    say(f"release {found.group(1)} of v2 started")
    good = pilots.wait_done(found.group(1))
    say(f"release {good.id[:8]} of v2 {good.state}")
    assert good.state == "promoted", pilots.context()
    assert states(good) == ["triggered", "gated", "canary", "analysing", "promoted"]
    assert min(good.analysis["challenger"]["labelled"], good.analysis["champion"]["labelled"]) >= 40
    assert (stage.champion(), stage.challenger(), stage.route()) == (GOOD, None, "single")
    promoted_at = traffic.mark()
    wait_for(
        "the server to answer with v2 as the champion",
        lambda: any(
            (a.version, a.variant) == (GOOD, "champion") for a in traffic.since(promoted_at)
        ),
    )

    started_bad = stage.verbs.release_version(BAD, reason="e2e: v3, trained on spoilt labels")
    bad = pilots.wait_done(started_bad.id)
    say(f"release {bad.id[:8]} of v3 {bad.state}")
    assert bad.state == "rolled_back", pilots.context()
    assert "significantly worse" in (bad.decision_reason or "")
    assert (stage.champion(), stage.challenger(), stage.route()) == (GOOD, None, "single")
    settled = traffic.mark()
    wait_for(
        "30 answers in a row from v2 alone",
        lambda: (
            len(tail := traffic.since(settled)[-30:]) == 30
            and all((a.version, a.variant) == (GOOD, "champion") for a in tail)
        ),
    )
    answered_by_bad = sum(1 for a in traffic.since(mark) if a.version == BAD)
    print(f"v3 answered {answered_by_bad} requests before its rollback")
    assert answered_by_bad > 0

    code, out, err = pilots.run("audit", "verify")
    assert code == 0, out + err
    assert "audit chain intact" in out

    controller.proc.send_signal(signal.SIGTERM)
    assert controller.proc.wait(timeout=30) == 0, controller.text()
    assert "lease given back" in controller.text()
    assert stage.project.store.holder(stage.lease) is None
    check_invariants(stage)
    assert traffic.failed_since(mark) == []


# -- crash safety ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    point: str
    via: Literal["retrain", "good", "bad"]  # a retrain, or a release of v2 or of v3
    at_crash: str  # the release's state when the controller died

    @property
    def outcome(self) -> str:
        return "rolled_back" if self.via == "bad" else "promoted"


CASES = [
    Case("after:triggered", "retrain", "triggered"),
    Case("after:training", "retrain", "training"),
    Case("after:trained", "retrain", "training"),
    Case("after:gated", "retrain", "gated"),
    Case("after:challenger_alias", "bad", "gated"),
    Case("after:route", "good", "gated"),
    Case("after:canary", "bad", "canary"),
    Case("after:analysing", "good", "analysing"),
    Case("after:decided", "good", "analysing"),
    Case("after:promote_alias", "good", "analysing"),
    Case("after:rollback_route", "bad", "analysing"),
    Case("after:rolled_back", "bad", "rolled_back"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.point for c in CASES])
def test_a_controller_killed_mid_release_is_replaced_and_the_release_ends_whole(
    stage: Stage, pilots: Pilots, case: Case
) -> None:
    traffic = stage.traffic
    mark = traffic.mark()
    doomed = pilots.start(crash=case.point)
    release_id: str | None = None
    event: int | None = None
    if case.via == "retrain":
        # new rows, so that the retrain registers a new version
        seed = 100 + CASES.index(case)
        write_data(stage.directory, stage.frame.sample(frac=0.9, random_state=seed))
        if case.point == "after:triggered":  # the others ask here, as the CLI does
            code, out, err = pilots.run("retrain", "--reason", f"e2e crash test {case.point}")
            assert code == 0, err
            found = re.search(r"trigger (\d+) recorded", out)
            assert found, out
            event = int(found.group(1))
        else:
            event = stage.verbs.retrain(reason=f"e2e crash test {case.point}")
    else:
        version = GOOD if case.via == "good" else BAD
        release_id = stage.verbs.release_version(version, reason=f"e2e {case.point}").id

    assert doomed.proc.wait(timeout=DEADLINE) == -signal.SIGKILL, pilots.context()
    say(f"controller {doomed.pid} killed itself at {case.point}")
    if release_id is None:
        with stage.project.store.session() as s:
            release_id = s.scalar(select(ReleaseRow.id).where(ReleaseRow.trigger_id == event))
        assert release_id is not None, pilots.context()
    crashed = stage.book.get(release_id)
    assert crashed.state == case.at_crash, pilots.context()
    check_at_crash(stage, case, crashed)

    restarted = pilots.start()
    done = pilots.wait_done(release_id)
    say(f"release {release_id[:8]} {done.state}")
    assert done.state == case.outcome, pilots.context()
    wait_for("the restarted controller to hold the lease", lambda: pilots.holds_lease(restarted))
    assert crashed.model_version is None or done.model_version == crashed.model_version
    if case.via == "retrain":
        assert done.model_version is not None
        assert done.attempts == (2 if case.point == "after:training" else 1)
        notes = " | ".join(t["note"] for t in done.transitions)
        if case.point == "after:training":
            assert "training was interrupted; it runs again" in notes
        if case.point == "after:trained":
            assert f"adopted version {done.model_version}" in notes
    assert stage.champion() == (done.model_version if case.outcome == "promoted" else 1)
    check_invariants(stage)
    assert traffic.failed_since(mark) == []


def check_at_crash(stage: Stage, case: Case, release: Release) -> None:
    """The controller died where it was asked to."""
    if case.point == "after:trained":
        assert release.model_version is None
        with stage.project.store.session() as s:
            runs = set(
                s.scalars(
                    select(PipelineRunRow.id).where(
                        PipelineRunRow.trigger == f"release:{release.id}"
                    )
                )
            )
        registered = [
            v.version
            for v in stage.project.registry.list_versions()
            if v.lineage.get("mlpilot.pipeline_run_id") in runs
        ]
        assert len(registered) == 1
        assert stage.challenger() == registered[0]
    elif case.point == "after:challenger_alias":
        assert (stage.challenger(), stage.route()) == (BAD, "single")
    elif case.point == "after:route":
        assert (stage.challenger(), stage.route()) == (GOOD, "canary")
    elif case.point == "after:analysing":
        assert release.decision is None
    elif case.point == "after:decided":
        assert release.decision == "promote"
        assert stage.champion() == 1
    elif case.point == "after:promote_alias":
        assert release.decision == "promote"
        assert (stage.champion(), stage.route()) == (GOOD, "canary")
    elif case.point == "after:rollback_route":
        assert release.decision == "rollback"
        assert (stage.challenger(), stage.route()) == (BAD, "single")
