"""The sandbox child: confines itself, imports, waits for one request on stdin, runs the user's strategy,
answers on stdout, and exits (a child serves exactly one request).

Started only by `strategy_management.confined_runner` as `python -I -B -m strategy_management.sandbox <runner pid>
<wait seconds> [landlock|no-landlock] [spare]` with a clean environment — either for a request at hand (cold) or
ahead of it as the runner's *warm spare*. Order matters: die with the runner → Landlock (while single-threaded)
→ import the allowed modules and the engine → write the ready byte (`READY`) → wait for the request (its alarm:
the wait bound from the command line, 600 s for a spare) → the request's wall alarm, armed when the request
arrives → rlimits (CPU counted from the request), capabilities, seccomp (all threads) → Python guards → user
code. An idle spare's process name is `huice-spare`, a child serving a request `huice-run`.

The strategy model and its SDK come from the quant core (`quant.strategy`, `quant.sdk`), a ground-floor
package every context may import; importing them does not pull the simulator (`quant` loads lazily).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import os
import signal
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from strategy_management.sandbox import confine, guards, protocol

FILENAME = "<strategy>"
SYSTEM_READ_ROOTS = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/usr/share/zoneinfo",
    "/etc/localtime",
    "/dev/urandom",
    "/dev/null",
)
PRELOADED = ("polars", "numpy", "math", "statistics", "datetime", "quant.sdk", "quant.strategy")
# a spare also imports the event engine ahead of its request (a cold child imports it only for an event run)
SPARE_PRELOADED = ("quant.config_light", "quant.contract", "quant.event")


def read_roots() -> list[Path]:
    """What the child may read: shared libraries, time zones, the interpreter, the virtualenv and every
    import path (never `/` itself, never the working tree's `.env` or any configuration with secrets)."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path, *SYSTEM_READ_ROOTS}
    roots = []
    for entry in sorted(c for c in candidates if c):
        path = Path(entry).resolve()
        if path != Path("/") and path.exists():
            roots.append(path)
    return roots


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _isolate_stdio() -> int:
    """Keep the protocol pipe on a private descriptor; the user's prints go nowhere."""
    proto = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdout = io.StringIO()
    sys.stderr = io.StringIO()
    return proto


class _Sanitizer:
    """Removes internal paths (interpreter, virtualenv, workspace) from messages shown to the user."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = sorted({str(r) for r in roots}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for root in self.roots:
            text = text.replace(root, "<internal>")
        return text


def user_traceback(exc: BaseException, lines: list[str], clean: _Sanitizer) -> list[str]:
    """Only the frames of the user's own code, then the exception line."""
    out = []
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == FILENAME:
            lineno = tb.tb_lineno
            text = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
            out.append(f'File "{FILENAME}", line {lineno}, in {code.co_name}: {text}')
        tb = tb.tb_next
    out.append(clean(_describe(exc)))
    return out


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _user_position(exc: BaseException) -> tuple[int | None, int | None]:
    """Line and (1-based) column of the innermost frame of the user's code."""
    tb, line, column = exc.__traceback__, None, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == FILENAME:
            line, column = tb.tb_lineno, None
            positions = list(code.co_positions())
            index = tb.tb_lasti // 2
            if 0 <= index < len(positions) and positions[index][2] is not None:
                column = positions[index][2] + 1
        tb = tb.tb_next
    return line, column


def classify(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, PermissionError) or (isinstance(exc, OSError) and exc.errno in (1, 13)):
        return "forbidden"
    return "error"


def error_result(exc: BaseException, source: str, clean: _Sanitizer) -> dict[str, Any]:
    hook = _hook_error(exc)
    if hook is not None:  # an event-driven hook raised: the user's own exception, and where in the run
        result = error_result(hook.original, source, clean)
        result["message"] = f"{result['message']} (in {hook.hook} at bar {hook.bar})"
        result["bar"] = hook.bar
        return result
    lines = source.splitlines()
    line, column = _user_position(exc)
    result: dict[str, Any] = {
        "ok": False,
        "kind": classify(exc),
        "message": clean(_describe(exc)),
        "traceback": user_traceback(exc, lines, clean),
        "line": line,
        "column": column,
    }
    if isinstance(exc, SyntaxError):
        result.update(line=exc.lineno, column=exc.offset, message=f"SyntaxError: {exc.msg}")
    field = getattr(exc, "field", None)
    if isinstance(field, str):
        result["field"] = field
        result["message"] = clean(str(exc))
    return result


def _hook_error(exc: BaseException) -> Any:
    """`exc` when it is a `quant.event.HookError` (imported only if an event run loaded it)."""
    event = sys.modules.get("quant.event")
    return exc if event is not None and isinstance(exc, event.HookError) else None


def load_user_module(source: str, strategy: Any, python_guards: bool) -> Any:
    """Compile and execute the user's module under the guards, then build its `StrategySpec` with the
    strategy model (`quant.strategy`, imported only after Landlock, so it is handed in)."""
    tree = ast.parse(source, filename=FILENAME)
    code = compile(tree, FILENAME, "exec")
    namespace: dict[str, Any] = {"__name__": "strategy"}
    if python_guards:
        namespace["__builtins__"] = guards.safe_builtins()
    exec(code, namespace)  # noqa: S102 - this is the confined process; the kernel layers are the boundary
    return strategy.spec_from_namespace(namespace, tree, source, "strategy")


def run_op(request: dict[str, Any], frames: list[bytes], modules: dict[str, Any]) -> tuple[dict, list[bytes]]:
    pl, strategy = modules["polars"], modules["quant.strategy"]
    spec = load_user_module(request["source"], strategy, bool(request.get("python_guards", True)))
    if request["op"] == "describe":
        schema = strategy.schema_to_json(spec.params)
        strategy.validate_params(spec.params, {})
        model = "event" if spec.event is not None else "vectorised"
        return {
            "ok": True,
            "result": {"params": schema, "doc": spec.doc, "grid": spec.generate_grid is not None, "model": model},
            "frames": 0,
        }, []
    bars = pl.read_ipc_stream(io.BytesIO(frames[0]))
    instruments = pl.read_ipc_stream(io.BytesIO(frames[1])) if len(frames) > 1 else None
    # an event-driven strategy steps the engine's simulator here, inside the confined process, and
    # answers with its order stream (which the caller replays); a vectorised one answers with targets
    outputs = strategy.compute_targets_grid(
        spec, bars, list(request.get("param_sets") or [{}]), request.get("engine_config"), instruments
    )
    limits = request["limits"]
    rows = sum(f.height for f in outputs)
    sink = _CappedSink(int(limits.get("max_output_bytes") or 0))
    encoded = []
    try:
        for frame in outputs:
            encoded.append(sink.encode(frame))
    except Exception as exc:  # polars reports a failed allocation (or the sink's refusal) as a bare OSError
        if sink.over:
            limit = _mib(sink.limit)
            return _failure("output", f"{rows} target rows take more than {limit} MiB, the output limit"), []
        if isinstance(exc, MemoryError | OSError):
            memory = _mib(int(limits["memory_bytes"]))
            return _failure("memory", f"encoding {rows} target rows failed at the {memory} MiB memory limit"), []
        raise
    return {"ok": True, "result": {}, "frames": len(encoded)}, encoded


class _CappedSink:
    """Arrow IPC encoding that stops as soon as all frames together pass the output limit (0: none), so
    an oversized result is reported with its limit instead of exhausting the memory limit first."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used, self.over = limit, 0, False
        self._buf = io.BytesIO()

    def write(self, data: bytes) -> int:
        self.used += len(data)
        if self.limit and self.used > self.limit:
            self.over = True
            raise OSError("the output limit is reached")
        return self._buf.write(data)

    def flush(self) -> None:
        return None

    def encode(self, frame: Any) -> bytes:
        self._buf = io.BytesIO()
        frame.write_ipc_stream(self)
        if self.over:
            raise OSError("the output limit is reached")
        return self._buf.getvalue()


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def _failure(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "message": message, "traceback": []}


def _preload() -> dict[str, Any]:
    modules = {name: importlib.import_module(name) for name in PRELOADED}
    modules["quant.strategy"].install_sdk_aliases()  # stored sources import the SDK as `backtest.engine.sdk`
    return modules


def start_polars_pool(modules: dict[str, Any]) -> None:
    """One tiny polars operation, which starts its thread pool (never in a zygote: threads do not survive
    `fork`, a forked child's first polars call would wait for them forever)."""
    pl = modules["polars"]
    pl.DataFrame({"a": [1.0, 2.0, 3.0]}).select(pl.col("a").rolling_mean(2)).to_numpy()


def prepare_process(
    landlock: bool, roots: list[Path], *, spare: bool = False, pool: bool = True
) -> tuple[int, dict[str, Any]]:
    """What a child does before its request (a spare ahead of it; a zygote once for all its children, with
    `pool=False`): Landlock, then the preloaded modules (a spare's and a zygote's also the event engine's).
    Returns the Landlock ABI applied (0: none) and the modules."""
    abi = confine.install_landlock(roots) if landlock else 0
    modules = _preload()
    if spare:
        for name in SPARE_PRELOADED:
            importlib.import_module(name)
    if pool:
        start_polars_pool(modules)
    return abi, modules


def confine_process(request: dict[str, Any], roots: list[Path], abi: int) -> None:
    """After the request: its rlimits (CPU counted from now, so the imports never count against the user's
    limit), capabilities, seccomp, guards."""
    limits = request["limits"]
    confine.apply_rlimits(
        confine.Limits(float(limits["cpu_seconds"]), int(limits["memory_bytes"]), int(limits["open_files"]))
    )
    confine.drop_capabilities()
    confine.install_seccomp(strict_open=abi == 0)
    if request.get("python_guards", True):
        guards.install_audit_hook(str(r) for r in roots)


HEADER_SECONDS = 30  # from the request's first bytes to its header (then the request's own wall alarm)


class _NoRequest(Exception):
    """The runner closed the pipe without a request (it retired its spare)."""


def read_request(fd: int, wait_seconds: float) -> tuple[dict[str, Any], list[bytes]]:
    """Wait (at most `wait_seconds`, then SIGALRM) for the request; arm its wall alarm as soon as its header
    has arrived — a spare may have waited long, its request's time starts now — then read its frames."""
    signal.alarm(max(1, int(wait_seconds + 0.999)))
    first = os.read(fd, 1 << 20)
    if not first:
        raise _NoRequest
    signal.alarm(HEADER_SECONDS)  # a runner stopped mid-write never leaves the child waiting forever
    data = bytearray(first)
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        data += chunk
    if len(data) >= 4:
        size = struct.unpack(">I", data[:4])[0]
        with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
            header = json.loads(bytes(data[4 : 4 + size]))
            confine.arm_wall_alarm(float(header["limits"]["wall_seconds"]))
    data += _read_all(fd)
    return protocol.decode(bytes(data), count_key="frames")


MAX_OUTPUT_LINES, MAX_OUTPUT_CHARS, MAX_LINE_CHARS = 1000, 64 * 1024, 500


def user_output(clean: _Sanitizer) -> list[str]:
    """What the user's code printed or logged (stdout, then stderr), internal paths removed, bounded to the
    first 1,000 lines, 64 KiB and 500 characters a line (a last line says how much was left out)."""
    text = "".join(stream.getvalue() for stream in (sys.stdout, sys.stderr) if isinstance(stream, io.StringIO))
    lines, size, dropped = [], 0, 0
    for line in text.splitlines():
        line = clean(line)[:MAX_LINE_CHARS]
        if len(lines) >= MAX_OUTPUT_LINES or size + len(line) > MAX_OUTPUT_CHARS:
            dropped += 1
            continue
        lines.append(line)
        size += len(line)
    return [*lines, f"... {dropped} more lines not kept"] if dropped else lines


SANDBOX_NICENESS = 10  # added to the runner's niceness: a busy strategy never starves the service


def main() -> int:
    args = sys.argv[1:]
    if args:  # the runner's pid: die with it (and at once if it is already gone)
        confine.die_with_parent(int(args[0]))
    spare = "spare" in args[3:]
    confine.set_process_name("huice-spare" if spare else "huice-run")
    wait_seconds = float(args[1]) if len(args) > 1 else 600.0
    landlock = (args[2] if len(args) > 2 else "landlock") != "no-landlock"
    with contextlib.suppress(OSError):  # user code yields the CPU to the API, the workers and Redis
        os.nice(SANDBOX_NICENESS)
    request_fd = os.dup(0)
    proto = _isolate_stdio()
    roots = read_roots()
    try:
        abi, modules = prepare_process(landlock, roots, spare=spare)
    except Exception as exc:  # refusing to run is the only safe answer
        abi, modules, unavailable = 0, {}, exc
    else:
        unavailable = None
    return serve(request_fd, proto, Prepared(landlock, roots, abi, modules, unavailable), wait_seconds)


@dataclass
class Prepared:
    """What a child has done before its request: Landlock (its ABI, 0: none), its imports, or why it could
    not (then it answers `unavailable`). A zygote's forked children share the zygote's."""

    landlock: bool
    roots: list[Path]
    abi: int
    modules: dict[str, Any]
    unavailable: BaseException | None = None
    devnull: int = -1  # a zygote's /dev/null, opened before Landlock, for its children's 0/1/2


def serve(request_fd: int, proto: int, prepared: Prepared, wait_seconds: float) -> int:
    """Everything from the ready byte on: wait for the request, confine, run the user's code, answer."""
    clean = _Sanitizer(prepared.roots)
    abi, modules, unavailable = prepared.abi, prepared.modules, prepared.unavailable
    _write_all(proto, protocol.READY)
    waited = time.monotonic()
    try:
        request, frames = read_request(request_fd, wait_seconds)
    except _NoRequest:
        return 0
    waited = time.monotonic() - waited
    confine.set_process_name("huice-run")
    if unavailable is None and request.get("landlock", True) and not prepared.landlock:
        unavailable = RuntimeError("this child was started without Landlock")
    if unavailable is None:
        try:
            confine_process(request, prepared.roots, abi)
        except Exception as exc:
            unavailable = exc
    if unavailable is not None:
        header = {"ok": False, "kind": "unavailable", "message": f"sandbox unavailable: {unavailable}", "traceback": []}
        _write_all(proto, protocol.encode(header, []))
        return 3
    try:
        header, out = run_op(request, frames, modules)
    except BaseException as exc:
        header, out = error_result(exc, request.get("source", ""), clean), []
    header["output"] = user_output(clean)
    header["pid"], header["waited_s"] = os.getpid(), round(waited, 3)
    _write_all(proto, protocol.encode(header, out))
    return 0
