"""Which functions of a domain's facade cross the wire, and which of them only read."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

# Facade names say what they do (services write, selectors read): these endings read and change nothing, so a
# call to them may be retried freely. Everything else is a write and carries an idempotency key.
READ_ENDINGS = (
    "_get",
    "_list",
    "_latest",
    "_recent",
    "_fetch",
    "_find",
    "_check",
    "_validate",
    "_enabled",
    "_status",
    "_health",
    "_report",
    "_frame",
    "_series",
    "_equity",
    "_trades",
    "_html",
)


def facade_module(domain: str) -> ModuleType:
    return importlib.import_module(f"dsta.{domain}.api")


def contracts_module(domain: str) -> ModuleType:
    return importlib.import_module(f"dsta.{domain}.contracts")


def public_functions(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The facade's own public functions (not names it imported), as tests/test_facades.py counts them."""
    return {
        name: function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    }


def is_read(name: str) -> bool:
    return name.endswith(READ_ENDINGS)
