"""A small classic-BPF interpreter for seccomp programs, so tests can ask the sandbox's filter what it answers
for a given syscall and arguments without installing it (the instructions `confine.build_filter` emits:
absolute word loads, jeq/jge/jset with constants, and returns)."""

from __future__ import annotations

import struct

LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
JUMPS = {JEQ_K: lambda a, k: a == k, JGE_K: lambda a, k: a >= k, JSET_K: lambda a, k: a & k != 0}


def seccomp_data(nr: int, arch: int, args: tuple[int, ...] = ()) -> bytes:
    """`struct seccomp_data`: nr, arch, instruction pointer, six 64-bit arguments (two's complement)."""
    values = [a & 0xFFFFFFFFFFFFFFFF for a in (*args, *([0] * (6 - len(args))))]
    return struct.pack("<iIQ6Q", nr, arch, 0, *values)


def run(program: list[tuple[int, int, int, int]], data: bytes) -> int:
    """The filter's return value (SECCOMP_RET_* | data) for `data`."""
    acc, pc = 0, 0
    for _ in range(len(program) + 1):
        code, jt, jf, k = program[pc]
        if code == LD_W_ABS:
            (acc,) = struct.unpack_from("<I", data, k)
            pc += 1
        elif code in JUMPS:
            pc += 1 + (jt if JUMPS[code](acc, k) else jf)
        elif code == RET_K:
            return k
        else:
            raise ValueError(f"unexpected BPF instruction {code:#x}")
    raise RuntimeError("the program did not return")
