"""The registry of model kinds. Each public module of this package is one kind, named like its file, and
defines `KIND` (a `ModelKind`): how to validate its training parameters, fit it, store and load its
artefact, and predict with it. Services stay kind-neutral and ask `get(name)`, so a new kind is one file.

Kinds needing torch say so (`needs_torch`): torch is imported inside their functions only, so without it the
other kinds work and the torch ones are refused with a clear message (`unavailable`)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dsta.ml import deep
from dsta.ml.training import Fitted

Rows = npt.NDArray[np.float64]
Output = tuple[str, float | None, dict[str, Any]]  # label, probability (None when the kind has none), output


def joblib_save(artefact: dict[str, Any], path: Path) -> None:
    import joblib  # here, not at module level: workers that never train or predict skip it

    joblib.dump(artefact, path)


def joblib_load(path: str) -> dict[str, Any]:
    import joblib

    loaded: dict[str, Any] = joblib.load(path)
    return loaded


def one_row(artefact: dict[str, Any]) -> int:
    return 1


@dataclass(frozen=True)
class ModelKind:
    name: str
    # Messages about the job's `params` (empty when they are fine).
    param_errors: Callable[[dict[str, Any]], list[str]]
    # (params, candles, feature columns, feature values) -> artefact and metrics.
    fit: Callable[[dict[str, Any], Any, list[str], npt.NDArray[Any]], Fitted]
    # (loaded artefact, the last `history_needed` feature rows, oldest first) -> the prediction.
    apply: Callable[[dict[str, Any], Rows], Output]
    history_needed: Callable[[dict[str, Any]], int] = one_row
    needs_torch: bool = False
    artefact_suffix: str = "joblib"
    save: Callable[[dict[str, Any], Path], None] = joblib_save
    load: Callable[[str], dict[str, Any]] = joblib_load

    def unavailable(self) -> str | None:
        """Why this kind cannot train or predict on this machine, or None."""
        if self.needs_torch and not deep.torch_available():
            return deep.torch_missing_message(self.name)
        return None


@cache
def _registry() -> dict[str, ModelKind]:
    found: dict[str, ModelKind] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue  # helpers shared by kinds
        kind: ModelKind = importlib.import_module(f"{__name__}.{module.name}").KIND
        if kind.name != module.name:
            raise RuntimeError(f"{__name__}.{module.name} defines the kind {kind.name!r}: name it like its file")
        found[kind.name] = kind
    return found


def names() -> tuple[str, ...]:
    return tuple(_registry())


def get(name: str) -> ModelKind | None:
    return _registry().get(name)
