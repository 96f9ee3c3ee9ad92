import pytest

from mlpilot.errors import PipelineDefinitionError
from mlpilot.pipeline import Pipeline, step


@step
def a(x: int) -> int:
    return x + 1


@step
def b(a: int) -> int:
    return a * 2


@step
def c(a: int, b: int) -> int:
    return a + b


def test_order_follows_dependencies() -> None:
    p = Pipeline("p", [c, b, a], params=["x"])
    assert [s.name for s in p.order] == ["a", "b", "c"]
    assert p.upstream(c) == ("a", "b")


def test_step_inputs_come_from_parameter_names() -> None:
    assert a.inputs == ("x",)
    assert not a.uses_context

    @step(name="named", cache=False)
    def f(ctx: object, a: int) -> int:
        return a

    assert f.name == "named"
    assert f.inputs == ("a",)
    assert f.uses_context
    assert not f.cache


def test_unknown_input_is_rejected() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"step 'b' needs input 'a'"):
        Pipeline("p", [b])


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"two steps named 'a'"):
        Pipeline("p", [a, a], params=["x"])


def test_cycle_is_rejected() -> None:
    @step(name="a")
    def a2(b: int) -> int:
        return b

    with pytest.raises(PipelineDefinitionError, match=r"cycle: a -> b -> a|cycle: b -> a -> b"):
        Pipeline("p", [a2, b])


def test_with_step_adds_and_replaces() -> None:
    p = Pipeline("p", [a, b], params=["x"])

    @step
    def extra(b: int) -> int:
        return -b

    p2 = p.with_step(extra)
    assert [s.name for s in p2.order] == ["a", "b", "extra"]
    assert [s.name for s in p.order] == ["a", "b"]


def test_with_step_before_makes_the_step_wait() -> None:
    p = Pipeline("p", [a, b, c], params=["x"])

    @step
    def check(a: int) -> None:
        return None

    p2 = p.with_step(check, before="b")
    order = [s.name for s in p2.order]
    assert order.index("check") < order.index("b")
    assert p2.steps["b"].after == ("check",)
    assert p2.steps["b"].inputs == ("a",)  # outputs are not passed in


def test_with_step_before_unknown_step() -> None:
    p = Pipeline("p", [a], params=["x"])
    with pytest.raises(PipelineDefinitionError, match=r"has no step 'register'"):
        p.with_step(b, before="register")
