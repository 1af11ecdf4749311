"""Writes of the trading domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import IntegrityError, connections, transaction

from dsta.core import api as core_api
from dsta.data import api as data_api
from dsta.data.contracts import InvalidStrategyParameters
from dsta.kernel.errors import InputError
from dsta.kernel.outbox import publish
from dsta.trading.events import (
    BotStateChanged,
    CircuitBreakerChanged,
    RiskLimitsChanged,
    RiskViolationRaised,
)
from dsta.trading.models import CircuitBreaker, RiskLimitSet, RiskViolation, StrategyInstance

ALIAS = "trading"
PREDICTION_INPUT = "prediction"  # ml_signal's input: the model's p(next close higher) at the bar

DEFAULT_LIMITS = {
    "max_order_notional": Decimal("10000"),
    "max_position_notional": Decimal("50000"),
    "max_total_exposure": Decimal("100000"),
    "max_open_orders": 20,
    "price_band_pct": Decimal("5"),
    "max_orders_per_minute": 60,
    "max_drawdown_pct": Decimal("20"),
    "drawdown_capital": Decimal("100000"),
}


class TradingInputError(InputError):
    """Bad input to a trading service (strategy instances, risk limits, bots)."""


def audit(
    *, actor_id: int | None, client_address: str | None, action: str, target: str, details: dict[str, Any]
) -> None:
    """Record a trading action in core's audit log, with the client's address when a request asked for it."""
    core_api.audit_record(actor_id=actor_id, action=action, target=target, details=details, ip_address=client_address)


_MARK_UPSERT_SQL = """
INSERT INTO mark_price (exchange, symbol, price, as_of, updated_at)
SELECT exchange, symbol, price, as_of, now()
FROM unnest(%s::varchar[], %s::varchar[], %s::numeric[], %s::timestamptz[]) AS mark(exchange, symbol, price, as_of)
ON CONFLICT (exchange, symbol) DO UPDATE SET price = EXCLUDED.price, as_of = EXCLUDED.as_of, updated_at = now()
WHERE mark_price.as_of <= EXCLUDED.as_of
"""


class Mark(NamedTuple):
    exchange: str
    symbol: str
    price: Decimal
    as_of: datetime


def mark_price_record(*, exchange: str, symbol: str, price: Decimal, as_of: datetime) -> None:
    """Keep the newest price per market; an older bar arriving late never overwrites a newer one."""
    mark_prices_record(marks=[Mark(exchange, symbol, price, as_of)])


def mark_prices_record(*, marks: Sequence[Mark]) -> None:
    """`mark_price_record` for many markets in one statement (the row locks of the upsert order concurrent
    writers; sorted, so two writers never deadlock); of one market's marks the newest counts."""
    newest: dict[tuple[str, str], Mark] = {}
    for mark in marks:
        known = newest.get((mark.exchange, mark.symbol))
        if known is None or known.as_of <= mark.as_of:
            newest[(mark.exchange, mark.symbol)] = mark
    if not newest:
        return
    rows = [newest[key] for key in sorted(newest)]
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_MARK_UPSERT_SQL, [list(column) for column in zip(*rows, strict=True)])


def risk_limits_update(
    *, values: dict[str, Any], actor_id: int | None, reason: str = "", client_address: str | None = None
) -> RiskLimitSet:
    """Append a new version of the limits (unspecified fields keep their current value). A person's change
    (an `actor_id`) is audited; the defaults stored on first use are not."""
    with transaction.atomic(using=ALIAS):
        current = RiskLimitSet.objects.using(ALIAS).select_for_update().order_by("-version").first()
        base = {field: getattr(current, field) for field in DEFAULT_LIMITS} if current else dict(DEFAULT_LIMITS)
        unknown = set(values) - set(DEFAULT_LIMITS)
        if unknown:
            raise TradingInputError({field: "unknown limit" for field in sorted(unknown)})
        limits = RiskLimitSet.objects.using(ALIAS).create(
            version=(current.version + 1) if current else 1,
            created_by_id=actor_id,
            reason=reason,
            **{**base, **values},
        )
        publish(RiskLimitsChanged(version=limits.version, changed_by_id=actor_id), using=ALIAS)
    if actor_id is not None:
        audit(
            actor_id=actor_id,
            client_address=client_address,
            action="trading.risk_limits.update",
            target=f"v{limits.version}",
            details={"reason": reason, **{key: str(value) for key, value in values.items()}},
        )
    return limits


def risk_limits_current() -> RiskLimitSet:
    limits = RiskLimitSet.objects.using(ALIAS).order_by("-version").first()
    return limits or risk_limits_update(values={}, actor_id=None, reason="defaults")


def circuit_breaker_set(
    *, is_open: bool, reason: str, actor_id: int | None, client_address: str | None = None
) -> CircuitBreaker:
    """Open or close the breaker. A person's action (an `actor_id`) is audited; a drawdown trip is published."""
    with transaction.atomic(using=ALIAS):
        breaker, _ = CircuitBreaker.objects.using(ALIAS).select_for_update().get_or_create(pk=1)
        changed = breaker.is_open != is_open
        breaker.is_open, breaker.reason, breaker.changed_by_id = is_open, reason, actor_id
        breaker.save(using=ALIAS)
        if changed:
            publish(CircuitBreakerChanged(is_open=is_open, reason=reason), using=ALIAS)
    if actor_id is not None:
        audit(
            actor_id=actor_id,
            client_address=client_address,
            action="trading.circuit_breaker.set",
            target="circuit-breaker",
            details={"is_open": breaker.is_open, "reason": breaker.reason},
        )
    return breaker


def violation_record(
    *,
    rule: str,
    message: str,
    limit: str,
    actual: str,
    symbol: str,
    limits_version: int,
    context: dict[str, Any],
) -> RiskViolation:
    """Store a risk violation (of the pre-trade check, the drawdown, a stop) and publish it for notifications.
    Joins the caller's transaction when there is one (no savepoint: a violation is stored with its decision)."""
    with transaction.atomic(using=ALIAS, savepoint=False):
        row = RiskViolation.objects.using(ALIAS).create(
            rule=rule,
            message=message[:300],
            limit=limit[:60],
            actual=actual[:60],
            symbol=symbol,
            limits_version=limits_version,
            context=context,
        )
        publish(
            RiskViolationRaised(
                violation_id=row.pk,
                rule=row.rule,
                message=row.message,
                symbol=row.symbol,
                limit=row.limit,
                actual=row.actual,
            ),
            using=ALIAS,
        )
    return row


def strategy_instance_create(
    *,
    name: str,
    strategy: str,
    params: dict[str, float],
    exchange: str,
    symbol: str,
    timeframe: str,
    actor_id: int | None,
    trading_fields: dict[str, Any] | None = None,
    other_errors: dict[str, str] | None = None,
    model_name: str = "",
) -> StrategyInstance:
    """A stopped instance with validated parameters; `trading_fields` are the bot's settings the caller
    checked (`bot.instance_create`), `other_errors` what it found wrong in them: every bad field is reported
    at once and nothing is stored. `model_name` names the ml model whose predictions feed a strategy that
    declares inputs (ml_signal); required for such a strategy, refused for any other."""
    specs = {spec.name: spec for spec in data_api.strategies_list()}
    errors: dict[str, str] = dict(other_errors or {})
    validated: dict[str, float] = {}
    model_name = model_name.strip()
    if strategy not in specs:
        errors["strategy"] = f"unknown strategy; known: {sorted(specs)}"
    else:
        try:
            validated = _validated_params(strategy, params)
        except TradingInputError as exc:
            errors.update(exc.errors)
        errors.update(_model_name_errors(specs[strategy].inputs, model_name))
    if errors:
        raise TradingInputError(errors)
    try:
        with transaction.atomic(using=ALIAS):
            return StrategyInstance.objects.using(ALIAS).create(
                name=name,
                strategy=strategy,
                strategy_version=specs[strategy].version,
                params=validated,
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                model_name=model_name,
                created_by_id=actor_id,
                **(trading_fields or {}),
            )
    except IntegrityError:
        raise TradingInputError({"name": "a strategy with this name exists"}) from None


def strategy_instance_set_params(*, instance: StrategyInstance, params: dict[str, float]) -> StrategyInstance:
    validated = _validated_params(instance.strategy, params)
    with transaction.atomic(using=ALIAS):
        locked = StrategyInstance.objects.using(ALIAS).select_for_update().get(pk=instance.pk)
        locked.params, locked.params_version = validated, locked.params_version + 1
        locked.save(using=ALIAS, update_fields=["params", "params_version", "updated_at"])
    return locked


def _model_name_errors(inputs: tuple[str, ...], model_name: str) -> dict[str, str]:
    """Live, the only outside series is an ml model's prediction (the `ml.prediction` events of the model
    the instance names); whether that model exists is ml's to know: trading does not import ml."""
    unfed = [name for name in inputs if name != PREDICTION_INPUT]
    if unfed:
        return {"strategy": f"its input series {unfed} have no live source (only {PREDICTION_INPUT!r} has)"}
    if inputs and not model_name:
        return {"model_name": "this strategy trades an ml model's predictions: name the model (ml's model name)"}
    if model_name and not inputs:
        return {"model_name": "only a strategy that reads predictions (declares inputs, e.g. ml_signal) takes a model"}
    if len(model_name) > 100:
        return {"model_name": "at most 100 characters"}
    return {}


def _validated_params(strategy: str, params: dict[str, float]) -> dict[str, float]:
    try:
        return data_api.strategy_params_validate(strategy=strategy, params=params).values
    except InvalidStrategyParameters as exc:
        raise TradingInputError({f"params.{key}": value for key, value in exc.errors.items()}) from None


def bar_is_stale(*, exchange: str, symbol: str, timeframe: str, bar_time: datetime, flagged: bool) -> bool:
    """A bar is back-fill (recorded, not traded) when its event says so or a newer bar of the series is stored
    already: strategies trade the latest closed bar only."""
    from dsta.data.contracts import MarketKey

    if flagged:
        return True
    (newest,) = data_api.newest_bar_times(markets=[MarketKey(exchange, symbol, timeframe)])
    return superseded(bar_time=bar_time, timeframe=timeframe, newest=newest)


def superseded(*, bar_time: datetime, timeframe: str, newest: datetime | None) -> bool:
    """A newer bar of the series than the one opened at `bar_time` is stored (`newest`: the newest's open)."""
    from datetime import timedelta

    from dsta.data.contracts import TIMEFRAME_SECONDS

    return newest is not None and newest >= bar_time + timedelta(seconds=TIMEFRAME_SECONDS[timeframe])


def protection_trip_record(
    instance: StrategyInstance, *, rule: str, message: str, bar_time: datetime, until: datetime | None
) -> bool:
    """A protection of one instance tripped at this bar: stored once per rule and bar (a replayed decision
    finds it) and raised as the risk violation `protection.<rule>`, which core's notifications deliver."""
    from dsta.trading.models import ProtectionTrip

    try:
        with transaction.atomic(using=ALIAS):
            ProtectionTrip.objects.using(ALIAS).create(
                instance=instance, rule=rule, message=message[:300], bar_time=bar_time, until=until
            )
    except IntegrityError:
        return False
    violation_record(
        rule=f"protection.{rule}",
        message=f"{instance.name}: {message}",
        limit="",
        actual="",
        symbol=instance.symbol,
        limits_version=0,
        context={"strategy_instance_id": instance.pk, "bar_time": bar_time.isoformat()},
    )
    return True


def bot_state_publish(instance: StrategyInstance) -> None:
    """In the state change's transaction (the outbox): ml starts or stops predicting the instance's market."""
    publish(
        BotStateChanged(
            instance_id=instance.pk,
            strategy=instance.strategy,
            model_name=instance.model_name,
            exchange=instance.exchange,
            symbol=instance.symbol,
            timeframe=instance.timeframe,
            state=str(instance.state),
        ),
        using=ALIAS,
    )


def strategy_fault_pause(instance: StrategyInstance, *, message: str, bar_time: datetime) -> bool:
    """The instance's strategy misbehaved at this bar (raised, a target outside [-1, 1] or NaN, too slow): a
    running instance is paused and the fault raised once, naming strategy, file and bar; the market's other
    instances go on. Returns whether this call paused it (a paused or stopped one is left as it is)."""
    from dsta.trading.models import BotState

    with transaction.atomic(using=ALIAS):
        paused = (
            StrategyInstance.objects.using(ALIAS)
            .filter(pk=instance.pk, state=BotState.RUNNING)
            .update(state=BotState.PAUSED)
        )
        if paused:
            instance.state = BotState.PAUSED
            bot_state_publish(instance)
            protection_trip_record(
                instance, rule="strategy_fault", message=f"paused: {message}", bar_time=bar_time, until=None
            )
    return bool(paused)
