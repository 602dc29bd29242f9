"""The contract tests run the real store on the integration tests' PostgreSQL (their fixtures, imported)."""

from __future__ import annotations

from tests.integration.conftest import admin_dsn, broker

__all__ = ["admin_dsn", "broker"]
