// tv_script.js: the TV page: one live stream per board scene, rotation,
// celebrations that interrupt it, and reconnection after a server restart.
"use strict";
(function () {
  const q = new URLSearchParams(location.search);
  const program = decodeURIComponent(location.pathname.split("/")[2] || "");
  const token = q.get("token") || "";
  const rotate = Math.max(5, Math.min(600, parseInt(q.get("rotate") || "20", 10) || 20)) * 1000;
  const specs = (q.get("scenes") || "ptd,week,movers,promo").split(",").filter(Boolean).slice(0, 12);
  const $ = (id) => document.getElementById(id);
  $("program").textContent = program;

  // A scene: "ptd", "day", "week", "month", "quarter" (optionally ":seg:x",
  // ":team:x", ":reg:x"), "movers" (this week, by change) or "promo".
  function scene(spec) {
    if (spec === "promo") return { spec, kind: "promo", title: "Promotions running" };
    const movers = spec === "movers";
    const parts = movers ? ["week"] : spec.split(":");
    const period = parts[0];
    const scope = parts.length > 1 ? parts.slice(1).join(":") : "all";
    const names = { ptd: "Program to date", day: "Today", week: "This week", month: "This month", quarter: "This quarter" };
    const where = scope === "all" ? "" : " \u00b7 " + scope.replace(/^(seg|team|reg):/, "");
    return { spec, kind: movers ? "movers" : "board", period, scope,
             title: movers ? "This week's movers" : (names[period] || period) + where,
             last: "0-0", board: null };
  }
  const scenes = specs.map(scene);
  let current = 0, bannerUntil = 0, lastSwitch = Date.now();

  function newer(a, b) { // stream ids "<ms>-<seq>"
    const [am, as] = a.split("-").map(Number), [bm, bs] = b.split("-").map(Number);
    return am > bm || (am === bm && (as || 0) > (bs || 0));
  }

  function connect(s) {
    const u = "/v1/programs/" + encodeURIComponent(program) + "/events?period=" +
      encodeURIComponent(s.period) + "&scope=" + encodeURIComponent(s.scope) +
      "&token=" + encodeURIComponent(token);
    const es = new EventSource(u);
    es.addEventListener("open", () => { s.up = true; status(); });
    es.addEventListener("error", () => { s.up = false; status(); });
    es.addEventListener("board", (e) => {
      // an id not newer than what is shown is a repeat (a reconnect's snapshot of the same state)
      if (s.board && e.lastEventId && !newer(e.lastEventId, s.last) && e.lastEventId !== s.last) return;
      s.last = e.lastEventId || s.last;
      s.board = JSON.parse(e.data);
      if (scenes[current] === s) draw();
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    });
    es.addEventListener("celebrate", (e) => celebrate(JSON.parse(e.data)));
    s.es = es;
  }

  function status() {
    const down = scenes.filter((s) => s.es && !s.up).length;
    $("status").textContent = down ? "reconnecting\u2026" : "live";
    $("status").className = "status " + (down ? "down" : "up");
  }

  function entryRow(e, i, movers) {
    const li = document.createElement("li");
    const rank = document.createElement("span"); rank.className = "rank"; rank.textContent = e.rank;
    const name = document.createElement("span"); name.className = "name"; name.textContent = e.name;
    const pts = document.createElement("span"); pts.className = "points"; pts.textContent = e.points.toLocaleString();
    li.append(rank, name, pts);
    if (e.change !== null && e.change !== undefined) {
      const ch = document.createElement("span");
      ch.className = "change " + (e.change > 0 ? "up" : e.change < 0 ? "down" : "");
      ch.textContent = (e.change > 0 ? "\u25b2 " : e.change < 0 ? "\u25bc " : "") + Math.abs(e.change);
      li.append(ch);
    }
    if (i === 0 && !movers) li.className = "first";
    return li;
  }

  function draw() {
    const s = scenes[current];
    $("scene-title").textContent = s.title;
    const list = $("entries"), promo = $("promo");
    list.replaceChildren();
    promo.hidden = s.kind !== "promo";
    list.hidden = s.kind === "promo";
    if (s.kind === "promo") return drawPromo();
    if (!s.board) return;
    let entries = s.board.entries.slice();
    if (s.kind === "movers") entries = entries.filter((e) => e.change > 0).sort((a, b) => b.change - a.change);
    if (!entries.length) {
      const li = document.createElement("li"); li.className = "empty"; li.textContent = "No points yet: the first call wins.";
      list.append(li);
    }
    entries.slice(0, 10).forEach((e, i) => list.append(entryRow(e, i, s.kind === "movers")));
  }

  let rules = null;
  function loadRules() {
    fetch("/v1/programs/" + encodeURIComponent(program) + "/rules", { headers: { Authorization: "Bearer " + token } })
      .then((r) => (r.ok ? r.json() : null)).then((j) => { if (j) rules = j; }).catch(() => {});
  }
  function drawPromo() {
    const promo = $("promo");
    promo.replaceChildren();
    const list = rules && rules.promotions ? rules.promotions.filter((p) => p.running) : [];
    if (!list.length) { promo.textContent = "No promotion right now: every activity still counts."; return; }
    list.forEach((p) => {
      const d = document.createElement("div"); d.className = "promo-item";
      const what = [p.multiplier && p.multiplier !== 1 ? "\u00d7" + p.multiplier : null, p.bonus ? "+" + p.bonus + " points" : null].filter(Boolean).join(", ");
      d.textContent = p.id + (what ? ": " + what : "") + (p.to ? " until " + new Date(p.to).toLocaleString() : "");
      promo.append(d);
    });
  }

  // Celebrations queue: one that arrives while another is on screen waits its
  // turn (shown shorter when others wait) instead of replacing it unseen.
  const pending = [];
  function celebrate(c) {
    if (pending.length >= 20) pending.shift(); // a burst keeps its latest twenty
    pending.push(c);
    if ($("banner").hidden) showNext(Date.now());
  }

  function showNext(now) {
    const c = pending.shift();
    const titles = { number_one: "New number one!", goal: "Goal reached!", promotion: "Promotion on!",
      commitment: "Commitment kept!", streak: "On a streak!" };
    $("banner-title").textContent = c.from === "notify" ? c.title : titles[c.kind] || "Well done!";
    let text;
    if (c.from === "notify") text = c.text; // carrot-notify's, worded by its configuration
    else if (c.kind === "number_one") text = c.name + " leads with " + c.points + " points";
    else if (c.kind === "promotion") {
      text = c.promotion + [c.multiplier && c.multiplier !== 1 ? " \u00d7" + c.multiplier : "", c.bonus ? " +" + c.bonus + " points" : ""].join("") +
        (c.to ? " until " + new Date(c.to).toLocaleString() : "");
      loadRules();
    } else if (c.kind === "commitment") text = c.name + ": " + (c.text || c.commitment) + (c.bonus ? " (+" + c.bonus + ")" : "");
    else if (c.kind === "streak") {
      text = c.name + ": " + (c.text || c.commitment) + (c.periods ? ", " + c.periods + " " + (c.period || "period") + "s in a row" : "") +
        (c.bonus ? " (+" + c.bonus + ")" : "");
    } else text = c.name + ": " + c.goal + (c.bonus ? " (+" + c.bonus + ")" : "");
    $("banner-text").textContent = text;
    $("banner").hidden = false;
    bannerUntil = now + (pending.length ? 4000 : 8000);
  }

  setInterval(() => {
    const now = Date.now();
    if (!$("banner").hidden && now >= bannerUntil) {
      if (pending.length) showNext(now);
      else $("banner").hidden = true;
    }
    if ($("banner").hidden && scenes.length > 1 && now - lastSwitch >= rotate) { // a banner holds the rotation
      current = (current + 1) % scenes.length;
      lastSwitch = now;
      draw();
    }
  }, 250);

  scenes.forEach((s) => { if (s.kind !== "promo") connect(s); });
  loadRules();
  setInterval(loadRules, 60000);
  draw();
})();
