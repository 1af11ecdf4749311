// Equity and drawdown of a finished backtest, with its trades as markers on the equity line. Runs on page
// load and again when htmx swaps the finished status block in.
(function () {
  "use strict";
  function draw() {
    const source = document.getElementById("equity-data");
    const target = document.getElementById("equity-chart");
    if (!source || !target || target.dataset.drawn) return;
    target.dataset.drawn = "1";
    const data = JSON.parse(source.textContent);
    const options = { layout: { background: { color: "#ffffff" }, textColor: "#222" }, timeScale: { timeVisible: true } };
    const equityChart = LightweightCharts.createChart(target, { ...options, height: 300 });
    const equity = equityChart.addLineSeries({ color: "#2166ac", lineWidth: 2 });
    equity.setData(data.equity);
    equity.setMarkers(data.markers);
    equityChart.timeScale().fitContent();
    const drawdownTarget = document.getElementById("drawdown-chart");
    const drawdownChart = LightweightCharts.createChart(drawdownTarget, { ...options, height: 160 });
    const drawdown = drawdownChart.addAreaSeries({
      lineColor: "#d73027", topColor: "rgba(215,48,39,0.05)", bottomColor: "rgba(215,48,39,0.4)", invertFilledArea: true,
    });
    drawdown.setData(data.drawdown);
    drawdownChart.timeScale().fitContent();
    const low = Math.min(...data.drawdown.map((point) => point.value));
    document.getElementById("equity-status").textContent =
      `${data.equity.length} equity points · ${data.markers.length / 2} trades marked · max drawdown ${low.toFixed(2)}%`;
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
