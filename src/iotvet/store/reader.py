"""Reading runs back: the queries behind :meth:`Store.load_run`, :meth:`Store.list_runs` and friends."""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import Connection, case, func, select

from iotvet.core.errors import UserError
from iotvet.core.records import Cell, Finding, Operation, Relation, Severity, Verdict
from iotvet.store import tables as t
from iotvet.store.rundata import (
    IdentityInfo,
    JournalEntry,
    RunData,
    RunInfo,
    RunStats,
    RunStatus,
    RunSummary,
    StoredExchange,
    StoredMessage,
    Untested,
)


def run_info(row: Any) -> RunInfo:
    """A ``runs`` row as :class:`RunInfo`."""
    return RunInfo(id=row.id, started=row.started, finished=row.finished, status=RunStatus(row.status),
                   reason=row.reason, plan_digest=row.plan_digest, plan_file=row.plan_file, target=row.target,
                   mode=row.mode, tool_version=row.tool_version, budgets=json.loads(row.budgets),
                   sessions=row.sessions)


def resolve_run_id(conn: Connection, ref: str) -> str:
    """``latest``, a full run id or a unique prefix of one -> the run id."""
    if ref == "latest":
        found = conn.execute(select(t.runs.c.id).order_by(t.runs.c.started.desc()).limit(1)).scalar()
        if found is None:
            raise UserError("the store holds no run yet")
        return str(found)
    if conn.execute(select(t.runs.c.id).where(t.runs.c.id == ref)).scalar() is not None:
        return ref
    like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    ids = conn.execute(select(t.runs.c.id).where(t.runs.c.id.like(like, escape="\\")).limit(3)).scalars().all()
    if len(ids) == 1:
        return str(ids[0])
    if not ids:
        raise UserError(f"no run {ref!r} in the store (see: iotvet runs)")
    raise UserError(f"run {ref!r} is ambiguous: {', '.join(ids[:2])}, ...")


def _run_row(conn: Connection, run_id: str) -> Any:
    row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
    if row is None:
        raise UserError(f"no run {run_id!r} in the store (see: iotvet runs)")
    return row


def _cell(row: Any) -> Cell:
    operation = Operation(method=row.method, path=row.path) if row.method is not None else None
    return Cell(check=row.check_id, plane=row.plane, operation=operation, topic=row.topic,
                relation=Relation(row.relation), verdict=Verdict(row.verdict), reason=row.reason,
                attacker=row.attacker, victim=row.victim)


def _counts(conn: Connection, column: Any, run_id: str) -> dict[str, int]:
    table = column.table
    rows = conn.execute(select(column, func.count()).where(table.c.run_id == run_id, column.is_not(None))
                        .group_by(column)).all()
    return {str(key): int(n) for key, n in rows}


def stats(conn: Connection, run_id: str) -> RunStats:
    """Counts over the run's evidence, computed in the database."""
    ex = t.exchanges.c
    total, sent = conn.execute(select(func.count(), func.coalesce(func.sum(case((ex.sent, 1), else_=0)), 0))
                               .where(ex.run_id == run_id)).one()
    jc = t.journal.c
    writes, unrestored = conn.execute(select(func.count(), func.coalesce(func.sum(case((jc.restored, 0), else_=1)), 0))
                                      .where(jc.run_id == run_id)).one()
    messages = conn.execute(select(func.count()).where(t.mqtt_messages.c.run_id == run_id)).scalar_one()
    return RunStats(exchanges=int(total), sent=int(sent), errors=_counts(conn, ex.error_kind, run_id),
                    statuses=_counts(conn, ex.status, run_id), mqtt_messages=int(messages),
                    cells=_counts(conn, t.cells.c.verdict, run_id),
                    findings=_counts(conn, t.findings.c.severity, run_id),
                    journal_writes=int(writes), journal_unrestored=int(unrestored))


def load_run(conn: Connection, run_id: str) -> RunData:
    """Everything a report needs about ``run_id``."""
    row = _run_row(conn, run_id)
    ic = t.identities.c
    identities = [IdentityInfo(name=r.name, tenant=r.tenant, group=r.group_name, role=r.role,
                               devices=json.loads(r.devices), sacrificial=r.sacrificial)
                  for r in conn.execute(select(t.identities).where(ic.run_id == run_id).order_by(ic.name))]
    fc = t.findings.c
    query = select(fc.finding).where(fc.run_id == run_id).order_by(fc.recorded, fc.fingerprint)
    findings = [Finding.model_validate_json(r.finding) for r in conn.execute(query)]
    findings.sort(key=lambda f: (-Severity(f.severity).rank, f.check, f.target, f.relation or ""))
    cc = t.cells.c
    cells = [_cell(r) for r in conn.execute(select(t.cells).where(cc.run_id == run_id)
                                            .order_by(cc.check_id, cc.plane, cc.place, cc.relation))]
    untested = [Untested.model_validate(u) for u in json.loads(row.untested)]
    return RunData(run=run_info(row), identities=identities, findings=findings, cells=cells, untested=untested,
                   stats=stats(conn, run_id))


def list_runs(conn: Connection, limit: int | None = None) -> list[RunSummary]:
    """Stored runs, newest first, with their finding and exchange counts."""
    n_findings = select(func.count()).where(t.findings.c.run_id == t.runs.c.id).scalar_subquery()
    n_exchanges = select(func.count()).where(t.exchanges.c.run_id == t.runs.c.id).scalar_subquery()
    query = select(t.runs, n_findings.label("n_findings"), n_exchanges.label("n_exchanges")) \
        .order_by(t.runs.c.started.desc(), t.runs.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [RunSummary(run=run_info(r), findings=r.n_findings, exchanges=r.n_exchanges) for r in conn.execute(query)]


def exchanges(conn: Connection, run_id: str) -> list[StoredExchange]:
    """The run's exchanges in recording order."""
    ec = t.exchanges.c
    out = []
    for r in conn.execute(select(t.exchanges).where(ec.run_id == run_id).order_by(ec.seq)):
        data = dict(r._mapping)
        data.pop("run_id")
        data["request_headers"] = [tuple(h) for h in json.loads(data["request_headers"])]
        data["response_headers"] = [tuple(h) for h in json.loads(data["response_headers"])]
        out.append(StoredExchange.model_validate(data))
    return out


def messages(conn: Connection, run_id: str) -> list[StoredMessage]:
    """The run's MQTT observations in recording order."""
    mc = t.mqtt_messages.c
    rows = conn.execute(select(t.mqtt_messages).where(mc.run_id == run_id).order_by(mc.seq))
    return [StoredMessage.model_validate({k: v for k, v in r._mapping.items() if k != "run_id"}) for r in rows]


def journal(conn: Connection, run_id: str, unrestored_only: bool = False) -> list[JournalEntry]:
    """The run's journaled writes in the order they were made."""
    jc = t.journal.c
    query = select(t.journal).where(jc.run_id == run_id)
    if unrestored_only:
        query = query.where(jc.restored.is_(False))
    return [JournalEntry(seq=r.seq, identity=r.identity, method=r.method, url=r.url, original=json.loads(r.original),
                         write=json.loads(r.write), lossy=r.lossy, restored=r.restored,
                         restore_error=r.restore_error, at=r.at)
            for r in conn.execute(query.order_by(jc.seq))]


def body_bytes(text: str | None, encoding: str) -> bytes | None:
    """A stored body back as bytes."""
    if text is None:
        return None
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")
