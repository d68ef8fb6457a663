"""Kernel-level confinement of the sandbox child process, through `ctypes` syscalls only (no C extension).

Applied in this order by `strategy_management.sandbox.__main__`, each layer independent of the others:

1. **Landlock** (Linux ≥ 5.13, unprivileged): the process may only *read* files under the Python
   installation and its import paths; no write, create, delete or execute anywhere; with ABI ≥ 4 no TCP bind or
   connect; with ABI ≥ 6 (Linux ≥ 6.12) no signals to processes outside the sandbox. Must run while
   single-threaded (it binds the calling thread and its future children). Absent Landlock the seccomp filter
   refuses every `open` instead (strict mode) once the allowed modules are imported.
2. **rlimits**: CPU seconds (SIGXCPU, then SIGKILL), address space, open files, file size 0, no core dumps.
3. **seccomp-BPF** (Linux ≥ 4.14; works as root and as an ordinary user, thanks to `PR_SET_NO_NEW_PRIVS`),
   applied to every thread (`SECCOMP_FILTER_FLAG_TSYNC`): no sockets, no fork/vfork/exec, `clone` only for
   threads, no ptrace or cross-process memory access, no opens for writing, no file-system mutation, no
   namespace/mount/rlimit/privilege changes, no io_uring/bpf/perf/keyring — and no signal to any process but
   the sandbox itself, on every kernel: `kill`, `tgkill`, `rt_sigqueueinfo` and `rt_tgsigqueueinfo` only with
   the sandbox's own pid as target (all 64 bits compared), `tkill`, `pidfd_open` and `pidfd_send_signal`
   never, and no descriptor owner (`fcntl` F_SETOWN/F_SETOWN_EX, `ioctl` FIOSETOWN/SIOCSPGRP/TIOCSPGRP/
   TIOCSIG), which would let the kernel deliver SIGIO (or any F_SETSIG signal) to another process.
   Denied syscalls fail with EPERM (clone3/openat2 with ENOSYS so libc falls back to the filterable call),
   so the user's code sees a Python `PermissionError` and the runner reports it as *forbidden*.
4. Capabilities are dropped (a root child keeps uid 0 but loses every capability).

`kernel_layers()` says which of these the running kernel provides (`huice doctor` shows it).
"""

from __future__ import annotations

import ctypes
import errno
import math
import os
import platform
import resource
import signal
import struct
from dataclasses import dataclass
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
CLONE_THREAD = 0x00010000

# Open flags that create, write or truncate (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, __O_TMPFILE).
WRITE_OPEN_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000 | 0o20000000


@dataclass(frozen=True)
class Arch:
    audit_arch: int
    syscalls: dict[str, int]


_X86_64 = Arch(
    0xC000003E,
    {
        "open": 2,
        "openat": 257,
        "openat2": 437,
        "creat": 85,
        "clone": 56,
        "clone3": 435,
        "fork": 57,
        "vfork": 58,
        "execve": 59,
        "execveat": 322,
        "kill": 62,
        "tkill": 200,
        "tgkill": 234,
        "rt_sigqueueinfo": 129,
        "rt_tgsigqueueinfo": 297,
        "fcntl": 72,
        "ioctl": 16,
        "socket": 41,
        "socketpair": 53,
        "connect": 42,
        "bind": 49,
        "listen": 50,
        "accept": 43,
        "accept4": 288,
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "chroot": 161,
        "unshare": 272,
        "setns": 308,
        "setrlimit": 160,
        "prlimit64": 302,
        "unlink": 87,
        "unlinkat": 263,
        "rename": 82,
        "renameat": 264,
        "renameat2": 316,
        "mkdir": 83,
        "mkdirat": 258,
        "rmdir": 84,
        "link": 86,
        "linkat": 265,
        "symlink": 88,
        "symlinkat": 266,
        "mknod": 133,
        "mknodat": 259,
        "chmod": 90,
        "fchmod": 91,
        "fchmodat": 268,
        "chown": 92,
        "fchown": 93,
        "lchown": 94,
        "fchownat": 260,
        "truncate": 76,
        "ftruncate": 77,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "bpf": 321,
        "perf_event_open": 298,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "pidfd_getfd": 438,
        "userfaultfd": 323,
        "setuid": 105,
        "setgid": 106,
        "setreuid": 113,
        "setregid": 114,
        "setresuid": 117,
        "setresgid": 119,
        "setgroups": 116,
        "capset": 126,
        "open_by_handle_at": 304,
        "name_to_handle_at": 303,
        "memfd_create": 319,
        "personality": 135,
        "kexec_load": 246,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "reboot": 169,
        "swapon": 167,
        "swapoff": 168,
        "sethostname": 170,
        "setdomainname": 171,
        "acct": 163,
        "fanotify_init": 300,
        "mq_open": 240,
        "process_madvise": 440,
        "seccomp": 317,
    },
)
_AARCH64 = Arch(
    0xC00000B7,
    {
        "openat": 56,
        "openat2": 437,
        "clone": 220,
        "clone3": 435,
        "execve": 221,
        "execveat": 281,
        "kill": 129,
        "tkill": 130,
        "tgkill": 131,
        "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240,
        "fcntl": 25,
        "ioctl": 29,
        "socket": 198,
        "socketpair": 199,
        "bind": 200,
        "listen": 201,
        "accept": 202,
        "connect": 203,
        "accept4": 242,
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "chroot": 51,
        "unshare": 97,
        "setns": 268,
        "setrlimit": 164,
        "prlimit64": 261,
        "unlinkat": 35,
        "renameat": 38,
        "renameat2": 276,
        "mkdirat": 34,
        "linkat": 37,
        "symlinkat": 36,
        "mknodat": 33,
        "fchmod": 52,
        "fchmodat": 53,
        "fchown": 55,
        "fchownat": 54,
        "truncate": 45,
        "ftruncate": 46,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "bpf": 280,
        "perf_event_open": 241,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "pidfd_getfd": 438,
        "userfaultfd": 282,
        "setuid": 146,
        "setgid": 144,
        "setreuid": 145,
        "setregid": 143,
        "setresuid": 147,
        "setresgid": 149,
        "setgroups": 159,
        "capset": 91,
        "open_by_handle_at": 265,
        "name_to_handle_at": 264,
        "memfd_create": 279,
        "personality": 92,
        "kexec_load": 104,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "reboot": 142,
        "swapon": 224,
        "swapoff": 225,
        "sethostname": 161,
        "setdomainname": 162,
        "acct": 89,
        "fanotify_init": 262,
        "mq_open": 180,
        "process_madvise": 440,
        "seccomp": 277,
    },
)
ARCHES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}

# Refused outright (EPERM). `seccomp` itself stays allowed: another filter can only restrict further.
DENIED = (
    "creat",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "tkill",
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "setrlimit",
    "prlimit64",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "mknod",
    "mknodat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "truncate",
    "ftruncate",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
    "userfaultfd",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "capset",
    "open_by_handle_at",
    "name_to_handle_at",
    "memfd_create",
    "personality",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "sethostname",
    "setdomainname",
    "acct",
    "fanotify_init",
    "mq_open",
    "process_madvise",
)


class ConfinementError(RuntimeError):
    """A confinement layer could not be applied; the sandbox refuses to run user code."""


def current_arch() -> Arch:
    arch = ARCHES.get(platform.machine().lower())
    if arch is None:
        raise ConfinementError(f"the confined runner does not support {platform.machine()}")
    return arch


# ---------------------------------------------------------------------------------------------------------
# seccomp-BPF


_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def _ret(value: int) -> tuple[int, int, int, int]:
    return _ins(_BPF_RET_K, value)


def _arg_low(index: int) -> int:
    return 16 + 8 * index  # seccomp_data.args[index], low 32 bits (little-endian)


def _arg_high(index: int) -> int:
    return 20 + 8 * index


def _when_nr(nr: int, body: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """`if nr == NR: <body, which ends in ret>`; otherwise fall through with the syscall number still loaded."""
    return [_ins(_BPF_JEQ_K, nr, 0, len(body)), *body]


def _arg_rule(nr: int, arg: int, test: int, value: int, *, when_true: int, when_false: int) -> list:
    body = [_ins(_BPF_LD_W_ABS, _arg_low(arg)), _ins(test, value, 0, 1), _ret(when_true), _ret(when_false)]
    return _when_nr(nr, body)


def _own_pid_rule(nr: int, own_pid: int, *, otherwise: int) -> list:
    """Allow the call only when its first argument (pid or tgid), all 64 bits, is the sandbox's own pid."""
    body = [
        _ins(_BPF_LD_W_ABS, _arg_low(0)),
        _ins(_BPF_JEQ_K, own_pid, 0, 3),
        _ins(_BPF_LD_W_ABS, _arg_high(0)),
        _ins(_BPF_JEQ_K, 0, 0, 1),
        _ret(SECCOMP_RET_ALLOW),
        _ret(otherwise),
    ]
    return _when_nr(nr, body)


def _refused_commands_rule(nr: int, commands: tuple[int, ...], *, refusal: int) -> list:
    """Refuse the call when its second argument (an fcntl/ioctl command, 32 bits) is one of `commands`."""
    n = len(commands)
    tests = [_ins(_BPF_JEQ_K, cmd, n - i, 0) for i, cmd in enumerate(commands)]
    return _when_nr(nr, [_ins(_BPF_LD_W_ABS, _arg_low(1)), *tests, _ret(SECCOMP_RET_ALLOW), _ret(refusal)])


# Signal-sending syscalls whose first argument names the target process: allowed only towards the sandbox's
# own pid (Python's `os.kill(os.getpid(), ...)`, `signal.raise_signal`, `pthread_kill`, `abort`); `tgkill` and
# `rt_tgsigqueueinfo` with the own tgid can only reach the sandbox's own threads (the kernel checks the tid).
SIGNAL_SENDERS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# Refused outright as well (in DENIED): `tkill` (any tid), `pidfd_open` / `pidfd_send_signal`.
# Commands that name a process to receive SIGIO/SIGURG (or F_SETSIG's signal) from a descriptor:
F_SETOWN, F_SETOWN_EX = 8, 15
FIOSETOWN, SIOCSPGRP, TIOCSPGRP, TIOCSIG = 0x8901, 0x8902, 0x5410, 0x40045436
OWNER_FCNTLS = (F_SETOWN, F_SETOWN_EX)
OWNER_IOCTLS = (FIOSETOWN, SIOCSPGRP, TIOCSPGRP, TIOCSIG)


def build_filter(arch: Arch, *, own_pid: int, strict_open: bool) -> list[tuple[int, int, int, int]]:
    """The BPF program (list of sock_filter tuples) described in the module docstring."""
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    enosys = SECCOMP_RET_ERRNO | errno.ENOSYS
    eacces = SECCOMP_RET_ERRNO | errno.EACCES
    sc = arch.syscalls
    prog = [_ins(_BPF_LD_W_ABS, 4), _ins(_BPF_JEQ_K, arch.audit_arch, 1, 0), _ret(SECCOMP_RET_KILL_PROCESS)]
    prog.append(_ins(_BPF_LD_W_ABS, 0))
    if arch is _X86_64:  # the x32 ABI shares the arch value: refuse it wholesale
        prog += [_ins(_BPF_JGE_K, 0x40000000, 0, 1), _ret(eperm)]
    for name in DENIED:
        if name in sc:
            prog += _when_nr(sc[name], [_ret(eperm)])
    for name in ("clone3", "openat2"):
        prog += _when_nr(sc[name], [_ret(enosys)])
    for name in SIGNAL_SENDERS:
        prog += _own_pid_rule(sc[name], own_pid, otherwise=eperm)
    prog += _refused_commands_rule(sc["fcntl"], OWNER_FCNTLS, refusal=eperm)
    prog += _refused_commands_rule(sc["ioctl"], OWNER_IOCTLS, refusal=eperm)
    rules = [("clone", 0, _BPF_JSET_K, CLONE_THREAD, SECCOMP_RET_ALLOW, eperm)]
    opens = [("open", 1), ("openat", 2)]
    for name, arg in opens:
        if name not in sc:
            continue
        if strict_open:
            prog += _when_nr(sc[name], [_ret(eacces)])
        else:
            rules.append((name, arg, _BPF_JSET_K, WRITE_OPEN_FLAGS, eperm, SECCOMP_RET_ALLOW))
    for name, arg, test, value, yes, no in rules:
        if name in sc:
            prog += _arg_rule(sc[name], arg, test, value, when_true=yes, when_false=no)
    prog.append(_ret(SECCOMP_RET_ALLOW))
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp(*, strict_open: bool) -> None:
    """Load the filter on every thread of the process (TSYNC). Requires no privilege."""
    arch = current_arch()
    prog = build_filter(arch, own_pid=os.getpid(), strict_open=strict_open)
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    nr = arch.syscalls["seccomp"]
    if _libc.syscall(nr, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(fprog)) != 0:
        raise ConfinementError(f"seccomp filter refused: {os.strerror(ctypes.get_errno())}")


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise ConfinementError(f"prctl({option}) failed: {os.strerror(ctypes.get_errno())}")


# ---------------------------------------------------------------------------------------------------------
# Landlock

_LL_CREATE_RULESET, _LL_ADD_RULE, _LL_RESTRICT_SELF = 444, 445, 446  # same numbers on x86_64 and aarch64
_LL_RULESET_VERSION = 1
_LL_RULE_PATH_BENEATH = 1
_LL_READ_FILE = 1 << 2
_LL_READ_DIR = 1 << 3
_LL_FS_BITS = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}  # number of handled fs access bits per ABI
_LL_NET_TCP = 0b11  # LANDLOCK_ACCESS_NET_BIND_TCP | CONNECT_TCP (ABI >= 4)
_LL_SCOPES = 0b11  # LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | SIGNAL (ABI >= 6)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable or disabled."""
    abi = _libc.syscall(_LL_CREATE_RULESET, None, ctypes.c_size_t(0), _LL_RULESET_VERSION)
    return max(int(abi), 0)


def install_landlock(read_roots: list[Path]) -> int:
    """Allow reading under `read_roots` only, and nothing else on the file system; returns the ABI used."""
    abi = landlock_abi()
    if abi == 0:
        return 0
    attr = _RulesetAttr(fs=(1 << _LL_FS_BITS.get(abi, 16)) - 1, net=_LL_NET_TCP, scoped=_LL_SCOPES)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    fd = _libc.syscall(_LL_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if fd < 0:
        raise ConfinementError(f"landlock ruleset refused: {os.strerror(ctypes.get_errno())}")
    try:
        for root in read_roots:
            _allow_read(fd, root)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if _libc.syscall(_LL_RESTRICT_SELF, fd, 0) != 0:
            raise ConfinementError(f"landlock restrict refused: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
    return abi


def _allow_read(ruleset_fd: int, root: Path) -> None:
    try:
        path_fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        access = _LL_READ_FILE | (_LL_READ_DIR if root.is_dir() else 0)
        rule = _PathBeneath(allowed_access=access, parent_fd=path_fd)
        if _libc.syscall(_LL_ADD_RULE, ruleset_fd, _LL_RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise ConfinementError(f"landlock rule refused: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(path_fd)


# ---------------------------------------------------------------------------------------------------------
# Lifetime: the sandbox never outlives the process (thread) that started it


def die_with_parent(expected_parent: int) -> None:
    """SIGKILL this process when its parent dies (`PR_SET_PDEATHSIG`), and die now if the parent is already
    gone: a child whose parent died before the prctl has been re-parented, so `getppid()` no longer names
    the runner's pid (passed on the command line) — this closes the race between fork and prctl."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected_parent:
        os.kill(os.getpid(), signal.SIGKILL)


PR_SET_NAME = 15


def set_process_name(name: str) -> None:
    """The process name `ps` and `/proc/<pid>/comm` show (15 bytes at most): `huice-spare` while a spare
    waits, `huice-run` once it serves a request."""
    zero = ctypes.c_ulong(0)
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), zero, zero, zero)


def arm_wall_alarm(wall_seconds: float, grace_seconds: float = 5.0) -> None:
    """A backstop past the runner's own wall deadline: SIGALRM (default action: terminate) ends the child
    even if its runner is stopped (SIGSTOP) and so neither kills it nor dies."""
    signal.alarm(max(1, math.ceil(wall_seconds + grace_seconds)))


# ---------------------------------------------------------------------------------------------------------
# rlimits and capabilities


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox run."""

    cpu_seconds: float
    memory_bytes: int
    open_files: int = 64


def apply_rlimits(limits: Limits) -> None:
    """CPU time counted from now, address space, open files, no file output, no core dumps."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = usage.ru_utime + usage.ru_stime
    cpu = int(spent + limits.cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Clear every capability set (a no-op for an ordinary user, decisive for root)."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    nr = current_arch().syscalls["capset"]
    if _libc.syscall(nr, ctypes.byref(header), ctypes.byref(data)) != 0:
        raise ConfinementError(f"capset failed: {os.strerror(ctypes.get_errno())}")
    _prctl(PR_SET_DUMPABLE, 0)


# ---------------------------------------------------------------------------------------------------------
# What this kernel provides (`huice doctor`)

_SECCOMP_GET_ACTION_AVAIL = 2
_PR_GET_SECCOMP = 21


def _seccomp_action_available(arch: Arch, action: int) -> bool:
    value = ctypes.c_uint32(action)
    return _libc.syscall(arch.syscalls["seccomp"], _SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(value)) == 0


def kernel_layers() -> dict[str, object]:
    """The confinement layers this kernel and machine provide, and which of them stop each class of attack.
    Read-only probes (no filter is installed in the calling process)."""
    release = platform.release()
    try:
        arch = current_arch()
    except ConfinementError:
        arch = None
    seccomp = bool(
        arch is not None
        and _libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) >= 0
        and _seccomp_action_available(arch, SECCOMP_RET_ERRNO)
        and _seccomp_action_available(arch, SECCOMP_RET_KILL_PROCESS)
    )
    abi = landlock_abi()
    landlock = {"abi": abi, "filesystem": abi >= 1, "tcp": abi >= 4, "signal_scoping": abi >= 6}

    def by(*layers: tuple[str, bool]) -> list[str]:
        return [name for name, present in layers if present]

    return {
        "ok": seccomp,
        "kernel": release,
        "machine": platform.machine(),
        "arch_supported": arch is not None,
        "seccomp": seccomp,
        "landlock": landlock,
        "rlimits": True,
        "signals_stopped_by": by(("seccomp", seccomp), ("landlock", landlock["signal_scoping"])),
        "files_stopped_by": by(("landlock", abi >= 1), ("seccomp", seccomp)),
        "network_stopped_by": by(("seccomp", seccomp), ("landlock", landlock["tcp"])),
        "file_reads": "landlock: the interpreter and import paths only" if abi >= 1 else "seccomp: no open at all",
    }
