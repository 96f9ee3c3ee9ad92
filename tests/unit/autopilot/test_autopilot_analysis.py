"""The online analysis over a real prediction log (journal records, DuckDB views): variants by
model version, shadow copies, server errors, regression metrics, the ts window."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlpilot.autopilot import analyse, difference_sequence
from mlpilot.config import AnalysisSettings
from mlpilot.serving import Journal, PredictionLog

CFG = AnalysisSettings(min_requests=50, min_labels=50, margin=0.05)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[tuple[Journal, PredictionLog]]:
    journal_dir = tmp_path / "journal"
    with Journal(journal_dir, "unit") as journal:
        opened = PredictionLog(journal_dir, str(tmp_path / "parquet"))
        yield journal, opened
        opened.close()


def request(
    journal: Journal,
    *,
    version: int,
    prediction: object,
    label: object | None,
    ts: float,
    shadow: bool = False,
    request_id: str | None = None,
    latency_ms: float = 2.0,
) -> str:
    rid = request_id or uuid.uuid4().hex
    journal.append(
        {
            "kind": "prediction",
            "request_id": rid,
            "ts": ts,
            "deployment": "d",
            "variant": "challenger" if version == 2 else "champion",
            "model_version": version,
            "shadow": shadow,
            "latency_ms": latency_ms,
            "inputs": [{"x": 1.0}],
            "predictions": [prediction],
            "probabilities": None,
        }
    )
    if label is not None and not shadow:
        journal.append(
            {"kind": "feedback", "request_id": rid, "ts": ts + 0.001, "label": label, "row": None}
        )
    return rid


def shadowed(
    journal: Journal, label: int, champion_right: bool, challenger_right: bool, *, ts: float
) -> None:
    """A request the champion (version 1) answers, labelled, and its shadow copy to version 2."""
    rid = request(
        journal,
        version=1,
        prediction=label if champion_right else 1 - label,
        label=label,
        ts=ts,
    )
    request(
        journal,
        version=2,
        prediction=label if challenger_right else 1 - label,
        label=None,
        ts=ts,
        shadow=True,
        request_id=rid,
    )


def test_shadow_copies_are_the_challenger_and_share_the_champion_s_labels(
    log: tuple[Journal, PredictionLog],
) -> None:
    journal, predictions = log
    rng = np.random.default_rng(0)
    start = time.time()
    for i in range(120):
        label = int(rng.integers(0, 2))
        champion_right = rng.random() < 0.7
        shadowed(journal, label, champion_right, True, ts=start + i * 0.01)
    result = analyse(
        predictions,
        challenger=2,
        champion=1,
        since=start,
        metric="accuracy",
        settings=CFG,
        now=start + 60,
    )
    assert result.challenger.requests == 120
    assert result.champion.requests == 120  # the shadow copies are not counted as the champion's
    assert result.challenger.labelled == 120
    assert result.challenger.metric == 1.0
    assert result.verdict == "promote", result.reason


def test_rows_before_the_rollout_and_other_versions_are_left_out(
    log: tuple[Journal, PredictionLog],
) -> None:
    journal, predictions = log
    start = time.time()
    for i in range(30):
        request(journal, version=1, prediction=0, label=1, ts=start - 100 + i)  # before
        request(journal, version=7, prediction=0, label=1, ts=start + i)  # another version
        request(journal, version=1, prediction=1, label=1, ts=start + i)
    result = analyse(
        predictions,
        challenger=2,
        champion=1,
        since=start,
        metric="accuracy",
        settings=CFG,
        now=start + 60,
    )
    assert result.champion.requests == 30
    assert result.champion.metric == 1.0
    assert result.challenger.requests == 0
    assert result.verdict == "continue"


def test_server_errors_count_but_client_errors_do_not(log: tuple[Journal, PredictionLog]) -> None:
    journal, predictions = log
    start = time.time()
    for i in range(20):
        request(journal, version=1, prediction=1, label=1, ts=start + i * 0.01)
        request(journal, version=2, prediction=1, label=1, ts=start + i * 0.01)
    for i, status in enumerate([500] * 6 + [422] * 9):
        journal.append(
            {
                "kind": "error",
                "request_id": uuid.uuid4().hex,
                "ts": start + i * 0.01,
                "deployment": "d",
                "variant": "challenger",
                "model_version": 2,
                "shadow": False,
                "status": status,
                "error": "E",
                "field": None,
                "message": "m",
            }
        )
    result = analyse(
        predictions,
        challenger=2,
        champion=1,
        since=start,
        metric="accuracy",
        settings=CFG,
        now=start + 60,
    )
    assert result.challenger.errors == 6
    assert result.verdict == "rollback"
    assert result.reason.startswith("error guard")


def test_regression_compares_absolute_errors_lower_is_better(
    log: tuple[Journal, PredictionLog],
) -> None:
    journal, predictions = log
    rng = np.random.default_rng(1)
    start = time.time()
    for i in range(200):
        y = float(rng.normal(10, 2))
        request(
            journal,
            version=1,
            prediction=y + float(rng.normal(0, 0.5)),
            label=y,
            ts=start + i * 0.01,
        )
        request(
            journal,
            version=2,
            prediction=y + float(rng.normal(0, 3.0)),
            label=y,
            ts=start + i * 0.01,
        )
    result = analyse(
        predictions,
        challenger=2,
        champion=1,
        since=start,
        metric="mae",
        settings=CFG,
        now=start + 60,
    )
    assert not result.higher_is_better
    assert result.challenger.metric is not None
    assert result.champion.metric is not None
    assert result.challenger.metric > result.champion.metric
    assert result.gain is not None
    assert result.gain.high < -0.05  # the challenger's errors are larger: a negative gain
    assert result.verdict == "rollback"
    assert result.to_dict()["gain"]["estimate"] < 0


def test_the_latency_guard_compares_p99_with_the_champion(
    log: tuple[Journal, PredictionLog],
) -> None:
    journal, predictions = log
    start = time.time()
    for i in range(60):
        request(journal, version=1, prediction=1, label=None, ts=start + i * 0.01, latency_ms=2.0)
        request(journal, version=2, prediction=1, label=None, ts=start + i * 0.01, latency_ms=9.0)
    result = analyse(
        predictions,
        challenger=2,
        champion=1,
        since=start,
        metric="accuracy",
        settings=CFG,
        now=start + 60,
    )
    assert result.challenger.latency_p99_ms == pytest.approx(9.0)
    assert result.verdict == "rollback"
    assert "latency guard" in result.reason
    assert result.prediction_shift == 0.0


def test_in_shadow_mode_the_same_rows_are_compared_pairwise_and_decide_sooner(
    log: tuple[Journal, PredictionLog],
) -> None:
    """Two models that agree on most rows: the per-row differences decide with 80 labels where
    the two streams apart cannot."""
    journal, predictions = log
    rng = np.random.default_rng(3)
    start = time.time()
    fixed = 0
    for i in range(80):
        label = int(rng.integers(0, 2))
        champion_right = rng.random() < 0.9
        challenger_right = champion_right or fixed < 3  # it fixes three of the champion's errors
        fixed += int(not champion_right and challenger_right)
        shadowed(journal, label, champion_right, challenger_right, ts=start + i * 0.01)
    result = analyse(
        predictions,
        challenger=2,
        champion=1,
        since=start,
        metric="accuracy",
        settings=CFG,
        now=start + 60,
    )
    assert result.gain is not None
    assert result.gain.n == 80  # pairs
    assert result.gain.estimate == pytest.approx(3 / 80)
    assert result.verdict == "promote", result.reason
    # the same scores taken as two independent streams (as for a canary) are still undecided
    assert result.challenger.metric is not None
    assert result.champion.metric is not None
    apart = difference_sequence(
        _outcomes(result.challenger.metric, 80),
        _outcomes(result.champion.metric, 80),
        alpha=CFG.alpha,
        horizon=100,
        bounded=True,
    )
    assert apart.low < -CFG.margin < result.gain.low


def _outcomes(accuracy: float, n: int) -> list[float]:
    right = round(accuracy * n)
    return [1.0] * right + [0.0] * (n - right)
