"""structlog on top of stdlib logging: key-value lines in development, JSON in production."""

from __future__ import annotations

import logging.config
import re
from typing import TYPE_CHECKING, Any

import orjson

from dsta.kernel.imports import import_without

# Without rich and twisted, which its package import loads when installed (dsta/kernel/imports.py): tracebacks are
# rendered plain below and nothing uses structlog.twisted.
if TYPE_CHECKING:
    import structlog
else:
    structlog = import_without("structlog", ("rich", "twisted"))

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
