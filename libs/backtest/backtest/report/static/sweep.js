/* huice sweep report: draws the parameter heatmap from the JSON in #report-data with the inlined ECharts.
   No network: every byte this page needs is in the file. Data is read with JSON.parse and written to the
   page only as text (never as HTML). The chart instances are kept in window.huiceReport. */
(function () {
  "use strict";
  var FONT = getComputedStyle(document.body).fontFamily;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var charts = {};
  window.huiceReport = { charts: charts, data: data };

  var h = data.heatmap;
  var el = document.getElementById("chart-heatmap");
  if (el && h && h.x_values.length && h.y_values.length) {
    var chart = echarts.init(el, null, { renderer: "canvas" });
    charts["chart-heatmap"] = chart;
    var cells = [];
    var lo = Infinity;
    var hi = -Infinity;
    for (var i = 0; i < h.y_values.length; i++) {
      for (var j = 0; j < h.x_values.length; j++) {
        var v = h.z[i][j];
        if (v === null || v === undefined) continue;
        cells.push([j, i, v]);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (!cells.length) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: FONT },
      tooltip: {
        position: "top",
        formatter: function (p) {
          return h.x + "=" + h.x_values[p.value[0]] + "，" + h.y + "=" + h.y_values[p.value[1]] + "：" +
            h.metric + " " + p.value[2].toFixed(4);
        }
      },
      grid: { left: 80, right: 100, top: 20, bottom: 60 },
      xAxis: { type: "category", data: h.x_values.map(String), name: h.x, nameLocation: "middle", nameGap: 30,
               splitArea: { show: true } },
      yAxis: { type: "category", data: h.y_values.map(String), name: h.y, nameLocation: "middle", nameGap: 50,
               splitArea: { show: true } },
      visualMap: {
        min: lo, max: hi, precision: 2, calculable: true, orient: "vertical", right: 10, top: "middle",
        text: ["高", "低"], inRange: { color: ["#2f8f46", "#f7f7f7", "#c23531"] }
      },
      series: [{
        name: h.metric, type: "heatmap", data: cells,
        label: { show: h.x_values.length * h.y_values.length <= 400, fontSize: 10,
                 formatter: function (p) { return p.value[2].toFixed(2); } },
        emphasis: { itemStyle: { borderColor: "#333", borderWidth: 1 } }
      }]
    });
  }

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
  });
  document.documentElement.setAttribute("data-report-ready", "1");
})();
