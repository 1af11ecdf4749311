"""The HTML report of a backtest: metrics table, price with trade markers, equity and drawdown charts."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from dsta.data.backtesting.accounting import TradeRecord
from dsta.data.bars import Bars
from dsta.data.charts import png_data_uri, pyplot

MAX_POINTS = 4_000  # plotted points per line; longer series are strided


def render_report(
    *,
    title: str,
    bars: Bars,
    equity: np.ndarray,
    trades: Sequence[TradeRecord],
    metrics: dict[str, float | int],
    settings: dict[str, object],
    trade_symbols: Sequence[str] | None = None,
) -> str:
    """`trade_symbols` (a portfolio's): the symbol of each trade; the price panel then shows the
    equal-weight basket in `bars`, and trades are listed with their symbol instead of marked on it."""
    plt = pyplot()
    times = bars.time_ms.astype("datetime64[ms]")
    stride = max(1, len(bars) // MAX_POINTS)
    figure, (price_axis, equity_axis, drawdown_axis) = plt.subplots(
        3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]}
    )
    price_axis.plot(times[::stride], bars.close[::stride], linewidth=0.8, color="#333333", label="close")
    shown = [] if trade_symbols else trades if len(trades) <= 600 else trades[:: len(trades) // 600 + 1]
    if shown:
        entries = np.array([trade.entry_index for trade in shown])
        exits = np.array([trade.exit_index for trade in shown])
        price_axis.scatter(
            times[entries],
            [trade.entry_price for trade in shown],
            marker="^",
            color="#1a9850",
            s=18,
            label="entry",
            zorder=3,
        )
        price_axis.scatter(
            times[exits],
            [trade.exit_price for trade in shown],
            marker="v",
            color="#d73027",
            s=18,
            label="exit",
            zorder=3,
        )
    price_axis.set_ylabel("equal-weight basket (100 = start)" if trade_symbols else "price")
    price_axis.legend(loc="upper left")
    equity_axis.plot(times[::stride], equity[::stride], linewidth=1.0, color="#2166ac")
    equity_axis.set_ylabel("equity")
    drawdown = (equity / np.maximum.accumulate(equity) - 1) * 100
    drawdown_axis.fill_between(times[::stride], drawdown[::stride], 0, color="#d73027", alpha=0.4)
    drawdown_axis.set_ylabel("drawdown %")
    figure.suptitle(title)
    chart = png_data_uri(figure, dpi=110)

    def row(name: str, value: object) -> str:
        shown_value = f"{value:,.4f}" if isinstance(value, float) else str(value)
        return f"<tr><th>{html.escape(name)}</th><td>{html.escape(shown_value)}</td></tr>"

    symbol_cells = [f"<td>{html.escape(s)}</td>" for s in trade_symbols] if trade_symbols else [""] * len(trades)
    trade_rows = "".join(
        f"<tr>{symbol_cells[number]}<td>{times[t.entry_index]}</td><td>{times[t.exit_index]}</td><td>{t.side}</td>"
        f"<td>{t.qty:.8f}</td><td>{t.entry_price:.8g}</td><td>{t.exit_price:.8g}</td><td>{t.pnl:,.2f}</td>"
        f"<td>{t.return_pct:.2f}%</td><td>{t.exit_reason}</td></tr>"
        for number, t in enumerate(trades[:1000])
    )
    symbol_header = "<th>symbol</th>" if trade_symbols else ""
    more = f"<p>{len(trades) - 1000} more trades not listed.</p>" if len(trades) > 1000 else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<h2>Settings</h2><table>{"".join(row(k, v) for k, v in settings.items())}</table>
<h2>Metrics</h2><table>{"".join(row(k, v) for k, v in metrics.items())}</table>
<h2>Charts</h2><img alt="price with trades, equity and drawdown" src="{chart}">
<h2>Trades</h2><table><tr>{symbol_header}<th>entry</th><th>exit</th><th>side</th><th>qty</th><th>entry price</th>
<th>exit price</th><th>pnl</th><th>return</th><th>exit</th></tr>{trade_rows}</table>{more}
</body></html>"""
