"""HTTP face: envelopes, status codes, ownership, export/import and refusal of malicious code."""

from __future__ import annotations

import uuid

from tests.strategy_management.factories import SIMPLE


def _create(api, headers, name="trend", source=SIMPLE):
    return api.post("/api/strategies", json={"name": name, "source": source, "tags": ["t"]}, headers=headers)


def test_requires_a_signed_in_caller(api, strategy_env) -> None:
    response = api.get("/api/strategies")
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


def test_create_version_validate_export_import_flow(api, headers, other_user, auth_headers_for) -> None:
    created = _create(api, headers)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    saved = api.post(
        f"/api/strategies/{sid}/versions",
        headers=headers,
        json={"source": SIMPLE.replace("default=5", "default=9"), "message": "slower"},
    )
    assert saved.status_code == 201 and saved.json()["number"] == 2
    assert saved.json()["params_schema"][0]["default"] == 9
    assert api.get(f"/api/strategies/{sid}/versions/1", headers=headers).json()["source"] == SIMPLE
    diff = api.get(f"/api/strategies/{sid}/diff?from=1&to=2", headers=headers).json()
    assert diff["params"]["changed"] == {"window": {"default": [5, 9]}}
    report = api.post(f"/api/strategies/{sid}/validate", headers=headers, json={"params": {"window": 3}})
    assert report.status_code == 200 and report.json()["params"] == {"window": 3}
    exported = api.get(f"/api/strategies/{sid}/export", headers=headers)
    assert exported.headers["content-disposition"] == (
        "attachment; filename=\"strategy.json\"; filename*=UTF-8''trend.v2.strategy.json"
    )
    other = auth_headers_for(other_user)
    imported = api.post("/api/strategies/import", headers=other, json={"file": exported.json()})
    assert (
        imported.status_code == 201
        and imported.json()["latest_version"]["content_hash"] == exported.json()["content_hash"]
    )


def test_other_owner_gets_404_like_missing(api, headers, other_user, auth_headers_for) -> None:
    sid = _create(api, headers).json()["id"]
    theirs = api.get(f"/api/strategies/{sid}", headers=auth_headers_for(other_user))
    missing = api.get(f"/api/strategies/{uuid.uuid4()}", headers=auth_headers_for(other_user))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["message"] == missing.json()["error"]["message"] == "strategy not found"


def test_duplicate_name_unknown_template_and_oversized_source(api, headers) -> None:
    _create(api, headers)
    duplicate = _create(api, headers)
    assert duplicate.status_code == 409 and duplicate.json() == {
        "error": {
            "code": "CONFLICT",
            "message": "a strategy named 'trend' already exists",
            "details": {"field": "name"},
        }
    }
    unknown = api.post("/api/strategies/from-template", headers=headers, json={"template": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "unknown template 'nope'"
    big = _create(api, headers, name="big", source=SIMPLE + "#" * 70_000)
    assert big.status_code == 413 and big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert big.json()["error"]["details"]["limit_bytes"] == 65536


def test_malicious_code_is_refused_precisely(api, headers) -> None:
    response = _create(
        api,
        headers,
        name="evil",
        source="import os\n\ndef generate(bars, params):\n    return open('/etc/passwd').read()\n",
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "source refused at line 1: import of 'os' is not allowed (and 1 more)",
            "details": {
                "field": "source",
                "line": 1,
                "column": 1,
                "kind": "forbidden",
                "violations": [
                    {"line": 1, "column": 1, "message": "import of 'os' is not allowed"},
                    {"line": 4, "column": 12, "message": "'open' is not allowed"},
                ],
            },
        }
    }


def test_validate_reports_runtime_errors_with_user_lines_only(api, headers) -> None:
    source = SIMPLE.replace('    on = (pl.col("close")', '    scale = 1 / 0\n    on = (pl.col("close")')
    sid = _create(api, headers, name="broken", source=source).json()["id"]
    response = api.post(f"/api/strategies/{sid}/validate", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "INVALID_INPUT",
        "message": "the strategy raised an error: ZeroDivisionError: division by zero",
        "details": {
            "kind": "error",
            "line": 13,
            "column": 13,
            "traceback": [
                'File "<strategy>", line 13, in generate: scale = 1 / 0',
                "ZeroDivisionError: division by zero",
            ],
        },
    }


def test_templates_and_delete_with_reference(api, headers, session, user) -> None:
    from strategy_management import service

    listed = api.get("/api/templates", headers=headers).json()
    assert [t["name"] for t in listed][:2] == ["ma_cross", "rsi_reversion"]
    assert "source" in api.get("/api/templates/macd", headers=headers).json()
    sid = api.post("/api/strategies/from-template", headers=headers, json={"template": "macd"}).json()["id"]
    version = api.get(f"/api/strategies/{sid}/versions/latest", headers=headers).json()
    service.add_reference(session, user, uuid.UUID(version["id"]), "backtest:run-9")
    refused = api.delete(f"/api/strategies/{sid}", headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["details"]["references"] == 1
    archived = api.post(f"/api/strategies/{sid}/archive", headers=headers)
    assert archived.json()["archived"] is True
    assert api.get("/api/strategies", headers=headers).json()["total"] == 0
    assert api.get("/api/strategies?archived=true", headers=headers).json()["total"] == 1


LOGGING = SIMPLE.replace("from quant.sdk import param, sma", "from quant.sdk import log, param, sma").replace(
    '    on = (pl.col("close")',
    '    print("bars:", bars.height)\n'
    '    log("window", params["window"], "password=hunter2")\n'
    '    on = (pl.col("close")',
)


def test_validate_shows_what_the_strategy_printed_and_logged_with_secrets_masked(api, headers) -> None:
    sid = _create(api, headers, name="talkative", source=LOGGING).json()["id"]
    report = api.post(f"/api/strategies/{sid}/validate", headers=headers, json={"params": {"window": 3}})
    assert report.status_code == 200, report.text
    [printed, logged] = report.json()["output"]
    assert printed.startswith("bars: ") and int(printed.split()[1]) > 0
    assert logged.startswith("window 3 password=") and "hunter2" not in logged
    broken = LOGGING.replace('    on = (pl.col("close")', '    scale = 1 / 0\n    on = (pl.col("close")')
    bid = _create(api, headers, name="talkative-broken", source=broken).json()["id"]
    error = api.post(f"/api/strategies/{bid}/validate", headers=headers).json()["error"]
    assert error["details"]["output"][0].startswith("bars: ") and len(error["details"]["output"]) == 2
