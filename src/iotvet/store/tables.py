"""The evidence store's tables (SQLAlchemy Core). Alembic migrations create them; never ``create_all``.

Times are UTC epoch seconds (``Float``), identical on SQLite and PostgreSQL. JSON is stored as
text so both engines hold byte-identical evidence. Bodies and payloads are text: UTF-8 when
they decode, else base64 with ``*_encoding = 'base64'``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def _run_fk() -> Column[str]:
    return Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


runs = Table(
    "runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("started", Float, nullable=False),
    Column("finished", Float),
    Column("status", String(16), nullable=False),  # running | complete | incomplete | interrupted
    Column("reason", Text, nullable=False, default=""),  # why incomplete or interrupted
    Column("plan_digest", String(128), nullable=False, default=""),
    Column("plan_file", Text, nullable=False, default=""),
    Column("target", Text, nullable=False, default=""),
    Column("mode", String(32), nullable=False, default=""),
    Column("tool_version", String(64), nullable=False, default=""),
    Column("budgets", Text, nullable=False, default="{}"),  # JSON: limits and what was used
    Column("untested", Text, nullable=False, default="[]"),  # JSON: relation classes the plan cannot test
    # 1 + times resumed; exchange ids recorded by session N > 1 carry a "~N" suffix (transports restart at h1)
    Column("sessions", Integer, nullable=False, default=1),
)

identities = Table(
    "identities", metadata,
    _run_fk(),
    Column("name", String(128), nullable=False),
    Column("tenant", Text, nullable=False, default=""),
    Column("group_name", Text),
    Column("role", Text, nullable=False, default=""),
    Column("devices", Text, nullable=False, default="[]"),  # JSON list
    Column("sacrificial", Boolean, nullable=False, default=False),
    PrimaryKeyConstraint("run_id", "name"),
)

exchanges = Table(
    "exchanges", metadata,
    _run_fk(),
    Column("id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),  # order of recording within the run
    Column("parent", String(64)),
    Column("identity", String(128)),
    Column("purpose", Text, nullable=False, default=""),
    Column("method", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("request_headers", Text, nullable=False, default="[]"),  # JSON list of [name, value]
    Column("request_body", Text),
    Column("request_body_encoding", String(8), nullable=False, default="text"),
    Column("status", Integer),
    Column("reason", Text),
    Column("response_headers", Text, nullable=False, default="[]"),
    Column("response_body", Text),
    Column("response_body_encoding", String(8), nullable=False, default="text"),
    Column("response_size", Integer),  # bytes received (before the store's cap)
    Column("truncated", Boolean, nullable=False, default=False),
    Column("sent", Boolean, nullable=False, default=True),
    Column("error_kind", String(32)),
    Column("error_detail", Text),
    Column("started", Float, nullable=False),
    Column("elapsed", Float, nullable=False, default=0.0),
    PrimaryKeyConstraint("run_id", "id"),
)

mqtt_messages = Table(
    "mqtt_messages", metadata,
    _run_fk(),
    Column("seq", Integer, nullable=False),
    Column("identity", String(128)),
    Column("broker", Text, nullable=False),
    Column("client", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("topic", Text),
    Column("payload", Text),
    Column("payload_encoding", String(8), nullable=False, default="text"),
    Column("truncated", Boolean, nullable=False, default=False),
    Column("qos", Integer),
    Column("retained", Boolean),
    Column("reason", Text),
    Column("at", Float, nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
)

cells = Table(
    "cells", metadata,
    _run_fk(),
    Column("check_id", String(64), nullable=False),
    Column("plane", String(8), nullable=False),
    Column("place", Text, nullable=False),  # "GET /path" or the topic: the unique key's place
    Column("relation", String(32), nullable=False),
    Column("method", String(16)),
    Column("path", Text),
    Column("topic", Text),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("attacker", String(128)),
    Column("victim", String(128)),
    Column("decided", Float, nullable=False),
    PrimaryKeyConstraint("run_id", "check_id", "plane", "place", "relation"),
)

findings = Table(
    "findings", metadata,
    _run_fk(),
    Column("fingerprint", String(64), nullable=False),
    Column("check_id", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("finding", Text, nullable=False),  # JSON of the Finding, redacted
    Column("recorded", Float, nullable=False),
    PrimaryKeyConstraint("run_id", "fingerprint"),
)

journal = Table(
    "journal", metadata,
    _run_fk(),
    Column("seq", Integer, nullable=False),
    Column("identity", String(128)),
    Column("method", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("original", Text, nullable=False),  # JSON of the object before the write, redacted
    Column("write", Text, nullable=False),  # JSON of what was sent
    Column("lossy", Boolean, nullable=False, default=False),  # redaction changed `original`: unsafe to replay
    Column("restored", Boolean, nullable=False, default=False),
    Column("restore_error", Text),
    Column("at", Float, nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
)

assessments = Table(
    "assessments", metadata,
    Column("id", String(64), primary_key=True),
    Column("created", Float, nullable=False),
    Column("vendor", Text, nullable=False),
    Column("runs", Text, nullable=False, default="[]"),  # JSON list of the run ids the assessment cites
    Column("assessment", Text, nullable=False),  # JSON of the iotvet.assess Assessment, redacted
)
