"""The static allow-list check (`domain.check_source`): attribute names reached through getattr/hasattr with
constant strings are checked exactly like dotted ones; getattr cannot be passed around, and the attribute
getters of allowed modules (`numpy...operator.attrgetter`) are refused. A usability aid and defence in depth —
the confined runner is the boundary (its attack matrix runs the same sources with the guards off)."""

from __future__ import annotations

import pytest

from strategy_management import domain
from tests.strategy_management.attacks import GEN_FRAME, GETATTR_FRAME, HOOK_OFF


def _messages(source: str) -> list[str]:
    return [
        f"{v.line}:{v.message}" for v in domain.check_source(domain.parse(source)) if "must define" not in v.message
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('getattr(it, "gi_frame")', "getattr() of the frame/generator attribute 'gi_frame' is not allowed"),
        ('getattr(frame, "f_back", None)', "getattr() of the frame/generator attribute 'f_back' is not allowed"),
        ('hasattr(frame, "f_globals")', "hasattr() of the frame/generator attribute 'f_globals' is not allowed"),
        ('getattr(e, "tb_frame")', "getattr() of the frame/generator attribute 'tb_frame' is not allowed"),
        ('getattr(x, "__class__")', "getattr() of the dunder attribute '__class__' is not allowed"),
        ('getattr(x, "_private")', "getattr() of the private attribute '_private' is not allowed"),
        ('getattr(x, "gi_" + "frame")', "getattr() with a computed attribute name is not allowed"),
        ("g = getattr", "getattr may only be called directly, with a constant attribute name"),
        (
            "names = list(map(getattr, [x], ['a']))",
            "getattr may only be called directly, with a constant attribute name",
        ),
        ('np.core.numeric.operator.attrgetter("a")', "dynamic attribute access through 'attrgetter' is not allowed"),
        (
            'np.core.numeric.operator.methodcaller("a")',
            "dynamic attribute access through 'methodcaller' is not allowed",
        ),
        ('getattr(np, "getattr")', "getattr() of 'getattr' is not allowed"),
        ('name = "f_back"', "the string 'f_back' names a frame/generator attribute, which is not allowed"),
        ("frame = it.gi_frame", "frame/generator introspection 'gi_frame' is not allowed"),
    ],
)
def test_attribute_names_through_getattr_are_checked_like_dotted_ones(line: str, expected: str) -> None:
    assert _messages(f"import numpy as np\n{line}\n") == [f"2:{expected}"]


def test_getattr_with_an_ordinary_constant_name_stays_allowed() -> None:
    source = (
        "def generate(bars, params):\n"
        '    n = getattr(bars, "height", 0)\n'
        '    return bars if hasattr(bars, "select") else n\n'
    )
    assert domain.check_source(domain.parse(source)) == []


@pytest.mark.parametrize("source", [GEN_FRAME, GETATTR_FRAME, HOOK_OFF], ids=["dotted", "getattr", "hook off"])
def test_every_frame_walk_of_the_attack_matrix_is_refused_statically(source: str) -> None:
    found = _messages(source)
    assert found and all(("frame/generator" in m) for m in found), found
    assert any(m.startswith("3:") for m in found)  # the line that reaches the generator's frame
