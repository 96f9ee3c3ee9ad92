"""The data of the demo's drift episode, built from scikit-learn's breast-cancer set.

The story: model v1 learns from the original lab's measurements. Then a partner lab starts
sending cases from its new scanner, which images the cells at a higher magnification and
contrast: it reports every nucleus's size (radius, perimeter, area), texture and concavity
(concavity, concave points) 1.3x higher than the old scanner did, for the mean, the standard
error and the worst value alike. The diagnoses are unchanged, but to v1 many benign nuclei now
look large and irregular, so it flags them as malignant: its accuracy on the new traffic falls
from about 0.98 to about 0.7, while it still ranks cases well (the damage is to its threshold,
not its ordering). Eighteen columns change, about half of them far enough for a drift
monitor to alarm (PSI > 0.2), yet every value stays inside the range the schema accepts (the
training range widened by half its width), so the retrain on labelled new-scanner rows passes
validation and gives a model v2 as good on the new scale as v1 was on the old one.

The deliberately bad challenger learns from labels spoilt by a broken feedback join that
inverts most of them (:func:`bad_labels`): it is clearly worse than a coin on the new traffic
and fails the gate on its own holdout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "target"
DRIFT_FACTOR = 1.3
"""How much larger the new scanner reports each drifted measurement."""
DRIFTED_MEASUREMENTS: tuple[str, ...] = (
    "radius",
    "perimeter",
    "area",
    "texture",
    "concavity",
    "concave points",
)
"""The measurements the new scanner reports differently, each as mean, error and worst."""
NOISE = 0.02
"""The Gaussian noise :func:`sample_rows` adds, as a share of each feature's std."""
FLIPPED_SHARE = 0.6
"""The share of labels the broken feedback join of :func:`bad_labels` inverts."""
DRIFT_STORY = (
    f"the partner lab's new scanner reports nucleus size (radius, perimeter, area), texture "
    f"and concavity {DRIFT_FACTOR:g}x higher than the old one"
)


def base_frame() -> pd.DataFrame:
    """The 569 rows of scikit-learn's breast-cancer set: 30 features and ``target``
    (0 = malignant, 1 = benign), with the column names scikit-learn gives them."""
    from sklearn.datasets import load_breast_cancer

    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame.reset_index(drop=True)


def drifted_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that :func:`drift` changes (18 of the breast-cancer set)."""
    names = {f"mean {m}" for m in DRIFTED_MEASUREMENTS}
    names |= {f"{m} error" for m in DRIFTED_MEASUREMENTS}
    names |= {f"worst {m}" for m in DRIFTED_MEASUREMENTS}
    return [str(c) for c in frame.columns if c in names]


def drift(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as the new scanner measures it: the drifted columns times ``DRIFT_FACTOR``,
    everything else (the target too) unchanged. Deterministic."""
    out = frame.copy()
    cols = drifted_columns(frame)
    out[cols] = out[cols] * DRIFT_FACTOR
    return out


def sample_rows(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows drawn from ``frame`` with replacement, each feature plus Gaussian noise of
    ``NOISE`` times its std (clipped at 0 for features that are never negative); the target is
    kept. Distinct requests by the thousand from a few hundred rows."""
    rows = frame.iloc[rng.integers(0, len(frame), size=n)].reset_index(drop=True)
    features = [str(c) for c in frame.columns if c != TARGET]
    values = rows[features].to_numpy(dtype=float)
    std = frame[features].std().to_numpy(dtype=float)
    values = values + rng.normal(0.0, 1.0, size=values.shape) * (NOISE * std)
    nonnegative = (frame[features].min() >= 0).to_numpy()
    values[:, nonnegative] = np.clip(values[:, nonnegative], 0.0, None)
    rows[features] = values
    return rows


def bad_labels(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``frame`` with a random ``FLIPPED_SHARE`` of its labels inverted, as a broken feedback
    join that mixed in a source coding 1 = malignant would leave them: a model trained on them
    learns the diagnosis backwards."""
    out = frame.copy()
    flip = rng.random(len(out)) < FLIPPED_SHARE
    labels = out[TARGET].to_numpy()
    out[TARGET] = np.where(flip, 1 - labels, labels)
    return out
