"""Probes: engines that discover objects, pair identities by relation, run checks, decide cells."""
