"""Code health: no HTTP router issues SQL; every query goes through a repository or service scoped to the principal.

Each module of a service that builds an `APIRouter` (every `router.py` and the other route modules) is read with
`ast`; a router may not run a statement (`.exec(`, `.execute(`, `.scalars(`, `.scalar(`,
`session.get(`), nor import a statement builder from SQLAlchemy or SQLModel.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    ROOT / "services" / "catalog" / "slm_catalog",
    ROOT / "services" / "agreements" / "slm_agreements",
    ROOT / "services" / "measurement" / "slm_measurement",
    ROOT / "services" / "notifier" / "slm_notifier",
]
STATEMENT_CALLS = {"exec", "execute", "scalars", "scalar"}
STATEMENT_BUILDERS = {"select", "update", "delete", "insert", "text"}
SQL_MODULES = ("sqlalchemy", "sqlmodel")


def _is_router_module(path: Path, tree: ast.Module) -> bool:
    if path.name == "router.py" or path.stem.endswith("_router"):
        return True
    return any(
        isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "APIRouter")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "APIRouter")
        )
        for node in ast.walk(tree)
    )


def router_modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted(package.rglob("*.py")):
            if "migrations" in path.parts or "tests" in path.parts or "testing" in path.parts:
                continue
            if _is_router_module(path, ast.parse(path.read_text(), filename=str(path))):
                found.append(path)
    return found


def _receiver_name(node: ast.expr) -> str:
    """`session` for `session`, `self.session` or `request.state.session`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def sql_in(source: str, filename: str = "<router>") -> list[str]:
    """What in `source` issues SQL or builds a statement, as `line: what`."""
    tree = ast.parse(source, filename=filename)
    sql_aliases: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in SQL_MODULES:
                    sql_aliases.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in SQL_MODULES:
            for alias in node.names:
                if alias.name in STATEMENT_BUILDERS:
                    found.append(f"{node.lineno}: imports {alias.name} from {node.module}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr, receiver = node.func.attr, node.func.value
        if attr in STATEMENT_CALLS:
            found.append(f"{node.lineno}: .{attr}(")
        elif attr == "get" and "session" in _receiver_name(receiver).lower():
            found.append(f"{node.lineno}: session.get(")
        elif attr in STATEMENT_BUILDERS and isinstance(receiver, ast.Name) and receiver.id in sql_aliases:
            found.append(f"{node.lineno}: {receiver.id}.{attr}(")
    return sorted(found, key=lambda item: int(item.split(":")[0]))


def test_every_service_has_router_modules_to_check() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in router_modules()}
    for package in PACKAGES:
        assert (package / "router.py").relative_to(ROOT).as_posix() in names
    assert "services/measurement/slm_measurement/pull/router.py" in names
    assert "services/measurement/slm_measurement/ingest_router.py" in names


@pytest.mark.parametrize("path", router_modules(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_router_issues_no_sql(path: Path) -> None:
    offences = sql_in(path.read_text(), filename=str(path))
    assert not offences, f"{path.relative_to(ROOT)} issues SQL; move it into a principal-scoped repository: {offences}"


@pytest.mark.parametrize(
    "source",
    [
        "async def f(session):\n    await session.exec(q)\n",
        "async def f(session):\n    await session.execute(q)\n",
        "async def f(session):\n    return (await session.scalars(q)).all()\n",
        "async def f(session):\n    return await session.scalar(q)\n",
        "async def f(session):\n    return await session.get(Model, 1)\n",
        "async def f(request):\n    return await request.state.session.get(Model, 1)\n",
        "from sqlalchemy import select\n",
        "from sqlmodel import update\n",
        "from sqlalchemy.sql import delete\n",
        "from sqlalchemy.dialects.postgresql import insert\n",
        "import sqlalchemy as sa\nq = sa.select(1)\n",
    ],
)
def test_the_check_sees_each_way_of_issuing_sql(source: str) -> None:
    assert sql_in(source)


def test_the_check_lets_repository_calls_and_dict_gets_pass() -> None:
    source = (
        "from sqlmodel import col\n"
        "async def f(session, body):\n"
        "    row = await repository.get_thing(session, tenant='t', thing_id='x')\n"
        "    return body.get('name'), row\n"
    )
    assert sql_in(source) == []
