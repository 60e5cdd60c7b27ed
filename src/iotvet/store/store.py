"""The evidence store: every exchange, message, verdict, finding and write, committed as it happens.

One :class:`Store` per process, one current run at a time. Every text goes through the
store's :class:`~iotvet.core.redact.Redactor` before it is written. Each ``record_*`` call
is its own transaction, so a process killed at any point loses nothing it had recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from iotvet import __version__
from iotvet.core.errors import UserError
from iotvet.core.ids import new_run_id
from iotvet.core.records import Cell, Finding, MqttEvidence
from iotvet.core.redact import Redactor
from iotvet.store import reader
from iotvet.store import tables as t
from iotvet.store.codec import ExchangeLike, clean_text, data_json, encode_body, exchange_row
from iotvet.store.engine import make_engine, migrate, resolve_url
from iotvet.store.rundata import (
    SETTLED,
    IdentityInfo,
    JournalEntry,
    RunData,
    RunInfo,
    RunStatus,
    RunSummary,
    StoredExchange,
    StoredMessage,
    Untested,
)

DEFAULT_MAX_BODY = 64 * 1024
CellKey = tuple[str, str, str, str]


def place(cell: Cell | Finding) -> str:
    """Where a cell or finding sits: ``GET /path`` or the topic."""
    return str(cell.operation) if cell.operation is not None else (cell.topic or "")


def cell_key(cell: Cell) -> CellKey:
    """The key under which a run decides a cell at most once: check, plane, place, relation."""
    return cell.check, cell.plane, place(cell), cell.relation.value


class Store:
    """Evidence of runs in SQLite or PostgreSQL. Open with :meth:`Store.open`."""

    def __init__(self, engine: Engine, redactor: Redactor | None = None, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.engine = engine
        self.redactor = redactor if redactor is not None else Redactor()
        self.max_body = max_body
        self._lock = threading.RLock()
        self._run_id: str | None = None
        self._suffix = ""
        self._seq = {"exchanges": 0, "mqtt_messages": 0, "journal": 0}

    @classmethod
    def open(cls, url: str | None = None, *, redactor: Redactor | None = None,
             max_body: int = DEFAULT_MAX_BODY) -> Store:
        """Open (creating and migrating as needed) the store at ``url``, ``$IOTVET_DB`` or ``.iotvet/iotvet.db``."""
        resolved = resolve_url(url)
        engine = make_engine(resolved)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            shown = make_url(resolved).render_as_string(hide_password=True)
            raise UserError(f"cannot open the store at {shown}: {str(exc.orig).strip().splitlines()[0]}") from None
        return cls(engine, redactor, max_body=max_body)

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the current run ---------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run being recorded; raises when none was started or resumed."""
        if self._run_id is None:
            raise RuntimeError("no current run: call start_run() or resume_run() first")
        return self._run_id

    def _write(self) -> AbstractContextManager[Connection]:
        return self.engine.begin()

    def _text(self, value: str) -> str:
        return clean_text(self.redactor, value)

    def _data(self, value: Any) -> Any:
        """Nested data, every string in it redacted and NUL-free."""
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, dict):
            return {self._data(k): self._data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._data(v) for v in value]
        return value

    def _opt(self, value: str | None) -> str | None:
        return None if value is None else clean_text(self.redactor, value)

    def start_run(self, *, run_id: str | None = None, started: float | None = None, plan_digest: str = "",
                  plan_file: str = "", target: str = "", mode: str = "", tool_version: str = __version__,
                  budgets: dict[str, Any] | None = None, identities: Iterable[IdentityInfo] = (),
                  untested: Iterable[Untested] = ()) -> str:
        """Record a new run (status ``running``) and make it current; returns its id."""
        run_id = run_id or new_run_id()
        with self._lock, self._write() as conn:
            conn.execute(t.runs.insert().values(
                id=run_id, started=started if started is not None else time.time(), finished=None,
                status=RunStatus.RUNNING.value, reason="", plan_digest=plan_digest, plan_file=self._text(plan_file),
                target=self._text(target), mode=mode, tool_version=tool_version,
                budgets=data_json(self.redactor, budgets or {}),
                untested=self._untested_json(untested), sessions=1))
            self._run_id, self._suffix = run_id, ""
            self._seq = dict.fromkeys(self._seq, 0)
            self._insert_identities(conn, identities)
        return run_id

    def resume_run(self, run_ref: str) -> RunInfo:
        """Make a stored run current again (status back to ``running``) to continue recording into it."""
        with self._lock, self._write() as conn:
            run_id = reader.resolve_run_id(conn, run_ref)
            conn.execute(update(t.runs).where(t.runs.c.id == run_id)
                         .values(status=RunStatus.RUNNING.value, finished=None, reason="",
                                 sessions=t.runs.c.sessions + 1))
            info = reader.run_info(conn.execute(select(t.runs).where(t.runs.c.id == run_id)).one())
            for name in self._seq:
                table = t.metadata.tables[name]
                self._seq[name] = int(conn.execute(select(func.coalesce(func.max(table.c.seq), 0))
                                                   .where(table.c.run_id == run_id)).scalar_one())
        self._run_id, self._suffix = run_id, f"~{info.sessions}"
        return info

    def record_identities(self, identities: Iterable[IdentityInfo]) -> None:
        """Record (or update) the identities the run uses; credentials are never part of them."""
        with self._lock, self._write() as conn:
            self._insert_identities(conn, identities)

    def _insert_identities(self, conn: Connection, identities: Iterable[IdentityInfo]) -> None:
        for ident in identities:
            values = {"tenant": self._text(ident.tenant), "group_name": self._opt(ident.group),
                      "role": self._text(ident.role), "devices": data_json(self.redactor, ident.devices),
                      "sacrificial": ident.sacrificial}
            key = {"run_id": self.run_id, "name": self._text(ident.name)}
            self._upsert(conn, t.identities, {**key, **values}, list(key), values)

    def _untested_json(self, untested: Iterable[Untested]) -> str:
        return data_json(self.redactor, [u.model_dump(mode="json") for u in untested])

    def set_untested(self, untested: Iterable[Untested]) -> None:
        """Replace the run's list of relation classes its identities cannot test."""
        with self._lock, self._write() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == self.run_id)
                         .values(untested=self._untested_json(untested)))

    def finish_run(self, status: RunStatus | str = RunStatus.COMPLETE, *, reason: str = "",
                   budgets: dict[str, Any] | None = None, finished: float | None = None) -> None:
        """Close the current run with its final status (and why, when not complete)."""
        values: dict[str, Any] = {"status": RunStatus(status).value, "reason": self._text(reason),
                                  "finished": finished if finished is not None else time.time()}
        if budgets is not None:
            values["budgets"] = data_json(self.redactor, budgets)
        with self._lock, self._write() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == self.run_id).values(**values))

    # -- evidence ----------------------------------------------------------------------------

    def _next(self, name: str) -> int:
        self._seq[name] += 1
        return self._seq[name]

    def record_exchange(self, exchange: ExchangeLike) -> None:
        """Record one HTTP exchange (an ``HttpTransport.listen`` listener)."""
        row = exchange_row(self.redactor, exchange, self.max_body, self._suffix)
        with self._lock, self._write() as conn:
            conn.execute(t.exchanges.insert().values(run_id=self.run_id, seq=self._next("exchanges"), **row))

    def record_message(self, message: MqttEvidence, *, identity: str | None = None, at: float | None = None,
                       payload: bytes | None = None) -> int:
        """Record one MQTT observation; ``payload`` (raw bytes) wins over ``message.payload``."""
        raw = payload if payload is not None else (message.payload.encode() if message.payload is not None else None)
        text, encoding, truncated = encode_body(self.redactor, raw, self.max_body)
        with self._lock, self._write() as conn:
            seq = self._next("mqtt_messages")
            conn.execute(t.mqtt_messages.insert().values(
                run_id=self.run_id, seq=seq, identity=identity, broker=self._text(message.broker),
                client=self._text(message.client), action=message.action, topic=self._opt(message.topic),
                payload=text, payload_encoding=encoding, truncated=truncated, qos=message.qos,
                retained=message.retained, reason=self._opt(message.reason), at=at if at is not None else time.time()))
        return seq

    def record_cell(self, cell: Cell) -> bool:
        """Record a verdict; False when the run had already settled this cell (it is kept)."""
        cell = Cell.model_validate(self._data(cell.model_dump(mode="json")))
        check, plane, where, relation = cell_key(cell)
        key = {"run_id": self.run_id, "check_id": check, "plane": plane, "place": where, "relation": relation}
        values = {"method": cell.operation.method.upper() if cell.operation else None,
                  "path": cell.operation.path if cell.operation else None, "topic": cell.topic,
                  "verdict": cell.verdict.value, "reason": cell.reason, "attacker": cell.attacker,
                  "victim": cell.victim, "decided": time.time()}
        with self._lock, self._write() as conn:
            return self._upsert(conn, t.cells, {**key, **values}, list(key), values,
                                where=t.cells.c.verdict.not_in([v.value for v in SETTLED]))

    def record_finding(self, finding: Finding) -> bool:
        """Record a finding; False when the run already holds one with the same fingerprint."""
        data = self.redactor.data(finding.model_dump(mode="json"))
        if self._suffix:
            for evidence in data.get("evidence", []):
                http = evidence.get("http") or {}
                if http.get("exchange_id"):
                    http["exchange_id"] += self._suffix
        clean = Finding.model_validate(data)
        row = {"run_id": self.run_id, "fingerprint": clean.fingerprint, "check_id": clean.check,
               "severity": clean.severity.value, "finding": clean.model_dump_json(), "recorded": time.time()}
        with self._lock, self._write() as conn:
            return self._upsert(conn, t.findings, row, ["run_id", "fingerprint"], None)

    def _upsert(self, conn: Connection, table: Any, row: dict[str, Any], keys: list[str],
                values: dict[str, Any] | None, where: Any = None) -> bool:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt: Any = insert(table).values(**row)
        if values is None:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        else:
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_=values, where=where)
        # rowcount is unreliable here (psycopg reports -1); RETURNING yields a row only when one was written
        return conn.execute(stmt.returning(table.c.run_id)).first() is not None

    # -- the journal of writes ---------------------------------------------------------------

    def journal_write(self, *, method: str, url: str, original: Any, write: Any, identity: str | None = None) -> int:
        """Journal a write *before* it is sent; returns its sequence number for :meth:`mark_restored`."""
        original_json = data_json(self.redactor, original)
        lossy = original_json != json.dumps(original, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock, self._write() as conn:
            seq = self._next("journal")
            conn.execute(t.journal.insert().values(
                run_id=self.run_id, seq=seq, identity=identity, method=method.upper(), url=self._text(url),
                original=original_json, write=data_json(self.redactor, write), lossy=lossy, restored=False,
                restore_error=None, at=time.time()))
        return seq

    def mark_restored(self, seq: int, *, error: str | None = None, run_id: str | None = None) -> None:
        """Record that journal entry ``seq`` was restored (``error`` None) or why it could not be."""
        run = run_id or self.run_id
        with self._lock, self._write() as conn:
            conn.execute(update(t.journal).where(t.journal.c.run_id == run, t.journal.c.seq == seq)
                         .values(restored=error is None, restore_error=self._opt(error)))

    # -- reading -----------------------------------------------------------------------------

    def resolve_run_id(self, ref: str) -> str:
        """``latest``, a run id or a unique prefix -> the run id (UserError when none or several)."""
        with self.engine.connect() as conn:
            return reader.resolve_run_id(conn, ref)

    def settled_cells(self, run_id: str | None = None) -> set[CellKey]:
        """Keys of cells the run has settled (not ``inconclusive``): a resumed run skips them."""
        c = t.cells.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.check_id, c.plane, c.place, c.relation)
                                .where(c.run_id == (run_id or self.run_id), c.verdict.in_([v.value for v in SETTLED])))
            return {(r[0], r[1], r[2], r[3]) for r in rows}

    def load_run(self, run_ref: str) -> RunData:
        """Everything a report needs about one run (``latest``, an id or a unique prefix)."""
        with self.engine.connect() as conn:
            return reader.load_run(conn, reader.resolve_run_id(conn, run_ref))

    def list_runs(self, limit: int | None = None) -> list[RunSummary]:
        """Stored runs, newest first."""
        with self.engine.connect() as conn:
            return reader.list_runs(conn, limit)

    def exchanges(self, run_id: str) -> list[StoredExchange]:
        """A run's exchanges in recording order."""
        with self.engine.connect() as conn:
            return reader.exchanges(conn, run_id)

    def messages(self, run_id: str) -> list[StoredMessage]:
        """A run's MQTT observations in recording order."""
        with self.engine.connect() as conn:
            return reader.messages(conn, run_id)

    def journal(self, run_id: str, *, unrestored_only: bool = False) -> list[JournalEntry]:
        """A run's journaled writes (only those not yet restored, with ``unrestored_only``)."""
        with self.engine.connect() as conn:
            return reader.journal(conn, run_id, unrestored_only)
