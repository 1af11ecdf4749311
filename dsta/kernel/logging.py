"""structlog on top of stdlib logging: key-value lines in development, JSON in production."""

from __future__ import annotations

import logging.config
import re
import sys
from types import ModuleType
from typing import Any

import orjson

# structlog's own package import loads rich (structlog.dev's pretty tracebacks) and twisted (structlog.twisted)
# whenever they are installed: ~0.17 s at every process start, for features DSTA does not use (tracebacks are
# rendered plain below; nothing uses structlog.twisted). When structlog is not loaded yet, it is imported with
# the two hidden; once it is, they import as usual for whoever needs them (daphne imports twisted itself).
_HIDDEN_FROM_STRUCTLOG = ("rich", "twisted")


def _import_structlog() -> ModuleType:
    if "structlog" in sys.modules:
        return sys.modules["structlog"]
    hidden = [name for name in _HIDDEN_FROM_STRUCTLOG if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import rich` raises ImportError meanwhile
    try:
        import structlog as module
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return module


structlog = _import_structlog()

_QUERY = re.compile(r"\?[^\s\"']*")
# uvicorn's access lines and its "WebSocket /path?query" lines carry the full URL, tokens in `?token=` included.
ACCESS_LOGGERS = ("uvicorn.access", "uvicorn.error", "daphne.access", "dsta.request")


class RedactQueryStrings(logging.Filter):
    """Replaces every query string in a log line's message and arguments with `?[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _QUERY.sub("?[redacted]", record.msg) if not record.args else record.msg
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY.sub("?[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def configure_logging(*, level: str, json: bool) -> None:
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Plain tracebacks: frames and lines, never a frame's local variables (the tokens, keys and connection
    # strings a failing view held; the local debug page has them, masked), and no rich to import at start-up.
    renderer = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                    "foreign_pre_chain": shared_processors,
                }
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
            "root": {"handlers": ["console"], "level": level},
            "loggers": {"django.db.backends": {"level": "WARNING"}, "pika": {"level": "WARNING"}},
        }
    )
    redact = RedactQueryStrings()
    for name in ACCESS_LOGGERS:  # loggers a server may have configured before it imported the app
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactQueryStrings) for existing in logger.filters):
            logger.addFilter(redact)
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _orjson_dumps(value: Any, **options: Any) -> str:
    """JSON lines through orjson: several times faster than json.dumps for the per-request access line."""
    return orjson.dumps(value, default=options.get("default", str)).decode()
