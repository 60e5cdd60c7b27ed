"""Suite-wide settings. Servers used by tests live in tests/servers.py and per-area fixture modules."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "iotvet", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "iotvet"))
