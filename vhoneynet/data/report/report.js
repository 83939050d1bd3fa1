// Plots and session players of a vhoneynet report, from the JSON in #report-data.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var palette = ["#3a7bd5", "#c0392b", "#27ae60", "#8e44ad", "#e67e22", "#16a085", "#d35400", "#2c3e50",
                 "#f1c40f", "#7f8c8d", "#e84393", "#00b894", "#6c5ce7", "#fd79a8", "#636e72", "#0984e3", "#b33939"];

  function width(el) { return Math.max(400, Math.min(1100, el.clientWidth || 900)); }

  function timeline() {
    var el = document.getElementById("timeline-plot"), t = data.timeline;
    if (!el || !t.x.length) return;
    var types = Object.keys(t.series);
    var series = [{}].concat(types.map(function (kind, i) {
      return { label: kind, stroke: palette[i % palette.length], width: 1.5, points: { show: t.x.length < 60 } };
    }));
    new uPlot({ width: width(el), height: 300, series: series, axes: [{}, { label: "events per " + t.unit }],
                scales: { x: { time: true } } },
              [t.x].concat(types.map(function (kind) { return t.series[kind]; })), el);
  }

  function outbound() {
    var el = document.getElementById("outbound-plot"), rows = data.outbound.rows;
    if (!el || !rows.length) return;
    var labels = rows.map(function (r) { return r.honeypot + " " + r.proto; });
    var x = rows.map(function (_, i) { return i; });
    var bars = uPlot.paths.bars({ size: [0.35, 60] });
    var series = [{ label: "honeypot, protocol", value: function (u, v) { return v == null ? "--" : labels[v]; } },
                  { label: "most new connections in one " + data.outbound.window, fill: "#3a7bd5", stroke: "#3a7bd5", paths: bars, points: { show: false } }];
    var columns = [x, rows.map(function (r) { return r.peak; })];
    if (data.outbound.known) {
      series.push({ label: "limit per " + data.outbound.window, stroke: "#c0392b", width: 2, dash: [6, 4], points: { show: true } });
      columns.push(rows.map(function (r) { return r.limit; }));
    }
    new uPlot({ width: width(el), height: 260, series: series,
                scales: { x: { time: false, range: [-0.6, rows.length - 0.4] } },
                axes: [{ splits: function () { return x; },
                         values: function (u, vals) { return vals.map(function (v) { return labels[v] || ""; }); } },
                       { label: "connections" }] }, columns, el);
  }

  function players() {
    document.querySelectorAll(".player").forEach(function (root) {
      var session = data.sessions[parseInt(root.getAttribute("data-session"), 10)];
      new VhnPlayer.Player(root, session);
      var link = root.querySelector(".cast");
      link.href = URL.createObjectURL(new Blob([session.cast], { type: "application/x-asciicast" }));
      link.download = session.name + ".cast";
    });
  }

  timeline();
  outbound();
  players();
})();
