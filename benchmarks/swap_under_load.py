"""Hot swap under load: does a release ever fail a request or stretch the tail latency?

Trains, in a temporary directory, a project with two registered versions (champion v1, and
challenger v2 from a second ``mlpilot run --set train.params.C=0.5``; StandardScaler +
LogisticRegression on a synthetic 20-feature Parquet set), starts ``mlpilot serve`` (one
worker, ``serve.poll_seconds=0.2``) and drives it with a steady closed-loop load (concurrency 4,
single-row requests; ``benchmarks/_load.py`` in its own process) for the whole run:

  * first a steady phase (``--steady`` seconds, default 5) to measure the steady p99,
  * then ``--swaps`` (default 50) swaps alternating ``promote(2)`` and ``rollback()``, done
    in-process through ``mlpilot.project.Project`` (as ``mlpilot promote`` / ``mlpilot
    rollback`` do, without their start-up), each time waiting until ``GET /health/ready`` shows
    the new champion version before the next swap.

Prints requests sent, failed requests (goal 0), p99 during the swaps / steady p99 (goal <= 1.5),
swaps done and the time from the alias move until the server answered with the new champion.

Run: ``.venv/bin/python benchmarks/swap_under_load.py`` (``--quick``: 10 swaps, 3 s steady).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (
    Server,
    bench_env,
    finish_load,
    free_port,
    http_request,
    machine,
    mlpilot_server,
    percentile,
    start_load,
)
from _project import write_project

BIN = Path(sys.executable).parent
MLPILOT = str(BIN / "mlpilot")
FEATURES = [f"f{i}" for i in range(20)]


def mlpilot(*args: str) -> None:
    done = subprocess.run(
        [MLPILOT, *args], env=bench_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"mlpilot {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr}")


def train(workdir: Path, rows: int) -> Path:
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
    proj = workdir / "bench-swap"
    write_project(proj, name="bench-swap", source=str(source))
    mlpilot("run", "--project", str(proj))
    mlpilot("run", "--project", str(proj), "--set", "train.params.C=0.5")
    return proj


def champion(url: str) -> int | None:
    try:
        status, body = http_request(url + "/health/ready", timeout=5)
    except OSError:
        return None
    if status != 200 or not isinstance(body, dict):
        return None
    return body.get("models", {}).get("champion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--swaps", type=int, default=50)
    parser.add_argument("--steady", type=float, default=5.0, help="Steady seconds before swaps.")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--poll", type=float, default=0.2, help="serve.poll_seconds")
    parser.add_argument("--rows", type=int, default=5_000, help="Training rows.")
    parser.add_argument("--quick", action="store_true", help="10 swaps, 3 s steady.")
    args = parser.parse_args()
    host = machine()  # before the run: the load average is the machine's other work
    if args.quick:
        args.swaps, args.steady = 10, 3.0

    workdir = Path(tempfile.mkdtemp(prefix="mlpilot-bench-swap-"))
    server: Server | None = None
    load: subprocess.Popen[str] | None = None
    body_path = ""
    try:
        print("training v1 and v2 ...", flush=True)
        proj = train(workdir, args.rows)
        port = free_port()
        server = mlpilot_server(proj, port, f"serve.poll_seconds={args.poll}").start()
        if champion(server.url) != 1:
            raise SystemExit(f"expected champion 1, /health/ready says {champion(server.url)}")

        import pandas as pd

        from mlpilot.project import Project

        project = Project.open(proj, env={})
        record = pd.read_parquet(workdir / "synthetic.parquet").drop(columns=["target"]).iloc[0]
        payload = json.dumps({"records": [record.to_dict()]}).encode()
        warmup = 1.0
        load, body_path = start_load(
            server.url + "/predict", payload, concurrency=args.concurrency, warmup=warmup
        )
        time.sleep(warmup)
        steady_start = time.time()
        time.sleep(args.steady)
        swaps_start = time.time()
        served_after: list[float] = []
        for i in range(args.swaps):
            target = 2 if i % 2 == 0 else 1
            t0 = time.perf_counter()
            if target == 2:
                project.promote(2, reason=f"benchmark swap {i}")
            else:
                project.rollback(reason=f"benchmark swap {i}")
            deadline = t0 + 30
            while champion(server.url) != target:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"swap {i}: the server never served version {target}")
                time.sleep(0.02)
            served_after.append(time.perf_counter() - t0)
        swaps_end = time.time()
        result = finish_load(load, body_path)
        load = None
    finally:
        if load is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(load.pid, signal.SIGKILL)
            Path(body_path).unlink(missing_ok=True)
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    samples = result["samples"]
    steady = [lat for t, lat, s in samples if steady_start <= t < swaps_start and s == 200]
    during = [lat for t, lat, s in samples if swaps_start <= t <= swaps_end and s == 200]
    failed = sum(1 for _, _, s in samples if s != 200)
    steady_p99 = percentile(steady, 0.99)
    during_p99 = percentile(during, 0.99)
    swap_seconds = swaps_end - swaps_start

    print()
    print(f"machine: {host}")
    print(
        f"load generator: {result['generator']} (own process), concurrency {args.concurrency}, "
        f"single-row; mlpilot serve --workers 1, serve.poll_seconds={args.poll}; swaps in-process "
        "via Project.promote / Project.rollback; generator and server share the machine"
    )
    rows = [
        ("requests sent", f"{len(samples)}"),
        ("failed (goal 0)", f"{failed}"),
        ("steady: requests, req/s", f"{len(steady)}, {len(steady) / args.steady:.0f}"),
        ("steady p50 / p99 ms", f"{percentile(steady, 0.5):.2f} / {steady_p99:.2f}"),
        (
            "during swaps: requests, req/s",
            f"{len(during)}, {len(during) / swap_seconds:.0f} over {swap_seconds:.1f} s",
        ),
        ("during swaps p50 / p99 ms", f"{percentile(during, 0.5):.2f} / {during_p99:.2f}"),
        ("p99 swaps / steady (goal <= 1.5)", f"{during_p99 / steady_p99:.2f}"),
        ("swaps done", f"{len(served_after)} of {args.swaps}"),
        (
            "alias move -> served, mean / p50 / max s",
            f"{statistics.mean(served_after):.3f} / {statistics.median(served_after):.3f} / "
            f"{max(served_after):.3f}",
        ),
    ]
    width = max(len(k) for k, _ in rows) + 2
    for k, v in rows:
        print(f"{k:<{width}}{v}")
    if result.get("first_error"):
        print(f"first connection error: {result['first_error']}")


if __name__ == "__main__":
    main()
