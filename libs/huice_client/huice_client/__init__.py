"""huice_client: the Python client of the huice REST API, for notebooks, scripts and the `huice` CLI.

It depends on httpx, pydantic and polars only (no server code). `Client(base_url, api_key=None, token=None)`
has one method per user-facing REST operation; errors are `HuiceError(code, message, details, status)`;
run tables come back as polars frames. `routes()` lists every operation it calls (checked against the
server's `/openapi.json` by the test suite).
"""

from huice_client._core import Call, HuiceError, Route, TokenPair, routes, sse_events
from huice_client.client import Client

__all__ = ["Call", "Client", "HuiceError", "Route", "TokenPair", "routes", "sse_events"]
