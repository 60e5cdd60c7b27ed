"""Alembic migrations of the evidence store, run programmatically by :func:`iotvet.store.engine.migrate`."""
