"""`huice data ...` over the test's container: every command with --json, errors as envelopes on stderr."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from market_data.cli import app
from platform_core.cli import LazyContainer


def run(container, *args: str):
    result = CliRunner().invoke(app, list(args), obj=LazyContainer(lambda: container))
    return result


def test_load_sample_slice_then_if_empty_is_a_no_op(container) -> None:
    first = run(
        container,
        "load-sample",
        "--symbols",
        "600010.SH,000300.SH",
        "--start",
        "2025-01-01",
        "--end",
        "2025-03-31",
        "--json",
    )
    assert first.exit_code == 0, first.output
    loaded = json.loads(first.stdout)
    assert loaded["skipped"] is False and loaded["symbols"] == 2 and loaded["snapshot"]["source"] == "sample"
    again = json.loads(run(container, "load-sample", "--if-empty", "--json").stdout)
    assert again["skipped"] is True and again["snapshot"]["id"] == loaded["snapshot"]["id"]


def test_read_commands(container, tmp_path) -> None:
    run(container, "load-sample", "--symbols", "600010.SH,688010.SH", "--start", "2025-11-03", "--end", "2025-11-07")
    bars = json.loads(
        run(
            container,
            "bars",
            "--symbols",
            "688010.SH",
            "--start",
            "2025-11-03",
            "--end",
            "2025-11-03",
            "--freq",
            "15min",
            "--json",
        ).stdout
    )
    assert len(bars["rows"]) == 16 and bars["rows"][-1]["ts"] == "2025-11-03T15:00:00"
    csv_out = run(container, "bars", "--symbols", "600010.SH", "--start", "2025-11-03", "--end", "2025-11-07", "--csv")
    assert csv_out.stdout.splitlines()[0].startswith("symbol,date,ts,open,high,low,close,pre_close")
    assert len(csv_out.stdout.splitlines()) == 6
    assert not csv_out.stdout.startswith("\ufeff")  # a terminal or a pipe gets no byte-order mark
    target = tmp_path / "bars.csv"
    written = run(container, "bars", "--symbols", "600010.SH", "--start", "2025-11-03", "--end", "2025-11-07",
                  "--output", str(target), "--json")  # fmt: skip
    assert json.loads(written.stdout)["rows"] == 5
    assert target.read_bytes().startswith(b"\xef\xbb\xbfsymbol,date,ts,")  # a file gets the UTF-8 BOM
    found = json.loads(run(container, "instruments", "--board", "star", "--json").stdout)
    assert [i["symbol"] for i in found["items"]] == ["688010.SH"]
    detail = json.loads(run(container, "instrument", "688010.SH", "--json").stdout)
    assert detail["list_date"] == "2019-07-22" and detail["board"] == "star"
    cal = json.loads(run(container, "calendar", "--start", "2025-10-01", "--end", "2025-10-10", "--json").stdout)
    assert cal["sessions"] == ["2025-10-09", "2025-10-10"]
    cov = json.loads(run(container, "coverage", "--freq", "5min", "--json").stdout)
    assert [(c["symbol"], c["rows"]) for c in cov] == [("600010.SH", 240), ("688010.SH", 240)]
    snaps = json.loads(run(container, "snapshots", "--json").stdout)
    snap = json.loads(run(container, "snapshot", snaps["items"][0]["id"], "--json").stdout)
    assert len(snap["partitions"]) == 6
    report = run(container, "check", "--json")
    assert report.exit_code == 0 and json.loads(report.stdout)["ok"] is True


def test_errors_are_envelopes_with_exit_codes(container) -> None:
    run(container, "load-sample", "--symbols", "600010.SH", "--start", "2025-01-01", "--end", "2025-01-31")
    args = ["bars", "--symbols", "999999.SH,600000.XX", "--start", "2025-01-01", "--end", "2025-01-31"]
    bad = run(container, *args, "--json")
    assert bad.exit_code == 2
    assert json.loads(bad.stderr) == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "unknown or malformed symbols: 600000.XX, 999999.SH",
            "details": {"field": "symbols", "malformed": ["600000.XX"], "unknown": ["999999.SH"]},
        }
    }
    human = run(container, *args)  # without --json: one readable line, the same exit code
    assert human.exit_code == 2 and human.stderr == (
        "error: unknown or malformed symbols: 600000.XX, 999999.SH (INVALID_INPUT, field: symbols)"
        " — hint: see the command's --help\n"
    )
    bare = run(container, "bars", "--symbols", "600010", "--start", "2025-01-01", "--end", "2025-01-31")
    assert bare.exit_code == 2 and "did you mean 600010 → 600010.SH?" in bare.stderr
    date_error = run(container, "calendar", "--start", "2025-13-01", "--end", "2025-12-31", "--json")
    assert date_error.exit_code == 2
    assert json.loads(date_error.stderr)["error"]["message"] == "--start expects a date YYYY-MM-DD, got '2025-13-01'"
    missing = run(container, "snapshot", "snap_missing", "--json")
    assert missing.exit_code == 3


def test_sync_without_a_token_says_how_to_set_one(container, monkeypatch) -> None:
    from market_data.config import env_of

    env = env_of(container)
    monkeypatch.setattr(env, "settings", env.settings.model_copy(update={"tushare_token": None}))
    out = run(container, "sync", "--symbols", "600010.SH", "--start", "2025-01-01", "--end", "2025-01-31", "--json")
    assert out.exit_code == 2
    assert json.loads(out.stderr)["error"]["message"] == (
        "no Tushare token configured: set TUSHARE_TOKEN (or HUICE_TUSHARE_TOKEN)"
    )


def test_sync_via_the_standin_shows_the_result(container, tushare, monkeypatch) -> None:
    from pydantic import SecretStr

    from market_data.config import env_of

    env = env_of(container)
    monkeypatch.setattr(
        env,
        "settings",
        env.settings.model_copy(update={"tushare_token": SecretStr("test-token"), "tushare_url": tushare.url}),
    )
    out = run(
        container, "sync", "--symbols", "600010.SH,000300.SH", "--start", "2025-01-01", "--end", "2025-01-31", "--json"
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["created"] is True and result["symbols"] == 2 and result["snapshot"]["source"] == "tushare"
    again = json.loads(
        run(
            container,
            "sync",
            "--symbols",
            "600010.SH,000300.SH",
            "--start",
            "2025-01-01",
            "--end",
            "2025-01-31",
            "--json",
        ).stdout
    )
    assert again["created"] is False and again["calls"] == 0 and again["fetched_rows"] == 0
