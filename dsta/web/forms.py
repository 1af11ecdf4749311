"""Forms of the web app. Choices come from the facades at form creation, so they follow the stored data."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms

from dsta.data import api as data_api
from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest

PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(-?\d+(?:\.\d+)?)\s*$")


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, max_length=256)


def parse_params(text: str) -> dict[str, float]:
    """`fast=10, slow=20` (commas or spaces between pairs) into {"fast": 10.0, "slow": 20.0}."""
    params: dict[str, float] = {}
    for item in filter(None, re.split(r"[,\s]+(?=[A-Za-z_])", text.strip())):
        match = PARAM.match(item)
        if match is None:
            raise forms.ValidationError(f"'{item}' is not name=number")
        params[match.group(1)] = float(match.group(2))
    return params


class BacktestForm(forms.Form):
    strategy = forms.ChoiceField()
    series = forms.ChoiceField(label="Market", help_text="exchange, symbol and timeframe of stored candles")
    params = forms.CharField(required=False, help_text="e.g. fast=10, slow=20 (empty: the defaults)")
    initial_cash = forms.DecimalField(min_value=Decimal("1"), max_digits=20, decimal_places=2, initial=10000)
    commission = forms.DecimalField(
        min_value=Decimal("0"), max_value=Decimal("0.1"), max_digits=8, decimal_places=6, initial=Decimal("0.001")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strategies = data_api.strategies_list()
        self.fields["strategy"].choices = [(spec.name, spec.name) for spec in self.strategies]
        self.fields["series"].choices = [
            (series_key(s.exchange, s.symbol, s.timeframe), f"{s.exchange} {s.symbol} {s.timeframe} ({s.candles})")
            for s in data_api.series_list()
            if s.timeframe in TIMEFRAME_SECONDS
        ]

    def clean_params(self) -> dict[str, float]:
        return parse_params(self.cleaned_data.get("params") or "")

    def backtest_request(self) -> BacktestRequest:
        exchange, symbol, timeframe = self.cleaned_data["series"].split("|")
        return BacktestRequest(
            strategy=self.cleaned_data["strategy"],
            params=self.cleaned_data["params"],
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            initial_cash=self.cleaned_data["initial_cash"],
            commission=self.cleaned_data["commission"],
        )


def series_key(exchange: str, symbol: str, timeframe: str) -> str:
    return f"{exchange}|{symbol}|{timeframe}"
