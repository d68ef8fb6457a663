"""`huice serve` starts `HUICE_API_WORKERS` uvicorn server processes on the one port (`serve.api_command`)."""

from __future__ import annotations

from huice import serve
from platform_core.settings import CoreSettings


def test_api_command_asks_uvicorn_for_the_configured_worker_processes() -> None:
    default = serve.api_command(CoreSettings(_env_file=None))
    assert default[default.index("--workers") + 1] == "2"
    assert "--workers" not in serve.api_command(CoreSettings(_env_file=None, api_workers=1))
    four = serve.api_command(CoreSettings(_env_file=None, api_workers=4), port=8123)
    assert four[four.index("--workers") + 1] == "4" and four[four.index("--port") + 1] == "8123"
