"""structlog, configured once: pretty on a terminal, JSON lines otherwise.

The standard-library loggers of Faust/mode, aiokafka and SQLAlchemy are routed through the same
``ProcessorFormatter``, so every line of a worker has one format and carries bound context.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

import structlog

__all__ = ["configure_logging", "logging_config"]

_configured = False


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


def logging_config(level: str = "INFO", *, json_output: bool | None = None) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping (also handed to Faust so its worker keeps it)."""
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=True)
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json_output:
        # tracebacks as data, without local variables (they may hold URLs with credentials)
        final.append(
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        )
    final.append(renderer)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": final,
                "foreign_pre_chain": _shared_processors(),
            }
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "structlog", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "aiokafka": {"level": "WARNING"},
            "sqlalchemy.engine": {"level": "WARNING"},
            "faust": {"level": level},
            "mode": {"level": level},
        },
    }


def configure_logging(level: str = "INFO", *, json_output: bool | None = None) -> None:
    """Configure structlog and stdlib logging; later calls are no-ops."""
    global _configured
    if _configured:
        return
    logging.config.dictConfig(logging_config(level, json_output=json_output))
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _configured = True
