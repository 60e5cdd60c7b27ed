"""Store fixtures: every store test runs on a SQLite file and on a real PostgreSQL database.

PostgreSQL: ``$IOTVET_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``) must
accept connections; a uniquely named database is created for the session and dropped after.
Without a server the PostgreSQL variants are skipped, except under CI (``CI`` set), where
that is a failure: CI must not go green by skipping half the store tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from iotvet.core.redact import Redactor
from iotvet.store import Store

PG_BASE = os.environ.get("IOTVET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SECRETS = [("nv-fleet-admin.auth.password", "Hunter2-Nordvik!"), ("ca-fleet-admin.auth.token", "tok_9f8e7d6c5b4a3210")]


def _pg_server() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_BASE, autocommit=True, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {PG_BASE} ({str(exc).strip().splitlines()[0]}); set IOTVET_TEST_PG"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, as a SQLAlchemy URL."""
    import psycopg

    problem = _pg_server()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    name = f"iotvet_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_BASE.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store URL on each engine; the PostgreSQL database is emptied after each test."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("store") / "iotvet.db")
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    store = Store.open(url)
    with store.engine.begin() as conn:
        from iotvet.store.tables import runs

        conn.execute(runs.delete())
    store.close()


@pytest.fixture
def redactor() -> Redactor:
    """A redactor that knows two plan secrets."""
    return Redactor(SECRETS)


@pytest.fixture
def store(db_url: str, redactor: Redactor) -> Iterator[Store]:
    """An open store (SQLite or PostgreSQL) with the test redactor and a 1 KiB body cap."""
    s = Store.open(db_url, redactor=redactor, max_body=1024)
    yield s
    s.close()
