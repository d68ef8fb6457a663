"""Logs are JSON lines with the request id; secrets never reach them."""

from __future__ import annotations

import io
import json
import logging

from platform_core.logging import REDACTED, configure_logging, redact, redact_text, request_id_var


def test_json_lines_carry_request_id_and_redact_secrets() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    token = request_id_var.set("rid-7")
    try:
        logging.getLogger("huice.test").info(
            "login with %s from postgresql://u:pw123@db/x",
            "Bearer eyJabc.def.ghi",
            extra={"password": "hunter2", "api_key": "hk_abc_secret", "user": "a@b.c", "source": "import os"},
        )
    finally:
        request_id_var.reset(token)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "rid-7"
    assert line["level"] == "INFO"
    assert line["password"] == REDACTED and line["api_key"] == REDACTED and line["source"] == REDACTED
    assert line["user"] == "a@b.c"
    assert "eyJabc" not in line["message"] and "pw123" not in line["message"]
    assert line["message"] == f"login with Bearer {REDACTED} from postgresql://u:{REDACTED}@db/x"


def test_redact_recurses_into_structures() -> None:
    assert redact({"a": {"token": "t"}, "b": ["Bearer zzz"]}) == {
        "a": {"token": REDACTED},
        "b": [f"Bearer {REDACTED}"],
    }
    assert redact_text('{"password": "p4ss", "x": 1}') == '{"password": "' + REDACTED + '", "x": 1}'
    assert redact_text("key hk_1a2b_s3cr3t used") == f"key hk_1a2b_{REDACTED} used"


def test_share_link_tokens_are_masked_in_paths_and_text() -> None:
    token = "hs_" + "A1b2-C3d4_E5f6G7h8I9j0KlMnOpQrStUvWxYz012345"
    assert redact_text(f"GET /s/{token} 200") == f"GET /s/hs_{REDACTED} 200"
    assert redact_text(f"GET /api/shared/{token}?x=1") == f"GET /api/shared/hs_{REDACTED}?x=1"
    assert redact_text("this_hs_word and hs_short stay") == "this_hs_word and hs_short stay"


def test_tracebacks_are_redacted_in_json_and_console_lines() -> None:
    for fmt in ("json", "console"):
        stream = io.StringIO()
        configure_logging("INFO", fmt, stream)
        try:
            raise RuntimeError("cannot reach postgresql://u:pw123@db/x with password=hunter2")
        except RuntimeError:
            logging.getLogger("huice.test").exception("failed")
        out = stream.getvalue()
        assert "RuntimeError" in out and "Traceback" in out, out
        assert "pw123" not in out and "hunter2" not in out, out
