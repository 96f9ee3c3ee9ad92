"""Drift detection: mlpilot's profile + ``drift_frame`` vs Evidently's DataDriftPreset.

One synthetic data set, generated with a fixed seed: a reference and a current table (1M rows
each by default) of 20 numeric and 5 categorical features plus a binary target. Eight features
are shifted in the current table by known, material amounts (listed in ``COLUMNS`` and printed);
the other 17 are drawn from the same distribution as in the reference. Both tables are written
once to Parquet, and each side reads the same files in its own process:

  * mlpilot (this interpreter): one process builds the reference profile with
    ``build_profile`` (what ``mlpilot run`` does once at training time) and saves it as JSON;
    another loads that profile and the current table and runs ``drift_frame`` with the default
    settings (PSI, threshold 0.2, for numeric and categorical features). The drift process runs
    twice, once on a pyarrow Table and once on a pandas DataFrame; the faster one is reported.
  * Evidently (its own virtual environment, created once in ``benchmarks/.venv-evidently``,
    since Evidently is no dependency of mlpilot): ``Report([DataDriftPreset()])`` with its
    defaults — above 1,000 rows it picks the normed Wasserstein distance (threshold 0.1) for
    numeric and the Jensen-Shannon distance (0.1) for categorical columns, and a dataset drift
    share of 0.5. The column types are declared in a ``DataDefinition``.

Each process times only the computation (the Parquet load is reported beside it) and reports
its peak RSS and the increase of its RSS over the loaded data. The parent prints the times and
their ratio, memory, which columns each tool flags against the known truth, and PASS/FAIL
against the goals: at least 20x faster than Evidently with no more memory, every shifted
column found and no false alarm.

Then the monitoring path itself: ``Monitor.evaluate`` over a prediction log of 10M rows read
from Parquet (``--window-rows N``; 0 skips it). One process trains a throw-away mlpilot project
on 20,000 rows sampled from the reference table (one-hot encoded categories, scaled numbers,
logistic regression), which registers model version 1 with its reference profile; it answers the
current table's rows with that model and writes them, repeated up to N rows, into the project's
prediction log as the serving compactor lays it out (``predictions/date=.../model_version=1/
part-<segment>.parquet``, one part per ``--window-part-rows`` rows, plus ``feedback`` parts
labelling 5% of the rows), spread from yesterday 00:00 UTC to a few seconds ago in requests of
1 to 50 rows. Before that it logs a few requests through the real ``Journal`` and ``Compactor``
and stops unless the benchmark's part files have the same schema, values and encodings.
Another process opens the project and times ``project.monitor().evaluate(rows=N)`` twice (the
first call cold) and ``evaluate(seconds=...)`` over the whole log: the window search, drift of
every feature and of the predictions, data quality, performance on the labels and the
operational figures, with each SQL query's time and each call's peak RSS.

Run: ``.venv/bin/python benchmarks/drift.py`` (``--rows``, ``--repeats``, ``--json PATH``,
``--window-rows``, ``--window-part-rows``). The first run installs Evidently into its
environment (about a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

HERE = Path(__file__).resolve()
EVIDENTLY_VENV = HERE.parent / ".venv-evidently"
# Evidently 0.7.23 imports ``pandas.core.dtypes.common.infer_dtype_from_object``, which pandas 3
# removed, so its environment keeps pandas 2.
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas==2.3.3")
SPEED_GOAL = 20.0
FRAMES = {"arrow": "pyarrow Table", "pandas": "pandas DataFrame"}

Draw = Callable[["np.random.Generator", int], "np.ndarray[Any, Any]"]


# --- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One feature: how its reference and current values are drawn, and the shift (if any)."""

    name: str
    kind: str  # "numeric" | "categorical"
    reference: str  # the reference distribution, in words
    shift: str | None  # the shift applied to the current data; None: drawn as the reference
    draw_ref: Draw
    draw_cur: Draw | None = None  # None: same as draw_ref

    @property
    def shifted(self) -> bool:
        return self.shift is not None


def _normal(mean: float, sd: float) -> Draw:
    return lambda rng, n: rng.normal(mean, sd, n)


def _bimodal(mean: float, sd: float) -> Draw:
    """Two equal modes at mean ± 0.9 sd, each of sd 0.436 sd: the same mean and sd as N(mean,
    sd), a different shape."""

    def draw(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
        import numpy as np

        side = np.where(rng.random(n) < 0.5, -0.9, 0.9)
        return mean + sd * (side + rng.normal(0.0, (1 - 0.9**2) ** 0.5, n))

    return draw


def _lognormal(mu: float, sigma: float, factor: float = 1.0) -> Draw:
    return lambda rng, n: rng.lognormal(mu, sigma, n) * factor


def _poisson(lam: float) -> Draw:
    return lambda rng, n: rng.poisson(lam, n).astype("int64")


def _zeroed(mean: float, sd: float, share: float) -> Draw:
    def draw(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
        values = rng.normal(mean, sd, n)
        values[rng.random(n) < share] = 0.0
        return values

    return draw


def _categories(labels: list[str], weights: list[float]) -> Draw:
    def draw(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
        import numpy as np

        p = np.asarray(weights, dtype=np.float64)
        return np.asarray(labels, dtype=object)[rng.choice(len(labels), n, p=p / p.sum())]

    return draw


def _zipf_weights(k: int, s: float = 1.1) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(k)]


CITIES = [f"city_{i:02d}" for i in range(40)]
CHANNELS = ["web", "app", "store", "phone", "partner", "kiosk", "mail", "other"]
CHANNEL_WEIGHTS = [w / sum(_zipf_weights(8, 0.5)) for w in _zipf_weights(8, 0.5)]

COLUMNS: tuple[Spec, ...] = (
    # shifted numeric
    Spec("n00", "numeric", "N(100, 15)", "mean +0.5 sd: N(107.5, 15)",
         _normal(100, 15), _normal(107.5, 15)),
    Spec("n01", "numeric", "N(0, 1)", "scale x1.6: N(0, 1.6)", _normal(0, 1), _normal(0, 1.6)),
    Spec("n02", "numeric", "N(10, 2)",
         "shape: bimodal, modes at 10 ± 1.8 (same mean and sd)", _normal(10, 2), _bimodal(10, 2)),
    Spec("n03", "numeric", "lognormal(3, 0.5)", "every value x1.3",
         _lognormal(3, 0.5), _lognormal(3, 0.5, 1.3)),
    Spec("n04", "numeric", "Poisson(3), integer", "rate 3 -> 4: Poisson(4)",
         _poisson(3), _poisson(4)),
    Spec("n05", "numeric", "N(50, 10)", "25% of values replaced by 0 (a broken default)",
         _normal(50, 10), _zeroed(50, 10, 0.25)),
    # unshifted numeric
    Spec("n06", "numeric", "N(0, 1)", None, _normal(0, 1)),
    Spec("n07", "numeric", "N(-20, 5)", None, _normal(-20, 5)),
    Spec("n08", "numeric", "N(1000, 300)", None, _normal(1000, 300)),
    Spec("n09", "numeric", "lognormal(0, 1)", None, _lognormal(0, 1)),
    Spec("n10", "numeric", "exponential(2)", None, lambda rng, n: rng.exponential(2.0, n)),
    Spec("n11", "numeric", "uniform(0, 100)", None, lambda rng, n: rng.uniform(0, 100, n)),
    Spec("n12", "numeric", "gamma(2, 3)", None, lambda rng, n: rng.gamma(2.0, 3.0, n)),
    Spec("n13", "numeric", "beta(2, 5)", None, lambda rng, n: rng.beta(2.0, 5.0, n)),
    Spec("n14", "numeric", "Student t(3)", None, lambda rng, n: rng.standard_t(3, n)),
    Spec("n15", "numeric", "Poisson(12), integer", None, _poisson(12)),
    Spec("n16", "numeric", "bimodal around 0", None, _bimodal(0, 1)),
    Spec("n17", "numeric", "N(5, 0.1)", None, _normal(5, 0.1)),
    Spec("n18", "numeric", "integer 0..99, uniform", None,
         lambda rng, n: rng.integers(0, 100, n, dtype="int64")),
    Spec("n19", "numeric", "lognormal(8, 1.5)", None, _lognormal(8, 1.5)),
    # shifted categorical
    Spec("c0", "categorical", "4 levels at 40/30/20/10%", "reweighted to 15/25/30/30%",
         _categories(list("abcd"), [0.4, 0.3, 0.2, 0.1]),
         _categories(list("abcd"), [0.15, 0.25, 0.3, 0.3])),
    Spec("c1", "categorical", "8 channels, Zipf-like",
         "new level 'voice' at 40%, the others x0.6",
         _categories(CHANNELS, CHANNEL_WEIGHTS),
         _categories([*CHANNELS, "voice"], [*(0.6 * w for w in CHANNEL_WEIGHTS), 0.4])),
    # unshifted categorical
    Spec("c2", "categorical", "40 cities, Zipf(1.1)", None,
         _categories(CITIES, _zipf_weights(40))),
    Spec("c3", "categorical", "yes/no at 70/30%", None, _categories(["yes", "no"], [0.7, 0.3])),
    Spec("c4", "categorical", "5 levels, uniform", None, _categories(list("vwxyz"), [1] * 5)),
)  # fmt: skip

FEATURES = [c.name for c in COLUMNS]
NUMERIC = [c.name for c in COLUMNS if c.kind == "numeric"]
CATEGORICAL = [c.name for c in COLUMNS if c.kind == "categorical"]
TRUTH = {c.name for c in COLUMNS if c.shifted}


def write_data(directory: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """The reference and the current table as Parquet (one column generated at a time)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = directory / "reference.parquet", directory / "current.parquet"
    for side, path in enumerate(paths):
        rng = np.random.default_rng([seed, side])
        arrays: dict[str, Any] = {}
        for spec in COLUMNS:
            draw = spec.draw_cur if side == 1 and spec.draw_cur is not None else spec.draw_ref
            values = draw(rng, rows)
            arrays[spec.name] = (
                pa.array(values, type=pa.string()) if spec.kind == "categorical" else values
            )
        arrays["target"] = (rng.random(rows) < 0.3).astype("int64")
        pq.write_table(pa.table(arrays), path)
        del arrays
    return paths


# --- measuring inside a side's process -----------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Memory:
    """RSS after the data is loaded, and the peaks: of the whole process (``ru_maxrss``) and of
    the computation alone (the kernel's high-water mark, reset after loading)."""

    def loaded(self) -> None:
        gc.collect()
        self.rss_loaded = _status_kib("VmRSS") / 1024
        self.peak_load = _maxrss_mib()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self.reset = True
        except OSError:
            self.reset = False

    def report(self) -> dict[str, Any]:
        peak_compute = _status_kib("VmHWM") / 1024 if self.reset else _maxrss_mib()
        return {
            "rss_loaded_mib": self.rss_loaded,
            "peak_rss_mib": max(self.peak_load, _maxrss_mib()),
            "peak_compute_mib": peak_compute,
            "increase_mib": peak_compute - self.rss_loaded,
            "peak_reset": self.reset,
        }


def side_mlpilot_profile(reference: Path, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    import pandas as pd

    from mlpilot.data import build_profile

    imports = time.perf_counter() - t0
    mem = Memory()
    t0 = time.perf_counter()
    frame = pd.read_parquet(reference, columns=[*FEATURES, "target"])
    load = time.perf_counter() - t0
    mem.loaded()
    t0 = time.perf_counter()
    profile = build_profile(frame[FEATURES], frame["target"], "classification")
    seconds = time.perf_counter() - t0
    memory = mem.report()
    t0 = time.perf_counter()
    out.write_text(profile.to_json())
    save = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "load_seconds": load,
        "imports_seconds": imports,
        "save_seconds": save,
        **memory,
    }


def side_mlpilot_drift(current: Path, profile_json: Path, frame_type: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    # drift_frame imports DuckDB and SciPy's statistics on first use: import them before the
    # clock starts, as the Evidently side imports its modules (imports are not computation).
    import duckdb  # noqa: F401
    import pandas as pd
    import pyarrow.parquet as pq
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401

    from mlpilot.data import ReferenceProfile
    from mlpilot.monitoring import drift_frame

    imports = time.perf_counter() - t0
    mem = Memory()
    t0 = time.perf_counter()
    profile = ReferenceProfile.from_json(profile_json.read_bytes())
    profile_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame: Any = (
        pq.read_table(current, columns=FEATURES)
        if frame_type == "arrow"
        else pd.read_parquet(current, columns=FEATURES)
    )
    load = time.perf_counter() - t0
    mem.loaded()
    t0 = time.perf_counter()
    result = drift_frame(profile, frame)
    seconds = time.perf_counter() - t0
    memory = mem.report()
    columns: dict[str, Any] = {}
    for f in result.features:
        wasserstein = next((s.value for s in f.statistics if s.method == "wasserstein"), None)
        columns[f.name] = {
            "method": f.method,
            "threshold": f.threshold,
            "score": f.score,
            "drifted": f.drifted,
            "wasserstein": wasserstein,
        }
    return {
        "seconds": seconds,
        "load_seconds": load,
        "imports_seconds": imports,
        "profile_load_seconds": profile_load,
        "frame": frame_type,
        "columns": columns,
        "flagged": sorted(n for n, c in columns.items() if c["drifted"]),
        "dataset_share": result.share,
        "dataset_drifted": result.drifted,
        **memory,
    }


def side_evidently(reference: Path, current: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    import pandas as pd
    from evidently import (  # type: ignore[import-not-found, unused-ignore]
        DataDefinition,
        Dataset,
        Report,
    )
    from evidently import __version__ as evidently_version
    from evidently.presets import (  # type: ignore[import-not-found, unused-ignore]
        DataDriftPreset,
    )

    imports = time.perf_counter() - t0
    mem = Memory()
    t0 = time.perf_counter()
    ref = pd.read_parquet(reference, columns=FEATURES)
    cur = pd.read_parquet(current, columns=FEATURES)
    load = time.perf_counter() - t0
    mem.loaded()
    t0 = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    ref_ds = Dataset.from_pandas(ref, data_definition=definition)
    cur_ds = Dataset.from_pandas(cur, data_definition=definition)
    t_datasets = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        current_data=cur_ds, reference_data=ref_ds
    )
    t_run = time.perf_counter()
    output = snapshot.dict()
    seconds = time.perf_counter() - t0
    memory = mem.report()
    columns: dict[str, Any] = {}
    share = None
    for metric in output["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {
                "method": config["method"],
                "threshold": config["threshold"],
                "score": metric["value"],
                "drifted": metric["value"] >= config["threshold"],
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    for test in output["tests"]:  # Evidently's own verdicts, where it reports them
        params = test.get("metric_config", {}).get("params", {})
        if test.get("id") == "drift" and params.get("column") in columns:
            columns[params["column"]]["drifted"] = test["status"] == "FAIL"
    return {
        "seconds": seconds,
        "datasets_seconds": t_datasets - t0,
        "run_seconds": t_run - t_datasets,
        "results_seconds": seconds - (t_run - t0),
        "load_seconds": load,
        "imports_seconds": imports,
        "columns": columns,
        "flagged": sorted(n for n, c in columns.items() if c["drifted"]),
        "dataset_share": share,
        "dataset_drifted": None if share is None else share >= 0.5,
        "version": evidently_version,
        "pandas": pd.__version__,
        **memory,
    }


# --- a window of the prediction log: the monitoring path ------------------------------------------

WINDOW_TRAIN_ROWS = 20_000  # the sample of the reference table the throw-away project trains on
WINDOW_LABEL_SHARE = 0.05  # the share of logged rows whose label comes back through /feedback
REQUEST_SIZES = (1, 5, 10, 50)  # rows per /predict request, drawn with these weights
REQUEST_WEIGHTS = (0.4, 0.3, 0.2, 0.1)
DAY_MICROS = 86_400_000_000

# The training code of the throw-away project: the default template cannot take string columns.
TRAIN_ONE_HOT = """\
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

CATEGORICAL = __CATEGORICAL__


def train(frame: pd.DataFrame, target: str, C: float = 1.0) -> Pipeline:
    features = frame.drop(columns=[target])
    numeric = [c for c in features.columns if c not in CATEGORICAL]
    encode = ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    model = Pipeline([("encode", encode), ("clf", LogisticRegression(C=C, max_iter=1000))])
    return model.fit(features, frame[target])
""".replace("__CATEGORICAL__", repr(CATEGORICAL))


@dataclass(frozen=True)
class Answered:
    """Rows of the current table as ``/predict`` saw and answered them: each row's input object
    as the journal stores it (JSON), its typed ``inputs.<feature>`` columns as the compactor
    infers them, the model's prediction and probabilities (JSON), and the row's label (JSON)."""

    inputs: pa.ChunkedArray
    typed: tuple[tuple[str, pa.ChunkedArray], ...]
    prediction: pa.ChunkedArray
    probabilities: pa.ChunkedArray
    label: pa.ChunkedArray

    @property
    def rows(self) -> int:
        return len(self.inputs)


def _dumps(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def answer(table: pa.Table, model: Any, chunk: int = 100_000) -> Answered:
    """Predict ``table`` with ``model`` and render every row as the serving path logs it."""
    import pyarrow as pa

    from mlpilot.serving._rows import input_columns

    inputs: list[pa.Array] = []
    predictions: list[pa.Array] = []
    probabilities: list[pa.Array] = []
    labels: list[pa.Array] = []
    typed: dict[str, list[pa.Array]] = {}
    for start in range(0, table.num_rows, chunk):
        part = table.slice(start, chunk)
        features = part.select(FEATURES)
        records = features.to_pylist()  # what a client sends: one object per row
        frame = features.to_pandas()
        inputs.append(pa.array([_dumps(r) for r in records], pa.string()))
        predictions.append(pa.array([_dumps(p) for p in model.predict(frame).tolist()]))
        probabilities.append(pa.array([_dumps(p) for p in model.predict_proba(frame).tolist()]))
        labels.append(pa.array([_dumps(y) for y in part.column("target").to_pylist()]))
        columns = input_columns(records)
        if typed and [name for name, _ in columns] != list(typed):
            raise SystemExit(f"typed input columns differ between chunks: {columns} vs {typed}")
        for name, column in columns:
            typed.setdefault(name, []).append(column)
    return Answered(
        inputs=pa.chunked_array(inputs, pa.string()),
        typed=tuple((name, pa.chunked_array(arrays)) for name, arrays in typed.items()),
        prediction=pa.chunked_array(predictions, pa.string()),
        probabilities=pa.chunked_array(probabilities, pa.string()),
        label=pa.chunked_array(labels, pa.string()),
    )


@dataclass(frozen=True)
class Requests:
    """The requests of one journal segment: id, time (microseconds), latency and row count."""

    ids: list[str]
    ts: np.ndarray[Any, Any]
    latency_ms: np.ndarray[Any, Any]
    sizes: np.ndarray[Any, Any]


def write_part(
    fs: Any,
    root: str,
    stem: str,
    deployment: str,
    answered: Answered,
    positions: np.ndarray[Any, Any],
    requests: Requests,
    labelled: np.ndarray[Any, Any],
    label_ts: np.ndarray[Any, Any],
) -> list[str]:
    """Write what the compactor makes of one journal segment; return the files written.

    The segment holds ``requests`` (their rows are the ``positions`` of ``answered``, in order)
    answered by version 1 as the champion, and a label for the rows ``labelled`` (indexes into
    this segment's rows) received at ``label_ts``. As the compactor does, rows are split by
    their UTC date, sorted by time, request and row, and written with ``Compactor._write``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from mlpilot.serving import Compactor
    from mlpilot.serving._rows import (
        feedback_part,
        feedback_schema,
        prediction_part,
        prediction_schema,
    )

    n = len(positions)
    which = np.repeat(np.arange(len(requests.sizes)), requests.sizes)  # request of each row
    firsts = np.cumsum(requests.sizes) - requests.sizes
    row = np.arange(n) - np.repeat(firsts, requests.sizes)
    ts = requests.ts[which]
    request_id = pa.array(requests.ids, pa.string()).take(pa.array(which))
    columns = {
        "request_id": request_id,
        "row": pa.array(row, pa.int32()),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "deployment": pa.repeat(pa.scalar(deployment, pa.string()), n),
        "variant": pa.repeat(pa.scalar("champion", pa.string()), n),
        "model_version": pa.repeat(pa.scalar(1, pa.int64()), n),
        "shadow": pa.repeat(pa.scalar(False, pa.bool_()), n),
        "latency_ms": pa.array(requests.latency_ms[which], pa.float64()),
        "inputs": _take(answered.inputs, positions),
        "prediction": _take(answered.prediction, positions),
        "probabilities": _take(answered.probabilities, positions),
    }
    schema = prediction_schema()
    table = pa.table([columns[f.name] for f in schema], schema=schema)
    for name, column in answered.typed:
        table = table.append_column(name, _take(column, positions))
    written: list[str] = []
    days = ts // DAY_MICROS
    for day in np.unique(days):
        target = prediction_part(root, _day(int(day)), 1, stem)
        Compactor._write(fs, target, table.filter(pa.array(days == day)).combine_chunks())
        written.append(target)
    if len(labelled):
        schema = feedback_schema()
        feedback = pa.table(
            [
                request_id.take(pa.array(labelled)),
                pa.array(row[labelled], pa.int32()),
                pa.array(label_ts, pa.timestamp("us", tz="UTC")),
                answered.label.take(pa.array(positions[labelled])),
            ],
            schema=schema,
        )
        order = pc.sort_indices(
            feedback, [("ts", "ascending"), ("request_id", "ascending"), ("row", "ascending")]
        )
        feedback = feedback.take(order)
        label_days = label_ts[order.to_numpy()] // DAY_MICROS
        for day in np.unique(label_days):
            target = feedback_part(root, _day(int(day)), stem)
            keep = pa.array(label_days == day)
            Compactor._write(fs, target, feedback.filter(keep).combine_chunks())
            written.append(target)
    return written


def _take(column: pa.ChunkedArray, positions: np.ndarray[Any, Any]) -> pa.Array:
    """``column[positions]`` from zero-copy slices of the runs of consecutive positions (a
    ``take`` on a chunked array would concatenate all its chunks first, for every part)."""
    import numpy as np
    import pyarrow as pa

    runs = np.split(positions, np.flatnonzero(np.diff(positions) != 1) + 1)
    pieces = [column.slice(int(run[0]), len(run)) for run in runs if len(run)]
    return pa.chunked_array([c for p in pieces for c in p.chunks], column.type).combine_chunks()


def _day(day: int) -> Any:
    import datetime as dt

    return dt.date(1970, 1, 1) + dt.timedelta(days=day)


def check_log_format(current: pa.Table, model: Any, deployment: str, directory: Path) -> None:
    """Log two requests and a label through the serving journal and its compactor, and the same
    through :func:`write_part`; stop unless every part file reads back identical (schema,
    metadata and values), so the benchmark notices when the log format changes."""
    import numpy as np
    import pyarrow.parquet as pq

    from mlpilot.serving import Compactor, Journal
    from mlpilot.serving._rows import open_url

    sample = current.slice(0, 7)
    records = sample.select(FEATURES).to_pylist()
    frame = sample.select(FEATURES).to_pandas()
    predictions = model.predict(frame).tolist()
    probabilities = model.predict_proba(frame).tolist()
    labels = sample.column("target").to_pylist()
    now_us = int(time.time()) * 1_000_000
    requests = Requests(
        ids=["0f" * 16, "a1" * 16],
        ts=np.array([now_us - 90_123_456, now_us - 30_654_321]),
        latency_ms=np.array([1.25, 3.5]),
        sizes=np.array([3, 4]),
    )
    label_ts = np.array([now_us - 5_000_000])
    journal = Journal(directory / "journal", "check")
    start = 0
    for request_id, ts, latency, size in zip(
        requests.ids, requests.ts, requests.latency_ms, requests.sizes, strict=True
    ):
        end = start + int(size)
        journal.append(
            {
                "kind": "prediction",
                "request_id": request_id,
                "ts": int(ts) / 1e6,
                "deployment": deployment,
                "variant": "champion",
                "model_version": 1,
                "shadow": False,
                "latency_ms": float(latency),
                "inputs": records[start:end],
                "predictions": predictions[start:end],
                "probabilities": probabilities[start:end],
            }
        )
        start = end
    journal.append(
        {
            "kind": "feedback",
            "request_id": requests.ids[1],
            "ts": int(label_ts[0]) / 1e6,
            "label": labels[4],
            "row": 1,
        }
    )
    journal.close()
    served, ours = directory / "compactor", directory / "benchmark"
    Compactor(directory / "journal", str(served)).compact_once()
    fs, root = open_url(str(ours))
    write_part(
        fs,
        root,
        "check",
        deployment,
        answer(sample, model),
        np.arange(7),
        requests,
        np.array([4]),
        label_ts,
    )

    def parts(base: Path) -> dict[str, Path]:
        return {str(p.parent.relative_to(base)): p for p in sorted(base.rglob("*.parquet"))}

    theirs, mine = parts(served), parts(ours)
    if sorted(theirs) != sorted(mine):
        raise SystemExit(f"log format: the compactor wrote {sorted(theirs)}, we {sorted(mine)}")
    for where, path in theirs.items():
        a, b = pq.ParquetFile(path), pq.ParquetFile(mine[where])
        if not a.schema_arrow.equals(b.schema_arrow, check_metadata=True):
            raise SystemExit(
                f"log format: {where} schemas differ:\ncompactor:\n{a.schema_arrow}\n"
                f"benchmark:\n{b.schema_arrow}"
            )
        if not a.read().equals(b.read(), check_metadata=True):
            raise SystemExit(
                f"log format: {where} values differ:\ncompactor:\n{a.read().to_pylist()}\n"
                f"benchmark:\n{b.read().to_pylist()}"
            )
        layout_a = [a.metadata.row_group(0).column(i) for i in range(a.metadata.num_columns)]
        layout_b = [b.metadata.row_group(0).column(i) for i in range(b.metadata.num_columns)]
        for x, y in zip(layout_a, layout_b, strict=True):
            if (x.compression, x.encodings) != (y.compression, y.encodings):
                raise SystemExit(f"log format: {where} column {x.path_in_schema} is encoded "
                                 f"{x.compression} {x.encodings} by the compactor, "
                                 f"{y.compression} {y.encodings} here")  # fmt: skip


def side_window_setup(
    workdir: Path, reference: Path, current: Path, rows: int, part_rows: int, seed: int
) -> dict[str, Any]:
    """A throw-away project trained on a sample of the reference table (model version 1 and its
    reference profile), and ``rows`` rows of the current table in its prediction log."""
    import numpy as np
    import pyarrow.parquet as pq
    from _project import write_project

    from mlpilot.project import Project
    from mlpilot.serving._rows import open_url

    rng = np.random.default_rng([seed, 2])
    directory = workdir / "project"
    whole = pq.read_table(reference)
    sample = whole.take(np.sort(rng.choice(whole.num_rows, WINDOW_TRAIN_ROWS, replace=False)))
    del whole
    directory.mkdir(parents=True)
    pq.write_table(sample, directory / "reference-sample.parquet")
    write_project(
        directory,
        name="bench-drift",
        source=str(directory / "reference-sample.parquet"),
        train_py=TRAIN_ONE_HOT,
    )
    t0 = time.perf_counter()
    project = Project.open(directory)
    summary = project.run()
    train_seconds = time.perf_counter() - t0
    if summary.model_version != 1:
        raise SystemExit(f"the project registered no model version 1: {summary.to_dict()}")
    model = project.registry.load(1).model
    table = pq.read_table(current)
    check_log_format(table, model, project.name, workdir / "format-check")
    t0 = time.perf_counter()
    answered = answer(table, model)
    del table
    answer_seconds = time.perf_counter() - t0

    # Requests: sizes drawn per request, times evenly spread from yesterday 00:00 UTC to a few
    # seconds ago; a request's rows never straddle two journal segments.
    t0 = time.perf_counter()
    sizes = rng.choice(REQUEST_SIZES, size=rows, p=REQUEST_WEIGHTS)
    ends = np.cumsum(sizes)
    n_requests = int(np.searchsorted(ends, rows)) + 1
    sizes, ends = sizes[:n_requests], ends[:n_requests]
    sizes[-1] -= int(ends[-1]) - rows
    ends[-1] = rows
    end_us = int((time.time() - 5) * 1e6)
    start_us = (end_us // DAY_MICROS - 1) * DAY_MICROS
    request_ts = start_us + (np.arange(n_requests) * (end_us - start_us)) // max(n_requests - 1, 1)
    if n_requests > 1 and not (np.diff(request_ts) > 0).all():
        raise SystemExit("too many requests for distinct microsecond timestamps")
    latency = rng.lognormal(np.log(1.0), 0.5, n_requests)
    fs, root = open_url(project.settings.predictions_url)
    files = 0
    first = 0  # request index
    written_rows = 0
    labels = 0
    segment = 0
    while first < n_requests:
        last = int(np.searchsorted(ends, written_rows + part_rows))  # inclusive
        last = min(last, n_requests - 1)
        part_sizes = sizes[first : last + 1]
        n = int(part_sizes.sum())
        positions = np.arange(written_rows, written_rows + n) % answered.rows
        raw = rng.bytes(16 * len(part_sizes)).hex()
        ids = [raw[i : i + 32] for i in range(0, len(raw), 32)]
        labelled = np.flatnonzero(rng.random(n) < WINDOW_LABEL_SHARE)
        row_ts = np.repeat(request_ts[first : last + 1], part_sizes)
        label_ts = np.minimum(
            row_ts[labelled] + rng.integers(5_000_000, 600_000_000, len(labelled)), end_us
        )
        segment += 1
        stem = f"bench_0-{os.getpid()}-{int(request_ts[first]) // 1000}-{segment}"
        files += len(
            write_part(
                fs,
                root,
                stem,
                project.name,
                answered,
                positions,
                Requests(ids, request_ts[first : last + 1], latency[first : last + 1], part_sizes),
                labelled,
                label_ts,
            )
        )
        labels += len(labelled)
        written_rows += n
        first = last + 1
    write_seconds = time.perf_counter() - t0
    log = Path(root)
    return {
        "project": str(directory),
        "train_rows": WINDOW_TRAIN_ROWS,
        "train_seconds": train_seconds,
        "metrics": summary.metrics,
        "answer_seconds": answer_seconds,
        "write_seconds": write_seconds,
        "rows": written_rows,
        "requests": n_requests,
        "labels": labels,
        "segments": segment,
        "files": files,
        "prediction_files": sum(1 for _ in (log / "predictions").rglob("*.parquet")),
        "log_mib": sum(p.stat().st_size for p in log.rglob("*.parquet")) / 2**20,
        "log_start": start_us / 1e6,
        "log_end": end_us / 1e6,
        "dates": sorted(p.name for p in (log / "predictions").iterdir()),
        "typed_columns": len(answered.typed),
    }


def _flagged(scope: Any) -> list[str]:
    return sorted(f.name for f in scope.drift.features if f.drifted) if scope.drift else []


QUERY_KINDS = (
    ("SELECT count(*) FROM predictions WHERE NOT shadow AND date = ", "window: rows of one day"),
    ("SELECT epoch(min(ts))", "window: bounds of the last N rows"),
    ("SELECT count(*) FROM predictions WHERE NOT shadow AND date >=", "window: rows since"),
    ("SELECT variant, model_version", "window: versions and variants"),
    ("DESCRIBE", "columns of the part files"),
    ("SELECT count(*), count_if(", "drift + quality: one aggregate"),
    ("SELECT count(*), quantile_cont", "operational: requests, latency"),
    ("SELECT status, field", "operational: errors"),
    ("SELECT prediction, probabilities, label", "performance: labelled rows"),
)


def _query_kind(sql: str) -> str:
    text = " ".join(sql.split())
    return next((kind for prefix, kind in QUERY_KINDS if text.startswith(prefix)), text[:60])


def _mark_step(steps: list[tuple[str, float]], message: str) -> None:
    steps.append((message, time.perf_counter()))


def side_window_evaluate(project_dir: Path, rows: int, log_start: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    import duckdb  # noqa: F401
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401

    import mlpilot.monitoring  # noqa: F401
    from mlpilot.project import Project

    imports = time.perf_counter() - t0
    mem = Memory()
    t0 = time.perf_counter()
    project = Project.open(project_dir)
    monitor = project.monitor()
    opened = time.perf_counter() - t0
    queries: list[tuple[str, float]] = []
    fetch = monitor.log.fetch

    def timed_fetch(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        started = time.perf_counter()
        try:
            return fetch(sql, params)
        finally:
            queries.append((_query_kind(sql), time.perf_counter() - started))

    monitor.log.fetch = timed_fetch  # type: ignore[method-assign]
    mem.loaded()
    calls: list[dict[str, Any]] = []
    reports = []
    for label, by in (
        ("evaluate(rows=N), first call", "rows"),
        ("evaluate(rows=N), again", "rows"),
        ("evaluate(seconds=whole log)", "seconds"),
    ):
        # The last N rows, or every second since the log's first row (a minute to spare).
        kwargs = {"rows": rows} if by == "rows" else {"seconds": time.time() - log_start + 60}
        queries.clear()
        steps: list[tuple[str, float]] = []
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: this call's own peak
        started = time.perf_counter()
        report = monitor.evaluate(**kwargs, progress=functools.partial(_mark_step, steps))
        seconds = time.perf_counter() - started
        marks = [*steps, ("end", started + seconds)]
        calls.append(
            {
                "call": label,
                "seconds": seconds,
                "rows": report.window.rows,
                "rows_per_second": report.window.rows / seconds,
                "peak_rss_mib": _status_kib("VmHWM") / 1024,
                "steps": {a[0]: b[1] - a[1] for a, b in itertools.pairwise(marks)},
                "queries": list(queries),
            }
        )
        reports.append(report)
    memory = mem.report()
    scope = reports[0].scopes[0]
    if scope.drift is None or scope.quality is None:
        raise SystemExit(f"no drift or data quality in the report: {scope.messages}")
    flagged = [_flagged(r.scopes[0]) for r in reports]
    perf = scope.performance
    op = scope.operational
    return {
        "imports_seconds": imports,
        "open_seconds": opened,
        "calls": calls,
        "seconds": calls[0]["seconds"],
        "window": reports[0].window.model_dump(),
        "scopes": [s.scope.label for s in reports[0].scopes],
        "features": {
            f.name: {"method": f.method, "score": f.score, "drifted": f.drifted}
            for f in scope.drift.features
        },
        "flagged": flagged[0],
        "same_verdicts": all(f == flagged[0] for f in flagged),
        "dataset_share": scope.drift.share,
        "dataset_drifted": scope.drift.drifted,
        "prediction_drift": {
            f.name: {"method": f.method, "score": f.score, "drifted": f.drifted}
            for f in scope.prediction_drift
        },
        "quality": [f"{f.name}: {f.message}" for f in scope.quality.features if f.breached],
        "performance": None
        if perf is None
        else {"metric": perf.metric, "value": perf.value, "labelled": perf.labelled,
              "coverage": perf.coverage, "message": perf.message},
        "operational": None
        if op is None
        else {"requests": op.requests, "p50_ms": op.latency_p50_ms, "p99_ms": op.latency_p99_ms,
              "rate": op.request_rate_per_second},
        "alerts": [a.monitor for a in reports[0].alerts],
        **memory,
    }  # fmt: skip


# --- driving the sides from the parent -----------------------------------------------------------


def evidently_python(venv: Path) -> Path:
    """The interpreter of Evidently's own environment, created (once) with the pinned versions."""
    python = venv / "bin" / "python"
    marker = venv / "mlpilot-bench-requirements.txt"
    wanted = "\n".join(EVIDENTLY_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"creating {venv} with {' '.join(EVIDENTLY_REQUIREMENTS)} ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *EVIDENTLY_REQUIREMENTS],
        check=True,
    )  # fmt: skip
    marker.write_text(wanted)
    return python


def run_side(python: Path, *args: str) -> dict[str, Any]:
    env = dict(
        os.environ, ITERATIVE_DO_NOT_TRACK="1", DO_NOT_TRACK="1", MLFLOW_DISABLE_TELEMETRY="true"
    )
    cmd = [str(python), str(HERE), "--side", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def repeated(n: int, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The run with the median time of ``n``, with every run's seconds and the largest peaks."""
    runs = sorted((make() for _ in range(n)), key=lambda r: float(r["seconds"]))
    out = dict(runs[len(runs) // 2])
    out["all_seconds"] = [r["seconds"] for r in runs]
    out["median_seconds"] = statistics.median(r["seconds"] for r in runs)
    for key in ("peak_rss_mib", "increase_mib"):
        out[key] = max(float(r[key]) for r in runs)
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("mlpilot", "pandas", "pyarrow", "duckdb", "numpy")}


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _names(names: set[str] | list[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def report(r: dict[str, Any]) -> None:
    prof, drift, other, ev = (
        r["mlpilot_profile"],
        r["mlpilot_drift"],
        r["mlpilot_other"],
        r["evidently"],
    )
    together = prof["median_seconds"] + drift["median_seconds"]
    ev_s = ev["median_seconds"]
    ratio_drift, ratio_all = ev_s / drift["median_seconds"], ev_s / together
    ml_peak = max(prof["peak_rss_mib"], drift["peak_rss_mib"])
    ml_increase = max(prof["increase_mib"], drift["increase_mib"])
    v = r["versions"]
    print(f"machine: {r['machine']}")
    print(f"command: {r['command']}")
    print(
        f"data: reference {r['rows']:,} rows, current {r['rows']:,} rows; "
        f"{len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical features; seed {r['seed']}; "
        f"Parquet {r['parquet_mib'][0]:.0f} + {r['parquet_mib'][1]:.0f} MiB"
    )
    print(
        f"mlpilot {v['mlpilot']} (pandas {v['pandas']}, pyarrow {v['pyarrow']}, duckdb "
        f"{v['duckdb']}, numpy {v['numpy']}); Evidently {ev['version']} (pandas {ev['pandas']}) "
        f"in its own venv; {r['repeats']} run(s) per side, median"
    )
    print(
        "mlpilot: build_profile(reference) in one process, drift_frame(profile, current) in "
        f"another, default settings (PSI 0.2); current passed as a {FRAMES[drift['frame']]} "
        f"(as a {FRAMES[other['frame']]}: {other['median_seconds']:.2f} s, peak RSS "
        f"{other['peak_rss_mib']:.0f} MiB)"
    )
    print(
        "Evidently: Report([DataDriftPreset()]) defaults (normed Wasserstein 0.1 numeric, "
        "Jensen-Shannon 0.1 categorical, drift share 0.5); Dataset.from_pandas "
        f"{ev['datasets_seconds']:.2f} s + Report.run {ev['run_seconds']:.2f} s + "
        f"snapshot.dict() {ev['results_seconds']:.2f} s"
    )
    print()
    rows: list[tuple[str, str, str, str]] = [
        ("imports, not timed (s): drift process", f"{drift['imports_seconds']:.2f}",
         f"{ev['imports_seconds']:.2f}", ""),
        ("Parquet load, not timed (s)", f"{prof['load_seconds'] + drift['load_seconds']:.2f}",
         f"{ev['load_seconds']:.2f}", ""),
        ("build_profile(reference) (s)", f"{prof['median_seconds']:.2f}", "-", ""),
        ("drift only (s)", f"{drift['median_seconds']:.2f}", f"{ev_s:.2f}", f"{ratio_drift:.1f}x"),
        ("profile + drift (s)", f"{together:.2f}", f"{ev_s:.2f}", f"{ratio_all:.1f}x"),
        ("peak RSS (MiB)", f"{ml_peak:.0f}", f"{ev['peak_rss_mib']:.0f}",
         f"{ev['peak_rss_mib'] / ml_peak:.2f}x"),
        ("  profile process / drift process",
         f"{prof['peak_rss_mib']:.0f} / {drift['peak_rss_mib']:.0f}", "", ""),
        ("RSS after loading the data (MiB)",
         f"{prof['rss_loaded_mib']:.0f} / {drift['rss_loaded_mib']:.0f}",
         f"{ev['rss_loaded_mib']:.0f}", ""),
        ("peak RSS over the loaded data (MiB)", f"{ml_increase:.0f}", f"{ev['increase_mib']:.0f}",
         f"{ev['increase_mib'] / ml_increase:.2f}x" if ml_increase > 0 else ""),
        ("  profile process / drift process",
         f"{prof['increase_mib']:.0f} / {drift['increase_mib']:.0f}", "", ""),
    ]  # fmt: skip
    print(f"{'':<38}{'mlpilot':>12}{'Evidently':>11}{'Evidently/mlpilot':>19}")
    for label, ml, evi, ratio in rows:
        print(f"{label:<38}{ml:>12}{evi:>11}{ratio:>19}")
    print()
    print(
        f"{'column':<7}{'kind':<6}{'shift in the current data':<52}"
        f"{'mlpilot PSI':>12}{'':<7}{'Evidently':>16}{'':<7}{'mlpilot W*':>11}"
    )
    ml_cols, ev_cols = drift["columns"], ev["columns"]
    for spec in COLUMNS:
        m, e = ml_cols.get(spec.name, {}), ev_cols.get(spec.name, {})
        method = {"Wasserstein distance (normed)": "W", "Jensen-Shannon distance": "JS"}.get(
            e.get("method", ""), e.get("method", "?")
        )
        score_m = "-" if m.get("score") is None else f"{m['score']:.3f}"
        score_e = "-" if e.get("score") is None else f"{method} {e['score']:.3f}"
        w_m = "" if m.get("wasserstein") is None else f"{m['wasserstein']:.3f}"
        print(
            f"{spec.name:<7}{spec.kind[:3]:<6}{(spec.shift or '-'):<52}"
            f"{score_m:>12}{'  DRIFT' if m.get('drifted') else '':<7}"
            f"{score_e:>16}{'  DRIFT' if e.get('drifted') else '':<7}{w_m:>11}"
        )
    print(
        "W* = mlpilot's own normed Wasserstein estimate from the profile's knots, shown for "
        "comparison; PSI decides"
    )
    print(
        f"dataset drift: mlpilot share {drift['dataset_share']:.2f} -> "
        f"{drift['dataset_drifted']}; Evidently share {ev['dataset_share']:.2f} -> "
        f"{ev['dataset_drifted']} (both: drifted at share >= 0.5; truth {len(TRUTH)}/"
        f"{len(COLUMNS)} = {len(TRUTH) / len(COLUMNS):.2f})"
    )
    print()
    print(f"{'':<11}{'found':>7}  {'missed':<24}{'false alarms':<24}")
    checks: dict[str, tuple[set[str], set[str]]] = {}
    for label, side in (("mlpilot", drift), ("Evidently", ev)):
        flagged = set(side["flagged"])
        missed, false = TRUTH - flagged, flagged - TRUTH
        checks[label] = (missed, false)
        found = f"{len(TRUTH & flagged)}/{len(TRUTH)}"
        print(f"{label:<11}{found:>7}  {_names(missed):<24}{_names(false):<24}")
    disagree = set(drift["flagged"]) ^ set(ev["flagged"])
    print(f"the tools disagree on: {_names(disagree)}")
    print()
    ml_missed, ml_false = checks["mlpilot"]
    goals = [
        (f">= {SPEED_GOAL:.0f}x faster than Evidently, drift only", f"{ratio_drift:.1f}x",
         ratio_drift >= SPEED_GOAL),
        (f">= {SPEED_GOAL:.0f}x faster than Evidently, profile + drift", f"{ratio_all:.1f}x",
         ratio_all >= SPEED_GOAL),
        ("peak RSS no more than Evidently's", f"{ml_peak:.0f} vs {ev['peak_rss_mib']:.0f} MiB",
         ml_peak <= ev["peak_rss_mib"]),
        ("RSS over the loaded data no more than Evidently's",
         f"{ml_increase:.0f} vs {ev['increase_mib']:.0f} MiB", ml_increase <= ev["increase_mib"]),
        ("every shifted column found (mlpilot)", f"{len(TRUTH) - len(ml_missed)}/{len(TRUTH)}",
         not ml_missed),
        ("no false alarm (mlpilot)", f"{len(ml_false)} of {len(COLUMNS) - len(TRUTH)} unshifted",
         not ml_false),
    ]  # fmt: skip
    for goal, value, ok in goals:
        print(f"goal: {goal:<52}{value:<20}{_mark(ok)}")
    r["goals"] = {goal: {"value": value, "pass": ok} for goal, value, ok in goals}
    if "window" in r:
        report_window(r)


def report_window(r: dict[str, Any]) -> None:
    setup, w = r["window_setup"], r["window"]
    sizes = "/".join(str(s) for s in REQUEST_SIZES)
    weights = "/".join(f"{p:.0%}" for p in REQUEST_WEIGHTS)
    feedback_files = setup["files"] - setup["prediction_files"]
    print()
    print(
        f"monitoring path: Monitor.evaluate (mlpilot.project.Project.monitor()) over a "
        f"{r['window_rows']:,}-row prediction log in Parquet, in its own process"
    )
    print(
        f"project: trained on {setup['train_rows']:,} rows sampled from the reference table "
        f"(one-hot + scaled LogisticRegression) in {setup['train_seconds']:.1f} s; model "
        f"version 1 and its reference profile in the project's registry"
    )
    print(
        f"log: the current table's rows (repeated) as version 1's answers, {setup['rows']:,} "
        f"rows in {setup['requests']:,} requests of {sizes} rows ({weights}), "
        f"{setup['labels']:,} labelled through feedback; {setup['prediction_files']} prediction + "
        f"{feedback_files} feedback part files of about {r['window_part_rows']:,} rows each "
        f"({setup['log_mib']:.0f} MiB) in {', '.join(setup['dates'])}, written as the "
        f"compactor writes them (checked against Journal + Compactor) in "
        f"{setup['write_seconds']:.0f} s"
    )
    print(
        f"imports, not timed: {w['imports_seconds']:.2f} s; Project.open + monitor(): "
        f"{w['open_seconds']:.2f} s; RSS before the first call {w['rss_loaded_mib']:.0f} MiB"
    )
    print()
    print(f"{'':<32}{'seconds':>9}{'rows':>13}{'rows/s':>13}{'peak RSS MiB':>14}")
    for call in w["calls"]:
        print(
            f"{call['call']:<32}{call['seconds']:>9.2f}{call['rows']:>13,}"
            f"{call['rows_per_second']:>13,.0f}{call['peak_rss_mib']:>14.0f}"
        )
    for call in w["calls"]:
        totals: dict[str, float] = {}
        for kind, seconds in call["queries"]:
            totals[kind] = totals.get(kind, 0.0) + seconds
        shown = ", ".join(
            f"{kind} {seconds:.2f}" for kind, seconds in sorted(totals.items(), key=lambda i: -i[1])
        )
        steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in call["steps"].items())
        outside = call["seconds"] - sum(totals.values())
        print(f"  {call['call']}: steps (s): {steps}")
        print(f"    SQL (s): {shown}; outside SQL {outside:.2f}")
    flagged = set(w["flagged"])
    missed, false = TRUTH - flagged, flagged - TRUTH
    print(
        f"drift (deployment scope): {len(TRUTH & flagged)}/{len(TRUTH)} shifted columns flagged "
        f"({_names(flagged)}); missed: {_names(missed)}; false alarms: {_names(false)}; "
        f"dataset share {w['dataset_share']:.2f} -> {w['dataset_drifted']}; "
        f"same verdicts in every call: {w['same_verdicts']}"
    )
    outputs = ", ".join(
        f"{name} {f['method']} {f['score']:.3f}{' DRIFT' if f['drifted'] else ''}"
        for name, f in w["prediction_drift"].items()
    )
    print(f"prediction drift: {outputs or 'none computed'}")
    print(f"data quality breaches: {'; '.join(w['quality']) or 'none'}")
    perf, op = w["performance"], w["operational"]
    if perf is not None:
        value = "-" if perf["value"] is None else f"{perf['value']:.3f}"
        coverage = "-" if perf["coverage"] is None else f"{perf['coverage']:.1%}"
        print(
            f"performance: {perf['metric']} {value} on {perf['labelled']:,} labelled rows "
            f"(coverage {coverage}){'; ' + perf['message'] if perf['message'] else ''}"
        )
    if op is not None:
        print(
            f"operational: {op['requests']:,} requests, latency p50 {op['p50_ms']:.2f} ms, p99 "
            f"{op['p99_ms']:.2f} ms, {op['rate']:.1f} requests/s"
        )
    print(f"alerts: {', '.join(w['alerts']) or 'none'}")


def window_sides(
    result: dict[str, Any], args: argparse.Namespace, workdir: Path, reference: Path, current: Path
) -> None:
    """The prediction log written by one process, evaluated by another."""
    ml_python = Path(sys.executable)
    setup = run_side(
        ml_python,
        "window-setup",
        str(workdir),
        str(reference),
        str(current),
        str(args.window_rows),
        str(args.window_part_rows),
        str(args.seed),
    )
    result["window_setup"] = setup
    print(f"log written in {setup['write_seconds']:.0f} s; evaluating ...", flush=True)
    project, start = setup["project"], str(setup["log_start"])
    result["window"] = run_side(ml_python, "window-evaluate", project, str(args.window_rows), start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side (median)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--evidently-venv", type=Path, default=EVIDENTLY_VENV)
    parser.add_argument(
        "--window-rows",
        type=int,
        default=10_000_000,
        help="rows of the prediction log Monitor.evaluate reads (0: skip)",
    )
    parser.add_argument(
        "--window-part-rows",
        type=int,
        default=250_000,
        help="rows per part file (journal segment) of that log",
    )
    parser.add_argument("--side", nargs="+", help=argparse.SUPPRESS)  # a side's own process
    args = parser.parse_args()

    if args.side:
        kind, *paths = args.side
        if kind == "mlpilot-profile":
            out = side_mlpilot_profile(Path(paths[0]), Path(paths[1]))
        elif kind == "mlpilot-drift":
            out = side_mlpilot_drift(Path(paths[0]), Path(paths[1]), paths[2])
        elif kind == "window-setup":
            workdir, reference, current = (Path(p) for p in paths[:3])
            rows, part_rows, seed = (int(p) for p in paths[3:])
            out = side_window_setup(workdir, reference, current, rows, part_rows, seed)
        elif kind == "window-evaluate":
            out = side_window_evaluate(Path(paths[0]), int(paths[1]), float(paths[2]))
        else:
            out = side_evidently(Path(paths[0]), Path(paths[1]))
        print(json.dumps(out))
        return

    from _load import machine

    ev_python = evidently_python(args.evidently_venv)
    ml_python = Path(sys.executable)
    workdir = Path(tempfile.mkdtemp(prefix="mlpilot-drift-bench-"))
    try:
        t0 = time.perf_counter()
        reference, current = write_data(workdir, args.rows, args.seed)
        print(f"data written in {time.perf_counter() - t0:.1f} s", flush=True)
        gc.collect()
        profile_json = workdir / "profile.json"
        result: dict[str, Any] = {
            "machine": machine(),
            "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
            "rows": args.rows,
            "seed": args.seed,
            "repeats": args.repeats,
            "parquet_mib": [p.stat().st_size / 2**20 for p in (reference, current)],
            "versions": _versions(),
            "columns": [
                {"name": c.name, "kind": c.kind, "reference": c.reference, "shift": c.shift}
                for c in COLUMNS
            ],
        }
        result["mlpilot_profile"] = repeated(
            args.repeats,
            lambda: run_side(ml_python, "mlpilot-profile", str(reference), str(profile_json)),
        )

        def drift_side(frame: str) -> dict[str, Any]:
            return run_side(ml_python, "mlpilot-drift", str(current), str(profile_json), frame)

        frames = {
            frame: repeated(args.repeats, functools.partial(drift_side, frame))
            for frame in ("arrow", "pandas")
        }
        fast, slow = sorted(frames, key=lambda f: frames[f]["median_seconds"])
        result["mlpilot_drift"], result["mlpilot_other"] = frames[fast], frames[slow]
        print("mlpilot done; running Evidently ...", flush=True)
        result["evidently"] = repeated(
            args.repeats, lambda: run_side(ev_python, "evidently", str(reference), str(current))
        )
        if args.window_rows > 0:
            print(f"writing a {args.window_rows:,}-row prediction log ...", flush=True)
            result["window_rows"], result["window_part_rows"] = (
                args.window_rows,
                args.window_part_rows,
            )
            try:
                window_sides(result, args, workdir, reference, current)
            except SystemExit as exc:  # keep the figures above; fail after printing them
                result["window_error"] = str(exc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if "window_error" in result:
        raise SystemExit(f"the monitoring window failed:\n{result['window_error']}")


if __name__ == "__main__":
    main()
