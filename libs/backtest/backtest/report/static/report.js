/* huice run report: draws the charts from the JSON in #report-data with the inlined ECharts.
   No network: every byte this page needs is in the file. Data is read with JSON.parse and written to
   the page only as text (never as HTML). The chart instances are kept in window.huiceReport. */
(function () {
  "use strict";
  var FONT = getComputedStyle(document.body).fontFamily;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var charts = {};
  window.huiceReport = { charts: charts, data: data };

  function pct(v, digits) {
    return v === null || v === undefined ? "—" : (v * 100).toFixed(digits === undefined ? 2 : digits) + "%";
  }
  function pairs(xs, ys) {
    var out = new Array(xs.length);
    for (var i = 0; i < xs.length; i++) out[i] = [xs[i], ys[i]];
    return out;
  }
  function init(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    var chart = echarts.init(el, null, { renderer: "canvas" });
    charts[id] = chart;
    return chart;
  }

  var c = data.curves;
  var equity = init("chart-equity");
  if (equity && c.ts.length) {
    var series = [
      {
        name: "策略净值", type: "line", data: pairs(c.ts, c.equity), showSymbol: false, sampling: "lttb",
        lineStyle: { width: 1.5 }, color: "#c23531",
        markArea: {
          silent: true, itemStyle: { color: "rgba(84, 112, 198, 0.12)" },
          label: { show: true, position: "insideTop", fontFamily: FONT, fontSize: 11, color: "#555" },
          data: data.drawdowns.map(function (d, i) {
            return [{ name: "回撤 " + (i + 1) + " " + pct(d.depth, 1), xAxis: d.peak },
                    { xAxis: d.recovery || c.ts[c.ts.length - 1] }];
          })
        }
      },
      {
        name: "回撤", type: "line", xAxisIndex: 1, yAxisIndex: 1, data: pairs(c.ts, c.drawdown),
        showSymbol: false, sampling: "lttb", lineStyle: { width: 1 }, color: "#5470c6", areaStyle: { opacity: 0.35 }
      }
    ];
    if (c.benchmark) {
      series.splice(1, 0, {
        name: "基准", type: "line", data: pairs(c.ts, c.benchmark), showSymbol: false, sampling: "lttb",
        lineStyle: { width: 1, type: "dashed" }, color: "#7f7f7f"
      });
    }
    equity.setOption({
      animation: false,
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return typeof v === "number" ? v.toFixed(4) : v; } },
      legend: { top: 0, data: series.map(function (s) { return s.name; }) },
      axisPointer: { link: [{ xAxisIndex: "all" }] },
      grid: [{ left: 70, right: 30, top: 36, height: "52%" }, { left: 70, right: 30, top: "68%", height: "17%" }],
      xAxis: [{ type: "time", gridIndex: 0 }, { type: "time", gridIndex: 1, axisLabel: { show: false } }],
      yAxis: [
        { type: "value", scale: true, name: "净值（初始=1）", nameTextStyle: { fontFamily: FONT } },
        { type: "value", gridIndex: 1, max: 0, name: "回撤", axisLabel: { formatter: function (v) { return pct(v, 0); } } }
      ],
      dataZoom: [
        { type: "inside", xAxisIndex: [0, 1], start: 0, end: 100 },
        { type: "slider", xAxisIndex: [0, 1], start: 0, end: 100, bottom: 8, height: 22 }
      ],
      series: series
    });
  }

  var yearly = init("chart-yearly");
  if (yearly && data.yearly.length) {
    var ys = [{ name: "策略", type: "bar", data: data.yearly.map(function (r) { return r.strategy; }), color: "#c23531" }];
    if (data.yearly.some(function (r) { return r.benchmark !== null && r.benchmark !== undefined; })) {
      ys.push({ name: "基准", type: "bar", data: data.yearly.map(function (r) { return r.benchmark; }), color: "#7f7f7f" });
    }
    yearly.setOption({
      animation: false, textStyle: { fontFamily: FONT }, legend: { top: 0 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return pct(v); } },
      grid: { left: 60, right: 20, top: 30, bottom: 30 },
      xAxis: { type: "category", data: data.yearly.map(function (r) { return String(r.period); }) },
      yAxis: { type: "value", axisLabel: { formatter: function (v) { return pct(v, 0); } } },
      series: ys
    });
  }

  var dist = init("chart-distribution");
  var d = data.distribution;
  if (dist && d.counts && d.counts.length) {
    var labels = d.counts.map(function (_, i) { return pct((d.edges[i] + d.edges[i + 1]) / 2, 2); });
    dist.setOption({
      animation: false, textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "category", data: labels, name: "单期收益", nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "value", name: "次数" },
      series: [{ type: "bar", name: "次数", data: d.counts, color: "#5470c6", barCategoryGap: "5%" }]
    });
  }

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
  });
  document.documentElement.setAttribute("data-report-ready", "1");
})();
