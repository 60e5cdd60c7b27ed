"""Run ids: sortable by time, unique enough to name a run in a shared store."""

from __future__ import annotations

import secrets
import time


def new_run_id() -> str:
    """``r20261125T122648-3f9a2c``: UTC start time plus 24 random bits."""
    return time.strftime("r%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
