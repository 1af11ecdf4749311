"""REST endpoints of backtesting under /api/v1/backtest/."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from django.core.files.storage import storages
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.data.backtesting import jobs
from dsta.data.backtesting.actors import run_backtest_job, run_optimisation
from dsta.data.backtesting.analysis import (
    grid,
    monte_carlo_returns,
    monte_carlo_trades,
    trade_factors,
    walk_forward,
)
from dsta.data.backtesting.optimisation import optimisation_create
from dsta.data.backtesting.runner import config_for, run_on_bars, validate
from dsta.data.backtesting.serializers import (
    BacktestResultsSerializer,
    BacktestSummarySerializer,
    MonteCarloResultSerializer,
    MonteCarloSerializer,
    OptimiseSerializer,
    RunSerializer,
    StrategiesSerializer,
    WalkForwardResultSerializer,
    WalkForwardSerializer,
)
from dsta.data.bars import load_bars
from dsta.data.contracts import TIMEFRAME_SECONDS, StrategyFault
from dsta.data.models import BacktestJob, BacktestResult, BacktestTrade
from dsta.data.strategies.registry import strategy_build, strategy_problems, strategy_specs

ALIAS = "data"


def _job_or_404(job_id: str) -> BacktestJob:
    job = BacktestJob.objects.using(ALIAS).filter(pk=job_id).first()
    if job is None:
        raise Http404("no such backtest")
    return job


def _summary_payload(job: BacktestJob) -> dict[str, object]:
    payload = asdict(jobs.job_summary(job))
    payload["request"]["params"] = job.params
    payload["request"]["inputs"] = [series["name"] for series in payload["request"]["inputs"]]  # names, not data
    return payload


class StrategiesView(APIView):
    required_permission = "data.backtest.read"

    @extend_schema(responses=StrategiesSerializer)
    def get(self, request: Request) -> Response:
        """Every loadable strategy, and every file or package that failed to load (file, line, reason)."""
        return Response(
            {
                "strategies": [asdict(spec) for spec in strategy_specs()],
                "problems": [asdict(problem) for problem in strategy_problems()],
            }
        )


class RunView(APIView):
    required_permission = "data.backtest.run"

    @extend_schema(
        request=RunSerializer,
        responses={200: BacktestSummarySerializer, 202: BacktestSummarySerializer},
        description="202 with the queued job; with `wait`, 200 with the job once it has run.",
    )
    def post(self, request: Request) -> Response:
        serializer = RunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = jobs.job_create(serializer.to_request(), user_id=request.user.pk)
        if serializer.validated_data["wait"]:
            jobs.job_execute(str(job.pk))
            job.refresh_from_db()
            return Response(_summary_payload(job), status=status.HTTP_200_OK)
        run_backtest_job.send(str(job.pk))
        return Response(_summary_payload(job), status=status.HTTP_202_ACCEPTED)


class ResultsView(APIView):
    required_permission = "data.backtest.read"

    @extend_schema(
        parameters=[
            OpenApiParameter("trades", int, description="how many trades to include (default 500)"),
            OpenApiParameter("equity_points", int, description="equity curve points, strided (default 1000)"),
        ],
        responses=BacktestResultsSerializer,
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(job_id)
        payload = _summary_payload(job)
        result = BacktestResult.objects.using(ALIAS).filter(job=job).first()
        try:
            trade_limit = int(request.query_params.get("trades", 500))
            points = int(request.query_params.get("equity_points", 1_000))
        except ValueError:
            return Response({"trades": "must be an integer", "equity_points": "must be an integer"}, status=400)
        payload["analysis"] = result.analysis if result else {}
        payload["trades_total"] = BacktestTrade.objects.using(ALIAS).filter(job=job).count()
        payload["trades"] = [asdict(trade) for trade in jobs.job_trades(job)[: max(trade_limit, 0)]]
        if result is not None and result.equity:
            equity = np.frombuffer(result.equity, dtype="<f8")
            times = np.frombuffer(result.bar_times, dtype="<i8")
            stride = max(1, len(equity) // max(points, 1))
            payload["equity_curve"] = [
                [int(t), float(v)] for t, v in zip(times[::stride], equity[::stride], strict=True)
            ]
        return Response(payload)


class ReportView(APIView):
    required_permission = "data.backtest.read"

    @extend_schema(responses={(200, "text/html"): str})
    def get(self, request: Request, job_id: str) -> FileResponse:
        job = _job_or_404(job_id)
        result = BacktestResult.objects.using(ALIAS).filter(job=job).first()
        if result is None or not result.report_path:
            raise Http404("the report is not ready")
        return FileResponse(storages["reports"].open(result.report_path, "rb"), content_type="text/html")


class OptimiseView(APIView):
    required_permission = "data.backtest.run"

    @extend_schema(request=OptimiseSerializer, responses={202: BacktestSummarySerializer})
    def post(self, request: Request) -> Response:
        serializer = OptimiseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        parent = optimisation_create(
            serializer.to_request(),
            method=data["method"],
            space=data["space"],
            objective=data["objective"],
            trials=data["trials"],
            batch=data["batch"],
            seed=data["seed"],
            user_id=request.user.pk,
        )
        run_optimisation.send(str(parent.pk))
        return Response(_summary_payload(parent), status=status.HTTP_202_ACCEPTED)


class MonteCarloView(APIView):
    required_permission = "data.backtest.run"

    @extend_schema(request=MonteCarloSerializer, responses=MonteCarloResultSerializer)
    def post(self, request: Request) -> Response:
        serializer = MonteCarloSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = _job_or_404(str(data["job_id"]))
        result = BacktestResult.objects.using(ALIAS).filter(job=job).first()
        if result is None:
            return Response({"job_id": "the backtest has no result yet"}, status=400)
        equity = np.frombuffer(result.equity, dtype="<f8")
        if data["method"] == "return_bootstrap":
            outcome = monte_carlo_returns(
                equity, simulations=data["simulations"], block=data["block"], seed=data["seed"]
            )
        else:
            trades = jobs.job_trades(job)
            if not trades:
                return Response({"job_id": "the backtest has no trades to resample"}, status=400)
            records = _trade_records(job, equity)
            factors = trade_factors(equity, records, float(job.initial_cash))
            outcome = monte_carlo_trades(
                factors,
                initial_cash=float(job.initial_cash),
                simulations=data["simulations"],
                seed=data["seed"],
                with_replacement=data["method"] == "trade_resample",
            )
        return Response(asdict(outcome))


WALK_FORWARD_MAX_COMBINATIONS = 50


class WalkForwardView(APIView):
    """Rolling optimisation in-sample, evaluation out-of-sample, stitched OOS equity. Runs in the request on
    the fast path, so the grid is capped; bigger studies belong in /optimize."""

    required_permission = "data.backtest.run"

    @extend_schema(request=WalkForwardSerializer, responses=WalkForwardResultSerializer)
    def post(self, request: Request) -> Response:
        serializer = WalkForwardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if len(grid(data["space"])) > WALK_FORWARD_MAX_COMBINATIONS:
            return Response({"space": f"at most {WALK_FORWARD_MAX_COMBINATIONS} combinations"}, status=400)
        base = serializer.to_request()
        strategy = validate(base)
        for params in grid(data["space"]):
            strategy_build(base.strategy, {**base.params, **params})
        bars = load_bars(
            exchange=base.exchange, symbol=base.symbol, timeframe=base.timeframe, start=base.start, end=base.end
        )
        try:
            result = walk_forward(
                build=lambda params: strategy_build(base.strategy, {**base.params, **params}),
                space=data["space"],
                bars=bars,
                config=config_for(base),
                run=lambda s, b, c: run_on_bars(s, b, c, engine=base.engine),
                in_sample_bars=data["in_sample_bars"],
                out_of_sample_bars=data["out_of_sample_bars"],
                timeframe_seconds=TIMEFRAME_SECONDS[base.timeframe],
                objective=data["objective"],
            )
        except StrategyFault as exc:
            return Response({"strategy": str(exc)}, status=400)
        except ValueError as exc:
            return Response({"in_sample_bars": str(exc)}, status=400)
        stride = max(1, len(result.stitched_equity) // 1_000)
        return Response(
            {
                "strategy": strategy.name,
                "out_of_sample_return_pct": result.out_of_sample_return_pct,
                "windows": [asdict(window) for window in result.windows],
                "stitched_equity": [
                    [int(t), float(v)]
                    for t, v in zip(result.stitched_times[::stride], result.stitched_equity[::stride], strict=True)
                ],
            }
        )


def _trade_records(job: BacktestJob, equity: np.ndarray):  # type: ignore[no-untyped-def]
    """Stored trades back as engine records (entry bar index from time) for the resampling analyses."""
    from dsta.data.backtesting.accounting import TradeRecord

    times = np.frombuffer(BacktestResult.objects.using(ALIAS).get(job=job).bar_times, dtype="<i8")
    records = []
    for trade in BacktestTrade.objects.using(ALIAS).filter(job=job).order_by("sequence"):
        entry = int(np.searchsorted(times, int(trade.entry_time.timestamp() * 1000)))
        exit_ = int(np.searchsorted(times, int(trade.exit_time.timestamp() * 1000)))
        records.append(
            TradeRecord(
                entry,
                exit_,
                trade.side,
                float(trade.qty),
                float(trade.entry_price),
                float(trade.exit_price),
                float(trade.fees),
                float(trade.pnl),
                trade.return_pct,
                trade.exit_reason,
            )
        )
    return records
