"""The strategy interface.

A strategy sees bars only up to the one that just closed. It answers in two ways that must agree:
- `decide(context)`, called at each bar's close by the event-driven engine (and by live trading);
- optionally `target_exposures(bars, indicators)`, the same decisions for every bar at once as an array,
  which the fast path turns into trades with numpy. A test proves both give the same trades.

Indicators are computed once by `indicators(bars)` and must be causal: the value at bar t may use bars
0..t only (the lookahead check re-runs on truncated data to verify it).

A strategy may also read per-bar series it does not compute itself (`inputs`, e.g. an ML model's
"prediction"): whoever runs it provides them by bar time (`provide`), the backtest from history made
causally, live trading for the bar that just closed; `input_series` aligns them to the bars.

A strategy whose `decide` is bar-local (`bar_local = True`: its decision at bar t depends only on t and its
indicators, never on the position, cash, equity, state or a clock, and is always a market order without a
price, stop-loss or take-profit) lets the event engine read bar t's decision from `target_exposures`
(NaN = HOLD) instead of calling `decide` per bar; orders and fills are still worked bar by bar. Live trading
and replay call `decide` as always, and `manage.py strategy check` still compares `decide` with
`target_exposures` (the parity row runs the engine calling `decide`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dsta.data.bars import Bars
from dsta.kernel.errors import InputError


class InvalidParameters(InputError):
    """Strategy parameter values outside their declared type or bounds."""


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: type  # int or float
    default: int | float
    minimum: int | float
    maximum: int | float
    description: str = ""

    def parse(self, raw: Any) -> int | float:
        expected = "an integer" if self.kind is int else "a number"
        if isinstance(raw, bool):
            raise ValueError(f"must be {expected}")
        try:
            number = float(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be {expected}") from exc
        if self.kind is int and not number.is_integer():
            raise ValueError("must be an integer")
        value: int | float = int(number) if self.kind is int else number
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"must be between {self.minimum} and {self.maximum}")
        return value


@dataclass(frozen=True)
class Decision:
    """What the strategy wants after a bar closes.

    `target` is the wanted exposure as a fraction of equity (1 = all in long, 0 = flat, -1 = all in short);
    None keeps the current position. `order_type` says how to get there: market (next open by default),
    limit or stop at `price`. `stop_loss` / `take_profit` are absolute prices attached to the new position.
    """

    target: float | None
    order_type: str = "market"
    price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None


HOLD = Decision(target=None)


@dataclass
class BarContext:
    """What a strategy may look at when bar `index` has just closed. One object, updated in place."""

    bars: Bars
    indicators: dict[str, np.ndarray]
    # The same indicators as Python lists: reading one value per bar from a list is several times
    # cheaper than from a numpy array, which matters over millions of bars.
    series: dict[str, list[float]] = field(default_factory=dict)
    index: int = 0
    position: float = 0.0  # quantity held (negative when short)
    cash: float = 0.0
    equity: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)  # the strategy's own memory between bars


class Strategy(ABC):
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    inputs: ClassVar[tuple[str, ...]] = ()  # names of per-bar series provided from outside (see `provide`)
    bar_local: ClassVar[bool] = False  # decide() reads only the bar index and indicators (see the module doc)

    def __init__(self, **params: Any) -> None:
        self.params = self.validate(params)
        self._inputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def provide(self, name: str, times_ms: np.ndarray, values: np.ndarray) -> None:
        """Give the strategy an outside series, one value per bar open time (ms)."""
        times, numbers = np.asarray(times_ms, dtype=np.int64), np.asarray(values, dtype=np.float64)
        if times.shape != numbers.shape:
            raise ValueError(f"input {name!r}: {len(times)} times but {len(numbers)} values")
        order = np.argsort(times, kind="stable")
        self._inputs[name] = (times[order], numbers[order])

    def input_series(self, name: str, bars: Bars) -> np.ndarray:
        """The provided series `name` on `bars`' times: the value given for each bar's open time, NaN where
        none was given (so a missing value never borrows another bar's)."""
        if name not in self._inputs:
            raise LookupError(f"{self.name} needs the input series {name!r}; none was provided")
        times, values = self._inputs[name]
        aligned = np.full(len(bars), np.nan)
        if len(times):
            at = np.clip(np.searchsorted(times, bars.time_ms), 0, len(times) - 1)
            found = times[at] == bars.time_ms
            aligned[found] = values[at[found]]
        return aligned

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, int | float]:
        known = {parameter.name: parameter for parameter in cls.parameters}
        errors = {name: "unknown parameter" for name in params if name not in known}
        values: dict[str, int | float] = {}
        for name, parameter in known.items():
            try:
                values[name] = parameter.parse(params[name]) if name in params else parameter.default
            except ValueError as exc:
                errors[name] = str(exc)
        if not errors:
            errors.update(cls.check(values))
        if errors:
            raise InvalidParameters(errors)
        return values

    @classmethod
    def check(cls, values: dict[str, int | float]) -> dict[str, str]:
        """Cross-parameter rules (e.g. fast < slow); field name -> message."""
        return {}

    def warmup(self) -> int:
        """Bars needed before the first decision can be meaningful."""
        return 0

    @abstractmethod
    def indicators(self, bars: Bars) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def decide(self, context: BarContext) -> Decision: ...

    def target_exposures(self, bars: Bars, indicators: dict[str, np.ndarray]) -> np.ndarray | None:
        """Targets for every bar (NaN = hold), or None when the strategy has no vectorised form."""
        return None
