"""The one registry of strategies: built-ins, files on DSTA_STRATEGY_PATHS, and packages with a
`dsta.strategies` entry point, in that order (a later class with a name already taken is reported, never
swapped in). Web, worker, scheduler and management commands all reach it through these functions (other
domains through data's facade), so they see the same strategies.

The registry is rebuilt when a strategy file is added, removed or changed (a stat per lookup) or when
sys.path changes (a newly installed package); every rebuild logs each problem with its file and line."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from dsta.data.contracts import StrategyLoadProblem, StrategyParameterSpec, StrategySpec
from dsta.data.strategies import loader
from dsta.data.strategies.base import InvalidParameters, Strategy
from dsta.data.strategies.builtin import STRATEGIES

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    cls: type[Strategy]
    version: str  # hash of the defining file's source
    source: str  # builtin | file | package
    origin: str  # file path, or distribution and entry point


@dataclass(frozen=True)
class Registry:
    entries: dict[str, RegistryEntry]
    problems: tuple[loader.LoadProblem, ...]


_cached: tuple[tuple[object, ...], Registry] | None = None


def _key() -> tuple[object, ...]:
    directories = loader.strategy_directories()
    stats = []
    for path in loader.strategy_files(directories):
        try:
            stat = path.stat()
            stats.append((str(path), stat.st_mtime_ns, stat.st_size))
        except OSError:
            stats.append((str(path), 0, 0))
    return (os.environ.get(loader.PATHS_VARIABLE), str(Path.cwd()), tuple(stats), tuple(sys.path))


def strategy_registry() -> Registry:
    global _cached
    key = _key()
    if _cached is not None and _cached[0] == key:
        return _cached[1]
    registry = _build()
    _cached = (key, registry)
    for problem in registry.problems:
        log.warning("strategy_load_failed", file=problem.origin, line=problem.line, reason=problem.reason)
    return registry


def _build() -> Registry:
    entries: dict[str, RegistryEntry] = {}
    problems: list[loader.LoadProblem] = []
    found = [loader.Found(cls, "builtin", loader._file_of(cls) or "dsta") for cls in STRATEGIES.values()]
    for path in loader.strategy_files(loader.strategy_directories()):
        classes, trouble = loader.load_file(path)
        found += classes
        problems += trouble
    classes, trouble = loader.load_entry_points()
    found += classes
    problems += trouble
    for item in found:
        name = item.cls.name
        if name in entries:
            if entries[name].cls is not item.cls:
                problems.append(
                    loader.LoadProblem(
                        item.origin,
                        loader._line_of(item.cls),
                        f"{item.cls.__name__}: duplicate strategy name {name!r} (already defined by"
                        f" {entries[name].origin}); this one is not loaded",
                    )
                )
            continue
        entries[name] = RegistryEntry(name, item.cls, loader.class_version(item.cls), item.source, item.origin)
    return Registry(entries, tuple(problems))


def strategy_entry(name: str) -> RegistryEntry:
    entries = strategy_registry().entries
    try:
        return entries[name]
    except KeyError:
        raise InvalidParameters({"strategy": f"unknown strategy {name!r}; known: {sorted(entries)}"}) from None


def strategy_class(name: str) -> type[Strategy]:
    return strategy_entry(name).cls


def strategy_build(name: str, params: dict[str, Any]) -> Strategy:
    return strategy_class(name)(**params)


def entry_of(strategy: Strategy | type[Strategy]) -> RegistryEntry | None:
    """The registry entry of a strategy instance or class (None for a class never registered)."""
    cls = strategy if isinstance(strategy, type) else type(strategy)
    entry = strategy_registry().entries.get(getattr(cls, "name", ""))
    return entry if entry is not None and entry.cls is cls else None


def strategy_version(strategy: Strategy | type[Strategy]) -> str:
    entry = entry_of(strategy)
    return (
        entry.version
        if entry is not None
        else loader.class_version(strategy if isinstance(strategy, type) else type(strategy))
    )


def spec_of(entry: RegistryEntry) -> StrategySpec:
    cls = entry.cls
    return StrategySpec(
        name=cls.name,
        version=entry.version,
        description=cls.description or (cls.__doc__ or "").strip().split("\n")[0],
        parameters=tuple(
            StrategyParameterSpec(
                p.name, p.kind.__name__, float(p.default), float(p.minimum), float(p.maximum), p.description
            )
            for p in cls.parameters
        ),
        vectorised=cls.target_exposures is not Strategy.target_exposures,
        source=entry.source,
        origin=entry.origin,
        inputs=tuple(cls.inputs),
    )


def strategy_specs() -> list[StrategySpec]:
    return [spec_of(entry) for entry in strategy_registry().entries.values()]


def strategy_problems() -> list[StrategyLoadProblem]:
    return [StrategyLoadProblem(p.origin, p.line, p.reason) for p in strategy_registry().problems]
