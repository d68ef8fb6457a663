"""Python-level guards of the sandbox child — defence in depth, *not* the security boundary.

The kernel layers in `confine` are the boundary; these guards only turn the common attempts into clear
messages before the kernel has to refuse them: restricted builtins for the user's module (no `open`, `exec`,
`eval`, `compile`, `globals`, dunder `getattr`, and an `__import__` limited to the allow-list) and an audit
hook (`sys.addaudithook`) that refuses process, socket, ctypes, environment and file-system events.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

_REMOVED_BUILTINS = (
    "open",
    "exec",
    "eval",
    "compile",
    "input",
    "breakpoint",
    "globals",
    "locals",
    "vars",
    "help",
    "exit",
    "quit",
    "copyright",
    "credits",
    "license",
    "memoryview",
    "__loader__",
    "__spec__",
)

_BLOCKED_EVENT_PREFIXES = (
    "os.system",
    "os.exec",
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.kill",
    "os.killpg",
    "os.putenv",
    "os.unsetenv",
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.link",
    "os.symlink",
    "os.chdir",
    "os.chflags",
    "os.setxattr",
    "os.removexattr",
    "os.utime",
    "os.walk",
    "os.fwalk",
    "os.startfile",
    "subprocess.",
    "socket.",
    "ctypes.",
    "shutil.",
    "pty.",
    "glob.",
    "webbrowser.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "imaplib.",
    "poplib.",
    "nntplib.",
    "telnetlib.",
    "sqlite3.",
    "syslog.",
    "resource.setrlimit",
    "resource.prlimit",
    "sys.addaudithook",
    "sys.settrace",
    "sys.setprofile",
    "sys.remote_exec",
    "cpython.",
    "code.__new__",
)
# Attributes that reach frames, code objects and module globals — and through them the real builtins.
# The static check refuses them dotted, through getattr/hasattr with a constant name, and as strings;
# the guarded getattr/hasattr refuse them at run time too.
INTROSPECTION_ATTRS = frozenset(
    {
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "tb_frame",
        "tb_next",
        "func_globals",
        "func_code",
    }
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Forbidden(PermissionError):
    """An operation a strategy may not perform."""


def _refuse(name: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise Forbidden(f"{name}() is not allowed in a strategy")

    refused.__name__ = name
    return refused


def _guarded_import(name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (), level: int = 0):
    if level != 0:
        raise Forbidden("relative imports are not allowed in a strategy")
    from quant.strategy import is_allowed_import  # loaded by the child's preload, after Landlock

    if not is_allowed_import(name):
        raise Forbidden(f"import of {name!r} is not allowed in a strategy")
    return builtins.__import__(name, globals_, locals_, fromlist, level)


def _checked_name(name: Any) -> Any:
    if not isinstance(name, str):
        return name
    if name.startswith("_"):
        raise Forbidden(f"access to the private attribute {name!r} is not allowed in a strategy")
    if name in INTROSPECTION_ATTRS:
        raise Forbidden(f"access to the frame/generator attribute {name!r} is not allowed in a strategy")
    return name


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    return getattr(obj, _checked_name(name), *default)


def _hasattr(obj: Any, name: str) -> bool:
    return hasattr(obj, _checked_name(name))


def safe_builtins() -> dict[str, Any]:
    """The builtins the user's module sees."""
    names = dict(vars(builtins))
    for name in _REMOVED_BUILTINS:
        names.pop(name, None)
    for name in ("open", "exec", "eval", "compile", "globals", "locals", "vars", "input", "breakpoint"):
        names[name] = _refuse(name)
    names.update(
        __import__=_guarded_import,
        getattr=_getattr,
        hasattr=_hasattr,
        setattr=_refuse("setattr"),
        delattr=_refuse("delattr"),
    )
    return names


def install_audit_hook(read_roots: Iterable[str]) -> None:
    """Refuse dangerous runtime events from now on; reads stay allowed under `read_roots` (lazy imports).

    `import`, `exec` and `compile` events stay allowed: the import machinery raises them for every lazily
    imported module; the user's own module cannot reach them (restricted builtins, static check).
    Everything the hook consults is bound in its closure now, so code that reaches this module's globals
    (a frame walk) cannot switch it off by rebinding them."""
    roots = tuple(os.path.realpath(r) for r in read_roots)
    blocked = tuple(_BLOCKED_EVENT_PREFIXES)
    write_flags, sep, realpath, fsdecode, refuse = _WRITE_FLAGS, os.sep, os.path.realpath, os.fsdecode, Forbidden

    def under(path: str) -> bool:
        real = realpath(path)
        return any(real == root or real.startswith(root + sep) for root in roots)

    def is_write(mode: Any, flags: Any) -> bool:
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            return True
        return isinstance(flags, int) and flags & write_flags != 0

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = ([*list(args), None, None, None])[:3]
            if isinstance(path, int):
                raise refuse("opening file descriptors is not allowed in a strategy")
            if is_write(mode, flags) or not under(fsdecode(path)):
                raise refuse("file access is not allowed in a strategy")
            return
        if event.startswith(blocked):
            raise refuse(f"{event} is not allowed in a strategy")

    sys.addaudithook(hook)
