"""The project's training entrypoint: ``file.py:function``, ``module:function`` or an
estimator class path. Fingerprinted without importing it, imported only to train."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpilot.errors import ConfigError, UserCodeError
from mlpilot.pipeline._fingerprint import sha256_bytes


@dataclass(frozen=True)
class EntryPoint:
    spec: str
    project_dir: Path

    @property
    def file(self) -> Path | None:
        mod = self.spec.split(":", 1)[0]
        if mod.endswith(".py"):
            return (self.project_dir / mod).resolve()
        return None

    @property
    def fingerprint(self) -> str:
        """Changes when the entrypoint's code changes; computed without importing it."""
        path = self.file
        if path is None and ":" in self.spec:
            module = self.spec.split(":", 1)[0]
            local = self.project_dir / (module.replace(".", "/") + ".py")
            path = local if local.is_file() else None
        if path is not None:
            try:
                return sha256_bytes(self.spec.encode() + path.read_bytes())
            except OSError as exc:
                raise ConfigError(
                    f"train.entrypoint '{self.spec}': cannot read {path}: {exc.strerror}; "
                    "check the path (it is relative to the project directory)",
                    key="train.entrypoint",
                ) from exc
        top = self.spec.replace(":", ".").split(".")[0]
        return sha256_bytes(f"{self.spec}@{_dist_version(top)}".encode())

    def load(self) -> Any:
        """Import the function or class. Errors in the user's module are UserCodeError."""
        if ":" in self.spec:
            module_part, attr = self.spec.split(":", 1)
        else:
            module_part, _, attr = self.spec.rpartition(".")
        if not module_part or not attr:
            raise ConfigError(
                f"train.entrypoint '{self.spec}' is not 'file.py:function', 'module:function' "
                "or a class path like 'sklearn.linear_model.LogisticRegression'",
                key="train.entrypoint",
            )
        try:
            module = self._import(module_part)
        except ModuleNotFoundError as exc:
            if exc.name and module_part.startswith(exc.name):
                raise ConfigError(
                    f"train.entrypoint '{self.spec}': module '{module_part}' was not found; "
                    "check the name, or install the package that provides it",
                    key="train.entrypoint",
                ) from exc
            raise _user_error(f"importing {module_part} for train.entrypoint", exc) from exc
        except ConfigError:
            raise
        except Exception as exc:
            raise _user_error(f"importing {module_part} for train.entrypoint", exc) from exc
        try:
            return getattr(module, attr)
        except AttributeError as exc:
            raise ConfigError(
                f"train.entrypoint '{self.spec}': {module_part} has no attribute '{attr}'; "
                "check the function or class name",
                key="train.entrypoint",
            ) from exc

    def _import(self, module_part: str) -> Any:
        if module_part.endswith(".py"):
            path = (self.project_dir / module_part).resolve()
            if not path.is_file():
                raise ConfigError(
                    f"train.entrypoint '{self.spec}': {path} does not exist; the path is "
                    "relative to the project directory",
                    key="train.entrypoint",
                )
            name = f"mlpilot_user_{sha256_bytes(str(path).encode())[:12]}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"cannot import {path}", key="train.entrypoint")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module
        if str(self.project_dir) not in sys.path:
            sys.path.insert(0, str(self.project_dir))
        return importlib.import_module(module_part)


def fit_entrypoint(
    target_obj: Any, spec: str, frame: Any, target: str, params: dict[str, Any]
) -> Any:
    """Train: call ``f(frame, target, **params)`` or ``Class(**params).fit(X, y)``."""
    model: Any
    try:
        if inspect.isclass(target_obj):
            model = target_obj(**params)
            model.fit(frame.drop(columns=[target]), frame[target])
        else:
            model = target_obj(frame, target, **params)
    except Exception as exc:
        raise _user_error(f"training with {spec}", exc) from exc
    if not callable(getattr(model, "predict", None)):
        raise UserCodeError(
            f"train.entrypoint '{spec}' returned {type(model).__name__}, which has no predict(); "
            "return a fitted scikit-learn compatible estimator"
        )
    return model


def _user_error(what: str, exc: BaseException) -> UserCodeError:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return UserCodeError(f"{what} raised {type(exc).__name__}: {exc}", user_traceback=tb)


def _dist_version(top_module: str) -> str:
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    for dist in packages_distributions().get(top_module, [top_module]):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"
