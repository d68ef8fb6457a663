"""Settings of the whole suite: no research-disclaimer gate and rate limits far above any test's traffic, so
suites that do not test them never meet them. The tests of the disclaimer and of rate limits turn the gate
on or set limits low explicitly, on their container's settings. `tests/conftest.py` puts these in the
environment (an exported variable wins); helpers that start commands with a clean environment add them.
"""

import os

SUITE_ENV = {
    "HUICE_REQUIRE_DISCLAIMER": "false",
    **{
        f"HUICE_AUTH_RATE_{plan}_{cls}": "1000000/minute"
        for plan in ("FREE", "PRO")
        for cls in ("READ", "WRITE", "SUBMIT", "DOWNLOAD")
    },
    "HUICE_AUTH_RATE_ANONYMOUS": "1000000/minute",
}


def apply_to_environment() -> None:
    """Put the suite's settings into this process's environment (a value already exported wins): for the
    benchmarks, which build their own containers and servers."""
    for key, value in SUITE_ENV.items():
        os.environ.setdefault(key, value)
