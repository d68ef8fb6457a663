"""Human-mode output snapshots: a command's table output compared with a stored text file.

`assert_snapshot(name, text)` masks what changes between runs — ids, timestamps and whatever `extra`
patterns a test names — by replacing each match with `~` of the same length (so table borders stay aligned;
an `extra` given as `(pattern, replacement)` is replaced by that text, for figures of varying length outside
tables such as latencies), then compares with `tests/huice/snapshots/<name>.txt`. A missing or different
snapshot fails.

To write or update the snapshots after a deliberate change of the output, run the tests with
`HUICE_UPDATE_SNAPSHOTS=1` and review the diff of `tests/huice/snapshots/` before committing:

    HUICE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/huice/test_human_snapshots.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "huice" / "snapshots"
MASKS = (
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",  # ids
    r"snap_[0-9a-f]{32}",  # data snapshot ids
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|\+00:00| UTC)?",  # timestamps (dates alone stay)
)


Mask = str | tuple[str, str]


def mask(text: str, extra: tuple[Mask, ...] = ()) -> str:
    for item in (*MASKS, *extra):
        if isinstance(item, tuple):
            text = re.sub(item[0], item[1], text)
        else:
            text = re.sub(item, lambda m: "~" * len(m.group(0)), text)
    return text


def assert_snapshot(name: str, text: str, extra: tuple[Mask, ...] = ()) -> None:
    masked = mask(text, extra)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("HUICE_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(masked, encoding="utf-8")
        return
    assert path.is_file(), f"no snapshot {path.name}: run with HUICE_UPDATE_SNAPSHOTS=1 to write it, then review"
    stored = path.read_text(encoding="utf-8")
    assert masked == stored, f"{name} differs from its snapshot (HUICE_UPDATE_SNAPSHOTS=1 rewrites it):\n{masked}"
