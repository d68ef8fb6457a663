"""Spec parity: every `#### Scenario:` of `openspec/specs/*/spec.md` is executed.

A scenario is executed either by a `.feature` scenario with the same title (BDD, the usual case) or, when it
is deliberately unit-tested (property tests, cross-kernel equality, numeric cross-checks), by the test its
block names on a line `Unit-tested: \\`tests/<path>.py::<test function>\\``, which must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC_SCENARIO = re.compile(r"^#### Scenario:\s*(.+?)\s*$")
FEATURE_SCENARIO = re.compile(r"^\s*Scenario(?: Outline)?:\s*(.+?)\s*$")
UNIT_TESTED = re.compile(r"Unit-tested:\s*`(tests/[^`:]+\.py)::(\w+)`")


def normalise(title: str) -> str:
    return re.sub(r"\s+", " ", title.strip().rstrip(".")).casefold()


def spec_scenarios() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(spec, title, unit tests named in its block) for every scenario of every spec."""
    found = []
    for spec in sorted((ROOT / "openspec" / "specs").glob("*/spec.md")):
        current: tuple[str, str, list[tuple[str, str]]] | None = None
        for line in spec.read_text(encoding="utf-8").splitlines():
            if match := SPEC_SCENARIO.match(line):
                current = (spec.parent.name, match.group(1), [])
                found.append(current)
            elif line.startswith("#"):
                current = None
            elif current is not None:
                current[2].extend(UNIT_TESTED.findall(line))
    return found


def feature_titles() -> set[str]:
    titles = set()
    for feature in (ROOT / "tests").rglob("*.feature"):
        for line in feature.read_text(encoding="utf-8").splitlines():
            if match := FEATURE_SCENARIO.match(line):
                titles.add(normalise(match.group(1)))
    return titles


SCENARIOS = spec_scenarios()


def test_the_specs_have_scenarios() -> None:
    assert len(SCENARIOS) > 100
    assert {spec for spec, _, _ in SCENARIOS} >= {"backtest-engine", "backtest-runs", "user-auth", "market-data"}


@pytest.mark.parametrize(("spec", "title", "unit"), SCENARIOS, ids=[f"{s}: {t}" for s, t, _ in SCENARIOS])
def test_every_spec_scenario_is_executed(spec: str, title: str, unit: list[tuple[str, str]]) -> None:
    if unit:
        for path, name in unit:
            source = ROOT / path
            assert source.is_file(), f"{spec}: {title!r} names {path}, which does not exist"
            assert re.search(rf"^(async )?def {name}\(", source.read_text(encoding="utf-8"), re.M), (
                f"{spec}: {title!r} names {path}::{name}, which does not exist"
            )
        return
    assert normalise(title) in feature_titles(), (
        f"{spec}: scenario {title!r} has no .feature scenario of that title and names no unit test"
    )
