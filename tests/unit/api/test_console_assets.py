"""The console's page and assets: served by the api (no Kafka needed), everything it loads
shipped in the package and served from the api itself (no CDN), the first view under 500 kB,
and nothing outside static/ reachable through the asset route."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.api.test_control_routes import client as client
from workers.api.console.routes import STATIC, assets

FIRST_VIEW_BYTES = 500_000


def _imports(text: str) -> set[str]:
    return set(re.findall(r"""from\s+["']\./([\w.]+)["']""", text))


def test_every_asset_the_page_loads_is_shipped_and_local(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    referenced = set(re.findall(r'(?:src|href)="/console/([\w.]+)"', page.text))
    seen, todo, total = set(), list(referenced), len(page.content)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        answer = client.get(f"/console/{name}")
        assert answer.status_code == 200, name
        total += len(answer.content)
        todo += _imports(answer.text) if name.endswith(".js") else []
    assert {"app.js", "console.css", "fleet.js", "board.js", "api.js"} <= seen
    assert seen == set(assets()) - {"index.html"}, "an asset is shipped but never loaded, or missing"
    assert total < FIRST_VIEW_BYTES
    for path in STATIC.iterdir():
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", path.read_text()), (
            f"{path.name} loads from elsewhere"
        )


@pytest.mark.parametrize("name", ["nope.js", "..%2Froutes.py", "routes.py", "__init__.py"])
def test_only_shipped_assets_are_served(client: TestClient, name: str) -> None:
    assert client.get(f"/console/{name}").status_code == 404
