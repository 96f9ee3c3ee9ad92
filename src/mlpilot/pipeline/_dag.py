"""Steps and pipelines: plain typed functions wired into a DAG by their parameter names."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

from mlpilot.errors import PipelineDefinitionError

CONTEXT_PARAM = "ctx"

StateFn = Callable[[Any, Mapping[str, Any]], str | None]
"""``state(ctx, params)``: names outside state a step's output depends on (see :class:`Step`)."""


@dataclass(frozen=True)
class Step:
    """One step: a function whose parameters name upstream steps, run parameters or ``ctx``.

    ``cache=False`` steps always run (e.g. reading a data source); their output's
    ``fingerprint`` then feeds the cache keys downstream. ``after`` names steps that must run
    (and succeed) first without passing their outputs in. A ``user_code`` step's exceptions
    are reported as :class:`~mlpilot.errors.UserCodeError`, with the user's traceback.

    ``state`` is for a cached step whose output also depends on something outside its inputs
    (e.g. which model version is the champion): it is called with the run context and the run
    parameters each time the step's cache key is computed, and a string it returns is part of
    the key, so a cached output is reused only while that state is the same (``None``: the
    state does not matter this run).
    """

    name: str
    func: Callable[..., Any]
    inputs: tuple[str, ...]
    cache: bool = True
    version: str = "1"
    uses_context: bool = False
    description: str = field(default="", compare=False)
    after: tuple[str, ...] = ()
    user_code: bool = False
    state: StateFn | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


@overload
def step(func: Callable[..., Any], /) -> Step: ...
@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    version: str = "1",
    state: StateFn | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...
def step(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    version: str = "1",
    state: StateFn | None = None,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a :class:`Step` of a function; its parameter names are its inputs.

    A parameter named ``ctx`` receives the run context (services, not data; not part of the
    cache key). ``version`` lets you bust the cache by hand; ``state`` names outside state the
    output depends on (see :class:`Step`).
    """

    def wrap(f: Callable[..., Any]) -> Step:
        params = list(inspect.signature(f).parameters)
        inputs = tuple(p for p in params if p != CONTEXT_PARAM)
        doc = (inspect.getdoc(f) or "").split("\n")[0]
        return Step(
            name=name or f.__name__,
            func=f,
            inputs=inputs,
            cache=cache,
            version=version,
            uses_context=CONTEXT_PARAM in params,
            description=doc,
            state=state,
        )

    return wrap(func) if func is not None else wrap


class Pipeline:
    """A named DAG of steps, checked when built: unique names, known inputs, no cycle."""

    def __init__(self, name: str, steps: Iterable[Step], *, params: Iterable[str] = ()) -> None:
        self.name = name
        self.params = frozenset(params)
        self._steps: dict[str, Step] = {}
        for s in steps:
            if s.name in self._steps:
                raise PipelineDefinitionError(
                    f"pipeline '{name}' has two steps named '{s.name}'; rename one of them"
                )
            if s.name in self.params:
                raise PipelineDefinitionError(
                    f"step '{s.name}' in pipeline '{name}' has the name of a run parameter; "
                    "rename the step"
                )
            self._steps[s.name] = s
        self.order: tuple[Step, ...] = self._toposort()

    @property
    def steps(self) -> dict[str, Step]:
        return dict(self._steps)

    def upstream(self, s: Step) -> tuple[str, ...]:
        return tuple(i for i in (*s.inputs, *s.after) if i in self._steps)

    def with_step(self, new: Step, *, before: str | None = None) -> Pipeline:
        """A new pipeline with ``new`` added (or replacing the step of the same name).

        ``before`` names a step that must then wait for ``new`` to succeed (e.g. ``register``,
        so that a project's own check can stop a model from being registered).
        """
        if before is not None and before not in self._steps:
            raise PipelineDefinitionError(
                f"cannot add step '{new.name}' before '{before}': pipeline '{self.name}' has no "
                f"step '{before}'; its steps are {', '.join(self._steps)}"
            )
        steps = []
        for s in self._steps.values():
            if s.name == new.name:
                s = new
            if s.name == before:
                s = replace(s, after=(*s.after, new.name))
            steps.append(s)
        if new.name not in self._steps:
            steps.append(new)
        return Pipeline(self.name, steps, params=self.params)

    def _toposort(self) -> tuple[Step, ...]:
        for s in self._steps.values():
            for i in (*s.inputs, *s.after):
                if i not in self._steps and i not in self.params:
                    known = sorted(self._steps) + sorted(self.params)
                    raise PipelineDefinitionError(
                        f"step '{s.name}' needs input '{i}', which is neither a step nor a run "
                        f"parameter of pipeline '{self.name}'; known names: {', '.join(known)}"
                    )
        done: list[Step] = []
        state: dict[str, int] = {}

        def visit(s: Step, path: Sequence[str]) -> None:
            mark = state.get(s.name, 0)
            if mark == 2:
                return
            if mark == 1:
                cycle = " -> ".join([*path[path.index(s.name) :], s.name])
                raise PipelineDefinitionError(
                    f"pipeline '{self.name}' has a cycle: {cycle}; remove one of these inputs"
                )
            state[s.name] = 1
            for up in self.upstream(s):
                visit(self._steps[up], [*path, s.name])
            state[s.name] = 2
            done.append(s)

        for s in self._steps.values():
            visit(s, [])
        return tuple(done)
