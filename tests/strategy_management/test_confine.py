"""The seccomp program of the sandbox, evaluated instruction by instruction (tests/strategy_management/bpf.py)
for the signal-sending syscalls: on every kernel the filter alone refuses a signal aimed at any process but
the sandbox's own, whatever Landlock provides; and `kernel_layers()`, what `huice doctor` reports."""

from __future__ import annotations

import errno
import signal

import pytest

from strategy_management.confined_runner import RunnerConfig, sandbox_report
from strategy_management.sandbox import confine
from tests.strategy_management import bpf

OWN = 4242
OTHER = 4243
ALLOW = confine.SECCOMP_RET_ALLOW
EPERM = confine.SECCOMP_RET_ERRNO | errno.EPERM


@pytest.fixture(scope="module", params=sorted({id(a): name for name, a in confine.ARCHES.items()}.values()))
def arch(request: pytest.FixtureRequest) -> confine.Arch:
    return confine.ARCHES[request.param]


def _answer(arch: confine.Arch, name: str, *args: int) -> int:
    program = confine.build_filter(arch, own_pid=OWN, strict_open=False)
    return bpf.run(program, bpf.seccomp_data(arch.syscalls[name], arch.audit_arch, args))


@pytest.mark.parametrize("name", ["kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"])
def test_signal_syscalls_reach_only_the_sandbox_itself(arch: confine.Arch, name: str) -> None:
    sig = signal.SIGKILL
    assert _answer(arch, name, OWN, sig if name in ("kill", "rt_sigqueueinfo") else OWN, sig) == ALLOW
    for target in (OTHER, 1, 0, -1, -OWN, OWN + (1 << 32), OWN - (1 << 32)):
        assert _answer(arch, name, target, sig, sig) == EPERM, (name, target)


@pytest.mark.parametrize("name", ["tkill", "pidfd_open", "pidfd_send_signal"])
def test_tid_and_pidfd_signals_are_refused_outright(arch: confine.Arch, name: str) -> None:
    for target in (OWN, OTHER, 3):
        assert _answer(arch, name, target, signal.SIGKILL) == EPERM


def test_no_descriptor_can_name_another_process_as_its_signal_owner(arch: confine.Arch) -> None:
    for cmd in (confine.F_SETOWN, confine.F_SETOWN_EX):
        assert _answer(arch, "fcntl", 3, cmd, OTHER) == EPERM
    for cmd in (1, 2, 3, 4, 1030, 10):  # F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, F_SETSIG
        assert _answer(arch, "fcntl", 3, cmd, 0) == ALLOW
    for cmd in (confine.FIOSETOWN, confine.SIOCSPGRP, confine.TIOCSPGRP, confine.TIOCSIG):
        assert _answer(arch, "ioctl", 3, cmd, OTHER) == EPERM
    assert _answer(arch, "ioctl", 3, 0x5401, 0) == ALLOW  # TCGETS (isatty)


def test_another_architecture_is_killed(arch: confine.Arch) -> None:
    program = confine.build_filter(arch, own_pid=OWN, strict_open=False)
    foreign = 0x40000003  # AUDIT_ARCH_I386
    assert bpf.run(program, bpf.seccomp_data(arch.syscalls["kill"], foreign, (OTHER, 9))) == (
        confine.SECCOMP_RET_KILL_PROCESS
    )


def test_kernel_layers_name_what_stops_signals_on_this_kernel() -> None:
    layers = confine.kernel_layers()
    abi = confine.landlock_abi()
    assert layers["seccomp"] is True and layers["ok"] is True
    assert layers["landlock"] == {"abi": abi, "filesystem": abi >= 1, "tcp": abi >= 4, "signal_scoping": abi >= 6}
    assert layers["signals_stopped_by"] == ["seccomp", *(["landlock"] if abi >= 6 else [])]
    assert layers["signals_stopped_by"][0] == "seccomp"  # on every kernel, not only 6.12+


def test_the_sandbox_report_adds_a_real_confined_run() -> None:
    report = sandbox_report()
    assert report["probe"]["ok"] is True and report["probe"]["latency_ms"] > 0
    assert report["ok"] is True and report["seccomp"] is True


def test_the_sandbox_report_says_when_the_confined_run_fails() -> None:
    report = sandbox_report(RunnerConfig(wall_seconds=0.001))
    assert report["ok"] is False and report["probe"]["ok"] is False
    assert report["probe"]["error"].startswith("StrategyRuntimeError: the strategy did not finish within")
