"""What the test processes said about the real parts they picked (broker, database), for the summary."""

from __future__ import annotations

SAID: list[str] = []
"""Lines of this process; ``tests/conftest.py`` gathers every test process's into the run's summary."""
