"""Shared fixtures: databases (SQLite and real PostgreSQL) and the test peers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chromium import chromium_browser

# The `site` fixture (a site with settings, jobs, a database and real peers) lives there.
pytest_plugins = ["tests.sites"]

PG_ADMIN_URL = os.environ.get(
    "SYNDICATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# CI sets this: a missing PostgreSQL is then a failure, never a quiet skip.
PG_REQUIRED = os.environ.get("SYNDICATE_REQUIRE_POSTGRES") == "1"


def _postgres_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(_libpq(PG_ADMIN_URL), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({str(error).strip()})"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


# A test that uses one of these, or runs with database_url = "postgresql", needs a
# PostgreSQL server: it is marked `db`, so `-m "not db"` runs the rest without one.
_POSTGRES_FIXTURES = frozenset({"postgres_available", "private_postgres"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        on_postgres = params is not None and params.params.get("database_url") == "postgresql"
        if on_postgres or _POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def postgres_available() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    if PG_REQUIRED:
        pytest.fail(f"PostgreSQL is required here but {problem}.")
    pytest.skip(f"{problem}; these tests need a real PostgreSQL.")


@pytest.fixture
def postgres_url(postgres_available: None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"syndicate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'syndicate.db'}"
    return request.getfixturevalue("postgres_url")


# chromium for the browser tests: one a test module, a fresh context (no cookies) a test.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_browser()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()
