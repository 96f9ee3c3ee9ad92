"""Pipeline overhead: mlpilot's first run and cached rerun vs bare scikit-learn + MLflow.

For each data set (the bundled breast-cancer example, and a synthetic 200k-row x 30-feature
classification set stored as Parquet) this times, each in a fresh process, on the same data
and the same estimator (StandardScaler + LogisticRegression):

  * ``mlpilot run`` on a fresh project (first run: snapshot, validate, train, evaluate,
    profile, gate, register with digest),
  * ``mlpilot run`` again (cached rerun: nothing changed),
  * one bare script: read the data, split, fit, score, ``mlflow.sklearn.log_model`` and
    register, on the same SQLite-backed MLflow; once as most scripts call ``log_model`` (MLflow
    infers pip requirements) and once with ``pip_requirements`` pinned as mlpilot does,
  * the interpreter start-up and import costs, so "mlpilot's own time" can be read off,

then prints the ratios. Run: ``make bench`` (or ``.venv/bin/python benchmarks/pipeline.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _project import write_project

BIN = Path(sys.executable).parent
MLPILOT = str(BIN / "mlpilot")


BARE = """\
import os, sys, time
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
import logging
logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow, mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

source, home, pinned = sys.argv[1], sys.argv[2], sys.argv[3] == "pinned"
if source.startswith("sklearn:"):
    from sklearn.datasets import load_breast_cancer
    frame = load_breast_cancer(as_frame=True).frame
else:
    frame = pd.read_parquet(source)
X, y = frame.drop(columns=["target"]), frame["target"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=42, stratify=y
)
mlflow.set_tracking_uri(f"sqlite:///{home}/mlflow.db")
exp = mlflow.create_experiment("bare", artifact_location=f"file://{home}/artifacts")
with mlflow.start_run(experiment_id=exp):
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    model.fit(X_train, y_train)
    mlflow.log_metrics({
        "accuracy": accuracy_score(y_test, model.predict(X_test)),
        "roc_auc": roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]),
    })
    kwargs = {"pip_requirements": ["scikit-learn"]} if pinned else {}
    mlflow.sklearn.log_model(model, name="model", registered_model_name="bare",
                             input_example=X_test.head(5), **kwargs)
"""


# A cached rerun in a fresh process, timed after the imports: mlpilot's own work.
WARM = """\
import sys, time
from pathlib import Path
import pandas, pyarrow.parquet, sqlalchemy  # noqa: F401 - imports are not mlpilot's own time
from mlpilot.pipeline import run_project  # noqa: F401
from mlpilot.project import Project
project = Project.open(Path(sys.argv[1]))
project.store  # noqa: B018 - open the store before timing
t0 = time.perf_counter()
summary = project.run()
assert summary.status == "unchanged", summary.status
print(time.perf_counter() - t0)
"""


def own_time(proj: Path) -> float:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    out = subprocess.run(
        [sys.executable, "-c", WARM, str(proj)], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"warm cached run failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
    return elapsed


def median_of(n: int, make: callable) -> float:  # type: ignore[valid-type]
    return statistics.median(make() for _ in range(n))


def bench(name: str, source: str, workdir: Path, repeats: int) -> dict[str, float]:
    results: dict[str, list[float]] = {
        k: [] for k in ("first", "cached", "own", "bare", "bare_pinned")
    }
    for i in range(repeats):
        proj = workdir / f"{name}-{i}"
        write_project(proj, name=name, source=source)
        results["first"].append(timed([MLPILOT, "run", "--project", str(proj)]))
        results["cached"].append(timed([MLPILOT, "run", "--project", str(proj)]))
        results["own"].append(own_time(proj))
        for variant, key in (("default", "bare"), ("pinned", "bare_pinned")):
            home = workdir / f"bare-{name}-{variant}-{i}"
            home.mkdir()
            script = workdir / "bare.py"
            script.write_text(BARE)
            results[key].append(timed([sys.executable, str(script), source, str(home), variant]))
    return {k: statistics.median(v) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mlpilot-bench-"))
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

        startup = median_of(5, lambda: timed([sys.executable, "-c", "pass"]))
        cli_import = median_of(5, lambda: timed([sys.executable, "-c", "import mlpilot.cli"]))
        sk_import = median_of(
            3, lambda: timed([sys.executable, "-c", "import sklearn.linear_model, pandas"])
        )
        rows = {
            "breast_cancer (569 x 30)": bench(
                "breast-cancer", "sklearn:breast_cancer", workdir, args.repeats
            ),
            f"synthetic ({args.rows} x {args.features})": bench(
                "synthetic", str(synthetic), workdir, args.repeats
            ),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"medians of {args.repeats} fresh processes each, seconds")
    print(
        f"interpreter start-up {startup:.2f}; + import mlpilot.cli {cli_import:.2f}; "
        f"+ import sklearn, pandas {sk_import:.2f}"
    )
    header = (
        f"{'data':<28}{'first run':>10}{'cached':>9}{'bare':>8}{'bare*':>8}"
        f"{'first/bare*':>13}{'first/bare':>12}{'cached own':>12}{'imports':>9}"
    )
    print(header)
    for label, r in rows.items():
        print(
            f"{label:<28}{r['first']:>10.2f}{r['cached']:>9.2f}{r['bare']:>8.2f}"
            f"{r['bare_pinned']:>8.2f}{r['first'] / r['bare_pinned']:>13.2f}"
            f"{r['first'] / r['bare']:>12.2f}{r['own']:>12.2f}"
            f"{r['cached'] - r['own'] - startup:>9.2f}"
        )
    print(
        textwrap.dedent("""\
        bare  = scikit-learn + mlflow.sklearn.log_model as usually called (infers pip requirements)
        bare* = the same with pip_requirements pinned (as mlpilot logs models)
        cached own = a cached rerun timed in-process after the imports: mlpilot's own work
        imports = the rest of the cached rerun beyond interpreter start-up (library imports)""")
    )


if __name__ == "__main__":
    main()
