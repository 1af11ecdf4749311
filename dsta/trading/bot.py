"""The bot's lifecycle per strategy instance: its trading settings (mode, venue, allocation, cost model,
protections) checked before anything is stored, start / pause / stop, and the audited arming of live trading.

States (freqtrade's meaning): `running` trades every signal; `paused` still exits (a signal that lowers the
exposure is traded) but opens nothing; `stopped` places no order. Paper is the default mode: orders go to the
paper venue, priced by the reference venue's (the instance's `exchange`) closed candles. Live mode sends them
to the instance's exchange and needs that venue's credentials in core's secrets and an explicit arming step.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from dsta.core import api as core_api
from dsta.data import api as data_api
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import ExchangeError
from dsta.kernel.errors import InputError
from dsta.trading import services
from dsta.trading.models import BotMode, BotState, StrategyInstance

ALIAS = "trading"
PAPER_VENUE = "paper"
ARM_CONFIRMATION = "I understand this trades real money"
PAPER_LOT = {"amount_step": Decimal("0.000001"), "min_amount": Decimal("0"), "min_notional": Decimal("0")}


class BotInputError(InputError):
    """A bot setting or state change refused as given (mode, capital, venue, arming)."""


@dataclass(frozen=True)
class BotSettings:
    mode: str = BotMode.PAPER
    capital: Decimal = Decimal("10000")
    commission: Decimal = Decimal("0.001")
    slippage: Decimal = Decimal("0")
    cooldown_bars: int = 0
    max_drawdown_pct: Decimal = Decimal("0")
    daily_loss_limit: Decimal = Decimal("0")
    # the caller brings the market's candles itself (a replay file): a paper instance needs no listing check
    candles_supplied: bool = False


def has_credentials(venue: str) -> bool:
    return all(core_api.secret_get(key=f"exchange/{venue}/{key}") for key in ("api_key", "secret"))


def instance_create(
    *,
    name: str,
    strategy: str,
    params: dict[str, float],
    exchange: str,
    symbol: str,
    timeframe: str,
    settings: BotSettings,
    actor_id: int | None,
    model_name: str = "",
) -> StrategyInstance:
    """A stopped instance with its trading settings; raises services.TradingInputError naming every bad field
    (strategy, parameters, model and settings together), storing nothing. `model_name`: the ml model whose
    live predictions an ml_signal instance trades."""
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        fields = settings_checked(settings=settings, exchange=exchange, symbol=symbol, timeframe=timeframe)
    except BotInputError as exc:
        errors = exc.errors
    return services.strategy_instance_create(
        name=name,
        strategy=strategy,
        params=params,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        actor_id=actor_id,
        trading_fields=fields,
        other_errors=errors,
        model_name=model_name,
    )


def settings_checked(*, settings: BotSettings, exchange: str, symbol: str, timeframe: str) -> dict[str, Any]:
    """The model fields for these settings, or BotInputError naming every bad field (nothing is stored)."""
    errors: dict[str, str] = {}
    if settings.mode not in BotMode.values:
        errors["mode"] = f"expected one of {sorted(BotMode.values)}"
    limits = services.risk_limits_current()
    if settings.capital <= 0:
        errors["capital"] = "must be positive"
    elif settings.capital > limits.max_total_exposure:
        errors["capital"] = (
            f"{settings.capital} is beyond the risk limit max_total_exposure ({limits.max_total_exposure})"
        )
    if not 0 <= settings.commission < 1:
        errors["commission"] = "a fraction in [0, 1)"
    if not 0 <= settings.slippage < 1:
        errors["slippage"] = "a fraction in [0, 1)"
    if settings.cooldown_bars < 0:
        errors["cooldown_bars"] = "must not be negative"
    if not 0 <= settings.max_drawdown_pct < 100:
        errors["max_drawdown_pct"] = "a percentage in [0, 100); 0 disables it"
    if settings.daily_loss_limit < 0:
        errors["daily_loss_limit"] = "must not be negative; 0 disables it"
    if settings.mode == BotMode.LIVE and not has_credentials(exchange):
        errors["mode"] = f"live trading on {exchange} needs its API key and secret stored (exchange/{exchange}/...)"
    if "mode" in errors:
        lot = None
    elif settings.candles_supplied and settings.mode == BotMode.PAPER:
        lot = dict(PAPER_LOT)
    else:
        lot = _market_lot(settings.mode, exchange, symbol, errors)
    if errors:
        raise BotInputError(errors)
    assert lot is not None
    venue = PAPER_VENUE if settings.mode == BotMode.PAPER else exchange
    return {
        "mode": settings.mode,
        "venue": venue,
        "capital": settings.capital,
        "commission": settings.commission,
        "slippage": settings.slippage,
        "cooldown_bars": settings.cooldown_bars,
        "max_drawdown_pct": settings.max_drawdown_pct,
        "daily_loss_limit": settings.daily_loss_limit,
        **lot,
    }


def _market_lot(mode: str, exchange: str, symbol: str, errors: dict[str, str]) -> dict[str, Decimal] | None:
    """The lot size and minimums of the market. A paper instance trades any market the reference venue lists
    or data holds candles of; a live one only what its venue lists."""
    base, _, quote = symbol.partition("/")
    if not base or not quote or "/" in quote:
        errors["symbol"] = "expected BASE/QUOTE, e.g. BTC/USDT"
        return None
    if mode == BotMode.PAPER and any(s.exchange == exchange and s.symbol == symbol for s in data_api.series_list()):
        return dict(PAPER_LOT)
    try:
        markets = {market.symbol: market for market in exchange_api.markets_list(venue=exchange)}
    except ExchangeError as exc:
        errors["symbol"] = f"{symbol}: no stored candles and {exchange} could not be asked for its markets ({exc})"
        return None
    market = markets.get(symbol)
    if market is None:
        errors["symbol"] = f"{exchange} does not list {symbol}"
        return None
    if mode == BotMode.PAPER:
        return dict(PAPER_LOT)
    return {"amount_step": market.amount_step, "min_amount": market.min_amount, "min_notional": market.min_notional}


def _audit(instance: StrategyInstance, action: str, actor_id: int | None, **details: object) -> None:
    core_api.audit_record(
        actor_id=actor_id, action=f"trading.bot.{action}", target=f"strategy:{instance.pk}", details=details or None
    )


def _locked(instance_id: int) -> StrategyInstance:
    try:
        return StrategyInstance.objects.using(ALIAS).select_for_update().get(pk=instance_id)
    except StrategyInstance.DoesNotExist:
        raise BotInputError({"instance": f"no strategy instance {instance_id}"}) from None


def bot_start(*, instance_id: int, actor_id: int | None) -> StrategyInstance:
    """Start (or resume) trading. A live instance must be armed; a paper one has its capital deposited on the
    paper venue the first time it starts."""
    with transaction.atomic(using=ALIAS):
        instance = _locked(instance_id)
        if not instance.enabled:
            raise BotInputError({"enabled": "the instance is disabled"})
        if instance.mode == BotMode.LIVE:
            errors = {}
            if not has_credentials(instance.exchange):
                errors["mode"] = f"live trading on {instance.exchange} needs its API key and secret stored"
            if instance.armed_at is None:
                errors["armed"] = "live trading is not armed: POST /api/v1/strategies/{id}/arm first"
            if errors:
                raise BotInputError(errors)
        if instance.state == BotState.RUNNING:
            return instance
        if instance.mode == BotMode.PAPER and not instance.funded:
            # a separate database: the venue's deposit commits on its own; `funded` is set only after it did
            exchange_api.paper_deposit(asset=instance.symbol.split("/")[1], amount=instance.capital)
            instance.funded = True
        instance.state = BotState.RUNNING
        instance.save(using=ALIAS, update_fields=["state", "funded", "updated_at"])
        _audit(instance, "start", actor_id, mode=instance.mode, capital=str(instance.capital))
        services.bot_state_publish(instance)
    return instance


def _set_state(instance_id: int, state: str, actor_id: int | None) -> StrategyInstance:
    with transaction.atomic(using=ALIAS):
        instance = _locked(instance_id)
        if instance.state != state:
            instance.state = state
            instance.save(using=ALIAS, update_fields=["state", "updated_at"])
            _audit(instance, str(state), actor_id)
            services.bot_state_publish(instance)
    return instance


def bot_pause(*, instance_id: int, actor_id: int | None) -> StrategyInstance:
    return _set_state(instance_id, BotState.PAUSED, actor_id)


def bot_stop(*, instance_id: int, actor_id: int | None) -> StrategyInstance:
    return _set_state(instance_id, BotState.STOPPED, actor_id)


def bot_arm(*, instance_id: int, confirmation: str, actor_id: int | None) -> StrategyInstance:
    """Arm live trading: the caller types the confirmation phrase; audited."""
    with transaction.atomic(using=ALIAS):
        instance = _locked(instance_id)
        errors: dict[str, str] = {}
        if confirmation != ARM_CONFIRMATION:
            errors["confirmation"] = f"type exactly: {ARM_CONFIRMATION}"
        if instance.mode != BotMode.LIVE:
            errors["mode"] = "only a live instance is armed; paper trades without arming"
        elif not has_credentials(instance.exchange):
            errors["mode"] = f"live trading on {instance.exchange} needs its API key and secret stored"
        if errors:
            raise BotInputError(errors)
        from dsta.kernel.clock import utc_now

        instance.armed_at, instance.armed_by_id = utc_now(), actor_id
        instance.save(using=ALIAS, update_fields=["armed_at", "armed_by_id", "updated_at"])
        _audit(instance, "arm", actor_id, venue=instance.venue, capital=str(instance.capital))
    return instance


def bot_disarm(*, instance_id: int, actor_id: int | None) -> StrategyInstance:
    """Disarm live trading; a running live instance stops (it may not trade unarmed)."""
    with transaction.atomic(using=ALIAS):
        instance = _locked(instance_id)
        instance.armed_at, instance.armed_by_id = None, None
        stops = instance.mode == BotMode.LIVE and instance.state != BotState.STOPPED
        if stops:
            instance.state = BotState.STOPPED
        instance.save(using=ALIAS, update_fields=["armed_at", "armed_by_id", "state", "updated_at"])
        _audit(instance, "disarm", actor_id)
        if stops:
            services.bot_state_publish(instance)
    return instance
