/* Report charts: reads the specifications from the page's JSON block and draws them with ECharts.
   No inline script (CSP); the chart data is passed as application/json, never evaluated. */
(function () {
  "use strict";

  function option(spec) {
    var base = { title: { text: spec.title, left: "center", textStyle: { fontSize: 14 } },
                 tooltip: { trigger: spec.type === "pie" ? "item" : "axis" }, animation: false };
    if (spec.type === "pie") {
      base.legend = { bottom: 0, type: "scroll" };
      base.series = [{ type: "pie", radius: ["35%", "65%"], data: spec.data }];
      return base;
    }
    base.legend = { bottom: 0 };
    base.grid = { left: 60, right: 20, top: 40, bottom: 60 };
    base.xAxis = { type: "category", data: spec.categories, axisLabel: { interval: 0, rotate: spec.categories.length > 6 ? 30 : 0 } };
    base.yAxis = { type: "value" };
    base.series = spec.series.map(function (s) { return { type: "bar", name: s.name, data: s.data }; });
    return base;
  }

  function draw() {
    var holder = document.querySelector("[data-report-charts]");
    if (!holder || !window.echarts) { return; }
    var source = document.getElementById(holder.dataset.reportCharts);
    var specs = JSON.parse(source.textContent);
    holder.style.display = "grid";
    holder.style.gridTemplateColumns = "repeat(auto-fit, minmax(420px, 1fr))";
    holder.style.gap = "1rem";
    var drawn = [];
    specs.forEach(function (spec) {
      var el = holder.querySelector('[data-chart="' + spec.id + '"]');
      if (!el) { return; }
      el.style.height = "320px";
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(spec));
      drawn.push(chart);
    });
    window.addEventListener("resize", function () { drawn.forEach(function (c) { c.resize(); }); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
