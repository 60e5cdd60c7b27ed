"""Opening the store: where it lives, SQLite settings, migrations, and errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from iotvet.core.errors import UserError
from iotvet.store import Store, resolve_url
from iotvet.store.engine import head_revision
from iotvet.store.tables import metadata


def test_default_location_env_and_plain_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IOTVET_DB", raising=False)
    assert resolve_url() == "sqlite:///.iotvet/iotvet.db"
    assert resolve_url("runs.db") == "sqlite:///runs.db"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("IOTVET_DB", "other.db")
    assert resolve_url() == "sqlite:///other.db"
    assert resolve_url("explicit.db") == "sqlite:///explicit.db"
    monkeypatch.delenv("IOTVET_DB")
    Store.open().close()
    db = tmp_path / ".iotvet" / "iotvet.db"
    assert db.is_file() and (db.parent.stat().st_mode & 0o777) == 0o700
    assert (db.parent / ".gitignore").read_text().endswith("*\n")  # evidence never lands in a commit


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "s.db"))
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.start_run(run_id="r1")
    with pytest.raises(Exception, match="FOREIGN KEY"), store.engine.begin() as conn:
        conn.execute(text("INSERT INTO findings VALUES ('nope', 'fp', 'c', 'high', '{}', 0)"))
    store.close()


def test_migrations_build_exactly_the_declared_tables(db_url: str) -> None:
    store = Store.open(db_url)
    Store.open(db_url).close()  # opening again is a no-op
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, metadata) == []
    store.close()


def test_a_store_from_a_newer_iotvet_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    store = Store.open(path)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(UserError, match="revision 9999"):
        Store.open(path)


def test_unreachable_or_unsupported_databases_are_user_errors() -> None:
    with pytest.raises(UserError, match="cannot open the store at") as info:
        Store.open("postgresql://alice:s3cretpw@127.0.0.1:1/none?connect_timeout=2")
    assert "s3cretpw" not in str(info.value)
    with pytest.raises(UserError, match="unsupported database"):
        Store.open("mysql://u@h/db")
