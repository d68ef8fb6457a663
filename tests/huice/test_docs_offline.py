"""`/docs` and `/redoc` work with the network unplugged: every script, style and image they reference is served
by huice itself (fastapi-offline's packaged Swagger UI and ReDoc), the pages name no other host, and the
OpenAPI document declares the bearer and API-key schemes behind Swagger's Authorize button."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_this_server(api, page: str) -> None:
    response = api.get(page)
    assert response.status_code == 200, response.text
    html = response.text
    refs = _references(html)
    assert any(r.endswith(".js") for r in refs), refs  # the bundle is referenced, from here
    for ref in refs:
        assert not urlparse(ref).netloc, f"{page} loads {ref} from another host"
        if ref.startswith("/"):
            asset = api.get(ref)
            assert asset.status_code == 200, ref
            assert len(asset.content) > 100, ref
    for host in ("cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com", "validator.swagger.io"):
        assert host not in html, f"{page} mentions {host}"


def test_swagger_ui_has_no_online_validator(api) -> None:
    html = api.get("/docs").text
    assert '"validatorUrl": null' in html


def test_openapi_declares_the_authorize_schemes(api) -> None:
    schemes = api.get("/openapi.json").json()["components"]["securitySchemes"]
    # both are `Authorization: Bearer ...`: an access token from login, or an API key `hk_...`
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "AccessToken": ("http", "bearer"),
        "ApiKey": ("http", "bearer"),
    }
