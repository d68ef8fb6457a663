"""`huice serve` starts `HUICE_API_WORKERS` API server processes behind one acceptor (`serve.api_command`)."""

from __future__ import annotations

from huice import serve
from platform_core.settings import CoreSettings


def test_api_command_starts_the_configured_server_processes() -> None:
    default = serve.api_command(CoreSettings(_env_file=None))
    assert default[1:3] == ["-m", "huice.api_processes"] and default[default.index("--workers") + 1] == "2"
    one = serve.api_command(CoreSettings(_env_file=None, api_workers=1))
    assert one[1:3] == ["-m", "uvicorn"] and "--workers" not in one and "--no-proxy-headers" in one
    four = serve.api_command(CoreSettings(_env_file=None, api_workers=4), port=8123)
    assert four[four.index("--workers") + 1] == "4" and four[four.index("--port") + 1] == "8123"
