"""Alembic environment: migrations run on the connection handed over by ``projections.migrate``."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through projections.migrate.upgrade
    raise RuntimeError("run the migrations with `oddstream worker`/`up`, or projections.migrate.upgrade()")

context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
