"""Training code for this project.

mlpilot calls ``train(frame, target, **params)`` with the training rows (features and the
target column) and the ``[train] params`` from mlpilot.toml; return a fitted estimator.
"""

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def train(frame: pd.DataFrame, target: str, C: float = 1.0) -> Pipeline:
    features = frame.drop(columns=[target])
    model = Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=C, max_iter=1000)),
        ]
    )
    return model.fit(features, frame[target])
