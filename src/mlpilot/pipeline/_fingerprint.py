"""Stable fingerprints of step inputs, for cache keys."""

from __future__ import annotations

import hashlib
import inspect
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(value: Any) -> str:
    """A sha256 that changes when ``value`` changes and is equal across processes.

    Objects may define a ``fingerprint`` attribute (a string) to provide their own.
    """
    own = getattr(value, "fingerprint", None)
    if isinstance(own, str):
        return own
    if value is None or isinstance(value, bool | int | float | str):
        return sha256_bytes(json.dumps(value).encode())
    if isinstance(value, bytes):
        return sha256_bytes(value)
    if isinstance(value, pd.DataFrame | pd.Series):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        h = hashlib.sha256()
        h.update(json.dumps([str(c) for c in frame.columns]).encode())
        h.update(json.dumps([str(t) for t in frame.dtypes]).encode())
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return h.hexdigest()
    if isinstance(value, np.ndarray):
        return sha256_bytes(str((value.dtype, value.shape)).encode() + value.tobytes())
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return sha256_bytes(f"{type(value).__qualname__}:{dump()}".encode())
    if isinstance(value, dict):
        parts = sorted((str(k), fingerprint(v)) for k, v in value.items())
        return sha256_bytes(json.dumps(parts).encode())
    if isinstance(value, list | tuple):
        return sha256_bytes(json.dumps([fingerprint(v) for v in value]).encode())
    if callable(value):
        return code_fingerprint(value)
    return sha256_bytes(pickle.dumps(value, protocol=5))


def code_fingerprint(func: Any) -> str:
    """The code of a callable: its whole source file where there is one (so helpers it calls
    count too), else its source, else its qualified name and module version."""
    try:
        path = inspect.getsourcefile(func)
    except TypeError:
        path = None
    if path and Path(path).is_file():
        return sha256_bytes(Path(path).read_bytes() + func.__qualname__.encode())
    try:
        return sha256_bytes(inspect.getsource(func).encode())
    except (OSError, TypeError):
        module = getattr(func, "__module__", "") or ""
        top = module.split(".")[0]
        version = ""
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(top)
        except Exception:
            version = ""
        return sha256_bytes(f"{module}.{getattr(func, '__qualname__', func)}@{version}".encode())
