"""How this process writes its logs: one line per record, JSON for machines, a console format for people.

Every record, ours and the libraries' (uvicorn, SQLAlchemy, Strawberry) alike, is a stdlib ``logging``
record rendered by structlog's ``ProcessorFormatter``; so one format covers them all, and the domain logs
with plain ``logging`` and ``extra={...}`` fields without knowing how they are rendered. Each line gets
its time, level, logger, the request id of the request it belongs to, and the current OpenTelemetry
span's ``trace_id``/``span_id`` when tracing is installed and recording.

The format is ``INCIDENTDESK_LOG_FORMAT``: ``json``, ``console``, or ``auto`` (the default: console when
stderr is a terminal, as under ``make run``, JSON otherwise). ``logging_config`` is a ``dictConfig``
dictionary, so that uvicorn's worker processes, which configure their logging from it, render alike.
"""

from __future__ import annotations

import importlib
import logging
import logging.config
import sys
from types import ModuleType
from typing import Any, Literal

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from api.request_id import current_request_id

LogFormat = Literal["auto", "json", "console"]

# Loggers of our own code: the configured level. Libraries log only what they warn about (below: debug).
OWN_LOGGERS = ("incidentdesk", "api", "domain", "auth", "uvicorn", "uvicorn.error")

# Attributes libraries put on their records for their own formatters (uvicorn's coloured copy of the
# message): never fields of a line.
_DROPPED_EXTRAS = ("color_message",)


def add_request_id(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """The id of the request whose work wrote the line (the middleware sets it; a background loop has none)."""
    request_id = current_request_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _opentelemetry_trace() -> ModuleType | None:
    # Tracing is optional: read the current span when the package is installed, never require it.
    try:
        return importlib.import_module("opentelemetry.trace")
    except ImportError:
        return None


_TRACE = _opentelemetry_trace()


def add_trace_ids(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """``trace_id`` and ``span_id`` of the span this line was written in, so a line leads to its trace."""
    if _TRACE is None:
        return event
    span: Any = _TRACE.get_current_span()
    if not span.is_recording():
        return event
    context = span.get_span_context()
    event.setdefault("trace_id", format(context.trace_id, "032x"))
    event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def drop_library_extras(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    for key in _DROPPED_EXTRAS:
        event.pop(key, None)
    return event


def _shared_processors() -> list[Processor]:
    """What every line gets, whether it came from ``logging`` or from structlog."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        drop_library_extras,
        add_request_id,
        add_trace_ids,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def chosen_format(log_format: str) -> Literal["json", "console"]:
    """``auto`` is console when a person watches stderr, JSON when a collector reads it."""
    if log_format == "json":
        return "json"
    if log_format == "console":
        return "console"
    return "console" if sys.stderr.isatty() else "json"


def structured_formatter(renderer: str = "auto") -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler (named in ``logging_config``): structlog is configured on the way, so
    a worker process that builds its logging from the dictionary alone renders structlog's lines too."""
    configure_structlog()
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if chosen_format(renderer) == "json":
        # A traceback is one JSON string, so the line stays one line.
        final += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        final.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    return structlog.stdlib.ProcessorFormatter(
        processors=final, foreign_pre_chain=_shared_processors(), use_get_message=True
    )


_configured = False


def configure_structlog() -> None:
    """structlog's own loggers hand their lines to ``logging`` (so they meet the same handlers and levels)
    instead of printing to stdout, which carries the command line's results only. Once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of this process: one stderr handler with the structured formatter;
    our loggers at ``level``, the libraries' at WARNING unless ``level`` is debug."""
    chosen = logging.getLevelName(level.upper())
    if not isinstance(chosen, int):
        chosen = logging.INFO
    libraries = chosen if chosen <= logging.DEBUG else logging.WARNING
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": "api.logs.structured_formatter", "renderer": log_format}},
        "handlers": {
            # stderr: stdout carries the command line's results only.
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "structured",
            }
        },
        "root": {"handlers": ["stderr"], "level": logging.getLevelName(libraries)},
        "loggers": {
            # uvicorn's access log is replaced by the request log (``api/request_log.py``).
            "uvicorn.access": {"level": "WARNING"},
            **{name: {"level": logging.getLevelName(chosen)} for name in OWN_LOGGERS},
        },
    }


def configure_logging(level: str, log_format: str) -> None:
    """Configure this process's logging (the command line does, before anything logs)."""
    logging.config.dictConfig(logging_config(level, log_format))
