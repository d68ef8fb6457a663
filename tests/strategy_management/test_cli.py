"""`huice strategy ...` as a new user would use it: template → edit a default → save → validate → export,
and a precise, safe refusal of malicious code — with `--json` and envelopes on stderr."""

from __future__ import annotations

import json
from pathlib import Path


def test_template_to_export_flow(cli, tmp_path: Path) -> None:
    listed = cli("templates", "--json")
    assert listed.exit_code == 0, listed.output
    assert next(t["name"] for t in json.loads(listed.stdout)) == "ma_cross"
    created = json.loads(cli("from-template", "ma_cross", "--name", "my cross", "--json").stdout)
    sid = created["id"]
    source = cli("version", sid, "--source").stdout
    edited = tmp_path / "cross.py"
    edited.write_text(source.replace("default=10", "default=12"))
    saved = cli("save", sid, "--file", str(edited), "--message", "fast 12", "--json")
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout)["number"] == 2
    assert json.loads(saved.stdout)["params_schema"][0]["default"] == 12
    report = json.loads(cli("validate", sid, "-p", "slow=40", "--json").stdout)
    assert report["params"] == {"fast": 12, "slow": 40} and report["target_column"] == "weight"
    out = tmp_path / "export.json"
    written = json.loads(cli("export", sid, "--out", str(out), "--json").stdout)
    assert written["version"] == 2 and json.loads(out.read_text())["source"] == edited.read_text()
    diff = cli("diff", sid, "1", "2")
    assert '-    param("fast", int, default=10' in diff.stdout and '+    param("fast", int, default=12' in diff.stdout
    imported = cli("import", str(out), "--name", "copy", "--json")
    assert imported.exit_code == 0 and json.loads(imported.stdout)["name"] == "copy"


def test_malicious_code_is_refused_with_an_envelope(cli, tmp_path: Path) -> None:
    evil = tmp_path / "evil.py"
    evil.write_text("def generate(bars, params):\n    return __import__('socket')\n")
    result = cli("create", "evil", "--file", str(evil), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stderr.strip()) == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "source refused at line 2: '__import__' is not allowed",
            "details": {
                "field": "source",
                "line": 2,
                "column": 12,
                "kind": "forbidden",
                "violations": [{"line": 2, "column": 12, "message": "'__import__' is not allowed"}],
            },
        }
    }


def test_validate_runtime_refusal_and_unknown_strategy(cli, tmp_path: Path) -> None:
    loop = tmp_path / "loop.py"
    loop.write_text("import math\n\ndef generate(bars, params):\n    while True:\n        pass\n")
    sid = json.loads(cli("create", "loop", "--file", str(loop), "--json").stdout)["id"]
    result = cli("validate", sid, "--json")
    assert result.exit_code == 2
    error = json.loads(result.stderr.strip())["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"]["kind"] == "timeout"
    missing = cli("show", "00000000-0000-0000-0000-000000000000", "--json")
    assert missing.exit_code == 3 and json.loads(missing.stderr.strip())["error"]["code"] == "NOT_FOUND"
    human = cli("show", "00000000-0000-0000-0000-000000000000")  # without --json: one readable line
    assert human.exit_code == 3
    assert human.stderr.startswith("error: ") and human.stderr.count("\n") == 1 and "{" not in human.stderr
    assert "(NOT_FOUND) — hint: check the id (list commands show full ids)" in human.stderr
