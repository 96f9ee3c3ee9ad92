"""The autopilot's closed loop: recovery after drift, canary analysis, promotion and rollback.

Two phases, each on its own throw-away project in a temporary directory, both over real HTTP
(``mlpilot up``: one serving worker plus the autopilot in its child process, with the
simulated clients of the quickstart sending single-row requests and their labels):

1. **Episodes** (``--episodes``, default 1): the quickstart's whole loop, ``run_demo`` of
   :mod:`mlpilot.project._demo` as ``mlpilot quickstart`` runs it (its own settings: canary
   50%, margin 0.05, min_labels 80, min_requests 100, tick 0.5 s; 60 requests/s). Measures
   the recovery time (drift onset → the retrained version answering as champion), the requests
   a deliberately bad challenger answered, the rollback time (the release's ``decided_at`` → the
   last answer from the bad version, seen by the clients) and failed requests.
2. **Releases**: a fresh example project (v1 trained on the 569 breast-cancer rows) with the
   analysis settings a production project would use (canary 50%, margin 0.05, alpha 0.05,
   min_labels 100, min_requests 100, ``--max-minutes`` 10, on_timeout rollback, tick 0.5 s, no
   triggers, ``serve.compact_seconds`` 30 as by default: ``--compact-seconds``). Before
   serving starts, ``--healthy`` (20) healthy challengers (the same pipeline on a different
   90% sample of the rows, each) and ``--bad`` (20) bad ones (trained on
   ``bad_labels(rows, seed)``: 60% of the labels inverted) are trained and registered with a
   lenient gate (the ``challenger`` alias is removed before serving starts). Then each in turn
   (healthy and bad alternating) is released while ``--clients`` (2) clients send ``--rate``
   (60) requests/s each, and the script waits for the release's end. ``--via alias`` (the
   default) points the ``challenger`` alias at the version and the autopilot takes it into a
   release on its next tick (as after ``mlpilot ci --release``); ``--via release`` calls
   ``Autopilot.release_version`` from this process (as ``mlpilot release start`` does), which
   races with the controller's tick (see RESULTS.md).
   Counts false rollbacks (healthy ones rolled back, timeouts included and shown apart) and bad
   ones promoted; shows the decision times and labels used, and per bad release its requests
   and rollback time.

Every answer the clients got is kept: failed requests (non-200 or transport error) are counted
over both phases, which include every promotion and rollback. No peer tool closes this loop
on one machine (train, serve, canary, analyse, promote or roll back, retrain on drift), so
there is no side-by-side figure here. Exits 1 when a goal of 0 is missed.

Run: ``.venv/bin/python benchmarks/closed_loop.py`` (about 13 minutes on 2 cores, more on a busy
machine; ``--quick``: 3 healthy + 3 bad challengers, about 5 minutes). Figures in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import machine

STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {text}", flush=True)


# -- phase 1: the quickstart's loop ---------------------------------------------------------------


@dataclass
class Episode:
    seconds: float = 0.0
    recovery: float | None = None
    bad_requests: int | None = None
    rollback: float | None = None
    requests: int = 0
    failed: int = 0
    bad_decision: str | None = None
    bad_decided_after: float | None = None
    bad_labels: int | None = None
    error: str | None = None


def run_episode(directory: Path, seed: int) -> Episode:
    from mlpilot.errors import MlpilotError
    from mlpilot.project._demo import run_demo

    out = Episode()
    started = time.monotonic()
    try:
        result = run_demo(directory, say=lambda t: say(f"  episode {seed}: {t}"), seed=seed)
    except MlpilotError as exc:
        out.error = exc.message
        out.seconds = time.monotonic() - started
        return out
    out.seconds = result.seconds
    out.recovery = result.recovery_seconds
    out.bad_requests = result.bad_requests
    out.rollback = result.rollback_seconds
    out.requests = result.requests
    out.failed = result.failed_requests
    for release in result.releases:
        if release.model_version == result.bad and release.decided_at is not None:
            out.bad_decision = release.decision
            rollout = release.rollout_at or release.created_at
            out.bad_decided_after = (release.decided_at - rollout).total_seconds()
            out.bad_labels = (release.analysis.get("challenger") or {}).get("labelled")
    return out


# -- phase 2: many releases -----------------------------------------------------------------------

ANALYSIS = {
    "margin": 0.05,
    "alpha": 0.05,
    "min_labels": 100,
    "min_requests": 100,
    "on_timeout": "rollback",
}
LENIENT = {"gate.metrics": {"roc_auc": ">= 0", "accuracy": ">= 0"}, "gate.vs_champion": None}


def release_project(
    directory: Path, max_minutes: float, compact_seconds: float, strategy: str = "canary"
) -> Path:
    """The quickstart's example with production-ish analysis settings and no triggers."""
    from mlpilot.project._demo import create_demo_project

    create_demo_project(directory)
    toml = directory / "mlpilot.toml"
    text = toml.read_text(encoding="utf-8")
    text = text[: text.index("[[trigger]]")]  # no drift/performance/schedule retrains here
    text = re.sub(r"(?m)^min_labels = .*$", f"min_labels = {ANALYSIS['min_labels']}", text)
    text = re.sub(r"(?m)^min_requests = .*$", f"min_requests = {ANALYSIS['min_requests']}", text)
    text = re.sub(r"(?m)^margin = .*$", f"margin = {ANALYSIS['margin']}", text)
    text = re.sub(r"(?m)^max_minutes = .*$", f"max_minutes = {max_minutes:g}", text)
    text = re.sub(r"(?m)^on_timeout = .*$", f'on_timeout = "{ANALYSIS["on_timeout"]}"', text)
    alpha = f'metric = "accuracy"\nalpha = {ANALYSIS["alpha"]}'
    text = re.sub(r"(?m)^metric = \"accuracy\"$", alpha, text)
    text = re.sub(r"(?m)^monitor_seconds = .*$", "monitor_seconds = 30", text)
    text = re.sub(r"(?m)^compact_seconds = .*$", f"compact_seconds = {compact_seconds:g}", text)
    text = re.sub(r'(?m)^strategy = "canary"', f'strategy = "{strategy}"', text)
    toml.write_text(text, encoding="utf-8")
    return directory


@dataclass
class Challenger:
    kind: str  # "healthy" or "bad"
    seed: int
    version: int
    holdout_accuracy: float | None
    state: str = ""
    decision: str | None = None
    reason: str = ""
    timeout: bool = False
    decided_after: float | None = None
    labels: tuple[int, int] = (0, 0)
    accuracy: tuple[float | None, float | None] = (None, None)
    requests: int = 0
    failed: int = 0
    switch: float | None = None  # decision -> the last answer from the loser, client side
    rate: float = 0.0  # answers/s the clients got during the release
    release_id: str = ""
    analysis: dict[str, Any] = field(default_factory=dict)


def train_challengers(directory: Path, healthy: int, bad: int) -> tuple[int, list[Challenger]]:
    import numpy as np

    from mlpilot.project import Project
    from mlpilot.project import _demo_data as world
    from mlpilot.project._demo import write_data

    base = world.base_frame()
    project = Project.open(directory)
    t0 = time.monotonic()
    first = project.run(actor="benchmark")
    if first.model_version is None:
        raise SystemExit(f"v1 was not registered: {first.message}")
    say(f"v1 (champion) trained on all {len(base)} rows in {time.monotonic() - t0:.1f} s")
    project.store.dispose()
    plan = [("healthy", 100 + i) for i in range(healthy)] + [("bad", 1000 + i) for i in range(bad)]
    made: list[Challenger] = []
    for kind, seed in plan:
        if kind == "healthy":
            frame = base.sample(frac=0.9, random_state=seed).reset_index(drop=True)
        else:
            frame = world.bad_labels(base, np.random.default_rng(seed))
        write_data(directory, frame)
        lenient = Project.open(directory, overrides=LENIENT)
        t0 = time.monotonic()
        summary = lenient.run(alias="challenger", actor="benchmark")
        lenient.store.dispose()
        if summary.model_version is None:
            raise SystemExit(f"{kind} challenger {seed} was not registered: {summary.message}")
        accuracy = summary.metrics.get("accuracy")
        made.append(Challenger(kind, seed, summary.model_version, accuracy))
        say(
            f"{kind} challenger seed {seed}: version {summary.model_version}, holdout accuracy "
            f"{accuracy:.3f} ({time.monotonic() - t0:.1f} s)"
        )
    write_data(directory, base)
    project = Project.open(directory)
    project.registry.remove_alias(
        "challenger", actor="benchmark", reason="released one by one by the benchmark"
    )
    project.store.dispose()
    # healthy and bad alternate, so each kind meets champions of every age
    order: list[Challenger] = []
    good = [c for c in made if c.kind == "healthy"]
    poor = [c for c in made if c.kind == "bad"]
    for i in range(max(len(good), len(poor))):
        order += good[i : i + 1] + poor[i : i + 1]
    return first.model_version, order


class Aborted(Exception):
    """Phase 2 cannot go on (the autopilot does not move); what was measured is reported."""


@dataclass
class Phase2:
    requests: int = 0
    failed: int = 0
    seconds: float = 0.0
    aborted: str | None = None


WAIT = 300.0
"""Seconds to wait for the autopilot to open a release, or to move it past ``gated``."""


def run_releases(
    directory: Path,
    order: list[Challenger],
    *,
    clients: int,
    rate: float,
    max_minutes: float,
    via: str,
) -> Phase2:
    """Release each challenger in turn, until all are judged or the autopilot stops moving."""
    from mlpilot.project import Project
    from mlpilot.project._demo import Stack, Traffic, free_port

    project = Project.open(directory)
    stack = Stack(directory, free_port(), project.settings.home / "up.log")
    traffic = [Traffic(stack.url, rate=rate, seed=50 + i) for i in range(clients)]
    ap = project.autopilot(monitors=False)
    started = time.monotonic()
    out = Phase2()
    try:
        for t in traffic:
            t.start()
        time.sleep(5)
        for n, challenger in enumerate(order, 1):
            why = f"benchmark: {challenger.kind} seed {challenger.seed}"
            if via == "release":
                release = ap.release_version(challenger.version, reason=why)
            else:  # the challenger alias: the controller takes it into a release itself
                known = {r.id for r in ap.releases(5)}
                project.registry.set_alias("challenger", challenger.version, reason=why)
                release = _adopted(ap, challenger.version, known, stack.log.name)
            challenger.release_id = release.id
            t_release = time.monotonic()
            deadline = t_release + max_minutes * 60 + 120
            while not release.done:
                if time.monotonic() > deadline:
                    raise Aborted(f"release {release.id[:8]} did not end in time")
                if release.state in ("triggered", "gated") and time.monotonic() > t_release + WAIT:
                    raise Aborted(
                        f"release {release.id[:8]} still {release.state} after {WAIT:g} s: is "
                        f"the autopilot alive? The end of {stack.log.name}:\n"
                        f"{_tail(stack.log.name)}"
                    )
                time.sleep(0.25)
                release = ap.release(release.id)
            time.sleep(2)  # the answers around the switch
            answers = [a for t in traffic for a in list(t.answers)]
            judge(challenger, release, answers)
            say(
                f"[{n}/{len(order)}] {challenger.kind:<7} v{challenger.version} vs champion "
                f"v{release.champion_version}: {release.state} after "
                f"{_num(challenger.decided_after, 1)} s, labels {challenger.labels[0]}/"
                f"{challenger.labels[1]}, accuracy {_num(challenger.accuracy[0], 3)} vs "
                f"{_num(challenger.accuracy[1], 3)}, {challenger.requests} requests, switch "
                f"{_num(challenger.switch, 2)} s"
                + (f" | {challenger.reason}" if challenger.decision != "promote" else "")
            )
    except Aborted as exc:
        out.aborted = str(exc)
        say(f"ABORTED: {exc}")
    finally:
        for t in traffic:
            t.stop.set()
        for t in traffic:
            t.join(timeout=30)
        ap.close()
        stack.stop()
        project.store.dispose()
    answers = [a for t in traffic for a in t.answers]
    out.requests, out.failed = len(answers), sum(1 for a in answers if a.status != 200)
    out.seconds = time.monotonic() - started
    return out


def _adopted(ap: Any, version: int, known: set[str], log: str) -> Any:
    """The release the controller opened for the challenger ``version`` (within ``WAIT``)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for release in ap.releases(5):
            if release.id not in known and release.model_version == version:
                return release
        time.sleep(0.1)
    raise Aborted(
        f"the autopilot took challenger version {version} into no release within {WAIT:g} s; "
        f"the end of {log}:\n{_tail(log)}"
    )


def _tail(path: str, lines: int = 20) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def judge(challenger: Challenger, release: Any, answers: list[Any]) -> None:
    challenger.state = release.state
    challenger.decision = release.decision
    challenger.reason = release.decision_reason or (
        release.transitions[-1]["note"] if release.transitions else ""
    )
    challenger.timeout = (release.decision_reason or "").startswith("no decision after")
    challenger.analysis = release.analysis
    a = release.analysis or {}
    chal, champ = a.get("challenger") or {}, a.get("champion") or {}
    challenger.labels = (int(chal.get("labelled") or 0), int(champ.get("labelled") or 0))
    challenger.accuracy = (chal.get("metric"), champ.get("metric"))
    start = (release.rollout_at or release.created_at).timestamp()
    end = (release.finished_at or release.updated_at).timestamp() + 2
    window = [a for a in answers if start - 1 <= a.ts <= end]
    challenger.rate = len(window) / max(end - start + 1, 1e-9)
    challenger.requests = sum(1 for a in answers if a.version == challenger.version)
    challenger.failed = sum(1 for a in window if a.status != 200)
    if release.decided_at is None:
        return
    decided = release.decided_at.timestamp()
    challenger.decided_after = decided - start
    # the loser: the challenger after a rollback, the old champion after a promotion
    loser = challenger.version if release.decision != "promote" else release.champion_version
    last = max((a.ts for a in answers if a.version == loser and a.ts >= start), default=decided)
    challenger.switch = max(0.0, last - decided)


# -- the report -----------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mm(values: list[float], digits: int = 1) -> str:
    """median / max of ``values``."""
    if not values:
        return "-"
    return f"{statistics.median(values):.{digits}f} / {max(values):.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=1, help="Quickstart loops (phase 1).")
    parser.add_argument("--healthy", type=int, default=20, help="Healthy challengers.")
    parser.add_argument("--bad", type=int, default=20, help="Bad challengers.")
    parser.add_argument("--clients", type=int, default=2, help="Client threads in phase 2.")
    parser.add_argument("--rate", type=float, default=60.0, help="Requests/s of each client.")
    parser.add_argument(
        "--max-minutes", type=float, default=10.0, help="release.analysis.max_minutes (phase 2)."
    )
    parser.add_argument(
        "--compact-seconds",
        type=float,
        default=30.0,
        help="serve.compact_seconds in phase 2 (30: the default; the quickstart uses 5).",
    )
    parser.add_argument(
        "--via",
        choices=("alias", "release"),
        default="alias",
        help="How each challenger is released: 'alias' points the challenger alias at it and "
        "the autopilot takes it into a release (as after 'mlpilot ci --release'); 'release' "
        "calls Autopilot.release_version (as 'mlpilot release start' does), which races with "
        "the controller's tick (see RESULTS.md).",
    )
    parser.add_argument(
        "--strategy",
        choices=("canary", "shadow"),
        default="canary",
        help="How phase 2 releases each challenger: canary (50%% of traffic) or shadow (a copy "
        "of every request; the analysis then compares the variants pairwise, row by row).",
    )
    parser.add_argument("--quick", action="store_true", help="3 healthy + 3 bad challengers.")
    parser.add_argument("--keep", action="store_true", help="Keep the projects (print where).")
    parser.add_argument("--json", type=Path, help="Also write every figure to this file.")
    args = parser.parse_args()
    if args.quick:
        args.healthy, args.bad = 3, 3
    host = machine()  # before the run: the load average is the machine's other work
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="mlpilot-bench-loop-"))
    say(f"working in {workdir}")
    episodes: list[Episode] = []
    order: list[Challenger] = []
    phase2 = Phase2()
    try:
        for i in range(args.episodes):
            say(f"episode {i + 1}/{args.episodes}: the quickstart's loop (run_demo)")
            episode = run_episode(workdir / f"episode-{i}", seed=i)
            episodes.append(episode)
            say(
                f"episode {i + 1}: recovery {_num(episode.recovery, 1)} s, bad challenger "
                f"answered {episode.bad_requests} requests, rollback {_num(episode.rollback)} s, "
                f"failed {episode.failed} of {episode.requests}"
                + (f", ERROR {episode.error}" if episode.error else "")
            )
        if args.healthy + args.bad:
            proj = release_project(
                workdir / "releases", args.max_minutes, args.compact_seconds, args.strategy
            )
            say(f"phase 2: training v1, {args.healthy} healthy and {args.bad} bad challengers")
            t0 = time.monotonic()
            _, order = train_challengers(proj, args.healthy, args.bad)
            train_seconds = time.monotonic() - t0
            say(f"trained in {train_seconds:.0f} s; starting 'mlpilot up' and the clients")
            phase2 = run_releases(
                proj,
                order,
                clients=args.clients,
                rate=args.rate,
                max_minutes=args.max_minutes,
                via=args.via,
            )
    finally:
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(args, host, episodes, order, phase2)


def report(
    args: argparse.Namespace,
    host: str,
    episodes: list[Episode],
    order: list[Challenger],
    phase2: Phase2,
) -> int:
    order = [c for c in order if c.state]  # judged (all, unless phase 2 was aborted)
    healthy = [c for c in order if c.kind == "healthy"]
    bad = [c for c in order if c.kind == "bad"]
    false_rollbacks = [c for c in healthy if c.state != "promoted"]
    timeouts = [c for c in healthy if c.timeout]
    promoted_bad = [c for c in bad if c.state == "promoted"]
    bad_rolled = [c for c in bad if c.state == "rolled_back"]
    ep_ok = [e for e in episodes if e.error is None]
    failed = sum(e.failed for e in episodes) + phase2.failed
    requests = sum(e.requests for e in episodes) + phase2.requests
    elapsed = time.monotonic() - STARTED

    print()
    print(f"machine: {host}")
    print(f"command: .venv/bin/python benchmarks/closed_loop.py {' '.join(sys.argv[1:])}".rstrip())
    print(
        "mode: real HTTP serving and real models: 'mlpilot up' (one serving worker + the "
        "autopilot in its child process), simulated clients with labels "
        "(mlpilot.project._demo.Traffic); no peer tool closes this loop on one machine, so "
        "no side-by-side figure"
    )
    print(
        f"phase 1: {len(episodes)} episode(s) of the quickstart's loop (run_demo; its settings: "
        "canary 50%, margin 0.05, min_labels 80, min_requests 100, tick 0.5 s; 60 req/s)"
    )
    print(
        f"phase 2: {len(healthy)} healthy + {len(bad)} bad challengers released one by one "
        f"(--via {args.via}); {'canary 50%' if args.strategy == 'canary' else 'shadow'}, "
        f"margin {ANALYSIS['margin']}, alpha "
        f"{ANALYSIS['alpha']}, min_labels {ANALYSIS['min_labels']}, min_requests "
        f"{ANALYSIS['min_requests']}, max_minutes {args.max_minutes:g}, on_timeout "
        f"{ANALYSIS['on_timeout']}, tick 0.5 s, monitors every 30 s, serve.poll_seconds 0.2, "
        f"serve.compact_seconds {args.compact_seconds:g}; "
        f"{args.clients} clients x {args.rate:g} req/s; {phase2.requests:,} requests in "
        f"{phase2.seconds:.0f} s ({phase2.requests / max(phase2.seconds, 1e-9):.0f} req/s)"
    )
    print(f"total runtime {elapsed:.0f} s; the machine is shared, so times are noisy")
    print()
    rows: list[tuple[str, str, str]] = []
    if episodes:
        rows += [
            (
                "1. recovery: drift onset -> retrained champion, s (median / max)",
                _mm([e.recovery for e in ep_ok if e.recovery is not None]),
                "",
            ),
            (
                "2. requests answered by the bad challenger, episodes (median / max)",
                _mm([float(e.bad_requests) for e in ep_ok if e.bad_requests is not None], 0),
                "",
            ),
            (
                "3. rollback: decided_at -> last answer from it, s, episodes (median / max)",
                _mm([e.rollback for e in ep_ok if e.rollback is not None], 2),
                "",
            ),
            (
                "   episodes that did not finish",
                f"{len(episodes) - len(ep_ok)} of {len(episodes)}",
                "0",
            ),
        ]
    if bad:
        rows += [
            (
                "2. requests answered by a bad challenger, phase 2 (median / max)",
                _mm([float(c.requests) for c in bad_rolled], 0),
                "",
            ),
            (
                "3. rollback: decided_at -> last answer from it, s, phase 2 (median / max)",
                _mm([c.switch for c in bad_rolled if c.switch is not None], 2),
                "",
            ),
        ]
    if len(order) >= 8:
        rows.append(
            (
                "   phase 2 answers/s: first 4 / last 4 releases (median)",
                f"{statistics.median(c.rate for c in order[:4]):.0f} / "
                f"{statistics.median(c.rate for c in order[-4:]):.0f}",
                "",
            )
        )
    rows.append(
        (
            "4. failed requests (non-200 or transport), all phases",
            f"{failed} of {requests:,}",
            "0",
        )
    )
    if healthy:
        rows += [
            (
                f"5. false rollbacks of {len(healthy)} healthy challengers",
                f"{len(false_rollbacks)} (timeouts {len(timeouts)})",
                "0",
            ),
            (
                "   healthy: decision after, s (median / max)",
                _mm([c.decided_after for c in healthy if c.decided_after is not None]),
                "",
            ),
            (
                "   healthy: labels used, challenger (median / max)",
                _mm([float(c.labels[0]) for c in healthy if c.decision], 0),
                "",
            ),
            (
                "   promotion: decided_at -> last answer from the old champion, s",
                _mm([c.switch for c in healthy if c.switch is not None and c.decision], 2),
                "",
            ),
        ]
    if bad:
        rows += [
            (f"6. bad challengers promoted of {len(bad)}", f"{len(promoted_bad)}", "0"),
            (
                "   bad: decision after, s (median / max)",
                _mm([c.decided_after for c in bad if c.decided_after is not None]),
                "",
            ),
            (
                "   bad: labels used, challenger (median / max)",
                _mm([float(c.labels[0]) for c in bad if c.decision], 0),
                "",
            ),
        ]
    width = max(len(r[0]) for r in rows) + 2
    print(f"{'figure':<{width}}{'measured':<22}goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}{value:<22}{goal}")
    if order:
        print()
        print("phase 2, each release (healthy and bad alternate):")
        print(
            f"{'kind':<8}{'seed':>5}{'ver':>5}  {'holdout':>7}  {'state':<12}{'after s':>8}"
            f"{'labels':>11}  {'acc chal/champ':<15}{'req':>6}{'req/s':>6}{'switch s':>9}  reason"
        )
        for c in order:
            acc = f"{_num(c.accuracy[0], 3)}/{_num(c.accuracy[1], 3)}"
            print(
                f"{c.kind:<8}{c.seed:>5}{c.version:>5}  {_num(c.holdout_accuracy, 3):>7}  "
                f"{c.state:<12}{_num(c.decided_after, 1):>8}"
                f"{f'{c.labels[0]}/{c.labels[1]}':>11}  {acc:<15}{c.requests:>6}{c.rate:>6.0f}"
                f"{_num(c.switch, 2):>9}  {c.reason[:90]}"
            )
    for c in false_rollbacks + promoted_bad:
        print()
        print(f"stored analysis of the {c.kind} release {c.release_id} (version {c.version}):")
        print(json.dumps(c.analysis, indent=1, default=str))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "machine": host,
                    "args": vars(args) | {"json": str(args.json)},
                    "episodes": [e.__dict__ for e in episodes],
                    "releases": [c.__dict__ for c in order],
                    "phase2": phase2.__dict__,
                },
                indent=1,
                default=str,
            )
        )
    if phase2.aborted:
        print()
        print(f"phase 2 ABORTED after {len(order)} releases: {phase2.aborted}")
    missed = (
        phase2.aborted is not None
        or failed > 0
        or len(false_rollbacks) > 0
        or len(promoted_bad) > 0
        or len(ep_ok) < len(episodes)
    )
    print()
    print("goals of 0: " + ("MISSED" if missed else "all met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
