"""Checks: the catalogue of check ids and the registry their functions join.

One module per family implements the checks (``object_access``, ``tokens``, ``mqtt`` ...);
each check is a small function registered with :func:`register` under a catalogue id.
"""

from iotvet.checks.registry import CATALOGUE, CheckInfo, Registry, registry

__all__ = ["CATALOGUE", "CheckInfo", "Registry", "registry"]
