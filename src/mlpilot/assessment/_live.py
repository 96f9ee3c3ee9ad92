"""Evidence from a live mlpilot project: its metadata store, prediction log and audit chain.

When the assessed folder holds an ``mlpilot.toml``, the stores it names show what the project
*does*, not only what its files say: pipeline runs with their lineage and data snapshots, model
versions with pinned digests and gate verdicts, served and labelled predictions, monitor
evaluations, releases with their online analyses, automatic retrains and rollbacks, and whether
the audit chain verifies. Each fact cites what it counted (a run id, a version, a release id, an
audit event id).

Reading never writes: the store is opened without migrations, and a store that does not exist
yet (a project never run) gives not-met facts, not a new database. A store that cannot be read
makes the live facts unknown and adds a note; the repository's evidence is still reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from mlpilot.assessment._facts import Evidence, Fact, FactSet
from mlpilot.config import Settings, load_settings
from mlpilot.errors import MlpilotError
from mlpilot.store import (
    AuditEventRow,
    DatasetSnapshotRow,
    MonitorEvaluationRow,
    PipelineRunRow,
    ReleaseRow,
    SchemaRow,
    Store,
    TriggerEventRow,
)

__all__ = ["LIVE_FACTS", "collect_live"]

LIVE_FACTS = (
    "live.runs",
    "live.lineage",
    "live.snapshots",
    "live.versions",
    "live.gates",
    "live.serving",
    "live.feedback",
    "live.monitors",
    "live.releases",
    "live.releases_automatic",
    "live.online_analysis",
    "live.retrain_automatic",
    "live.rollbacks",
    "live.zero_downtime",
    "live.audit",
)
AUTOMATIC_TRIGGERS = ("schedule", "new_data", "drift", "performance")


def collect_live(root: Path, facts: FactSet) -> bool:
    """Add the ``live.*`` facts of the mlpilot project at ``root``; False when it is none."""
    if not (root / "mlpilot.toml").is_file():
        for fact_id in LIVE_FACTS:
            facts.add(Fact(fact_id, False, note="not an mlpilot project: no live stores to read"))
        return False
    try:
        settings = load_settings(root, env={})
    except MlpilotError as exc:
        _unknown(facts, f"the project's mlpilot.toml cannot be loaded ({exc.headline}: {exc})")
        return True
    if not _store_exists(settings):
        for fact_id in LIVE_FACTS:
            facts.add(Fact(fact_id, False, note="the project has not run yet (no metadata store)"))
        return True
    switches: int | None = None
    try:
        store = Store.open(settings.metadata_url, migrate=False)
    except Exception as exc:  # any driver error: the store is unreadable
        _unknown(facts, f"the metadata store {settings.metadata_url} cannot be opened: {exc}")
    else:
        try:
            switches = _collect_store(settings, store, facts)
        finally:
            store.dispose()
    _collect_predictions(settings, facts, switches)
    return True


def _store_exists(settings: Settings) -> bool:
    url = make_url(settings.metadata_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return True
    return Path(url.database).is_file()


def _unknown(facts: FactSet, note: str, fact_ids: tuple[str, ...] = LIVE_FACTS) -> None:
    facts.notes.append(note)
    for fact_id in fact_ids:
        facts.add(Fact(fact_id, None, note=note))


def _guard(facts: FactSet, what: str, fact_ids: tuple[str, ...], read: Callable[[], None]) -> None:
    try:
        read()
    except Exception as exc:  # one unreadable table must not hide the rest
        _unknown(facts, f"{what} cannot be read: {type(exc).__name__}: {exc}", fact_ids)


def _collect_store(settings: Settings, store: Store, facts: FactSet) -> int | None:
    """Add the store's facts; return how many times a release changed the serving version
    (``None`` when the releases cannot be read)."""
    project = settings.project.name
    _guard(facts, "the pipeline runs", ("live.runs", "live.lineage", "live.gates"),
           lambda: _runs(store, project, facts))  # fmt: skip
    _guard(facts, "the data snapshots", ("live.snapshots",),
           lambda: _snapshots(store, project, facts))  # fmt: skip
    _guard(facts, "the audit events", ("live.versions", "live.audit"),
           lambda: _audit(store, facts))  # fmt: skip
    _guard(facts, "the monitor evaluations", ("live.monitors",),
           lambda: _monitors(store, facts))  # fmt: skip
    release_facts = (
        "live.releases",
        "live.releases_automatic",
        "live.online_analysis",
        "live.retrain_automatic",
        "live.rollbacks",
    )
    switches: list[int] = []
    _guard(facts, "the releases", release_facts,
           lambda: switches.append(_releases(store, project, facts)))  # fmt: skip
    return switches[0] if switches else None


def _n(count: int, noun: str) -> str:
    """``count`` and ``noun`` (plural unless the count is one)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _fact(fact_id: str, met: bool, detail: str, ref: str | None = None, note: str = "") -> Fact:
    if met:
        return Fact(fact_id, True, (Evidence("store", detail, ref=ref),))
    return Fact(fact_id, False, note=note or detail)


def _runs(store: Store, project: str, facts: FactSet) -> None:
    with store.session() as session:
        runs = session.scalars(
            select(PipelineRunRow)
            .where(PipelineRunRow.project == project)
            .order_by(PipelineRunRow.started_at)
        ).all()
    by_status = Counter(run.status for run in runs)
    done = [run for run in runs if run.status in ("succeeded", "unchanged", "rejected")]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
    last = done[-1] if done else None
    facts.add(
        _fact(
            "live.runs",
            bool(done),
            f"{_n(len(runs), 'pipeline run')} recorded ({counts}); last {last.id if last else '-'}",
            ref=f"run {last.id}" if last else None,
            note="no completed pipeline run is recorded (run `mlpilot run`)",
        )
    )
    traced = [r for r in done if r.snapshot_hash and r.schema_version and r.code_version]
    example = traced[-1] if traced else None
    facts.add(
        _fact(
            "live.lineage",
            example is not None,
            f"{_n(len(traced), 'run')} with data snapshot, schema and code version; e.g. run "
            f"{example.id}: snapshot {example.snapshot_hash[:12]}, code {example.code_version[:12]}"
            if example and example.snapshot_hash and example.code_version
            else "",
            ref=f"run {example.id}" if example else None,
            note="no run records its data snapshot, schema and code version together",
        )
    )
    gated = [run for run in done if (run.summary or {}).get("gate")]
    rejected = [run for run in gated if run.status == "rejected"]
    facts.add(
        _fact(
            "live.gates",
            bool(gated),
            f"{_n(len(gated), 'run')} checked by the gate, {len(rejected)} rejected by it",
            ref=f"run {gated[-1].id}" if gated else None,
            note="no run went through a quality gate (add a [gate] section)",
        )
    )
    if done:
        detail = (
            f"{_n(len(done), 'run')} tracked in MLflow with lineage by the mlpilot pipeline runner"
        )
        tracked = [run for run in done if run.mlflow_run_id]
        if tracked:
            facts.add(_fact("tracking.experiments", True, detail, ref=f"run {tracked[-1].id}"))
        facts.add(_fact("compute.managed", True, detail, ref=f"run {done[-1].id}"))
        by_autopilot = [run for run in done if run.trigger.startswith("release:")]
        if by_autopilot:
            facts.add(
                _fact(
                    "data.automated",
                    True,
                    f"{_n(len(by_autopilot), 'run')} started by the autopilot, each reading "
                    "the configured data source",
                    ref=f"run {by_autopilot[-1].id}",
                )
            )


def _snapshots(store: Store, project: str, facts: FactSet) -> None:
    with store.session() as session:
        count, rows = session.execute(
            select(func.count(), func.coalesce(func.sum(DatasetSnapshotRow.rows), 0)).where(
                DatasetSnapshotRow.project == project
            )
        ).one()
        latest = session.scalars(
            select(DatasetSnapshotRow)
            .where(DatasetSnapshotRow.project == project)
            .order_by(DatasetSnapshotRow.created_at.desc())
            .limit(1)
        ).first()
        schema = session.scalars(
            select(SchemaRow).where(SchemaRow.project == project, SchemaRow.status == "active")
        ).first()
    detail = f"{_n(count, 'data snapshot')} kept ({_n(rows, 'row')} in all)"
    ref = f"snapshot {latest.hash[:12]}" if latest else None
    facts.add(_fact("live.snapshots", bool(count), detail, ref=ref, note="no data snapshot kept"))
    if count:
        facts.add(_fact("data.versioned", True, detail, ref=ref))
    if schema is not None:
        facts.add(
            _fact(
                "data.validation",
                True,
                f"each run is validated against the accepted schema {schema.version[:12]}",
                ref=f"schema {schema.version[:12]}",
            )
        )


def _audit(store: Store, facts: FactSet) -> None:
    from mlpilot.governance import AuditTrail

    with store.session() as session:
        registered = session.scalars(
            select(AuditEventRow)
            .where(AuditEventRow.action == "model.registered")
            .order_by(AuditEventRow.id)
        ).all()
    pinned = [event for event in registered if (event.details or {}).get("digest")]
    last = pinned[-1] if pinned else None
    facts.add(
        _fact(
            "live.versions",
            last is not None,
            f"{_n(len(pinned), 'model version')} registered with a pinned sha256 digest; latest "
            f"{last.target} ({str(last.details['digest'])[:12]})"
            if last
            else "",
            ref=f"audit event {last.id}" if last else None,
            note="no model version is registered (run `mlpilot run`)",
        )
    )
    if last is not None:
        facts.add(_fact("registry.models", True, f"{_n(len(pinned), 'version')} in the registry"))
    report = AuditTrail(store).verify()
    if report.events == 0:
        facts.add(Fact("live.audit", False, note="the audit trail is empty"))
    elif report.ok:
        facts.add(
            _fact(
                "live.audit",
                True,
                f"{_n(report.events, 'audit event')}, hash chain intact (head {report.head[:12]})",
                ref=f"audit head {report.head[:12]}",
            )
        )
    else:
        facts.add(
            Fact(
                "live.audit",
                False,
                note=f"the audit chain does not verify at event {report.first_bad_id}: "
                f"{report.problem}",
            )
        )


def _monitors(store: Store, facts: FactSet) -> None:
    with store.session() as session:
        count, alerts = session.execute(
            select(func.count(), func.coalesce(func.sum(MonitorEvaluationRow.alerts), 0))
        ).one()
        last = session.scalars(
            select(MonitorEvaluationRow).order_by(MonitorEvaluationRow.ts.desc()).limit(1)
        ).first()
    detail = f"{_n(count, 'monitor evaluation')} recorded, {_n(alerts, 'alert')} raised"
    ref = f"evaluation {last.id}" if last else None
    facts.add(
        _fact("live.monitors", bool(count), detail, ref=ref, note="no monitor has evaluated yet")
    )
    if count:
        facts.add(_fact("monitoring.config", True, detail, ref=ref))


_Group = tuple[str, Sequence[ReleaseRow], str, Callable[[ReleaseRow], str], str, str | None]
"""fact id, the releases that show it, what they are ("noun/the rest"), an example of the
last, the note when none does, and the repository fact the same releases also prove."""


def _releases(store: Store, project: str, facts: FactSet) -> int:
    with store.session() as session:
        releases = session.scalars(
            select(ReleaseRow).where(ReleaseRow.project == project).order_by(ReleaseRow.created_at)
        ).all()
        kinds = dict(
            session.execute(
                select(TriggerEventRow.id, TriggerEventRow.kind).where(
                    TriggerEventRow.project == project
                )
            ).all()
        )
    states = Counter(release.state for release in releases)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    groups: tuple[_Group, ...] = (
        ("live.releases", releases, "release/recorded", lambda r: summary,
         "no release is recorded (run `mlpilot autopilot` or `mlpilot up`)", None),
        ("live.releases_automatic",
         [r for r in releases if r.state == "promoted" and r.decision == "promote"],
         "release/promoted by the autopilot's decision",
         lambda r: f"e.g. release {r.id}: version {r.model_version} — {r.decision_reason}",
         "no release was promoted by the autopilot", None),
        ("live.online_analysis",
         [r for r in releases
          if r.strategy in ("canary", "shadow", "ab") and r.decision and r.analysis],
         "release/decided by online analysis of live traffic",
         lambda r: f"e.g. release {r.id} ({r.strategy}): {r.decision}",
         "no canary, shadow or A/B release was decided on live traffic", "release.progressive"),
        ("live.retrain_automatic",
         [r for r in releases
          if r.pipeline_run_id and kinds.get(r.trigger_id or -1) in AUTOMATIC_TRIGGERS],
         "retrain/started by an automatic trigger",
         lambda r: f"e.g. release {r.id}: {r.trigger}",
         "no retraining was started by a schedule, new data, drift or performance trigger",
         "retrain.triggers"),
        ("live.rollbacks",
         [r for r in releases if r.state == "rolled_back" and r.decision == "rollback"],
         "bad challenger/rolled back automatically",
         lambda r: f"e.g. release {r.id}: {r.decision_reason}",
         "no release has been rolled back automatically", "release.rollback"),
    )  # fmt: skip
    for fact_id, found, what, example, missing, also in groups:
        if not found:
            facts.add(Fact(fact_id, False, note=missing))
            continue
        last = found[-1]
        noun, _, rest = what.partition("/")
        detail = f"{_n(len(found), noun)} {rest} ({example(last)})"
        for target in (fact_id, also):
            if target is not None:
                facts.add(_fact(target, True, detail, ref=f"release {last.id}"))
    return sum(1 for r in releases if r.state in ("promoted", "rolled_back"))


def _collect_predictions(settings: Settings, facts: FactSet, switches: int | None) -> None:
    fact_ids = ("live.serving", "live.feedback", "live.zero_downtime")
    try:
        counts = _prediction_counts(settings)
    except Exception as exc:  # a damaged log must not hide the rest
        _unknown(facts, f"the prediction log cannot be read: {type(exc).__name__}: {exc}", fact_ids)
        return
    served, labelled, failed = counts
    facts.add(
        _fact(
            "live.serving",
            served > 0,
            f"{_n(served, 'prediction')} served and logged",
            ref="prediction log",
            note="no prediction is logged (run `mlpilot serve` or `mlpilot up`)",
        )
    )
    if served:
        facts.add(
            _fact("serving.service", True, f"{_n(served, 'prediction')} served by mlpilot serve")
        )
    facts.add(
        _fact(
            "live.feedback",
            labelled > 0,
            f"{_n(labelled, 'served prediction')} labelled by feedback",
            ref="prediction log",
            note="no feedback label was received (POST /feedback)",
        )
    )
    if switches is None:
        facts.add(Fact("live.zero_downtime", None, note="the releases cannot be read"))
    elif not switches:
        facts.add(Fact("live.zero_downtime", False, note="no model version change to judge yet"))
    else:
        facts.add(
            _fact(
                "live.zero_downtime",
                failed == 0,
                f"{_n(served, 'prediction')} across {_n(switches, 'version change')}, "
                f"{_n(failed, 'server error')}",
                ref="prediction log",
                note=f"{failed} requests failed with a server error (5xx)",
            )
        )


def _prediction_counts(settings: Settings) -> tuple[int, int, int]:
    from mlpilot.serving import PredictionLog

    log = PredictionLog(settings.journal_dir, settings.predictions_url)
    try:

        def one(sql: str) -> int:
            rows: list[Any] = log.fetch(sql)
            return int(rows[0][0]) if rows else 0

        served = one("SELECT count(*) FROM predictions WHERE NOT shadow")
        labelled = one("SELECT count(*) FROM labelled")
        failed = one("SELECT count(*) FROM errors WHERE status >= 500 AND NOT shadow")
    finally:
        log.close()
    return served, labelled, failed
