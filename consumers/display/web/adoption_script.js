// adoption_script.js: the adoption page: reads /v1/programs/{P}/adoption with
// the link's manager token (?program=P&token=T; period, segment, periods, at,
// band and team are passed on) and draws it with Chart.js, when the server has
// it. Every figure shown carries the API's value in an id or a data attribute
// (data-value: the number as the API gives it, "" for null), and
// body[data-ready] is "1" once everything is drawn, "error" when it failed.
"use strict";
(function () {
  const args = new URLSearchParams(location.search);
  const token = args.get("token") || "";
  const program = args.get("program") || "";
  const $ = (id) => document.getElementById(id);
  const charts = typeof window.Chart === "function";
  const palette = ["#ff8a1f", "#38d27a", "#4aa8ff", "#c77dff", "#ffd23f", "#ff5c5c", "#2ec4b6", "#f78fb3"];
  const dim = "#8a99a8", grid = "#223344";
  const drawn = {}; // the Chart objects, by canvas id, destroyed before a redraw
  const segments = new Set(); // every segment seen in an unfiltered report, for the selector

  const int = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US"));
  const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
  const dec = (x) => (x === null || x === undefined ? "–" : Number(x).toFixed(2));

  // A figure: its text for people, its value for tests.
  function figure(el, value, format) {
    el.textContent = format(value);
    el.dataset.value = value === null || value === undefined ? "" : String(value);
  }

  function row(tbody, cells, attrs) {
    const tr = document.createElement("tr");
    Object.entries(attrs || {}).forEach(([k, v]) => { tr.dataset[k] = v; });
    cells.forEach(([field, value, text]) => {
      const td = document.createElement("td");
      td.dataset.field = field;
      td.dataset.value = value === null || value === undefined ? "" : String(value);
      td.textContent = text !== undefined ? text : td.dataset.value;
      tr.append(td);
    });
    tbody.append(tr);
  }

  function draw(id, config, labels, series) {
    const canvas = $(id);
    // what the chart shows, for a test to compare with the API
    canvas.dataset.labels = JSON.stringify(labels);
    canvas.dataset.series = JSON.stringify(series);
    canvas.dataset.colors = JSON.stringify(config.data.datasets.map((d) => d.borderColor || d.backgroundColor));
    if (drawn[id]) drawn[id].destroy();
    delete drawn[id];
    if (!charts) return;
    config.options = Object.assign({
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { labels: { color: dim, boxWidth: 14 } } },
      scales: {
        x: { ticks: { color: dim }, grid: { color: grid } },
        y: { beginAtZero: true, ticks: { color: dim, precision: 0 }, grid: { color: grid } },
      },
    }, config.options || {});
    drawn[id] = new window.Chart(canvas, config);
  }

  const line = (label, data, i) => ({
    label, data, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
    borderWidth: i === 0 ? 3 : 2, pointRadius: 2, spanGaps: true,
  });

  function segmentNames(r) {
    const names = new Set();
    r.periods.forEach((p) => Object.keys(p.by_segment || {}).forEach((s) => names.add(s)));
    return [...names].sort();
  }

  function drawCharts(r) {
    const labels = r.periods.map((p) => p.period);
    const segs = segmentNames(r);
    const bySeg = (field) => segs.map((s) => r.periods.map((p) => ((p.by_segment || {})[s] || {})[field] || 0));
    // (a) active participants, overall and per segment
    // (filtered to one segment, the overall line is that segment's)
    const one = r.filters.segment;
    const active = [r.periods.map((p) => p.active)].concat(one ? [] : bySeg("active"));
    draw("chart-active", {
      type: "line",
      data: { labels, datasets: active.map((d, i) => line(i === 0 ? one || "all" : segs[i - 1] || "(none)", d, i)) },
    }, labels, active);
    // (b) activities per segment (a report with no segments: all of them)
    const acts = segs.length ? bySeg("activities") : [r.periods.map((p) => p.activities)];
    draw("chart-activities", {
      type: "line",
      data: { labels, datasets: acts.map((d, i) => line(segs.length ? segs[i] || "(none)" : "all", d, i + 1)) },
    }, labels, acts);
    // (d) complete and on-time shares, percent (null: nothing judged, a gap)
    const share = (x) => (x === null || x === undefined ? null : Math.round(1000 * x) / 10);
    const shares = [r.periods.map((p) => share(p.complete.share)), r.periods.map((p) => share(p.on_time.share))];
    draw("chart-shares", {
      type: "line",
      data: { labels, datasets: [line("complete", shares[0], 1), line("on time", shares[1], 2)] },
      options: {
        scales: {
          x: { ticks: { color: dim }, grid: { color: grid } },
          y: { min: 0, max: 100, ticks: { color: dim, callback: (v) => v + "%" }, grid: { color: grid } },
        },
        plugins: { legend: { labels: { color: dim, boxWidth: 14 } },
          tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + (c.raw === null ? "–" : c.raw + "%") } } },
      },
    }, labels, shares);
    // (e) days active in the last period: index k, participants active on k days
    const last = r.periods[r.periods.length - 1];
    const days = last.days_active || [];
    const dl = days.map((_, k) => String(k));
    draw("chart-days", {
      type: "bar",
      data: { labels: dl, datasets: [{ label: "participants", data: days, backgroundColor: palette[0] }] },
      options: {
        plugins: { legend: { display: false } },
        scales: {
          x: { ticks: { color: dim }, grid: { color: grid },
            title: { display: true, color: dim, text: "days with an activity (0: eligible, not active)" } },
          y: { beginAtZero: true, ticks: { color: dim, precision: 0 }, grid: { color: grid },
            title: { display: true, color: dim, text: "participants" } },
        },
      },
    }, dl, [days]);
  }

  // (c) a heat map of active participants per day: a grid of cells, a column
  // per week (Monday first), a row per weekday; each cell's number in its
  // data-active, its title and (when the cells are wide enough) its text.
  function drawHeatmap(r) {
    const h = $("heatmap");
    h.replaceChildren();
    const days = r.heatmap || [];
    if (!days.length) return;
    const dayMs = 86400000;
    const utc = (d) => Date.parse(d + "T00:00:00Z");
    const weekday = (d) => (new Date(utc(d)).getUTCDay() + 6) % 7; // Monday 0
    const monday0 = utc(days[0].day) - weekday(days[0].day) * dayMs;
    const col = (d) => Math.floor((utc(d) - monday0) / dayMs / 7);
    const cols = col(days[days.length - 1].day) + 1;
    const max = Math.max(1, ...days.map((x) => x.active));
    h.style.gridTemplateColumns = "3em repeat(" + cols + ", minmax(0, 1fr))";
    h.classList.toggle("narrow", cols > 26);
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].forEach((w, i) => {
      const l = document.createElement("div");
      l.className = "wd";
      l.textContent = w;
      l.style.gridRow = String(i + 2);
      l.style.gridColumn = "1";
      h.append(l);
    });
    const every = Math.max(1, Math.ceil(cols / 13));
    for (let c = 0; c < cols; c += every) {
      const l = document.createElement("div");
      l.className = "wk";
      l.textContent = new Date(monday0 + c * 7 * dayMs).toISOString().slice(5, 10);
      l.style.gridRow = "1";
      l.style.gridColumn = c + 2 + " / span " + Math.min(every, cols - c);
      h.append(l);
    }
    days.forEach((x) => {
      const cell = document.createElement("div");
      cell.className = "cell";
      cell.dataset.day = x.day;
      cell.dataset.active = String(x.active);
      cell.title = x.day + ": " + x.active + " active";
      cell.textContent = cols > 26 ? "" : String(x.active);
      const v = x.active / max;
      if (x.active) cell.style.background = "rgba(255, 138, 31, " + (0.15 + 0.85 * v).toFixed(3) + ")";
      if (v > 0.6) cell.classList.add("hot");
      cell.style.gridRow = String(weekday(x.day) + 2);
      cell.style.gridColumn = String(col(x.day) + 2);
      h.append(cell);
    });
  }

  function drawKpis(r) {
    const p = r.periods[r.periods.length - 1];
    $("last-title").textContent = "Last period · " + p.period + " (" + p.start + " to " + p.end + ")";
    $("last-title").dataset.period = p.period;
    figure($("kpi-eligible"), p.eligible, int);
    figure($("kpi-active"), p.active, int);
    figure($("kpi-activities"), p.activities, int);
    figure($("kpi-per-active"), p.per_active, dec);
    figure($("kpi-complete"), p.complete.share, pct);
    figure($("kpi-on-time"), p.on_time.share, pct);
    figure($("kpi-top10"), p.top10_share, pct);
    figure($("kpi-quiet"), p.quiet, int);
    figure($("kpi-new"), p.new, int);
    $("days-title").textContent = "Days active in " + p.period;
  }

  function drawTables(r) {
    const t = $("periods").tBodies[0];
    t.replaceChildren();
    r.periods.forEach((p) => row(t, [
      ["period", p.period], ["start", p.start], ["end", p.end], ["eligible", p.eligible, int(p.eligible)],
      ["active", p.active, int(p.active)], ["activities", p.activities, int(p.activities)],
      ["per_active", p.per_active, dec(p.per_active)], ["complete", p.complete.share, pct(p.complete.share)],
      ["on_time", p.on_time.share, pct(p.on_time.share)], ["top10_share", p.top10_share, pct(p.top10_share)],
      ["quiet", p.quiet, int(p.quiet)], ["new", p.new, int(p.new)],
    ], { period: p.period }));
    const q = $("quiet").tBodies[0];
    q.replaceChildren();
    r.quiet.forEach((x) => row(q, [
      ["participant_id", x.participant_id], ["name", x.name], ["segment", x.segment], ["team_id", x.team_id],
      ["last_active", x.last_active], ["activities_before", x.activities_before, int(x.activities_before)],
    ], { participant: x.participant_id }));
    if (!r.quiet.length) row(q, [["none", "", "nobody: everyone active the period before is active in this one"]]);
    const f = $("refusals").tBodies[0];
    f.replaceChildren();
    r.refusals.forEach((x) => row(f, [
      ["stage", x.stage], ["source", x.source], ["reason", x.reason], ["refused", x.refused, int(x.refused)],
    ]));
    if (!r.refusals.length) row(f, [["none", "", "none in these periods"]]);
  }

  function fail(text) {
    $("error").textContent = text;
    $("error").hidden = false;
    $("status").textContent = "error";
    $("status").className = "status down";
    document.body.dataset.ready = "error";
  }

  function query() {
    const q = new URLSearchParams();
    q.set("period", $("period").value);
    if ($("segment").value) q.set("segment", $("segment").value);
    ["periods", "at", "band", "team"].forEach((k) => { if (args.get(k)) q.set(k, args.get(k)); });
    return q;
  }

  function load() {
    document.body.dataset.ready = "0";
    $("status").textContent = "loading";
    $("status").className = "status";
    const q = query();
    // the page's own URL follows the selectors, so a reload or a bookmark keeps them
    const own = new URLSearchParams(args);
    own.set("period", q.get("period"));
    if (q.get("segment")) own.set("segment", q.get("segment")); else own.delete("segment");
    history.replaceState(null, "", "?" + own.toString());
    fetch("/v1/programs/" + encodeURIComponent(program) + "/adoption?" + q.toString(),
      { headers: { Authorization: "Bearer " + token }, cache: "no-store" })
      .then((res) => res.json().then((j) => ({ ok: res.ok, status: res.status, j }),
        () => ({ ok: false, status: res.status, j: { error: "an answer that is not JSON" } })))
      .then(({ ok, status, j }) => {
        if (!ok) return fail(status + ": " + (j.error || "failed"));
        if (!j.filters.segment) segmentNames(j).forEach((s) => segments.add(s));
        const sel = $("segment"), want = j.filters.segment || "";
        if (want) segments.add(want);
        sel.replaceChildren(new Option("all", ""), ...[...segments].sort().map((s) => new Option(s, s)));
        sel.value = want;
        $("title").textContent = "Adoption · " + j.program;
        const f = j.filters;
        $("scope").textContent = j.timezone + (f.band ? " · band " + f.band : "") + (f.team ? " · team " + f.team : "");
        $("error").hidden = true;
        drawKpis(j);
        drawTables(j);
        drawHeatmap(j);
        drawCharts(j);
        $("status").textContent = "up to date";
        $("status").className = "status up";
        // ready once the browser has painted what was drawn
        requestAnimationFrame(() => requestAnimationFrame(() => { document.body.dataset.ready = "1"; }));
      })
      .catch((e) => fail("the server cannot be reached (" + e.message + ")"));
  }

  if (!charts) {
    $("chart-note").hidden = false;
    $("periods-box").open = true;
    document.querySelectorAll(".chart-box").forEach((b) => { b.parentNode.hidden = true; });
  }
  if (args.get("period")) $("period").value = args.get("period");
  if (args.get("segment")) {
    segments.add(args.get("segment"));
    $("segment").append(new Option(args.get("segment"), args.get("segment")));
    $("segment").value = args.get("segment");
  }
  $("period").addEventListener("change", load);
  $("segment").addEventListener("change", load);
  if (!program || !token) fail("the link needs ?program=P&token=T (a manager's token: carrot-board token add --kind manager)");
  else load();
})();
