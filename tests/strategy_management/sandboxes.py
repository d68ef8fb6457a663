"""Finding the confined children of a process through /proc, for the lifetime and failure-reason tests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

SLEEPER = "import time\ntime.sleep(600)\n\ndef generate(bars, params):\n    return bars\n"  # guards off only


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def _idle_spare(entry: Path, cmdline: bytes) -> bool:
    """A warm spare that has not taken a request yet (its process name turns `huice-run` when it does)."""
    if b"\0spare" not in cmdline:
        return False
    try:
        return (entry / "comm").read_text().strip() != "huice-run"
    except OSError:
        return True


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _pipes(pid: int) -> set[str]:
    """The pipes `pid` holds (`pipe:[inode]`)."""
    found = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("pipe:"):
                    found.add(link)
    except OSError:
        pass
    return found


def _children(parent: int) -> Iterator[tuple[int, bool]]:
    """(pid, is an idle spare) of the live sandbox children (`python -m strategy_management.sandbox`) of
    `parent`: its own, and the children a zygote forked for it (they hold the other ends of its pipes) —
    never a zygote itself."""
    own_pipes: set[str] | None = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        stat = _stat(int(entry.name))
        if b"strategy_management.sandbox" not in cmdline or not stat or stat[0] == "Z":
            continue
        zygote = b"strategy_management.sandbox.zygote" in cmdline
        if zygote and stat[1] == parent:  # a zygote itself (named `huice-zygote` only once its start is done)
            continue
        if stat[1] == parent:
            yield int(entry.name), _idle_spare(entry, cmdline)
        elif zygote and _comm(stat[1]) == "huice-zygote":
            own_pipes = _pipes(parent) if own_pipes is None else own_pipes
            if _pipes(int(entry.name)) & own_pipes:
                yield int(entry.name), False


def zygotes_of(parent: int) -> list[int]:
    """Pids of the live zygotes `parent` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            if b"strategy_management.sandbox.zygote" not in (entry / "cmdline").read_bytes():
                continue
            stat = _stat(int(entry.name))
            if stat and stat[1] == parent and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def spares_of(parent: int) -> list[int]:
    """Pids of the idle warm spares of `parent` (started ahead of a request, none taken yet)."""
    return [pid for pid, spare in _children(parent) if spare]


def sandboxes_of(parent: int) -> list[int]:
    """Pids of the sandbox children of `parent` serving a request (an idle warm spare does not count until it
    takes one)."""
    return [pid for pid, spare in _children(parent) if not spare]


def running(pid: int) -> bool:
    """Still a live process (a zombie has finished: nothing of it runs any more)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def wait_for_sandbox(parent: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := sandboxes_of(parent):
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no sandbox child of {parent} within {timeout} s")


def wait_gone(pid: int, timeout: float) -> float | None:
    """Seconds until `pid` stopped running, None if it still runs after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not running(pid):
            return time.monotonic() - start
        time.sleep(0.05)
    return None
