"""Importing a library without the optional extras it loads on its own when they happen to be installed.

structlog's package import loads rich (structlog.dev's pretty tracebacks) and twisted (structlog.twisted);
redis-py 8's loads opentelemetry.sdk.metrics (its opt-in OTel metrics). Together ~0.2 s of every process start,
for features DSTA does not use. `import_without` imports the library with those modules hidden (the library's
own `try: import ... except ImportError` takes its fallback) when the library is not loaded yet; afterwards
they import as usual for whoever needs them (daphne imports twisted, telemetry the OTel SDK's tracing)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_without(name: str, hidden: tuple[str, ...]) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    absent = [module for module in hidden if module not in sys.modules]
    for module in absent:
        sys.modules[module] = None  # type: ignore[assignment]  # `import module` raises ImportError meanwhile
    try:
        return importlib.import_module(name)
    finally:
        for module in absent:
            if module in sys.modules and sys.modules[module] is None:
                del sys.modules[module]
