"""Alembic migrations of the store's schema, run through `coordinator.store.migrate`."""
