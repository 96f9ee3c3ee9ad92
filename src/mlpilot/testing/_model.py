"""The model under test: a loaded, verified model with ``predict`` and ``predict_proba`` on
DataFrames that keep their index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class ModelUnderTest:
    """A model version as the model tests see it.

    ``predict`` and ``predict_proba`` take a DataFrame that holds at least the model's
    ``features`` (other columns, such as the target, are left out before the model sees it)
    and return a Series or DataFrame with the same index. ``role`` is ``"candidate"`` or
    ``"champion"``; ``ref`` is ``name/version``; ``digest`` the sha256 verified when it was
    loaded.
    """

    model: Any
    role: str
    ref: str
    digest: str | None
    task: str
    target: str
    features: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How failure messages name it, e.g. ``candidate breast-cancer/3``."""
        return f"{self.role} {self.ref}"

    @property
    def classes(self) -> list[Any]:
        """The class labels, in the order of ``predict_proba``'s columns (classification)."""
        found = getattr(self.model, "classes_", None)
        return [] if found is None else list(found.tolist() if hasattr(found, "tolist") else found)

    @property
    def positive_class(self) -> Any:
        """The class whose probability :meth:`score` returns by default: the last one."""
        classes = self.classes
        if not classes:
            raise ValueError(f"{self.label} has no classes: it is a {self.task} model")
        return classes[-1]

    @property
    def has_proba(self) -> bool:
        return callable(getattr(self.model, "predict_proba", None))

    def inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's features of ``frame``, in training order."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ValueError(
                f"{self.label} needs the columns {_names(missing)}, which the frame lacks; pass "
                "rows with every feature the model was trained on (e.g. from the holdout fixture)"
            )
        return frame.loc[:, list(self.features)]

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """The model's predictions for ``frame``'s rows, indexed like ``frame``."""
        import numpy as np
        import pandas as pd

        values = np.asarray(self.model.predict(self.inputs(frame)))
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.ravel()
        return pd.Series(values, index=frame.index, name="prediction")

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities for ``frame``'s rows: one column per class, indexed like it."""
        import numpy as np
        import pandas as pd

        if not self.has_proba:
            raise ValueError(f"{self.label} ({type(self.model).__name__}) has no predict_proba")
        values = np.asarray(self.model.predict_proba(self.inputs(frame)))
        columns = self.classes or list(range(values.shape[1]))
        return pd.DataFrame(values, index=frame.index, columns=columns)

    def score(self, frame: pd.DataFrame, of: Any = None) -> pd.Series:
        """One number per row: the prediction (regression), or the probability of class ``of``
        (classification; default :attr:`positive_class`)."""
        if self.task == "regression":
            return self.predict(frame).astype(float)
        proba = self.predict_proba(frame)
        label = self.positive_class if of is None else of
        if label not in proba.columns:
            raise ValueError(
                f"{self.label} has no class {label!r}; its classes are {_names(self.classes)}"
            )
        column: pd.Series = proba[label]
        return column.rename(f"p({label})")


def _names(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:10])
    return shown + (f" and {len(values) - 10} more" if len(values) > 10 else "")
