"""Finding strategy classes outside the package: files on DSTA_STRATEGY_PATHS and installed packages with a
`dsta.strategies` entry point. Each source is loaded on its own, so one broken file (a syntax or import
error, a missing method, a bad parameter spec) is reported as a `LoadProblem` with its file and line while
the others load. Nothing here is reachable over the API: code arrives as files or packages only."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

from dsta.data.strategies.base import Parameter, Strategy

ENTRY_POINT_GROUP = "dsta.strategies"
PATHS_VARIABLE = "DSTA_STRATEGY_PATHS"
DEFAULT_DIRECTORY = "strategies"
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,63}")
MODULE_PREFIX = "dsta_user_strategies"


@dataclass(frozen=True)
class Found:
    """A strategy class and where it came from."""

    cls: type[Strategy]
    source: str  # builtin | file | package
    origin: str  # the file, or the distribution and entry point


@dataclass(frozen=True)
class LoadProblem:
    origin: str  # the file (or the entry point when it has no file)
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}:{self.line}: {self.reason}" if self.line else f"{self.origin}: {self.reason}"


def strategy_directories() -> list[Path]:
    """The directories of DSTA_STRATEGY_PATHS (os.pathsep-separated), default `strategies/` here."""
    raw = os.environ.get(PATHS_VARIABLE)
    if raw is None:
        return [Path.cwd() / DEFAULT_DIRECTORY]
    return [Path(part).expanduser() for part in raw.split(os.pathsep) if part.strip()]


def strategy_files(directories: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for directory in directories:
        if directory.is_file() and directory.suffix == ".py":
            files.append(directory.resolve())
        elif directory.is_dir():
            files.extend(sorted(p.resolve() for p in directory.glob("*.py") if not p.name.startswith("_")))
    return files


def source_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def class_version(cls: type) -> str:
    """A hash of the source of the file that defines `cls`: the version results and orders record."""
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        path = None
    if path is None or not Path(path).is_file():
        return source_hash(inspect.getsource(cls).encode())
    return source_hash(Path(path).read_bytes())


def load_file(path: Path) -> tuple[list[Found], list[LoadProblem]]:
    """Import one strategy file as its own module and collect the Strategy subclasses it defines."""
    origin = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [LoadProblem(origin, None, f"unreadable: {exc.strerror or exc}")]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"{MODULE_PREFIX}_{stem}_{source_hash(data + origin.encode())}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return [], [LoadProblem(origin, None, "not importable as a Python module")]
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and inspect look a class's module up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        return [], [LoadProblem(origin, exc.lineno, f"syntax error: {exc.msg}")]
    except BaseException as exc:  # noqa: BLE001 - a user's file may raise anything, even SystemExit
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return [], [LoadProblem(origin, _line_in(exc, origin), f"{type(exc).__name__} on import: {exc}")]
    return _classes_of(module, source="file", origin=origin)


def load_entry_points() -> tuple[list[Found], list[LoadProblem]]:
    found: list[Found] = []
    problems: list[LoadProblem] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry.dist.name if entry.dist is not None else "?"
        origin = f"{distribution} ({entry.name} = {entry.value})"
        try:
            target = entry.load()
        except BaseException as exc:  # noqa: BLE001 - as for files
            if isinstance(exc, KeyboardInterrupt):
                raise
            line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else _line_in(exc, None)
            file = getattr(exc, "filename", None) if isinstance(exc, SyntaxError) else _file_in(exc)
            problems.append(LoadProblem(file or origin, line, f"{type(exc).__name__} loading {origin}: {exc}"))
            continue
        if isinstance(target, ModuleType):
            classes, trouble = _classes_of(target, source="package", origin=origin)
            found += classes
            problems += trouble
        elif isinstance(target, type) and issubclass(target, Strategy):
            reason = class_problem(target)
            if reason:
                problems.append(LoadProblem(_file_of(target) or origin, _line_of(target), reason))
            else:
                found.append(Found(target, "package", origin))
        else:
            problems.append(LoadProblem(origin, None, "the entry point is neither a module nor a Strategy subclass"))
    return found, problems


def _classes_of(module: ModuleType, *, source: str, origin: str) -> tuple[list[Found], list[LoadProblem]]:
    found: list[Found] = []
    problems: list[LoadProblem] = []
    for value in list(vars(module).values()):
        if not (isinstance(value, type) and issubclass(value, Strategy)) or value.__module__ != module.__name__:
            continue
        reason = class_problem(value)
        if reason:
            problems.append(LoadProblem(_file_of(value) or origin, _line_of(value), reason))
        else:
            found.append(Found(value, source, _file_of(value) or origin))
    if not found and not problems and source == "file":
        problems.append(LoadProblem(origin, None, "defines no Strategy subclass (from dsta.sdk import Strategy)"))
    return found, problems


def class_problem(cls: type[Strategy]) -> str:
    """Why `cls` cannot be offered as a strategy ("" when it can)."""
    label = cls.__name__
    name = vars(cls).get("name", getattr(cls, "name", None))
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        return f"{label}: `name` must be a string of letters, digits, _ or - (got {name!r})"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        return f"{label}: missing method(s) {missing}"
    spec_problem = parameters_problem(cls.parameters)
    if spec_problem:
        return f"{label}: bad parameter spec: {spec_problem}"
    try:
        built = cls()
        warmup = built.warmup()
    except Exception as exc:
        return f"{label}: cannot be built with its default parameters: {type(exc).__name__}: {exc}"
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        return f"{label}: warmup() must return a non-negative int (got {warmup!r})"
    return ""


def parameters_problem(parameters: object) -> str:
    if not isinstance(parameters, tuple | list):
        return "`parameters` must be a tuple of Parameter"
    seen: set[str] = set()
    for parameter in parameters:
        if not isinstance(parameter, Parameter):
            return f"{parameter!r} is not a Parameter"
        if not parameter.name.isidentifier() or parameter.name in seen:
            return f"parameter name {parameter.name!r} is not a unique identifier"
        seen.add(parameter.name)
        if parameter.kind not in (int, float):
            return f"{parameter.name}: kind must be int or float"
        try:
            ordered = parameter.minimum <= parameter.default <= parameter.maximum
        except TypeError:
            ordered = False
        if not ordered:
            return f"{parameter.name}: needs minimum <= default <= maximum"
        try:
            parameter.parse(parameter.default)
        except ValueError as exc:
            return f"{parameter.name}: default {parameter.default!r} {exc}"
    return ""


def _file_of(cls: type) -> str | None:
    try:
        return inspect.getsourcefile(cls)
    except TypeError:
        return None


def _line_of(cls: type) -> int | None:
    try:
        return inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None


def _line_in(exc: BaseException, origin: str | None) -> int | None:
    """The line of `origin` (else of the innermost user frame) the exception came from."""
    frames = list(traceback.extract_tb(exc.__traceback__))
    if origin is not None:
        frames = [frame for frame in frames if frame.filename == origin]
    return frames[-1].lineno if frames else None


def _file_in(exc: BaseException) -> str | None:
    frames = traceback.extract_tb(exc.__traceback__)
    return frames[-1].filename if frames else None
