"""Strategies by name, and their parameter specs for the API."""

from __future__ import annotations

from typing import Any

from dsta.data.contracts import StrategyParameterSpec, StrategySpec
from dsta.data.strategies.base import InvalidParameters, Strategy
from dsta.data.strategies.builtin import STRATEGIES


def strategy_class(name: str) -> type[Strategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise InvalidParameters({"strategy": f"unknown strategy {name!r}; known: {sorted(STRATEGIES)}"}) from None


def strategy_build(name: str, params: dict[str, Any]) -> Strategy:
    return strategy_class(name)(**params)


def strategy_specs() -> list[StrategySpec]:
    return [
        StrategySpec(
            name=cls.name,
            version=cls.version,
            description=cls.description,
            parameters=tuple(
                StrategyParameterSpec(
                    p.name, p.kind.__name__, float(p.default), float(p.minimum), float(p.maximum), p.description
                )
                for p in cls.parameters
            ),
            vectorised=cls.target_exposures is not Strategy.target_exposures,
        )
        for cls in STRATEGIES.values()
    ]
