"""Charts for HTML reports: matplotlib on the Agg backend, imported on first use (it costs seconds at the
start of every web and worker process otherwise), figures embedded as base64 PNG."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from dsta.data.contracts import ChartSeries

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and workers
    import matplotlib.pyplot as plt

    return plt


def png_data_uri(figure: Figure, *, dpi: int = 100) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def chart_series(*, exchange: str, symbol: str, timeframe: str, bars: int, sma_period: int) -> ChartSeries:
    """The last `bars` candles and their SMA(`sma_period`) of the close, for a chart (the web's price chart)."""
    import numpy as np

    from dsta.data import selectors

    candles = selectors.candles_latest(exchange=exchange, symbol=symbol, timeframe=timeframe, limit=bars)
    closes = np.array([float(bar.close) for bar in candles], dtype=np.float64)
    sma: list[float | None] = [None] * len(closes)
    if sma_period > 0 and len(closes) >= sma_period:
        sums = np.convolve(closes, np.ones(sma_period) / sma_period, mode="valid")
        sma[sma_period - 1 :] = [float(value) for value in sums]
    return ChartSeries(exchange, symbol, timeframe, tuple(candles), sma_period, tuple(sma))
