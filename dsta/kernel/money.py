"""Decimal helpers: money and quantities never pass through float in storage or contracts."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation


class InvalidAmount(ValueError):
    pass


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parse an amount exactly. Floats are refused: their binary error would leak into balances."""
    if isinstance(value, (bool, float)):
        raise InvalidAmount(f"{field}: pass a string or Decimal, not {type(value).__name__}")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidAmount(f"{field}: {value!r} is not a number") from exc
    if not amount.is_finite():
        raise InvalidAmount(f"{field}: {value!r} is not finite")
    return amount


def quantize_down(amount: Decimal, step: Decimal) -> Decimal:
    """Round towards zero to a multiple of `step` (an exchange's lot or tick size)."""
    if step <= 0:
        raise InvalidAmount("step must be positive")
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step
