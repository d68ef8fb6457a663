"""Reading a CLI error from stderr in tests: the envelope (`--json`) or the one readable line (human mode)."""

from __future__ import annotations

import json
import re
from typing import Any

# `error: <message>[ (+N more)] (<CODE>[, field: <field>])[ — hint: <hint>]` (platform_core.cli.human_error)
HUMAN_LINE = re.compile(
    r"^error: (?P<message>.*?)(?: \(\+\d+ more\))? \((?P<code>[A-Z_]+)(?:, field: (?P<field>[^)]+))?\)"
    r"(?: — hint: (?P<hint>.*))?$"
)


def cli_error(stderr: str) -> dict[str, Any]:
    """`{"code", "message", "field", "hint"}` of the last stderr line, whichever form it has; a human line
    whose message starts with `<field>:` names that field."""
    line = stderr.strip().splitlines()[-1]
    if line.startswith("{"):
        error = json.loads(line)["error"]
        return {
            "code": error["code"],
            "message": error["message"],
            "field": error["details"].get("field"),
            "hint": None,
        }
    match = HUMAN_LINE.match(line)
    assert match is not None, f"not an error line: {line!r}"
    found = match.groupdict()
    if found["field"] is None and re.match(r"^[\w.\-]+[: ]", found["message"]):
        found["field"] = re.split(r"[: ]", found["message"], maxsplit=1)[0]
    return found
