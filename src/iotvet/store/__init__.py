"""The evidence store (SQLite by default, PostgreSQL by URL) and what it gives back to reports."""

from iotvet.store.codec import ExchangeLike
from iotvet.store.engine import DEFAULT_PATH, ENV_VAR, resolve_url
from iotvet.store.reader import body_bytes
from iotvet.store.rundata import (
    SETTLED,
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
from iotvet.store.store import DEFAULT_MAX_BODY, CellKey, Store, cell_key, place

__all__ = [
    "DEFAULT_MAX_BODY", "DEFAULT_PATH", "ENV_VAR", "SETTLED", "CellKey", "ExchangeLike", "IdentityInfo",
    "JournalEntry", "RunData", "RunInfo", "RunStats", "RunStatus", "RunSummary", "Store", "StoredExchange",
    "StoredMessage", "Untested", "body_bytes", "cell_key", "place", "resolve_url",
]
