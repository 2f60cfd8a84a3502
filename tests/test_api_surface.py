"""The API surface each running service publishes: offline docs, resolvable schemas, bounded lists."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FAST
from tools.devstack import Stack
from tools.scenario import Scenario, bearer

pytestmark = pytest.mark.timeout(300)
SERVICES = ("catalog", "agreements", "measurement", "notifier")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack.on_free_ports(tmp_path_factory.mktemp("surface") / "stack", extra_env=FAST)
    try:
        yield stack.start()
    finally:
        stack.stop()


def _refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from _refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, f"{where}/{index}")


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@pytest.mark.parametrize("service", SERVICES)
def test_every_ref_in_every_openapi_document_resolves(running: Stack, service: str) -> None:
    document = httpx.get(f"{running.url(service)}/openapi.json", timeout=10).json()
    refs = list(_refs(document))
    assert refs, "a document with no $ref at all would prove nothing"
    unresolved = []
    for where, ref in refs:
        try:
            _resolve(document, ref)
        except (KeyError, IndexError, TypeError, AssertionError):
            unresolved.append((where, ref))
    assert not unresolved, unresolved


@pytest.mark.parametrize("service", SERVICES)
def test_every_numeric_query_parameter_is_bounded_and_huge_offsets_are_refused(running: Stack, service: str) -> None:
    document = httpx.get(f"{running.url(service)}/openapi.json", timeout=10).json()
    token = Scenario({name: running.url(name) for name in SERVICES}).admin
    lists = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                options = schema.get("anyOf", [schema])
                for option in options:
                    if option.get("type") in ("integer", "number"):
                        assert "maximum" in option or "exclusiveMaximum" in option, (method, path, parameter["name"])
                if parameter["name"] == "offset" and method == "get" and "{" not in path:
                    lists.append(path)
    for path in lists:
        answer = httpx.get(f"{running.url(service)}{path}", params={"offset": 2**63}, headers=bearer(token), timeout=10)
        assert answer.status_code in (403, 422), (path, answer.status_code, answer.text)
        if answer.status_code == 422:
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert "offset" in answer.text


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _render_offline(binary: str, url: str) -> str:
    """The DOM of a page after its scripts ran, in a Chromium that can reach nothing but loopback."""
    with tempfile.TemporaryDirectory() as folder:
        completed = subprocess.run(
            [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                # The network is off: names resolve nowhere and every request but loopback goes to a dead proxy.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
                "--virtual-time-budget=15000", f"--user-data-dir={Path(folder) / 'profile'}", "--dump-dom", url,
            ],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    return completed.stdout.decode()


@pytest.mark.parametrize("service", SERVICES)
def test_docs_and_redoc_render_with_the_network_off(running: Stack, service: str) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary found (tools/ensure-chromium.sh installs Debian's chromium)")
    base = running.url(service)
    page = httpx.get(f"{base}/docs", timeout=10).text
    assert not re.search(r"https?://(?!127\.0\.0\.1)", re.sub(r"<[^>]*href=\"https?://[^\"]*\"", "", page)), page
    docs = _render_offline(binary, f"{base}/docs")
    # Swagger UI drew the API: its operations and their paths are in the DOM, which needs its script and the schema.
    assert "opblock" in docs and "/healthz" in docs, docs[:2000]
    redoc = _render_offline(binary, f"{base}/redoc")
    assert "api-content" in redoc or "redoc-wrap" in redoc, redoc[:2000]
    assert "/healthz" in redoc
