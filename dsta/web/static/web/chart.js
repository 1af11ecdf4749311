// Candles + SMA with lightweight-charts; new closed candles arrive over the market-data WebSocket
// (/api/v1/market-data/stream/{symbol}, authenticated by the session cookie).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const container = document.getElementById("chart");
  const chart = LightweightCharts.createChart(container, {
    height: 480,
    layout: { background: { color: "#ffffff" }, textColor: "#222" },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const candles = chart.addCandlestickSeries();
  const sma = chart.addLineSeries({ color: "#2166ac", lineWidth: 2 });
  const bars = data.candles.slice();
  candles.setData(bars);
  sma.setData(data.sma);
  chart.timeScale().fitContent();
  new ResizeObserver(() => chart.applyOptions({ width: container.clientWidth })).observe(container);

  const state = document.getElementById("stream-state");
  const count = document.getElementById("live-count");
  const lastClose = document.getElementById("last-close");
  const lastTime = document.getElementById("last-time");
  let live = 0;

  function smaAt(index) {
    if (index + 1 < data.sma_period) return null;
    let sum = 0;
    for (let i = index - data.sma_period + 1; i <= index; i++) sum += bars[i].close;
    return sum / data.sma_period;
  }

  function onCandle(message) {
    if (message.exchange !== data.exchange || message.timeframe !== data.timeframe) return;
    const bar = {
      time: Math.floor(Date.parse(message.open_time) / 1000),
      open: Number(message.open),
      high: Number(message.high),
      low: Number(message.low),
      close: Number(message.close),
    };
    const last = bars[bars.length - 1];
    if (last && bar.time < last.time) return; // an older bar (a backfill) is not drawn live
    if (last && bar.time === last.time) bars[bars.length - 1] = bar;
    else bars.push(bar);
    candles.update(bar);
    const value = smaAt(bars.length - 1);
    if (value !== null) sma.update({ time: bar.time, value: value });
    live += 1;
    count.textContent = String(live);
    lastClose.textContent = message.close;
    lastTime.textContent = message.open_time.slice(0, 16).replace("T", " ");
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}/api/v1/market-data/stream/${data.stream}`);
    socket.onopen = () => { state.textContent = "live"; };
    socket.onmessage = (event) => onCandle(JSON.parse(event.data));
    socket.onclose = (event) => {
      // 4401/4403: not signed in or not allowed; do not retry those.
      state.textContent = event.code === 4401 || event.code === 4403 ? `refused (${event.code})` : "reconnecting";
      if (event.code !== 4401 && event.code !== 4403) setTimeout(connect, 2000);
    };
  }
  connect();
})();
