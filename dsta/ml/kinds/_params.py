"""Parameter checks shared by several kinds."""

from __future__ import annotations

from typing import Any

# name -> (type, minimum, maximum)
Bounds = dict[str, tuple[type, float, float]]


def fold_errors(params: dict[str, Any]) -> list[str]:
    folds = params.get("folds", 5)
    if not (isinstance(folds, int) and 2 <= folds <= 20):
        return ["folds must be an integer from 2 to 20"]
    return []


def bounded_errors(kind: str, params: dict[str, Any], bounds: Bounds, *, also_allowed: frozenset[str]) -> list[str]:
    """Unknown names, wrong types and values out of bounds."""
    allowed = {*bounds, *also_allowed}
    errors = [f"unknown parameter {name!r} for {kind}" for name in params if name not in allowed]
    for name, (kind_of, low, high) in bounds.items():
        if name not in params:
            continue
        value = params[name]
        if kind_of is bool:
            if not isinstance(value, bool):
                errors.append(f"{name} must be true or false")
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if kind_of is int and not (numeric and float(value).is_integer()):
            errors.append(f"{name} must be an integer from {low:g} to {high:g}")
        elif not numeric or not low <= value <= high:
            errors.append(f"{name} must be a number from {low:g} to {high:g}")
    return errors


def typed_options(params: dict[str, Any], bounds: Bounds) -> dict[str, Any]:
    """The bounded parameters given, cast to their type (JSON may carry 4.0 for an integer); `bars` aside."""
    return {
        name: kind_of(params[name])
        for name, (kind_of, _low, _high) in bounds.items()
        if name in params and name != "bars"
    }


def latest_bars(params: dict[str, Any]) -> slice:
    """`bars`: train on the latest bars only."""
    return slice(-int(params["bars"]), None) if params.get("bars") else slice(None)
