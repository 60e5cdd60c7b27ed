"""Stored assessments: the evaluated JSON document with the runs it cites, written once, read back by id.

The store does not know the assessment's model (``iotvet.assess`` sits above it): it keeps the
JSON text, redacted like every other text it writes, with the vendor, the creation time and the
ids of the runs the assessment cites.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import Connection, select

from iotvet.core.errors import UserError
from iotvet.core.ids import new_run_id
from iotvet.core.redact import Redactor
from iotvet.store import tables as t
from iotvet.store.store import Store


@dataclass(frozen=True, slots=True)
class StoredAssessment:
    """One stored assessment."""

    id: str
    created: float
    vendor: str
    runs: tuple[str, ...]
    document: str
    """The assessment's JSON."""


def new_assessment_id() -> str:
    """``a20261125T122648-3f9a2c``: UTC time plus 24 random bits, like run ids."""
    return "a" + new_run_id()[1:]


def record_assessment(store: Store, *, vendor: str, runs: list[str], document: str, created: float | None = None,
                      assessment_id: str | None = None, redactor: Redactor | None = None) -> str:
    """Store an assessment's JSON with the runs it cites; returns its id.

    The JSON is redacted with ``redactor`` (default: the store's). An assessment carries what the
    store already redacted plus iotvet's and the vendor's prose, so the plan's secrets are the ones
    to look for: a secret a run learns (a cracked key such as ``secret``) would mangle that prose.
    """
    ident = assessment_id or new_assessment_id()
    redactor = redactor if redactor is not None else store.redactor
    clean = json.dumps(redactor.data(json.loads(document)), ensure_ascii=False)
    with store.engine.begin() as conn:
        conn.execute(t.assessments.insert().values(
            id=ident, created=created if created is not None else time.time(), vendor=redactor.text(vendor),
            runs=json.dumps(list(runs)), assessment=clean))
    return ident


def resolve_assessment_id(conn: Connection, ref: str) -> str:
    """``latest``, a full assessment id or a unique prefix of one -> the id."""
    c = t.assessments.c
    if ref == "latest":
        found = conn.execute(select(c.id).order_by(c.created.desc(), c.id.desc()).limit(1)).scalar()
        if found is None:
            raise UserError("the store holds no assessment yet (see: iotvet assess run)")
        return str(found)
    like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    ids = conn.execute(select(c.id).where(c.id.like(like, escape="\\")).order_by(c.id).limit(3)).scalars().all()
    if ref in ids or len(ids) == 1:
        return ref if ref in ids else str(ids[0])
    if not ids:
        raise UserError(f"no assessment {ref!r} in the store (see: iotvet assess show latest)")
    raise UserError(f"assessment {ref!r} is ambiguous: {', '.join(ids[:2])}, ...")


def load_assessment(store: Store, ref: str) -> StoredAssessment:
    """The stored assessment named by ``ref`` (``latest``, an id or a unique prefix)."""
    with store.engine.connect() as conn:
        ident = resolve_assessment_id(conn, ref)
        row = conn.execute(select(t.assessments).where(t.assessments.c.id == ident)).one()
    return StoredAssessment(id=row.id, created=row.created, vendor=row.vendor, runs=tuple(json.loads(row.runs)),
                            document=row.assessment)
