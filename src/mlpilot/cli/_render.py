"""Rendering results for people (rich) and machines (JSON)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Self

from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from mlpilot.config import Settings
    from mlpilot.errors import MlpilotError
    from mlpilot.pipeline import RunSummary, Step, StepOutcome
    from mlpilot.project import DemoResult
    from mlpilot.registry import ModelVersion


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def render_error(err: MlpilotError) -> None:
    out = console(stderr=True)
    out.print(f"[bold red]Error: {err.headline}[/]")
    out.print(err.message, markup=False)
    user_tb = getattr(err, "user_traceback", "")
    if user_tb:
        out.print("\n[dim]Traceback from your code:[/]")
        out.print(user_tb.rstrip(), markup=False)


class LiveLines:
    """A live line per task: a spinner while it runs, then the text it finished with."""

    def __init__(self, out: Console, *, finished_text: str = "") -> None:
        self.progress = Progress(
            SpinnerColumn(finished_text=finished_text),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=out,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def start(self, key: str, text: str) -> None:
        self._tasks[key] = self.progress.add_task(text, total=1)

    def finish(self, key: str, text: str) -> None:
        task = self._tasks.get(key)
        if task is None:
            self.progress.add_task(text, total=1, completed=1)
        else:
            self.progress.update(task, description=text, completed=1)


class StepProgress(LiveLines):
    """A live line per pipeline step: spinner while it runs, then ran / cached and time."""

    def __init__(self, out: Console) -> None:
        super().__init__(out, finished_text="[green]✔[/]")

    def step_started(self, step: Step, *, cached: bool) -> None:
        label = "reusing cached output" if cached else "running"
        self.start(step.name, f"[bold]{step.name:<9}[/] {label}")

    def step_finished(self, outcome: StepOutcome) -> None:
        text = {
            "ran": f"[bold]{outcome.name:<9}[/] [green]ran[/] in {outcome.seconds:.2f}s",
            "cached": f"[bold]{outcome.name:<9}[/] [cyan]cached[/] (inputs and code unchanged)",
            "failed": f"[bold]{outcome.name:<9}[/] [red]failed[/]",
        }[outcome.status]
        self.finish(outcome.name, text)


def render_summary(out: Console, summary: RunSummary, settings: Settings) -> None:
    colour = {"succeeded": "green", "unchanged": "cyan", "rejected": "yellow", "failed": "red"}[
        summary.status
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Pipeline run", f"{summary.run_id}  ({summary.seconds:.1f}s)")
    if summary.snapshot_hash:
        grid.add_row(
            "Data snapshot",
            f"{summary.snapshot_hash[:16]}…  {summary.rows} rows × {summary.columns} columns",
        )
    if summary.schema_version:
        grid.add_row("Schema", f"{summary.schema_version}  (task: {summary.task})")
    if summary.metrics:
        grid.add_row(
            "Holdout metrics",
            "  ".join(f"{k}={v:.4f}" for k, v in sorted(summary.metrics.items())),
        )
    if summary.gate:
        verdict = all(c["passed"] for c in summary.gate)
        lines = [("[green]PASSED[/]" if verdict else "[red]FAILED[/]")]
        for c in summary.gate:
            mark = "[green]✔[/]" if c["passed"] else "[red]✘[/]"
            lines.append(f"{mark} {c['detail']}")
        grid.add_row("Gate", "\n".join(lines))
    if summary.model_version is not None:
        aliases = f" @{', @'.join(summary.model_aliases)}" if summary.model_aliases else ""
        grid.add_row(
            "Registered",
            f"{settings.project.name} version {summary.model_version}{aliases}",
        )
        if summary.model_digest:
            grid.add_row("Digest", f"sha256:{summary.model_digest}")
    if summary.mlflow_run_id:
        grid.add_row("MLflow run", summary.mlflow_run_id)
    if summary.code_commit:
        dirty = " (uncommitted changes)" if summary.code_dirty else ""
        grid.add_row("Code", f"{summary.code_commit[:12]}{dirty}")
    grid.add_row("Metadata", settings.metadata_url)
    grid.add_row("Tracking", settings.tracking_uri)
    grid.add_row("Artifacts", settings.artifact_root)
    if summary.message:
        grid.add_row("Note", summary.message)
    out.print(Panel(grid, title=f"[{colour}]run {summary.status}[/]", expand=False))


_HEADLINE_METRICS = ("roc_auc", "accuracy", "f1", "rmse", "mae", "r2")


def _headline_metrics(metrics: dict[str, float]) -> str:
    names = [m for m in _HEADLINE_METRICS if m in metrics][:3] or sorted(metrics)[:3]
    return "\n".join(f"{m} {metrics[m]:.3f}" for m in names)


def models_table(versions: list[ModelVersion], name: str) -> Table:
    table = Table(title=f"Registered versions of {name}")
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("aliases", no_wrap=True)
    table.add_column("holdout metrics")
    table.add_column("data", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("registered (UTC)")
    for v in versions:
        metrics = _headline_metrics(v.metrics)
        commit = v.lineage.get("mlpilot.code_commit", "")
        dirty = "*" if v.lineage.get("mlpilot.code_dirty") == "true" else ""
        table.add_row(
            str(v.version),
            ", ".join(v.aliases),
            metrics,
            v.lineage.get("mlpilot.data_snapshot", "")[:8],
            (commit[:7] + dirty) if commit else "-",
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    return table


def demo_summary(out: Console, result: DemoResult) -> None:
    """The quickstart's closing figures."""

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    table = Table(title="the loop, measured", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("versions: v1 → retrained v2 → bad", f"{result.v1} → {result.v2} → {result.bad}")
    table.add_row("recovery (drift onset → v2 serving as champion)", secs(result.recovery_seconds))
    table.add_row("requests the bad challenger answered", str(result.bad_requests))
    table.add_row("rollback (decision → last challenger answer)", secs(result.rollback_seconds))
    table.add_row("requests sent / failed", f"{result.requests} / {result.failed_requests}")
    audit = result.audit
    verdict = "-" if audit is None else ("[green]intact[/]" if audit.ok else "[red]BROKEN[/]")
    events = "" if audit is None else f" ({audit.events} events)"
    table.add_row("audit chain (mlpilot audit verify)", verdict + events)
    stopped = "[green]yes[/]" if result.stopped_cleanly else "[red]no[/]"
    table.add_row("'mlpilot up' stopped cleanly on SIGTERM (both processes)", stopped)
    table.add_row("whole demo", secs(result.seconds))
    out.print(table)
