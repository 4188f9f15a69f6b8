// The digitization progress page: draws its charts with the vendored Chart.js (static/vendor/chart.umd.js).
// The numbers come in <script type="application/json" id="coverage-data"> (data, not code: the
// Content-Security-Policy allows it); every figure is also on the page as a table, so without this file
// nothing is lost but the pictures.
"use strict";

(function () {
  const COLORS = {
    students_expected: "#9aa3ad",
    records_issued: "#0b5cad",
    fields_flagged: "#a34700",
    reviews_open: "#b00020",
    reviews_done: "#1d7a36",
    records_issued_day: "#0b5cad",
  };

  function num(v) {
    return Number(v).toLocaleString("vi-VN");
  }

  function pct(v) {
    return Number(v).toLocaleString("vi-VN", { minimumFractionDigits: 1, maximumFractionDigits: 1 }) + "%";
  }

  // "2024-05-31" → "31/05"
  function shortDay(iso) {
    const p = iso.split("-");
    return p.length === 3 ? p[2] + "/" + p[1] : iso;
  }

  function common() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
    };
  }

  function drawSchools(canvas, data, labels) {
    const s = data.schools;
    // Horizontal bars, one row per school: the box grows with the number of schools.
    const box = canvas.parentElement;
    box.style.height = Math.max(220, 34 * s.labels.length + 90) + "px";
    const options = common();
    options.indexAxis = "y";
    options.scales = { x: { beginAtZero: true, ticks: { callback: function (v) { return num(v); } } } };
    options.plugins.tooltip = {
      callbacks: {
        label: function (ctx) { return ctx.dataset.label + ": " + num(ctx.parsed.x); },
        footer: function (items) {
          const i = items.length ? items[0].dataIndex : -1;
          return i >= 0 ? labels.coverage_pct + ": " + pct(s.coverage_pct[i]) : "";
        },
      },
    };
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: s.labels,
        datasets: [
          { label: labels.students_expected, data: s.students_expected, backgroundColor: COLORS.students_expected },
          { label: labels.records_issued, data: s.records_issued, backgroundColor: COLORS.records_issued },
        ],
      },
      options: options,
    });
  }

  function line(label, values, color, dashed) {
    return {
      label: label, data: values, borderColor: color, backgroundColor: color, borderWidth: 2,
      // A day or two is no line: show the points themselves.
      pointRadius: values.length < 3 ? 5 : values.length > 60 ? 0 : 2, tension: 0,
      borderDash: dashed ? [6, 4] : [], pointStyle: values.length < 3 ? "circle" : "line",
    };
  }

  function drawBacklog(canvas, data, labels) {
    const b = data.backlog;
    const options = common();
    options.scales = {
      x: { ticks: { autoSkip: true, maxRotation: 0 } },
      y: { beginAtZero: true, ticks: { precision: 0, callback: function (v) { return num(v); } } },
    };
    options.plugins.legend.labels = { usePointStyle: true, pointStyleWidth: 28 };
    options.plugins.tooltip = {
      callbacks: {
        title: function (items) { return items.length ? b.days[items[0].dataIndex] : ""; },
        label: function (ctx) { return ctx.dataset.label + ": " + num(ctx.parsed.y); },
      },
    };
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: b.days.map(shortDay),
        datasets: [
          line(labels.fields_flagged, b.fields_flagged, COLORS.fields_flagged, true),
          line(labels.reviews_open, b.reviews_open, COLORS.reviews_open, false),
          line(labels.reviews_done, b.reviews_done, COLORS.reviews_done, false),
          line(labels.records_issued_day, b.records_issued, COLORS.records_issued_day, false),
        ],
      },
      options: options,
    });
  }

  function init() {
    const el = document.getElementById("coverage-data");
    if (!el || typeof Chart === "undefined") return;
    const data = JSON.parse(el.textContent);
    const labels = data.labels || {};
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#1b1f24";
    const schools = document.getElementById("chart-schools");
    if (schools && data.schools.labels.length) drawSchools(schools, data, labels);
    const backlog = document.getElementById("chart-backlog");
    if (backlog && data.backlog.days.length) drawBacklog(backlog, data, labels);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
