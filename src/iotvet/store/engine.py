"""Where the store lives and how to open it: URL resolution, engine settings, migrations on open."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from iotvet.core.errors import UserError

DEFAULT_PATH = Path(".iotvet") / "iotvet.db"
ENV_VAR = "IOTVET_DB"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK = 0x696F74766574  # "iotvet": serialises concurrent first opens of one PostgreSQL database


def resolve_url(url: str | None = None) -> str:
    """The store URL: ``url`` (``--db``), else ``$IOTVET_DB``, else ``sqlite:///.iotvet/iotvet.db``.

    A plain path means a SQLite file; ``postgresql://`` uses psycopg 3.
    """
    url = url or os.environ.get(ENV_VAR) or str(DEFAULT_PATH)
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process dying (kill -9); only an OS crash or
        # power loss may take back the last transactions.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (already resolved); SQLite files get WAL and foreign keys."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                ignore = folder / ".gitignore"
                if folder.name == DEFAULT_PATH.parent.name and not ignore.exists():
                    ignore.write_text("# iotvet evidence: never commit it\n*\n", encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot create the store's folder {folder}: {exc.strerror}") from None
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise UserError(f"unsupported database {parsed.get_backend_name()!r}: use a SQLite path or postgresql://")
    return create_engine(parsed, pool_pre_ping=True)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this iotvet."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the database up to the newest schema (no-op when it is current)."""
    config = _config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head_revision():
            return
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if current is not None and current not in known:
            raise UserError(f"the store is at schema revision {current}, which this iotvet does not know; "
                            "upgrade iotvet or use another --db")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
