"""The whole loop on the bundled example, offline: what ``mlpilot quickstart`` runs.

Train v1 → ``mlpilot up`` (the prediction service and the autopilot, as a child process) →
simulated traffic with feedback labels → the inputs drift (:mod:`._demo_data`) and labelled
new-scanner rows land in the data source → the drift and performance monitors fire → the
autopilot retrains, gates, canaries, analyses and promotes v2 → a deliberately bad challenger is
registered and rolled back automatically → a summary: the timeline, the recovery time, what the
bad challenger answered, failed requests, and the audit chain's verification.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpilot.errors import ConfigError, MlpilotError, ServingError
from mlpilot.project import _demo_data as world
from mlpilot.project._project import Project
from mlpilot.project._scaffold import init_project

if TYPE_CHECKING:
    import pandas as pd

    from mlpilot.autopilot import Release, ReleaseBook
    from mlpilot.governance import ChainReport

__all__ = ["DEMO_SETTINGS", "DemoResult", "Traffic", "run_demo"]

DATA_FILE = "data/current.csv"
DEMO_SETTINGS = """
# -- the autopilot (quickstart settings: fast ticks and a large canary, so the demo takes
# -- a minute or two; production values are in the comments) --------------------------------
[release]
strategy = "canary"          # or "shadow", "ab", "direct"
canary_traffic = 0.5         # production: 0.05-0.2

[release.analysis]
metric = "accuracy"
margin = 0.05                # promote when not worse than the champion by more than this
min_requests = 100           # production: 1000s
min_labels = 80
max_minutes = 5              # production: 30-1440
on_timeout = "rollback"

[monitor]
drift = {{ share = 0.25, window = 300, min_rows = 100 }}
performance = {{ metric = "accuracy", min = 0.9, min_labels = 60 }}

[autopilot]
tick_seconds = 0.5           # production: 5-30
monitor_seconds = 3          # production: 60-600
monitor_window = 300
cooldown_minutes = 1         # production: 30-360

[serve]
poll_seconds = 0.2
compact_seconds = 15

[[trigger]]
on = "drift"
consecutive = 2

[[trigger]]
on = "performance"
consecutive = 2

[[trigger]]
on = "schedule"
cron = "0 3 * * 1"           # and every Monday at 03:00 UTC
"""
Say = Callable[[str], None]


@dataclass
class Answer:
    """One request the simulated clients sent."""

    ts: float
    status: int
    version: int | None
    variant: str | None
    drifted: bool


class Traffic(threading.Thread):
    """Simulated clients: single-row requests at ``rate`` per second, each labelled at once.

    ``drifted`` switches the rows to the new scanner's. Every answer is kept for the summary.
    """

    def __init__(self, url: str, *, rate: float = 60.0, seed: int = 0) -> None:
        super().__init__(name="mlpilot-demo-traffic", daemon=True)
        import httpx

        self.client = httpx.Client(base_url=url, timeout=30)
        self.rate = rate
        self.rng = np.random.default_rng(seed)
        self.base = world.base_frame()
        self.drifted_rows = world.drift(self.base)
        self.drifted = False
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self._pool: list[dict[str, Any]] = []

    def _next(self) -> tuple[dict[str, Any], int]:
        if not self._pool:
            frame = self.drifted_rows if self.drifted else self.base
            rows = world.sample_rows(frame, 200, self.rng)
            self._pool = [{str(k): v for k, v in r.items()} for r in rows.to_dict("records")]
        row = self._pool.pop()
        label = int(row.pop(world.TARGET))
        return row, label

    def run(self) -> None:
        import httpx

        pause = 1.0 / self.rate
        while not self.stop.is_set():
            started = time.monotonic()
            drifted = self.drifted
            row, label = self._next()
            try:
                reply = self.client.post("/predict", json={"records": [row]})
                body = reply.json() if reply.status_code == 200 else {}
                self.answers.append(
                    Answer(
                        time.time(),
                        reply.status_code,
                        body.get("model_version"),
                        body.get("variant"),
                        drifted,
                    )
                )
                if reply.status_code == 200:
                    self.client.post(
                        "/feedback", json={"request_id": body["request_id"], "label": label}
                    )
            except httpx.HTTPError:
                self.answers.append(Answer(time.time(), 0, None, None, drifted))
            self.stop.wait(max(0.0, pause - (time.monotonic() - started)))
        self.client.close()


@dataclass
class DemoResult:
    """What the demo did and measured."""

    project_dir: Path
    seconds: float = 0.0
    v1: int | None = None
    v2: int | None = None
    bad: int | None = None
    drift_onset: float | None = None
    recovery_seconds: float | None = None
    bad_requests: int = 0
    rollback_seconds: float | None = None
    requests: int = 0
    failed_requests: int = 0
    stopped_cleanly: bool = False
    releases: list[Release] = field(default_factory=list)
    audit: ChainReport | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_demo_project(directory: Path, *, fresh: bool = False) -> Path:
    """The example project with a file data source and the quickstart's autopilot settings.

    The demo tells its story from the start, so it needs a new directory; ``fresh`` recreates
    one that holds an earlier run of the demo (and refuses to delete anything else).
    """
    if directory.exists() and any(directory.iterdir()):
        toml = directory / "mlpilot.toml"
        ours = (
            toml.is_file()
            and 'name = "breast-cancer"' in toml.read_text(encoding="utf-8")
            and (directory / DATA_FILE).is_file()
        )
        if not (fresh and ours):
            hint = (
                "pass --fresh to recreate the example there"
                if ours
                else "it is not an earlier quickstart, so nothing there is deleted"
            )
            raise ConfigError(
                f"{directory} is not empty: the quickstart needs a new directory; choose "
                f"another one ({hint})"
            )
        shutil.rmtree(directory)
    init_project(directory, name="breast-cancer", source=DATA_FILE, ci="github")
    toml = directory / "mlpilot.toml"
    text = toml.read_text(encoding="utf-8").replace(
        'vs_champion = { metric = "roc_auc", min_delta = -0.005 }',
        'vs_champion = { metric = "accuracy", min_delta = -0.01 }',
    )
    toml.write_text(text + DEMO_SETTINGS.format(), encoding="utf-8")
    write_data(directory, world.base_frame())
    _commit(directory)
    return directory


def _commit(directory: Path) -> None:
    """Put the example under version control (one commit, tagged), as a real project is.

    Runs and model versions then record the commit they were built from. Without git on the
    PATH the demo runs all the same, untracked.
    """
    git = shutil.which("git")
    if git is None:
        return
    identity = [
        *("-c", "user.name=mlpilot quickstart", "-c", "user.email=quickstart@mlpilot.invalid"),
        *("-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"),
    ]
    for args in (
        ["init", "--quiet"],
        ["add", "--all"],
        [*identity, "commit", "--quiet", "-m", "The example project"],
        [*identity, "tag", "-a", "example-1", "-m", "The example as created"],
    ):
        try:
            subprocess.run([git, *args], cwd=directory, check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return  # a broken git: the demo runs untracked


def write_data(directory: Path, frame: pd.DataFrame) -> None:
    """Replace the project's data source atomically (as a data export would)."""
    path = directory / DATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    frame.to_csv(partial, index=False)
    partial.replace(path)


class Stack:
    """``mlpilot up`` in a child process, stopped with SIGTERM."""

    def __init__(self, directory: Path, port: int, log: Path) -> None:
        import httpx

        self.url = f"http://127.0.0.1:{port}"
        self.log = log.open("w", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlpilot",
                "up",
                "--project",
                str(directory),
                "--port",
                str(port),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ServingError(f"'mlpilot up' exited early; see its log {log}")
                try:
                    if client.get("/health/ready").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise ServingError(f"'mlpilot up' did not become ready in 120 s; see its log {log}")

    def stop(self) -> bool:
        """SIGTERM ``mlpilot up``; whether it exited 0 and left no process behind."""
        clean = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                clean = self.proc.wait(timeout=60) == 0
            except subprocess.TimeoutExpired:
                clean = False
        else:
            clean = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the autopilot child finishes its tick, then exits
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            clean = False
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        return clean


def wait_for(
    what: str, check: Callable[[], Any], *, timeout: float, say: Say, every: float = 0.5
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise MlpilotError(f"the demo waited {timeout:g} s for {what}; it did not happen")


def run_demo(directory: Path, *, say: Say, seed: int = 0, fresh: bool = False) -> DemoResult:
    """Run the whole loop on a new example project in ``directory``; see the module's doc."""
    started = time.monotonic()
    create_demo_project(directory, fresh=fresh)
    say(f"created the example project in {directory.resolve()}")
    result = DemoResult(project_dir=directory.resolve())
    project = Project.open(directory)
    if project.registry.by_alias("champion") is None:
        say("training v1 on the original lab's data (ingest → validate → train → gate)")
        summary = project.run(actor="quickstart")
        result.v1 = summary.model_version
    else:
        result.v1 = project.registry.by_alias("champion").version  # type: ignore[union-attr]
    say(f"v1 is the champion (version {result.v1}); starting 'mlpilot up'")
    log = project.settings.home / "up.log"
    stack = Stack(directory, free_port(), log)
    traffic = Traffic(stack.url, seed=seed)
    rng = np.random.default_rng(seed + 1)
    try:
        traffic.start()
        say(f"serving at {stack.url}; clients send requests and their labels")
        time.sleep(8)
        say(f"drift: {world.DRIFT_STORY}")
        result.drift_onset = time.time()
        traffic.drifted = True
        drifted = world.sample_rows(world.drift(world.base_frame()), 500, rng)
        write_data(directory, drifted)
        say("the new scanner's labelled cases land in the data source")
        release = _wait_release(project, say, timeout=150, known=set())
        result.v2 = release.model_version
        recovered = wait_for(
            f"v2 (version {result.v2}) answering as champion",
            lambda: next(
                (
                    a.ts
                    for a in list(traffic.answers)
                    if a.version == result.v2 and a.variant == "champion"
                ),
                None,
            ),
            timeout=60,
            say=say,
        )
        result.recovery_seconds = float(recovered) - result.drift_onset
        say(
            f"recovered: v2 serves every request {result.recovery_seconds:.1f} s after the "
            "drift began"
        )
        time.sleep(2)
        known = {r.id for r in _book(project).recent(100)}
        say("a deliberately bad challenger: trained on labels spoilt by a broken join")
        write_data(directory, world.bad_labels(drifted, rng))
        lenient = {
            "gate.metrics": {"roc_auc": ">= 0", "accuracy": ">= 0"},
            "gate.vs_champion": None,
        }
        bad_project = Project.open(directory, overrides=lenient)
        bad = bad_project.run(alias="challenger", actor="quickstart")
        bad_project.store.dispose()
        if bad.model_version is None:
            raise MlpilotError(f"the bad challenger was not registered: {bad.message}")
        result.bad = bad.model_version
        write_data(directory, drifted)
        say(f"version {result.bad} registered as challenger, the gate switched off by hand")
        release = _wait_release(project, say, timeout=120, known=known)
        decided = release.decided_at or release.finished_at
        rolled = decided.timestamp() if decided else time.time()
        time.sleep(2)
        answers = list(traffic.answers)
        by_bad = [a for a in answers if a.version == result.bad]
        result.bad_requests = len(by_bad)
        last_bad = max((a.ts for a in by_bad), default=rolled)
        result.rollback_seconds = max(0.0, last_bad - rolled)
    finally:
        traffic.stop.set()
        traffic.join(timeout=30)
        say("stopping 'mlpilot up' (SIGTERM: the service and the autopilot)")
        result.stopped_cleanly = stack.stop()
    answers = traffic.answers
    result.requests = len(answers)
    result.failed_requests = sum(1 for a in answers if a.status != 200)
    result.releases = _book(project).recent(10)[::-1]
    result.audit = project.verify_audit()
    result.seconds = time.monotonic() - started
    project.store.dispose()
    return result


def _book(project: Project) -> ReleaseBook:
    from mlpilot.autopilot import ReleaseBook

    return ReleaseBook(project.store, project.audit, project.name)


def _wait_release(project: Project, say: Say, *, timeout: float, known: set[str]) -> Release:
    """Follow the autopilot's first release not in ``known`` (ids taken before whatever starts
    it, so a release that ends fast is not missed) to its end, telling each new state."""
    ap = project.autopilot(monitors=False)
    known = set(known)
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            current = [r for r in ap.releases(5) if r.id not in known]
            for release in current[::-1]:
                for step in release.transitions:
                    key = (release.id, step["state"])
                    if key not in seen:
                        seen.add(key)
                        say(f"release {release.id[:8]} {step['state']}: {step['note']}")
                if release.done and release.state in ("promoted", "rolled_back"):
                    return release
                if release.done:
                    known.add(release.id)
            time.sleep(0.3)
    finally:
        ap.close()
    raise MlpilotError(f"the demo waited {timeout:g} s for the autopilot's release to end")
