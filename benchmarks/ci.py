"""Wall time of ``mlpilot ci``, stage by stage: a pull-request run (``--sample 2000``) and a
full run, on the bundled example and on a synthetic 200k-row x 30-feature set.

Each run is a fresh project in a fresh process, as on a CI runner that starts from a clean
checkout: no ``.mlpilot/`` yet (so MLflow's databases are created and nothing is cached). The
projects come from ``mlpilot init``: the example with its model tests, [ci] slice and GitHub
workflow; the synthetic set (made as in ``benchmarks/pipeline.py``, stored as Parquet) with the
generic model tests and a gate any sensible model passes. The stage times come from
``mlpilot ci --json``; "wall" is the whole command, interpreter start-up and imports included.
Run: ``.venv/bin/python benchmarks/ci.py`` (several minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
MLPILOT = str(BIN / "mlpilot")
STAGES = ("config", "data", "pipeline_tests", "training", "model_tests", "infrastructure")
HEAD = ("config", "data", "tests", "training", "model", "infra")


def make_project(kind: str, directory: Path, synthetic: Path) -> Path:
    from mlpilot.project import init_project

    if kind == "example":
        init_project(directory, name="breast-cancer", ci="github")
        return directory
    init_project(directory, name="synthetic", source=str(synthetic), target="target")
    toml = directory / "mlpilot.toml"
    text = re.sub(r"(?m)^metrics = .*$", 'metrics = { accuracy = ">= 0.6" }', toml.read_text())
    toml.write_text(text)
    return directory


def run_ci(project: Path, args: list[str]) -> tuple[float, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLPILOT_", "MLFLOW_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [MLPILOT, "ci", "--json", *args], cwd=project, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"mlpilot ci {' '.join(args)} failed in {project}")
    return wall, json.loads(proc.stdout)


def bench(kind: str, mode: str, workdir: Path, synthetic: Path, repeats: int) -> dict[str, float]:
    args = ["--sample", "2000"] if mode == "sample" else []
    rows: list[dict[str, float]] = []
    for i in range(repeats):
        project = make_project(kind, workdir / f"{kind}-{mode}-{i}", synthetic)
        wall, report = run_ci(project, args)
        seconds = {s["key"]: s["seconds"] for s in report["stages"]}
        training = report["stages"][3]["details"]
        steps = training["step_seconds"]
        seconds["rows"] = training["train_rows"]
        seconds["fit"] = steps["train"]
        seconds["log"] = steps["candidate"]
        seconds["pipeline"] = training["pipeline_seconds"]
        seconds["workspace"] = training["workspace_seconds"]
        seconds["wall"] = wall
        seconds["stages"] = report["seconds"]
        rows.append(seconds)
        shutil.rmtree(project, ignore_errors=True)
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mlpilot-bench-ci-"))
    results: dict[tuple[str, str], dict[str, float]] = {}
    try:
        import numpy as np
        import pandas as pd
        from sklearn.datasets import make_classification

        X, y = make_classification(
            n_samples=args.rows, n_features=args.features, n_informative=10, random_state=0
        )
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(args.features)])
        frame["target"] = y.astype(np.int64)
        synthetic = workdir / "synthetic.parquet"
        frame.to_parquet(synthetic)
        for kind in ("example", "synthetic"):
            for mode in ("sample", "full"):
                results[(kind, mode)] = bench(kind, mode, workdir, synthetic, args.repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"medians of {args.repeats} fresh project(s) each, seconds")
    labels = {
        ("example", "sample"): "breast_cancer --sample 2000",
        ("example", "full"): "breast_cancer (full)",
        ("synthetic", "sample"): f"synthetic {args.rows}x{args.features} --sample 2000",
        ("synthetic", "full"): f"synthetic {args.rows}x{args.features} (full)",
    }
    print(f"{'run':<34}" + "".join(f"{h:>9}" for h in (*HEAD, "stages", "wall")))
    for key, r in results.items():
        cells = [r.get(s, 0.0) for s in STAGES] + [r["stages"], r["wall"]]
        print(f"{labels[key]:<34}" + "".join(f"{c:>9.2f}" for c in cells))
    print("\ninside the training stage, seconds")
    print(f"{'run':<34}{'rows':>9}{'fit':>9}{'log':>9}{'pipeline':>9}{'store':>9}")
    for key, r in results.items():
        print(
            f"{labels[key]:<34}{int(r['rows']):>9}{r['fit']:>9.2f}{r['log']:>9.2f}"
            f"{r['pipeline']:>9.2f}{r['workspace']:>9.2f}"
        )
    print(
        "config = project file and code import; data = schema validation and data checks; "
        "tests = the project's own pytest suite (none here); training = the pipeline on the "
        "data or the sample, gate, candidate logged and registered in the throw-away store; "
        "model = model tests (a pytest process) and slices; infra = serving app in-process, "
        "digest-verified load, warm-up, 20 batches of 100 rows; wall = the whole command. "
        "Inside training: rows = training rows; fit = the train step; log = logging the "
        "candidate to MLflow and hashing it; pipeline = the whole pipeline run (MLflow's database "
        "created on a fresh project included); store = the throw-away store (schema, registry, "
        "holdout)."
    )


if __name__ == "__main__":
    main()
