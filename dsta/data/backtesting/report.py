"""The HTML report of a backtest: metrics table, price with trade markers, equity and drawdown charts."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from dsta.data.backtesting.accounting import TradeRecord
from dsta.data.backtesting.svg_chart import Markers, Panel, chart_svg
from dsta.data.bars import Bars

MAX_POINTS = 4_000  # plotted points per line; longer series are strided (and the SVG stays small)


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
    times = bars.time_ms.astype("datetime64[ms]")
    stride = max(1, len(bars) // MAX_POINTS)
    positions = np.arange(0, len(bars), stride)
    shown = [] if trade_symbols else trades if len(trades) <= 600 else trades[:: len(trades) // 600 + 1]
    markers = (
        Markers(
            index=np.array([trade.entry_index for trade in shown]),
            price=np.array([trade.entry_price for trade in shown], dtype=float),
            kind="entry",
        ),
        Markers(
            index=np.array([trade.exit_index for trade in shown]),
            price=np.array([trade.exit_price for trade in shown], dtype=float),
            kind="exit",
        ),
    )
    drawdown = (equity / np.maximum.accumulate(equity) - 1) * 100
    price_label = "equal-weight basket (100 = start)" if trade_symbols else "price (entries ▲, exits ▼)"
    chart = chart_svg(
        title=title,
        times=times[positions],
        positions=positions,
        panels=[
            Panel(price_label, bars.close[positions], 330, "#333333", markers=markers if shown else ()),
            Panel("equity", equity[positions], 220, "#2166ac"),
            Panel("drawdown %", drawdown[positions], 110, "#d73027", fill_to_zero=True),
        ],
    )

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
<h2>Charts</h2><figure aria-label="price with trades, equity and drawdown">{chart}</figure>
<h2>Trades</h2><table><tr>{symbol_header}<th>entry</th><th>exit</th><th>side</th><th>qty</th><th>entry price</th>
<th>exit price</th><th>pnl</th><th>return</th><th>exit</th></tr>{trade_rows}</table>{more}
</body></html>"""
