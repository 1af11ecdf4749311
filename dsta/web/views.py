"""Pages of the web app. Every read and write goes through a domain facade; permissions are core's RBAC."""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_http_methods, require_POST

from dsta.core import api as core_api
from dsta.core.contracts import LoginRefused
from dsta.data import api as data_api
from dsta.data.contracts import BacktestStatus, BacktestTradeView, InvalidBacktestRequest
from dsta.ml import api as ml_api
from dsta.trading import api as trading_api
from dsta.trading.contracts import BotRefused
from dsta.web.access import navigation, page_permission
from dsta.web.forms import BacktestForm, LoginForm, series_key

CHART_BARS = 300
SMA_PERIOD = 20
EQUITY_POINTS = 2_000


def page(request: HttpRequest, template: str, context: dict[str, object], *, status: int = 200) -> HttpResponse:
    return render(request, template, {**context, "nav_pages": navigation(request)}, status=status)


# -- session ------------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or request.GET.get("next") or reverse("web:dashboard")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("web:dashboard")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            core_api.session_login(
                request=request,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                ip=request.META.get("REMOTE_ADDR") or "unknown",
            )
        except LoginRefused as exc:
            form.add_error(None, str(exc))
            response = render(request, "web/login.html", {"form": form, "next": target}, status=400)
            if exc.retry_after is not None:
                response.status_code = 429
                response["Retry-After"] = str(exc.retry_after)
            return response
        return HttpResponseRedirect(target)
    status = 400 if request.method == "POST" else 200
    return render(request, "web/login.html", {"form": form, "next": target}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    core_api.session_logout(request=request)
    return HttpResponseRedirect(settings.LOGIN_URL)


# -- dashboard ----------------------------------------------------------------------------------------------------


def _dashboard_context() -> dict[str, object]:
    pnl = trading_api.pnl_current()
    return {
        "pnl_rows": pnl[:-1],
        "pnl_total": pnl[-1],
        "positions": trading_api.positions_list(),
        "open_orders": trading_api.orders_open_list(limit=50),
        "risk": trading_api.risk_state_get(violations=5),
    }


@page_permission("trading.read")
def dashboard(request: HttpRequest) -> HttpResponse:
    return page(request, "web/dashboard.html", _dashboard_context())


@page_permission("trading.read")
def dashboard_panels(request: HttpRequest) -> HttpResponse:
    """The dashboard's panels alone, which the page polls (htmx) to refresh itself."""
    return render(request, "web/_dashboard_panels.html", _dashboard_context())


# -- market chart -------------------------------------------------------------------------------------------------


@page_permission("market_data.read")
def chart(request: HttpRequest) -> HttpResponse:
    series = data_api.series_list()
    options = [(series_key(s.exchange, s.symbol, s.timeframe), s) for s in series]
    if not series:
        return page(request, "web/chart.html", {"series_options": [], "selected": None})
    wanted = request.GET.get("series") or options[0][0]
    chosen = next((s for key, s in options if key == wanted), None)
    if chosen is None:
        context = {"series_options": options, "selected": None, "unknown": wanted}
        return page(request, "web/chart.html", context, status=404)
    data = data_api.chart_series(
        exchange=chosen.exchange,
        symbol=chosen.symbol,
        timeframe=chosen.timeframe,
        bars=CHART_BARS,
        sma_period=SMA_PERIOD,
    )
    payload = {
        "exchange": data.exchange,
        "symbol": data.symbol,
        "timeframe": data.timeframe,
        "stream": data.symbol.replace("/", "-"),
        "sma_period": data.sma_period,
        "candles": [
            {
                "time": int(bar.open_time.timestamp()),
                "open": float(bar.open),
                "high": float(bar.high),
                "low": float(bar.low),
                "close": float(bar.close),
            }
            for bar in data.candles
        ],
        "sma": [
            {"time": int(bar.open_time.timestamp()), "value": value}
            for bar, value in zip(data.candles, data.sma, strict=True)
            if value is not None
        ],
    }
    context = {
        "series_options": options,
        "selected": chosen,
        "selected_key": series_key(chosen.exchange, chosen.symbol, chosen.timeframe),
        "chart_data": payload,
        "last_candle": data.candles[-1] if data.candles else None,
    }
    return page(request, "web/chart.html", context)


# -- backtests ----------------------------------------------------------------------------------------------------


@page_permission({"GET": "data.backtest.read", "POST": "data.backtest.run"})
def backtests(request: HttpRequest) -> HttpResponse:
    form = BacktestForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                summary = data_api.backtest_start(request=form.backtest_request(), user_id=request.user.pk)
            except InvalidBacktestRequest as exc:
                for field, message in exc.errors.items():
                    name = field.split(".")[0]
                    form.add_error(name if name in form.fields else None, f"{field}: {message}")
            else:
                return HttpResponseRedirect(reverse("web:backtest-detail", args=[summary.job_id]))
        return page(request, "web/backtests.html", {"form": form}, status=400)
    return page(request, "web/backtests.html", {"form": form})


def _equity_chart(job_id: str, trades: list[BacktestTradeView]) -> dict[str, object] | None:
    """Equity, drawdown (%) and the trades as markers on the equity line, for lightweight-charts."""
    curve = data_api.backtest_equity(job_id=job_id, points=EQUITY_POINTS)
    if curve is None or not curve.times:
        return None
    seconds = [int(moment.timestamp()) for moment in curve.times]
    peak = float("-inf")
    drawdown = []
    for value in curve.equity:
        peak = max(peak, value)
        drawdown.append(round((value / peak - 1) * 100, 4) if peak > 0 else 0.0)

    def on_curve(moment: datetime) -> int:  # markers sit on a point of the (strided) curve
        index = min(bisect_left(seconds, int(moment.timestamp())), len(seconds) - 1)
        return seconds[index]

    markers = sorted(
        [
            {
                "time": on_curve(t.entry_time),
                "position": "belowBar",
                "color": "#1a9850",
                "shape": "arrowUp",
                "text": "in",
            }
            for t in trades
        ]
        + [
            {
                "time": on_curve(t.exit_time),
                "position": "aboveBar",
                "color": "#d73027",
                "shape": "arrowDown",
                "text": "out",
            }
            for t in trades
        ],
        key=lambda marker: marker["time"],
    )
    return {
        "equity": [{"time": t, "value": v} for t, v in zip(seconds, curve.equity, strict=True)],
        "drawdown": [{"time": t, "value": v} for t, v in zip(seconds, drawdown, strict=True)],
        "markers": markers,
    }


def _backtest_context(job_id: str) -> dict[str, object]:
    summary = data_api.backtest_get(job_id=job_id)
    if summary is None:
        raise Http404("no such backtest")
    done = summary.status in (BacktestStatus.SUCCEEDED, BacktestStatus.FAILED)
    context: dict[str, object] = {"job": summary, "done": done, "progress_pct": round(summary.progress * 100)}
    if summary.status == BacktestStatus.SUCCEEDED:
        trades = data_api.backtest_trades(job_id=job_id)
        context["trades"] = trades[:200]
        context["trades_total"] = len(trades)
        context["equity_chart"] = _equity_chart(job_id, trades)
    return context


@page_permission("data.backtest.read")
def backtest_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    return page(request, "web/backtest_detail.html", _backtest_context(str(job_id)))


@page_permission("data.backtest.read")
def backtest_status(request: HttpRequest, job_id: str) -> HttpResponse:
    """The job's status block alone: polled (htmx) while it runs; the finished block stops the polling."""
    return render(request, "web/_backtest_status.html", _backtest_context(str(job_id)))


@xframe_options_sameorigin
@page_permission("data.backtest.read")
def backtest_report(request: HttpRequest, job_id: str) -> HttpResponse:
    report = data_api.backtest_report_html(job_id=str(job_id))
    if report is None:
        raise Http404("the report is not ready")
    return HttpResponse(report, content_type="text/html; charset=utf-8")


# -- ML and notifications -----------------------------------------------------------------------------------------


@page_permission("ml.read")
def ml_models(request: HttpRequest) -> HttpResponse:
    return page(request, "web/ml_models.html", {"models": ml_api.models_list()})


@page_permission("notifications.read")
def notifications(request: HttpRequest) -> HttpResponse:
    return page(request, "web/notifications.html", {"notifications": core_api.notifications_list(limit=200)})


# -- bots ---------------------------------------------------------------------------------------------------------

BOT_ACTIONS = {"start": "running", "pause": "paused", "stop": "stopped"}


@page_permission({"GET": "trading.read", "POST": "trading.strategy.manage"})
def bots(request: HttpRequest) -> HttpResponse:
    """Every strategy instance as a bot; start / pause / stop through the trading facade (CSRF-protected)."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            instance_id = int(request.POST.get("instance_id", ""))
        except ValueError:
            errors = {"instance_id": "expected a strategy instance id"}
        else:
            if action not in BOT_ACTIONS:
                errors = {"action": "expected start, pause or stop"}
            else:
                try:
                    trading_api.bot_state_set(
                        instance_id=instance_id, state=BOT_ACTIONS[action], actor_id=request.user.pk
                    )
                except BotRefused as exc:
                    errors = exc.errors
        if not errors:
            return HttpResponseRedirect(reverse("web:bots"))
    context = {"bots": trading_api.bots_list(), "errors": errors}
    return page(request, "web/bots.html", context, status=400 if errors else 200)
