"""Service use cases: strategies, immutable versions, ownership, references, templates, export/import."""

from __future__ import annotations

import uuid

import pytest

from platform_core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from platform_core.pagination import PageParams
from strategy_management import domain, service
from strategy_management.schemas import (
    FromTemplate,
    ImportRequest,
    StrategyCreate,
    StrategyUpdate,
    VersionCreate,
)
from tests.strategy_management.factories import SIMPLE, create

PAGE = PageParams(limit=50, offset=0)


def test_create_stores_version_1_with_schema_from_the_runner(session, user, strategy_env) -> None:
    created = create(session, strategy_env, user, tags=["trend", "trend", "a"])
    assert created.name == "trend" and created.version_count == 1 and created.tags == ["trend", "a"]
    version = service.latest_version(session, user, created.id)
    assert version.number == 1 and version.source == SIMPLE and version.strategy_name == "trend"
    assert [p.model_dump() for p in version.params_schema] == [
        {
            "name": "window",
            "type": "int",
            "default": 5,
            "min": 2,
            "max": 50,
            "choices": None,
            "step": None,
            "description": "SMA window",
        }
    ]
    assert version.metadata == {
        "message": "created",
        "doc": "Hold everything while the close is above its moving average.",
        "grid": False,
        "origin": "created",
    }
    assert version.content_hash.startswith("sha256:") and len(version.content_hash) == 71


def test_saving_new_source_creates_the_next_version_and_same_source_does_not(session, user, strategy_env) -> None:
    created = create(session, strategy_env, user)
    v1 = service.latest_version(session, user, created.id)
    same = service.save_version(session, strategy_env, user, created.id, VersionCreate(source=SIMPLE))
    assert same.id == v1.id
    v2 = service.save_version(
        session,
        strategy_env,
        user,
        created.id,
        VersionCreate(source=SIMPLE.replace("default=5", "default=8"), message="slower"),
    )
    assert v2.number == 2 and v2.params_schema[0].default == 8 and v2.metadata["message"] == "slower"
    assert service.get_version(session, user, v1.id).source == SIMPLE  # v1 is unchanged
    page = service.list_versions(session, user, created.id, PAGE)
    assert [v.number for v in page.items] == [2, 1] and page.total == 2
    diff = service.diff_versions(session, user, created.id, 1, 2)
    assert diff.same_source is False
    assert '-    param("window", int, default=5, min=2, max=50, description="SMA window"),' in diff.diff
    assert diff.params == {"added": [], "removed": [], "changed": {"window": {"default": [5, 8]}}}


def test_another_owners_strategy_is_not_found_like_a_missing_one(session, user, other_user, strategy_env) -> None:
    created = create(session, strategy_env, user)
    version = service.latest_version(session, user, created.id)
    with pytest.raises(NotFound) as theirs:
        service.get_strategy(session, other_user, created.id)
    missing_id = uuid.uuid4()
    with pytest.raises(NotFound) as missing:
        service.get_strategy(session, other_user, missing_id)
    assert theirs.value.message == missing.value.message == "strategy not found"
    with pytest.raises(NotFound, match="strategy version not found"):
        service.get_version(session, other_user, version.id)
    with pytest.raises(NotFound):
        service.add_reference(session, other_user, version.id, "backtest:x")
    assert service.list_strategies(session, other_user, PAGE).total == 0


def test_duplicate_name_is_a_conflict_per_owner(session, user, other_user, strategy_env) -> None:
    create(session, strategy_env, user)
    with pytest.raises(Conflict) as exc:
        create(session, strategy_env, user)
    assert exc.value.envelope() == {
        "error": {
            "code": "CONFLICT",
            "message": "a strategy named 'trend' already exists",
            "details": {"field": "name"},
        }
    }
    assert create(session, strategy_env, other_user).name == "trend"
    second = create(session, strategy_env, user, name="second")
    with pytest.raises(Conflict):
        service.update_strategy(session, user, second.id, StrategyUpdate(name="trend"))


def test_list_search_tag_filter_sort_and_archive(session, user, strategy_env) -> None:
    create(session, strategy_env, user, name="alpha", tags=["a"], description="mean reversion")
    beta = create(session, strategy_env, user, name="beta", tags=["b"])
    create(session, strategy_env, user, name="gamma", tags=["a", "b"])
    names = lambda page: [s.name for s in page.items]  # noqa: E731
    assert names(service.list_strategies(session, user, PAGE, sort="name")) == ["alpha", "beta", "gamma"]
    assert names(service.list_strategies(session, user, PAGE, tag="a", sort="-name")) == ["gamma", "alpha"]
    assert names(service.list_strategies(session, user, PAGE, q="REVERSION")) == ["alpha"]
    paged = service.list_strategies(session, user, PageParams(limit=1, offset=1), sort="name")
    assert names(paged) == ["beta"] and paged.total == 3
    service.set_archived(session, user, beta.id, True)
    assert names(service.list_strategies(session, user, PAGE, sort="name")) == ["alpha", "gamma"]
    assert names(service.list_strategies(session, user, PAGE, archived=True)) == ["beta"]
    with pytest.raises(Conflict, match="archived"):
        service.save_version(session, strategy_env, user, beta.id, VersionCreate(source=SIMPLE + "\n"))
    restored = service.set_archived(session, user, beta.id, False)
    assert restored.archived is False


def test_delete_is_refused_while_a_run_references_a_version(session, user, strategy_env) -> None:
    created = create(session, strategy_env, user)
    version = service.latest_version(session, user, created.id)
    service.add_reference(session, user, version.id, "backtest:run-1")
    service.add_reference(session, user, version.id, "backtest:run-1")  # idempotent
    with pytest.raises(Conflict) as exc:
        service.delete_strategy(session, user, created.id)
    assert exc.value.details == {"strategy_id": str(created.id), "references": 1}
    free = create(session, strategy_env, user, name="free")
    service.delete_strategy(session, user, free.id)
    with pytest.raises(NotFound):
        service.get_strategy(session, user, free.id)


def test_syntax_error_names_line_and_column(session, user, strategy_env) -> None:
    with pytest.raises(InvalidInput) as exc:
        create(
            session, strategy_env, user, source="import polars as pl\n\ndef generate(bars, params)\n    return bars\n"
        )
    assert exc.value.message == "syntax error at line 3, column 27: expected ':'"
    assert exc.value.details == {"field": "source", "line": 3, "column": 27, "kind": "syntax"}


def test_static_check_names_every_violation_with_its_line(session, user, strategy_env) -> None:
    source = (
        "import os\nfrom subprocess import run\n\ndef generate(bars, params):\n    x = eval('1')\n"
        "    return ().__class__\n"
    )
    with pytest.raises(InvalidInput) as exc:
        create(session, strategy_env, user, source=source)
    assert exc.value.message == "source refused at line 1: import of 'os' is not allowed (and 3 more)"
    assert exc.value.details["violations"] == [
        {"line": 1, "column": 1, "message": "import of 'os' is not allowed"},
        {"line": 2, "column": 1, "message": "import of 'subprocess' is not allowed"},
        {"line": 5, "column": 9, "message": "'eval' is not allowed"},
        {"line": 6, "column": 12, "message": "dunder attribute access '__class__' is not allowed"},
    ]


def test_schema_errors_point_at_the_users_line(session, user, strategy_env) -> None:
    bad_default = SIMPLE.replace("default=5", "default=500")
    with pytest.raises(InvalidInput) as exc:
        create(session, strategy_env, user, source=bad_default)
    assert exc.value.message == "strategy refused at line 8: the strategy raised an error: window: must be <= 50"
    assert exc.value.details["param"] == "window" and exc.value.details["line"] == 8
    no_choices = SIMPLE.replace(
        'param("window", int, default=5, min=2, max=50, description="SMA window")', 'param("mode", str, default="a")'
    )
    with pytest.raises(InvalidInput) as exc:
        create(session, strategy_env, user, source=no_choices)
    assert exc.value.details["line"] == 8 and exc.value.details["column"] == 5
    assert exc.value.details["traceback"] == [
        'File "<strategy>", line 8, in <module>: param("mode", str, default="a"),',
        "TypeError: parameter 'mode': str parameters need choices",
    ]


def test_oversized_source_is_refused_with_413(session, user, strategy_env) -> None:
    source = SIMPLE + "#" * (strategy_env.settings.strategy_max_source_bytes + 1)
    with pytest.raises(PayloadTooLarge) as exc:
        create(session, strategy_env, user, source=source)
    assert exc.value.http_status == 413
    assert exc.value.details["limit_bytes"] == 65536 and exc.value.details["field"] == "source"


def test_validate_params_against_the_stored_schema(session, user, strategy_env) -> None:
    created = create(session, strategy_env, user)
    version = service.latest_version(session, user, created.id)
    assert service.validate_params(session, user, version.id, {}) == {"window": 5}
    assert service.validate_params(session, user, version.id, {"window": "7"}) == {"window": 7}
    with pytest.raises(InvalidInput) as exc:
        service.validate_params(session, user, version.id, {"window": 1})
    assert exc.value.envelope()["error"] == {
        "code": "INVALID_INPUT",
        "message": "parameter window: must be >= 2",
        "details": {"field": "params.window"},
    }
    with pytest.raises(InvalidInput, match="parameter speed: unknown parameter"):
        service.validate_params(session, user, version.id, {"speed": 1})


def test_validate_dry_runs_on_sample_bars(session, user, strategy_env) -> None:
    created = create(session, strategy_env, user)
    report = service.validate_strategy(session, strategy_env, user, created.id, params={"window": 3})
    assert report.ok is True and report.version == 1 and report.params == {"window": 3}
    assert report.sample_symbols == ["000001.SZ", "600000.SH"] and report.sample_bars == 240
    assert report.target_rows == 240 and report.target_column == "weight" and 0 < report.nonzero_targets < 240


def test_templates_are_browsable_and_copied_into_a_new_strategy(session, user, strategy_env) -> None:
    names = [t.name for t in service.list_templates()]
    assert names == [
        "ma_cross",
        "rsi_reversion",
        "bollinger_breakout",
        "macd",
        "momentum_rotation",
        "ma_cross_event",
        "ma_cross_port",
        "value_rotation",
    ]
    tpl = service.template_source("ma_cross")
    assert tpl.title == "Dual moving-average cross" and [p.name for p in tpl.params] == ["fast", "slow"]
    created = service.create_from_template(session, strategy_env, user, FromTemplate(template="ma_cross", tags=["tpl"]))
    assert created.name == "ma_cross" and created.description == "Dual moving-average cross"
    version = service.latest_version(session, user, created.id)
    assert version.source == tpl.source and version.metadata["template"] == "ma_cross"
    assert version.metadata["grid"] is True
    with pytest.raises(NotFound) as exc:
        service.template_source("nope")
    assert exc.value.details == {"template": "nope", "available": sorted(names)}


def test_export_then_import_round_trips(session, user, other_user, strategy_env) -> None:
    created = create(session, strategy_env, user, description="d", tags=["x"])
    exported = service.export_strategy(session, user, created.id)
    assert exported.format == "huice.strategy/v1" and exported.version == 1 and exported.source == SIMPLE
    imported = service.import_strategy(session, strategy_env, other_user, ImportRequest(file=exported))
    assert (imported.name, imported.description, imported.tags) == ("trend", "d", ["x"])
    assert service.latest_version(session, other_user, imported.id).content_hash == exported.content_hash
    with pytest.raises(Conflict):
        service.import_strategy(session, strategy_env, user, ImportRequest(file=exported))
    tampered = exported.model_copy(update={"source": SIMPLE + "\n# changed\n"})
    with pytest.raises(InvalidInput, match="content_hash does not match"):
        service.import_strategy(session, strategy_env, user, ImportRequest(file=tampered, name="t"))


def test_create_rejects_missing_generate(session, user, strategy_env) -> None:
    with pytest.raises(InvalidInput) as exc:
        service.create_strategy(
            session, strategy_env, user, StrategyCreate(name="x", source="import math\nPARAMS = []\n")
        )
    assert exc.value.details["violations"] == [{"line": 1, "column": 1, "message": domain.MISSING_MODEL}]


EVENT_SOURCE = """from quant.sdk import order_target_percent, param

PARAMS = [param("weight", float, default=0.5, min=0.0, max=1.0)]


def initialize(context):
    context.done = False


def handle_bar(context, bar):
    if not context.done:
        order_target_percent("600000.SH", context.params["weight"])
        context.done = True
"""


def test_create_rejects_a_source_with_both_models(session, user, strategy_env) -> None:
    source = EVENT_SOURCE + "\n\ndef generate(bars, params):\n    return bars\n"
    with pytest.raises(InvalidInput) as exc:
        service.create_strategy(session, strategy_env, user, StrategyCreate(name="x", source=source))
    assert exc.value.details["violations"] == [{"line": 16, "column": 1, "message": domain.BOTH_MODELS}]


FIELDS_SOURCE = """import polars as pl
from quant.sdk import param, top_n

FIELDS = [{fields}]
PARAMS = [param("n", int, default=1, min=1, max=5)]


def generate(bars, params):
    return bars.select("ts", "symbol", top_n("pb", params["n"]).alias("weight"))
"""


def test_a_strategy_declaring_an_unknown_field_is_refused_naming_it(session, user, strategy_env) -> None:
    source = FIELDS_SOURCE.format(fields='"pb", "roe"')
    with pytest.raises(InvalidInput) as exc:
        service.create_strategy(session, strategy_env, user, StrategyCreate(name="x", source=source))
    assert exc.value.details == {"field": "source", "kind": "fields", "unknown_field": "roe"}
    assert "unknown field 'roe' in FIELDS" in exc.value.message


def test_a_strategy_declaring_fields_dry_runs_on_sample_fundamentals(session, user, strategy_env) -> None:
    created = service.create_strategy(
        session, strategy_env, user, StrategyCreate(name="pb", source=FIELDS_SOURCE.format(fields='"pb"'))
    )
    report = service.validate_strategy(session, strategy_env, user, created.id)
    assert report.ok and report.nonzero_targets == 120  # one of the two sample stocks held on every bar


def test_an_event_driven_strategy_is_described_and_validated_in_the_runner(session, user, strategy_env) -> None:
    created = service.create_strategy(session, strategy_env, user, StrategyCreate(name="jq", source=EVENT_SOURCE))
    report = service.validate_strategy(session, strategy_env, user, created.id, params={"weight": 0.25})
    assert report.ok is True and report.params == {"weight": 0.25}
    assert (report.target_column, report.target_rows, report.nonzero_targets) == ("amount", 1, 1)
    assert report.first_ts == report.last_ts  # its one order executes on the sample's second bar
    assert report.first_ts.utcoffset().total_seconds() == 8 * 3600  # exchange local time, with its offset
    assert report.model_dump(mode="json")["first_ts"].endswith("+08:00")
