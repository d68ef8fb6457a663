"""The attack catalogue of the issue, shared by the runner tests and the BDD scenarios.

Each attack is a strategy source (with `{marker}` / `{port}` / `{sentinel}` placeholders: a file it must not
write, a port it must not reach, the pid of a process outside the sandbox it must not signal) plus what the
complete runner must answer (kind + message) and what the kernel layers alone must answer when the Python
guards are switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SECRET = "attack-suite-secret-value-4711"
TEMPLATES = ("ma_cross", "rsi_reversion", "bollinger_breakout", "macd", "momentum_rotation")
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
BY_NAME = {a.name: a for a in ATTACKS}
