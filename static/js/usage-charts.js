// Draws the usage and gateway pages' charts with uPlot (static/vendor, pinned) from the JSON the page
// embeds (#usage-data); the same numbers are in the tables beneath, so the page works without it.
(function () {
  "use strict";
  var source = document.getElementById("usage-data");
  if (!source || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#3d6bf2", "#e0752d", "#1f9d6b", "#b04bd0", "#d9415b", "#5c6b82", "#c29a12", "#1aa3b8"];
  var dayFmt = {
    day: "{YYYY}-{MM}-{DD}",
    hour: "{YYYY}-{MM}-{DD} {HH}:00",
    minute: "{HH}:{mm}",
  }[data.granularity] || "{YYYY}-{MM}-{DD} {HH}:00";

  function series(label, i, values) {
    return { label: label, stroke: palette[i % palette.length], width: 2, points: { show: values.length < 60 } };
  }

  function draw(el, names, columns, valueFmt) {
    var opts = {
      width: el.clientWidth || 600,
      height: 220,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), data.tz); },
      series: [{ value: dayFmt }].concat(names.map(function (name, i) {
        var s = series(name, i, columns[i]);
        s.value = function (u, v) { return v == null ? "—" : valueFmt(v); };
        return s;
      })),
      axes: [{}, { values: function (u, ticks) { return ticks.map(valueFmt); }, size: 70 }],
      scales: { x: { time: true } },
    };
    var plot = new uPlot(opts, [data.x].concat(columns), el);
    window.addEventListener("resize", function () {
      plot.setSize({ width: el.clientWidth, height: 220 });
    });
  }

  var count = function (v) { return Math.round(v).toLocaleString(); };
  // Cost arrives in integer micro-dollars; dividing here is for drawing only (the tables
  // show the exact amounts).
  var dollars = function (v) { return "$" + (v / 1e6).toFixed(v >= 1e6 || v === 0 ? 2 : 4); };

  document.querySelectorAll("[data-usage-chart]").forEach(function (el) {
    var kind = el.getAttribute("data-usage-chart");
    if (kind === "requests") {
      draw(el, data.models, data.models.map(function (m) { return data.requests[m]; }), count);
    } else if (kind === "cost") {
      draw(el, data.models, data.models.map(function (m) { return data.cost_micros[m]; }), dollars);
    } else if (kind === "tokens") {
      draw(el, ["Input tokens", "Output tokens"], [data.input_tokens, data.output_tokens], count);
    } else if (kind === "series") {
      // Named series of counts (the gateway page): data.names and data.series.
      draw(el, data.names, data.series, count);
    }
  });
})();
