// team_script.js: the supervisor page: reads /v1/me/team with the link's token.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const states = { on_track: "on track", behind: "behind", met: "met", missed: "missed" };
  function row(tbody, cells, cls) {
    const tr = document.createElement("tr");
    if (cls) tr.className = cls;
    cells.forEach((c) => { const td = document.createElement("td"); td.textContent = c; tr.append(td); });
    tbody.append(tr);
  }
  const share = (x) => x.metric === "complete" || x.metric === "on_time";
  // periods met (the streak) or missed in a row up to this one, as the last close left them
  const streak = (x) => (x.streak ? "met " + x.streak : x.misses ? "missed " + x.misses : "");
  function done(x) {
    return share(x) ? (x.share === undefined ? 0 : x.share) + "% of " + x.judged : String(x.figure);
  }
  function draw(t) {
    $("title").textContent = "My team · " + t.supervisor;
    $("people").textContent = t.people;
    $("ontrack").textContent = t.pacing.filter((x) => x.state !== "behind").length;
    $("behind").textContent = t.pacing.filter((x) => x.state === "behind").length;
    $("open").textContent = t.misses.filter((x) => x.followups === 0).length;
    const p = $("pacing").tBodies[0]; p.replaceChildren();
    t.pacing.forEach((x) => row(p, [x.name, x.text || x.commitment, done(x),
      share(x) ? x.expected + "%" : x.expected, share(x) ? x.target + "%" : x.target,
      states[x.state] || x.state, streak(x), x.acknowledged_at ? "yes" : "not yet"], "state-" + x.state));
    const names = {}; // the directory's names, as the pacing rows carry them
    t.pacing.forEach((x) => { names[x.participant] = x.name; });
    const m = $("misses").tBodies[0]; m.replaceChildren();
    t.misses.forEach((x) => row(m, [names[x.participant] || x.participant, names[x.supervisor] || x.supervisor, x.text || x.commitment, x.period,
      share(x) ? (x.judged ? Math.floor(100 * x.figure / x.judged) : 0) + "% of " + x.judged : String(x.figure), share(x) ? x.target + "%" : x.target,
      x.misses, x.followups ? x.last_kind + " " + x.last_on : "open"], x.followups ? "" : "open"));
    if (t.misses.length) $("misses-title").textContent = "Follow-up list · " + t.misses[0].period;
    const r = $("rates").tBodies[0]; r.replaceChildren();
    t.rates.forEach((x) => row(r, [x.supervisor, x.misses, x.followed_up,
      (x.misses ? Math.round(100 * x.followed_up / x.misses) : 100) + "%"]));
  }
  function load() {
    fetch("/v1/me/team", { headers: { Authorization: "Bearer " + token } })
      .then((r) => r.json().then((j) => ({ ok: r.ok, j })))
      .then(({ ok, j }) => {
        $("status").textContent = ok ? "up to date" : j.error;
        $("status").className = "status " + (ok ? "up" : "down");
        if (ok) draw(j);
      })
      .catch(() => { $("status").textContent = "offline"; $("status").className = "status down"; });
  }
  load();
  setInterval(load, 30000);
})();
