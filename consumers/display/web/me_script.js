// me_script.js: the participant page: reads /v1/me with the link's token.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  function row(tbody, cells) {
    const tr = document.createElement("tr");
    cells.forEach((c) => { const td = document.createElement("td"); td.textContent = c; tr.append(td); });
    tbody.append(tr);
  }
  function label(board) {
    const names = { ptd: "Program to date", d: "Day", w: "Week", m: "Month", q: "Quarter" };
    const p = board.split(":");
    const period = p[0] === "ptd" ? names.ptd : names[p[0]] + " " + p[1];
    const scope = p[0] === "ptd" ? p.slice(1) : p.slice(2);
    return period + (scope[0] === "all" ? "" : " \u00b7 " + scope.slice(1).join(":"));
  }
  function draw(me) {
    $("name").textContent = me.name;
    ["available", "earned", "redeemed"].forEach((k) => { $(k).textContent = (me.balance[k] || 0).toLocaleString(); });
    const b = $("boards").tBodies[0]; b.replaceChildren();
    me.boards.forEach((x) => {
      const move = x.previous_rank ? (x.previous_rank > x.rank ? "\u25b2 " + (x.previous_rank - x.rank)
        : x.previous_rank < x.rank ? "\u25bc " + (x.rank - x.previous_rank) : "=") : "new";
      row(b, [label(x.board), x.rank + " of " + x.members, x.points.toLocaleString(), move]);
    });
    const a = $("awards").tBodies[0]; a.replaceChildren();
    me.awards.forEach((x) => row(a, [new Date(x.occurred_at).toLocaleString(), x.activity_type, x.rule, x.points]));
    const e = $("earns"); e.replaceChildren();
    const r = me.earns;
    if (r && r.kpis) r.kpis.forEach((k) => {
      const li = document.createElement("li");
      li.textContent = k.id + ": " + k.points + " points" + (k.cap ? " (up to " + k.cap.points + " a " + k.cap.period + ")" : "");
      e.append(li);
    });
    if (r && r.goals) r.goals.forEach((g) => {
      const li = document.createElement("li");
      li.textContent = "Goal " + g.id + ": " + g.target + " in a " + g.period + ", +" + g.bonus + " points";
      e.append(li);
    });
    if (r && r.promotions) r.promotions.forEach((p) => {
      const li = document.createElement("li"); li.className = "promo-item";
      li.textContent = "Promotion " + p.id + (p.multiplier !== 1 ? " \u00d7" + p.multiplier : "") + (p.bonus ? " +" + p.bonus : "") +
        (p.running ? " until " : " from ") + new Date(p.running ? p.to : p.from).toLocaleString();
      e.append(li);
    });
  }
  function load() {
    fetch("/v1/me", { headers: { Authorization: "Bearer " + token } })
      .then((r) => r.json().then((j) => ({ ok: r.ok, j })))
      .then(({ ok, j }) => {
        $("status").textContent = ok ? "up to date" : j.error;
        $("status").className = "status " + (ok ? "up" : "down");
        if (ok) draw(j);
      })
      .catch(() => { $("status").textContent = "offline"; $("status").className = "status down"; });
  }
  load();
  setInterval(load, 15000);
})();
