"""Analytics reports: one self-contained HTML file (charts as embedded PNG) per request, stored through
Django's `reports` storage (filesystem under STATE_DIR/reports, or S3-compatible when configured)."""

from __future__ import annotations

import html

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from dsta.data import selectors
from dsta.data.charts import png_data_uri, pyplot
from dsta.data.contracts import CorrelationMatrix, PerformanceMetrics
from dsta.data.models import Report
from dsta.kernel.clock import utc_now

ALIAS = "data"
CORRELATION_WINDOW = 720


def _equity_chart(curves: dict[str, tuple[list, list, list]]) -> str:
    figure, (top, bottom) = pyplot().subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[3, 1])
    for symbol, (times, equity, drawdown) in curves.items():
        top.plot(times, equity, label=symbol, linewidth=1)
        bottom.plot(times, np.asarray(drawdown) * 100, linewidth=1)
    top.set_ylabel("equity (buy and hold of 10,000)")
    top.legend(loc="upper left")
    bottom.set_ylabel("drawdown %")
    return png_data_uri(figure, dpi=90)


def _correlation_chart(matrix: CorrelationMatrix) -> str:
    figure, axis = pyplot().subplots(figsize=(5, 4))
    image = axis.imshow(np.array(matrix.full_period), vmin=-1, vmax=1, cmap="RdBu_r")
    axis.set_xticks(range(len(matrix.symbols)), matrix.symbols, rotation=45)
    axis.set_yticks(range(len(matrix.symbols)), matrix.symbols)
    figure.colorbar(image)
    return png_data_uri(figure, dpi=90)


METRIC_ROWS = [
    ("total return", "total_return", "{:.2%}"),
    ("annualised return", "annualised_return", "{:.2%}"),
    ("volatility (annual)", "volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("Calmar", "calmar", "{:.2f}"),
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("max drawdown duration (days)", "max_drawdown_duration_seconds", "{}"),
    ("win rate", "win_rate", "{:.2%}"),
    ("profit factor", "profit_factor", "{:.3f}"),
    ("expectancy (per bar)", "expectancy", "{:.5%}"),
    ("exposure", "exposure", "{:.2%}"),
]


def _metrics_table(metrics: dict[str, PerformanceMetrics]) -> str:
    head = "".join(f"<th>{html.escape(symbol)}</th>" for symbol in metrics)
    rows = []
    for label, field, template in METRIC_ROWS:
        cells = []
        for result in metrics.values():
            value = getattr(result, field)
            if field == "max_drawdown_duration_seconds":
                value = round(value / 86400, 1)
            cells.append(f"<td>{template.format(value)}</td>")
        rows.append(f"<tr><th>{label}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def report_render(*, report_id: str) -> str:
    """Render the report and store it; returns its storage path. Failures are recorded on the row."""
    report = Report.objects.using(ALIAS).get(id=report_id)
    try:
        metrics, curves = {}, {}
        for symbol in report.symbols:
            query = {"exchange": report.exchange, "symbol": symbol, "timeframe": report.timeframe}
            metrics[symbol] = selectors.performance_get(**query, start=report.start, end=report.end)
            points = selectors.equity_curve_get(**query, start=report.start, end=report.end)
            curves[symbol] = ([p.time for p in points], [float(p.equity) for p in points], [p.drawdown for p in points])
        sections = [
            f"<h1>Performance report: {html.escape(', '.join(report.symbols))} ({report.timeframe}, "
            f"{html.escape(report.exchange)})</h1>",
            f"<p>Generated {utc_now():%Y-%m-%d %H:%M} UTC; buy and hold, forward-filled bars left out;"
            " risk-free rate 0.</p>",
            _metrics_table(metrics),
            f'<h2>Equity and drawdown</h2><img alt="equity" src="{_equity_chart(curves)}">',
        ]
        if len(report.symbols) > 1:
            matrix = selectors.correlation_get(
                exchange=report.exchange,
                symbols=list(report.symbols),
                timeframe=report.timeframe,
                window=CORRELATION_WINDOW,
                start=report.start,
                end=report.end,
            )
            sections.append(
                f"<h2>Correlation of returns ({matrix.bars} common bars)</h2>"
                f'<img alt="correlation" src="{_correlation_chart(matrix)}">'
            )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>DSTA report</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:right}</style>"
            f"</head><body>{''.join(sections)}</body></html>"
        )
        path = storages["reports"].save(f"{report.id}.html", ContentFile(page.encode()))
    except Exception as exc:
        report.status, report.error, report.finished_at = (
            Report.Status.FAILED,
            f"{type(exc).__name__}: {exc}",
            utc_now(),
        )
        report.save(using=ALIAS, update_fields=["status", "error", "finished_at"])
        raise
    report.status, report.path, report.finished_at = Report.Status.DONE, path, utc_now()
    report.save(using=ALIAS, update_fields=["status", "path", "finished_at"])
    return path
