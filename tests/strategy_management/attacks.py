"""The attack catalogue of the issue, shared by the runner tests and the BDD scenarios.

Each attack is a strategy source (with `{marker}` / `{port}` / `{sentinel}` / `{target}` placeholders: a file
it must not write, a port it must not reach, the pid of a process outside the sandbox it must not signal — the
session's sentinel, or a sleeping process started for this one run — and the syscall numbers of this machine)
plus what the complete runner must answer (kind + message) and what the kernel layers alone must answer when
the Python guards are switched off. The signal attacks (`SIGNALS`) also run with Landlock off: on kernels
before 6.12 Landlock cannot scope signals, and the seccomp filter alone must stop them.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

SECRET = "attack-suite-secret-value-4711"
TEMPLATES = ("ma_cross", "rsi_reversion", "bollinger_breakout", "macd", "momentum_rotation")
EVENT_TEMPLATES = ("ma_cross_event", "ma_cross_port")
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "libs/quant/quant/templates"
STRICT = ("open /etc/passwd", "write /tmp")

WALK = (
    'g = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close"][0].__init__.__globals__\n'
)
GEN_FRAME = """def generate(bars, params):
    def gen():
        yield it.gi_frame.f_back
    it = gen()
    frame = next(it)
    while frame is not None and "os" not in frame.f_globals:
        frame = frame.f_back
    frame.f_globals["os"].fork()
"""


# Syscall numbers (from the kernel's tables, independent of the sandbox's own) for the raw-syscall attacks.
SYSCALL_NUMBERS = {
    "x86_64": {"sys_tkill": 200, "sys_tgkill": 234, "sys_rt_sigqueueinfo": 129, "sys_rt_tgsigqueueinfo": 297},
    "aarch64": {"sys_tkill": 130, "sys_tgkill": 131, "sys_rt_sigqueueinfo": 138, "sys_rt_tgsigqueueinfo": 240},
}[platform.machine().lower().replace("amd64", "x86_64").replace("arm64", "aarch64")]
SYSCALL_NUMBERS.update(sys_pidfd_open=434, sys_pidfd_send_signal=424)
RAW = """import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long


def check(rc):
    if rc == -1:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return rc


info = (ctypes.c_int * 32)(signal.SIGKILL, 0, -1, os.getpid(), os.getuid())  # si_code SI_QUEUE
"""
CTYPES_REFUSED = (
    "the strategy attempted a forbidden operation: Forbidden: import of 'ctypes' is not allowed in a strategy"
)
EPERM = "the strategy attempted a forbidden operation: PermissionError: [Errno 1] Operation not permitted"
GETATTR_FRAME = """def generate(bars, params):
    def gen():
        yield getattr(getattr(it, "gi_frame"), "f_back")
    it = gen()
    frame = next(it)
    while frame is not None and "os" not in getattr(frame, "f_globals"):
        frame = getattr(frame, "f_back")
    getattr(frame, "f_globals")["os"].fork()
"""
HOOK_OFF = """def generate(bars, params):
    def gen():
        yield it.gi_frame.f_back
    it = gen()
    frame = next(it)
    while frame is not None and "guards" not in frame.f_globals:
        frame = frame.f_back
    names = frame.f_globals
    names["guards"]._BLOCKED_EVENT_PREFIXES = ()
    names["guards"]._under = lambda path, roots: True
    names["os"].fork()
"""


@dataclass(frozen=True)
class Attack:
    name: str
    source: str
    kind: str
    message: str
    kernel_kind: str | None  # None: not re-run without the Python guards (the same layer stops it either way)


ATTACKS = [
    Attack(
        "import os",
        'import os\nos.system("touch {marker}")\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: import of 'os' is not allowed in a strategy",
        None,
    ),
    Attack(
        "open /etc/passwd",
        'raise ValueError(open("/etc/passwd").read())\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: open() is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "__import__ socket",
        '__import__("socket").socket().connect(("127.0.0.1", {port}))\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: import of 'socket' is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "subclasses walk",
        WALK + 'g["system"]("touch {marker}")\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: os.system is not allowed in a strategy",
        None,
    ),
    Attack(
        "generator frame",
        GEN_FRAME,
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: os.fork is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "getattr frame walk",
        GETATTR_FRAME,
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: access to the frame/generator attribute "
        "'gi_frame' is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "switch the audit hook off",
        HOOK_OFF,
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: os.fork is not allowed in a strategy",
        "forbidden",
    ),
    Attack("infinite loop", "while True:\n    pass\n", "timeout", "", None),
    Attack(
        "allocate 10 GB",
        "x = bytearray(10 * 1024 ** 3)\n",
        "memory",
        "the strategy ran out of memory: MemoryError",
        None,
    ),
    Attack(
        "fork bomb",
        WALK + 'while True:\n    g["fork"]()\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: os.fork is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "write /tmp",
        'open("{marker}", "w").write("pwned")\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: open() is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "read environment",
        WALK + 'raise ValueError(sorted(g["environ"]))\n',
        "error",
        "the strategy raised an error: ValueError: ['LANG', 'LC_ALL', 'MALLOC_ARENA_MAX', 'MKL_NUM_THREADS', "
        "'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'PATH', 'POLARS_MAX_THREADS', '_RJEM_MALLOC_CONF']",
        None,
    ),
    Attack(
        "read the worker's environment",
        WALK + 'raise ValueError(open("/proc/%d/environ" % g["getppid"]()).read())\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: open() is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "kill the worker",
        WALK + 'g["kill"](g["getppid"](), 9)\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: os.kill is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "kill another process",
        WALK + 'g["kill"]({sentinel}, 9)\n',
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: os.kill is not allowed in a strategy",
        "forbidden",
    ),
]
SIGNAL_ATTACKS = [
    Attack(
        "os.kill SIGTERM",
        "import os, signal\nos.kill({target}, signal.SIGTERM)\n",
        "forbidden",
        "the strategy attempted a forbidden operation: Forbidden: import of 'os' is not allowed in a strategy",
        "forbidden",
    ),
    Attack(
        "rt_sigqueueinfo",
        RAW + "check(libc.syscall(L({sys_rt_sigqueueinfo}), L({target}), L(signal.SIGKILL), info))\n",
        "forbidden",
        CTYPES_REFUSED,
        "forbidden",
    ),
    Attack(
        "rt_tgsigqueueinfo",
        RAW + "check(libc.syscall(L({sys_rt_tgsigqueueinfo}), L({target}), L({target}), L(signal.SIGKILL), info))\n",
        "forbidden",
        CTYPES_REFUSED,
        "forbidden",
    ),
    Attack(
        "tgkill",
        RAW + "check(libc.syscall(L({sys_tgkill}), L({target}), L({target}), L(signal.SIGKILL)))\n",
        "forbidden",
        CTYPES_REFUSED,
        "forbidden",
    ),
    Attack(
        "tkill",
        RAW + "check(libc.syscall(L({sys_tkill}), L({target}), L(signal.SIGKILL)))\n",
        "forbidden",
        CTYPES_REFUSED,
        "forbidden",
    ),
    Attack(
        "pidfd_send_signal",
        RAW
        + "fd = check(libc.syscall(L({sys_pidfd_open}), L({target}), L(0)))\n"
        + "check(libc.syscall(L({sys_pidfd_send_signal}), L(fd), L(signal.SIGKILL), None, L(0)))\n",
        "forbidden",
        CTYPES_REFUSED,
        "forbidden",
    ),
    Attack(
        "SIGIO owner",
        RAW
        + "r, w = os.pipe()\n"
        + "check(libc.fcntl(r, 8, {target}))  # F_SETOWN\n"
        + "check(libc.fcntl(r, 10, signal.SIGKILL))  # F_SETSIG\n"
        + "check(libc.fcntl(r, 4, os.O_ASYNC | os.O_NONBLOCK))  # F_SETFL\n"
        + "os.write(w, b'x')\n",
        "forbidden",
        CTYPES_REFUSED,
        "forbidden",
    ),
    Attack(
        "FIOSETOWN owner",
        RAW
        + "r, w = os.pipe()\n"
        + "pid = ctypes.c_int({target})\n"
        + "check(libc.ioctl(r, 0x8901, ctypes.byref(pid)))  # FIOSETOWN\n"
        + "check(libc.fcntl(r, 4, os.O_ASYNC | os.O_NONBLOCK))\n"
        + "os.write(w, b'x')\n",
        "forbidden",
        CTYPES_REFUSED,
        "forbidden",
    ),
    Attack(  # the own tgid passes the filter; the kernel refuses a tid that is not one of the sandbox's threads
        "tgkill a foreign tid under the own pid",
        RAW + "check(libc.syscall(L({sys_tgkill}), L(os.getpid()), L({target}), L(signal.SIGKILL)))\n",
        "forbidden",
        CTYPES_REFUSED,
        "error",
    ),
]
SIGNALS = tuple(a.name for a in SIGNAL_ATTACKS)
ATTACKS += SIGNAL_ATTACKS
EVENT_ATTACKS = [a for a in ATTACKS if a.name not in SIGNALS]  # also run from handle_bar (signals: module level)
# Signals to itself keep working under the filter (Python's own `os.kill(os.getpid())`, `raise_signal`,
# `pthread_kill`, sigqueue): the handler counts them and the run reports the count as its error.
SELF_SIGNALS = (
    RAW.replace("signal.SIGKILL, 0, -1", "signal.SIGUSR1, 0, -1")
    + """import threading

got = []
signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
os.kill(os.getpid(), signal.SIGUSR1)
signal.raise_signal(signal.SIGUSR1)
signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
check(libc.syscall(L({sys_rt_sigqueueinfo}), L(os.getpid()), L(signal.SIGUSR1), info))


def generate(bars, params):
    raise ValueError("received %d of 4 signals" % len(got))
"""
)
BY_NAME = {a.name: a for a in ATTACKS}


def event_source(source: str) -> str:
    """The attack run from inside an event-driven strategy's `handle_bar`, with the engine's simulator
    stepping around it in the sandbox: module-level code becomes the hook's body, a `generate` becomes
    the hook."""
    if "def generate(bars, params):" in source:
        return source.replace("def generate(bars, params):", "def handle_bar(context, bar):")
    body = "".join(f"    {line}\n" if line else "\n" for line in source.splitlines())
    return f"def initialize(context):\n    pass\n\n\ndef handle_bar(context, bar):\n{body}"
