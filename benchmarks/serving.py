"""Serving throughput and latency: ``mlpilot serve`` vs MLflow's scoring server vs a bare floor.

Trains, in a temporary directory, two mlpilot projects on the same synthetic 20-feature
classification set (stored as Parquet; ``mlpilot run``, loose gate): StandardScaler +
LogisticRegression, and a 100-tree RandomForestClassifier. Each model is then served three
ways, one server at a time, each with one worker:

  * ``mlflow models serve -m models:/<name>/1 --env-manager local`` (MLflow's scoring server,
    ``POST /invocations`` with ``{"dataframe_records": [...]}``),
  * ``mlpilot serve`` with the prediction journal on (the default),
  * a bare FastAPI app on uvicorn that loads the same model with ``mlflow.sklearn.load_model``
    and answers ``POST /predict`` with ``model.predict`` on a NumPy array built from the
    records in feature order: the floor any Python server pays.

Each server is driven by the same closed-loop load generator (``benchmarks/_load.py``, its own
process; ``--generator wrk`` uses wrk when installed) at concurrency 1, 8 and 32, with
single-row requests and 100-row batches, for a fixed duration per cell after a warm-up. Prints
req/s, p50 and p99 latency and errors per cell, then the ratios the goals are about:
mlpilot / MLflow throughput (goal >= 10x single-row) and mlpilot / bare floor (goal >= 0.75x
for the LR single-row, >= 0.9x for the forest).

Run: ``.venv/bin/python benchmarks/serving.py`` (``--quick`` for a 3 s-per-cell smoke run).
The load generator shares the machine with the server: on few cores it competes for CPU, so
compare ratios, not absolute numbers, across machines.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (
    Server,
    bench_env,
    free_port,
    http_request,
    machine,
    mlpilot_server,
    run_load,
    wrk_available,
)
from _project import TRAIN_LR, write_project

BIN = Path(sys.executable).parent
MLPILOT = str(BIN / "mlpilot")
MLFLOW = str(BIN / "mlflow")
FEATURES = [f"f{i}" for i in range(20)]


TRAIN_RF = """\
import pandas as pd
from sklearn.ensemble import RandomForestClassifier


def train(frame: pd.DataFrame, target: str) -> RandomForestClassifier:
    model = RandomForestClassifier(n_estimators=100, random_state=0)
    return model.fit(frame.drop(columns=[target]), frame[target])
"""


BARE_APP = """\
import os
import warnings

import mlflow.sklearn
import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

warnings.filterwarnings("ignore", message="X does not have valid feature names")
FEATURES = os.environ["BENCH_FEATURES"].split(",")
MODEL = mlflow.sklearn.load_model(os.environ["BENCH_MODEL_URI"])
app = FastAPI()


@app.get("/ping")
async def ping() -> dict:
    return {"status": "ok"}


@app.post("/predict")
async def predict(request: Request) -> Response:
    records = orjson.loads(await request.body())["records"]
    x = np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float64)
    out = MODEL.predict(x)
    return Response(orjson.dumps({"predictions": out.tolist()}), media_type="application/json")
"""

SERVERS = ("mlflow", "mlpilot", "bare")


def train_projects(workdir: Path, rows: int) -> dict[str, Path]:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows, n_features=len(FEATURES), n_informative=10, random_state=0
    )
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["target"] = y.astype(np.int64)
    source = workdir / "synthetic.parquet"
    frame.to_parquet(source)
    projects = {}
    for model, code in (("lr", TRAIN_LR), ("forest", TRAIN_RF)):
        proj = workdir / f"bench-{model}"
        write_project(proj, name=f"bench-{model}", source=str(source), train_py=code)
        done = subprocess.run(
            [MLPILOT, "run", "--project", str(proj)],
            env=bench_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"mlpilot run failed for {model}:\n{done.stdout[-3000:]}{done.stderr}")
        projects[model] = proj
    return projects


def make_server(kind: str, model: str, proj: Path, workdir: Path) -> Server:
    port = free_port()
    name = f"bench-{model}"
    tracking = f"sqlite:///{proj / '.mlpilot' / 'mlflow.db'}"
    uri = f"models:/{name}/1"
    if kind == "mlflow":
        return Server(
            "mlflow models serve",
            [
                MLFLOW,
                "models",
                "serve",
                "-m",
                uri,
                "--env-manager",
                "local",
                "-w",
                "1",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            port,
            "/ping",
            bench_env(MLFLOW_TRACKING_URI=tracking),
        )
    if kind == "mlpilot":
        return mlpilot_server(proj, port)
    app_dir = workdir / "bare"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "bare_app.py").write_text(BARE_APP)
    return Server(
        "bare FastAPI",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--app-dir",
            str(app_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        port,
        "/ping",
        bench_env(
            MLFLOW_TRACKING_URI=tracking, BENCH_MODEL_URI=uri, BENCH_FEATURES=",".join(FEATURES)
        ),
    )


def request_for(kind: str, url: str, records: list[dict[str, Any]]) -> tuple[str, dict]:
    if kind == "mlflow":
        return url + "/invocations", {"dataframe_records": records}
    return url + "/predict", {"records": records}


def predictions_of(kind: str, body: Any) -> list[Any]:
    return list(body["predictions"]) if isinstance(body, dict) else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per cell.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Warm-up seconds per cell.")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: 3 s per cell, 1 s warm-up (overrides --seconds, --warmup).",
    )
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--batch", default="1,100", help="Rows per request.")
    parser.add_argument("--rows", type=int, default=10_000, help="Training rows.")
    parser.add_argument("--models", default="lr,forest")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument(
        "--generator",
        choices=("python", "wrk", "auto"),
        default="python",
        help="The load generator: python (default, runs anywhere), wrk, or wrk when installed.",
    )
    args = parser.parse_args()
    host = machine()  # before the run: the load average is the machine's other work
    if args.quick:
        args.seconds, args.warmup = 3.0, 1.0
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if wrk_available() else "python"
    elif generator == "wrk" and not wrk_available():
        raise SystemExit("wrk is not installed (apt-get install wrk), use --generator python")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    batches = [int(b) for b in args.batch.split(",")]
    models = args.models.split(",")
    servers = [s for s in SERVERS if s in args.servers.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="mlpilot-bench-serving-"))
    results: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    used = set()
    running: Server | None = None
    try:
        print(f"training {', '.join(models)} on {args.rows} x {len(FEATURES)} ...", flush=True)
        projects = train_projects(workdir, args.rows)
        import pandas as pd

        frame = pd.read_parquet(workdir / "synthetic.parquet").drop(columns=["target"])
        records = frame.head(max(batches)).to_dict(orient="records")
        reference: dict[str, list[Any]] = {}
        for model in models:
            for kind in servers:
                running = make_server(kind, model, projects[model], workdir).start()
                url, payload = request_for(kind, running.url, records[:100])
                status, body = http_request(url, payload)
                if status != 200:
                    raise SystemExit(f"{running.name} answered {status}: {str(body)[:500]}")
                preds = [int(p) for p in predictions_of(kind, body)]
                if reference.setdefault(model, preds) != preds:
                    raise SystemExit(f"{running.name} predicts differently for {model}")
                for rows in batches:
                    url, payload = request_for(kind, running.url, records[:rows])
                    raw = json.dumps(payload).encode()
                    for conc in concurrencies:
                        r = run_load(
                            url,
                            raw,
                            concurrency=conc,
                            seconds=args.seconds,
                            warmup=args.warmup,
                            generator=generator,
                        )
                        used.add(r["generator"])
                        results[kind, model, rows, conc] = r
                        print(
                            f"  {kind:<8}{model:<8}{rows:>5} rows  c={conc:<3}"
                            f"{r['rps']:>9.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                            f"p99 {r['p99_ms']:.2f} ms  errors {r['errors']}"
                            + (f"  ({r['first_error']})" if r.get("first_error") else ""),
                            flush=True,
                        )
                running.stop()
                running = None
    finally:
        if running is not None:
            running.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"machine: {host}")
    print(
        f"load generator: {', '.join(sorted(used))} (own process, closed loop, keep-alive); "
        f"{args.seconds:g} s per cell after {args.warmup:g} s warm-up; one server worker; "
        "generator and server share the machine"
    )
    print(
        f"{'server':<9}{'model':<8}{'rows/req':>9}{'conc':>6}{'req/s':>10}{'rows/s':>10}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    for (kind, model, rows, conc), r in results.items():
        print(
            f"{kind:<9}{model:<8}{rows:>9}{conc:>6}{r['rps']:>10.0f}{r['rps'] * rows:>10.0f}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>8}"
        )

    def ratio(a: str, b: str, key: tuple[str, int, int]) -> float:
        ra, rb = results.get((a, *key)), results.get((b, *key))
        if not ra or not rb or not rb["rps"]:
            return math.nan
        return float(ra["rps"] / rb["rps"])

    print()
    print("throughput ratios (req/s):")
    print(
        f"{'model':<8}{'rows/req':>9}{'conc':>6}{'mlpilot/MLflow':>16}{'goal':>7}"
        f"{'mlpilot/bare':>14}{'goal':>7}"
    )
    for model in models:
        for rows in batches:
            for conc in concurrencies:
                key = (model, rows, conc)
                vs_mlflow = ratio("mlpilot", "mlflow", key)
                vs_bare = ratio("mlpilot", "bare", key)
                g_mlflow = ">=10" if rows == 1 else ""
                g_bare = ">=0.9" if model == "forest" else (">=0.75" if rows == 1 else "")
                print(
                    f"{model:<8}{rows:>9}{conc:>6}{vs_mlflow:>15.2f}x{g_mlflow:>7}"
                    f"{vs_bare:>13.2f}x{g_bare:>7}"
                )
    print(
        textwrap.dedent("""\
        mlflow  = mlflow models serve --env-manager local -w 1 (POST /invocations)
        mlpilot = mlpilot serve --workers 1, prediction journal on (the default)
        bare    = FastAPI + uvicorn, mlflow.sklearn.load_model, model.predict on a NumPy array""")
    )


if __name__ == "__main__":
    main()
