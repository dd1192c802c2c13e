// The Conductor dashboard: polls the JSON API next to this file and draws
// figures, SVG charts and tables. No libraries: the page must work from
// the binary alone, offline.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const state = { since: "24h", refreshMs: 5000, targets: null, loads: 0, busy: false, again: false, timer: null, who: "key" };

// ---- formatting -----------------------------------------------------------

const fmt = {
  int: (n) => (n == null ? "–" : Math.round(n).toLocaleString("en-US")),
  pct: (r) => (r == null ? "–" : (r * 100).toFixed(1) + "%"),
  ms: (v) => (v == null ? "–" : v < 1000 ? Math.round(v) + " ms" : (v / 1000).toFixed(2) + " s"),
  usd: (v) => {
    if (v == null) return "–";
    if (v === 0) return "$0";
    if (Math.abs(v) >= 1) return "$" + v.toFixed(2);
    return "$" + Number(v.toPrecision(3)).toString();
  },
  compact: (n) => {
    if (n == null) return "–";
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return fmt.int(n);
  },
  score: (s) => (s == null ? "–" : s.toFixed(2)),
  time: (iso) => {
    const d = new Date(iso), t = d.toLocaleTimeString("en-GB", { hour12: false });
    // Older than today: the date too, so yesterday's 09:00 is not read as today's.
    return d.toDateString() === new Date().toDateString()
      ? t : d.toLocaleDateString("en-GB", { month: "short", day: "numeric" }) + " " + t;
  },
  clock: (d, stepS) =>
    stepS >= 86400
      ? d.toLocaleDateString("en-GB", { month: "short", day: "numeric" })
      : d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false }),
};

// ---- data -------------------------------------------------------------------

class HTTPError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error.message || msg; } catch (_) { /* not JSON */ }
    throw new HTTPError(r.status, msg);
  }
  return r.json();
}

async function refresh() {
  if (state.busy) {
    // A slow store must not pile requests up; but a change of window
    // while one is on its way must not be lost either.
    state.again = true;
    return;
  }
  state.busy = true;
  state.again = false;
  const since = state.since;
  const s = encodeURIComponent(since);
  try {
    const [summary, series, models, providers, variants, recent, budgets, who, deployments, overspend] = await Promise.all([
      getJSON("api/summary?since=" + s),
      getJSON("api/series?since=" + s),
      getJSON("api/by?by=model&since=" + s),
      getJSON("api/by?by=provider&since=" + s),
      getJSON("api/by?by=variant&since=" + s),
      getJSON("api/recent?limit=50"),
      getJSON("api/budgets"),
      getJSON("api/by?by=" + state.who + "&since=" + s),
      getJSON("api/deployments"),
      getJSON("api/overspend"),
    ]);
    renderSummary(summary);
    renderCharts(series);
    renderModels(models);
    renderLatency(models);
    renderProviders(providers);
    renderVariants(variants);
    renderRecent(recent);
    renderBudgets(budgets);
    renderOverspend(overspend);
    renderWho(who);
    renderDeployments(deployments);
    state.loads++;
    document.body.dataset.loaded = String(state.loads);
    document.body.dataset.since = since;
    setStatus(true, "updated " + new Date().toLocaleTimeString("en-GB", { hour12: false }));
    showError(null);
  } catch (e) {
    setStatus(false, "not updated");
    showError(e.status === 401
      ? "A gateway token is required: open this page once as ?token=YOUR_TOKEN."
      : "Could not load the figures: " + e.message);
  } finally {
    state.busy = false;
  }
  if (state.again || state.since !== since) refresh();
}

// ---- DOM helpers ------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.dataset[k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function setRows(tableID, rows, cols) {
  const tbody = document.querySelector("#" + tableID + " tbody");
  if (rows.length === 0) {
    tbody.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: String(cols) }, "No requests in this window")));
    return;
  }
  tbody.replaceChildren(...rows);
}

function meter(fraction, cls) {
  const span = el("span");
  span.style.width = Math.max(0, Math.min(100, fraction * 100)).toFixed(1) + "%";
  return el("div", { class: "meter" + (cls ? " " + cls : "") }, span);
}

function setStatus(ok, text) {
  document.getElementById("live").className = "dot " + (ok ? "on" : "off");
  document.getElementById("updated").textContent = text;
}

function showError(msg) {
  const e = document.getElementById("error");
  e.hidden = !msg;
  e.textContent = msg || "";
}

// ---- figures ----------------------------------------------------------------

function setKPI(id, raw, text, sub, ok) {
  const card = document.getElementById(id);
  card.dataset.value = raw == null ? "" : String(raw);
  card.querySelector(".value").textContent = text;
  card.querySelector(".sub").textContent = sub || "";
  card.classList.toggle("ok", ok === true);
  card.classList.toggle("bad", ok === false);
  card.dataset.ok = ok == null ? "" : String(ok);
}

function renderSummary(s) {
  const t = Object.fromEntries(s.targets.map((x) => [x.name, x]));
  setKPI("kpi-requests", s.requests, fmt.int(s.requests), fmt.int(s.cacheHits) + " from cache");
  setKPI("kpi-hitrate", s.hitRate, fmt.pct(s.hitRate), "target " + t.hitRate.op + " " + fmt.pct(t.hitRate.target), t.hitRate.ok);
  setKPI("kpi-errors", s.errorRate, fmt.pct(s.errorRate),
    fmt.int(s.errors) + " errors · target " + t.errorRate.op + " " + fmt.pct(t.errorRate.target), t.errorRate.ok);
  setKPI("kpi-p95", s.requests ? s.p95Ms : null, s.requests ? fmt.ms(s.p95Ms) : "–",
    "p50 " + fmt.ms(s.requests ? s.p50Ms : null) + " · p99 " + fmt.ms(s.requests ? s.p99Ms : null) +
    " · target " + t.p95.op + " " + fmt.ms(t.p95.target), t.p95.ok);
  setKPI("kpi-cost", s.costUsd, fmt.usd(s.costUsd), (s.requests ? fmt.usd(s.costUsd / s.requests) + " per request" : "") +
    (s.savedUsd ? " · " + fmt.usd(s.savedUsd) + " saved by the cache" : ""));
  setKPI("kpi-tokens", s.inputTokens + s.outputTokens, fmt.compact(s.inputTokens + s.outputTokens),
    fmt.compact(s.inputTokens) + " in · " + fmt.compact(s.outputTokens) + " out");
}

// ---- charts -----------------------------------------------------------------

// chart draws one series into an SVG: bars (counts, costs) or a line
// (rates, latencies), with an optional dashed target line.
function chart(id, series, opts) {
  const svg = document.getElementById(id);
  const W = Math.max(svg.clientWidth || 300, 120), H = svg.clientHeight || 140;
  const pad = { l: 44, r: 6, t: 8, b: 18 };
  const iw = W - pad.l - pad.r, ih = H - pad.t - pad.b;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.replaceChildren();
  const b = series.buckets;
  const vals = b.map((x) => opts.value(x));
  let top = Math.max(0, ...vals.filter((v) => v != null));
  if (opts.target != null) top = Math.max(top, opts.target * 1.15);
  if (opts.max != null) top = opts.max;
  if (top === 0) top = 1;
  const y = (v) => pad.t + ih - (v / top) * ih;
  const n = Math.max(b.length, 1), bw = iw / n;
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    svg.append(e);
    return e;
  };
  add("line", { class: "axis", x1: pad.l, x2: W - pad.r, y1: pad.t + ih, y2: pad.t + ih });
  add("line", { class: "axis", x1: pad.l, x2: W - pad.r, y1: pad.t, y2: pad.t });
  add("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end" }, opts.fmt(top));
  add("text", { x: pad.l - 4, y: pad.t + ih, "text-anchor": "end" }, opts.fmt(0));
  const stepS = series.stepSeconds;
  for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
    if (!b[i]) continue;
    const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
    const x = i === 0 ? pad.l : i === n - 1 ? W - pad.r : pad.l + (i + 0.5) * bw;
    add("text", { x, y: H - 4, "text-anchor": anchor }, fmt.clock(new Date(b[i].start), stepS));
  }
  if (opts.kind === "bar") {
    b.forEach((x, i) => {
      const v = vals[i] || 0;
      if (v <= 0) return;
      const r = add("rect", {
        class: "bar" + (opts.err ? " err" : ""), x: pad.l + i * bw + bw * 0.1, width: Math.max(bw * 0.8, 1),
        y: y(v), height: Math.max(pad.t + ih - y(v), 1),
      });
      const t = document.createElementNS(SVGNS, "title");
      t.textContent = fmt.clock(new Date(x.start), stepS) + ": " + opts.fmt(v);
      r.append(t);
    });
  } else {
    // Buckets without requests have no rate: the line breaks there.
    let d = "", pen = false;
    b.forEach((x, i) => {
      const v = vals[i];
      if (v == null) { pen = false; return; }
      d += (pen ? "L" : "M") + (pad.l + (i + 0.5) * bw).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
      const c = add("circle", { cx: pad.l + (i + 0.5) * bw, cy: y(v), r: 2, class: "line" });
      const t = document.createElementNS(SVGNS, "title");
      t.textContent = fmt.clock(new Date(x.start), stepS) + ": " + opts.fmt(v);
      c.append(t);
    });
    if (d) add("path", { class: "line", d });
  }
  if (opts.target != null) {
    add("line", { class: "target", x1: pad.l, x2: W - pad.r, y1: y(opts.target), y2: y(opts.target) });
    add("text", { class: "target-label", x: W - pad.r - 2, y: y(opts.target) - 3, "text-anchor": "end" },
      "target " + opts.fmt(opts.target));
  }
  svg.dataset.points = String(vals.filter((v) => v != null && v > 0).length);
}

function renderCharts(s) {
  const t = state.targets || {};
  chart("chart-requests", s, { kind: "bar", value: (b) => b.requests, fmt: fmt.compact });
  chart("chart-hitrate", s, { kind: "line", value: (b) => b.hitRate, fmt: fmt.pct, target: t.hitRate, max: 1 });
  chart("chart-p95", s, { kind: "line", value: (b) => (b.requests ? b.p95Ms : null), fmt: fmt.ms, target: t.p95Ms });
  chart("chart-errors", s, { kind: "bar", value: (b) => b.errors, fmt: fmt.compact, err: true });
  chart("chart-cost", s, { kind: "bar", value: (b) => b.costUsd, fmt: fmt.usd });
}

// ---- tables -----------------------------------------------------------------

function renderModels(rows) {
  const byCost = [...rows].sort((a, b) => b.costUsd - a.costUsd);
  const top = Math.max(...byCost.map((r) => r.costUsd), 0) || 1;
  setRows("table-models", byCost.map((r) =>
    el("tr", { "data-group": r.group },
      el("td", {}, r.group || "(none)"),
      el("td", { class: "n" }, fmt.int(r.requests)),
      el("td", { class: "n" }, fmt.pct(r.hitRate)),
      el("td", { class: "n" }, fmt.compact(r.inputTokens) + " / " + fmt.compact(r.outputTokens)),
      el("td", { class: "n", "data-value": r.costUsd }, fmt.usd(r.costUsd)),
      el("td", { class: "bar" }, meter(r.costUsd / top)))), 6);
}

// renderWho is the spend by key, team or user (state.who).
function renderWho(rows) {
  setRows("table-who", rows.map((r) =>
    el("tr", { "data-group": r.group },
      el("td", {}, r.group || "(none)"),
      el("td", { class: "n" }, fmt.int(r.requests)),
      el("td", { class: "n" }, fmt.pct(r.hitRate)),
      el("td", { class: "n" }, fmt.int(r.errors)),
      el("td", { class: "n", "data-value": r.costUsd }, fmt.usd(r.costUsd)),
      el("td", { class: "n", "data-value": r.savedUsd }, fmt.usd(r.savedUsd)),
      latencyCell(r.p95Ms))), 7);
}

function latencyCell(v) {
  const t = state.targets && state.targets.p95Ms;
  return el("td", { class: "n" + (t && v >= t ? " bad-text" : "") }, fmt.ms(v));
}

function renderLatency(rows) {
  setRows("table-latency", rows.map((r) =>
    el("tr", { "data-group": r.group },
      el("td", {}, r.group || "(none)"),
      el("td", { class: "n" }, fmt.ms(r.p50Ms)), latencyCell(r.p95Ms), latencyCell(r.p99Ms))), 4);
}

function renderProviders(rows) {
  const t = state.targets ? state.targets.errorRate : 0.01;
  setRows("table-providers", rows.map((r) =>
    el("tr", { "data-group": r.group },
      el("td", {}, r.group || "(none)"),
      el("td", { class: "n" }, fmt.int(r.requests)),
      el("td", { class: "n" }, fmt.int(r.errors)),
      el("td", { class: "n " + (r.errorRate < t ? "ok-text" : "bad-text"), "data-value": r.errorRate }, fmt.pct(r.errorRate)),
      latencyCell(r.p95Ms))), 5);
}

// The [[model]] deployments as this server sees them now: an open
// breaker gets no calls until its probe.
function renderDeployments(rows) {
  const tbody = document.querySelector("#table-deployments tbody");
  if (rows.length === 0) {
    tbody.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: "8" }, "No [[model]] deployments")));
    return;
  }
  tbody.replaceChildren(...rows.map((r) =>
    el("tr", { "data-group": r.model + "/" + r.deployment },
      el("td", {}, r.model),
      el("td", {}, r.deployment),
      el("td", { class: "n" }, fmt.int(r.tier)),
      el("td", { class: r.breaker === "closed" ? "ok-text" : "bad-text", "data-value": r.breaker },
        r.breaker + (r.retryAt ? " until " + fmt.time(r.retryAt) : "")),
      el("td", { class: "n" }, fmt.int(r.inFlight)),
      el("td", { class: "n" }, r.calls > 0 ? fmt.ms(r.latencyMs) : "–"),
      el("td", { class: "n" }, fmt.pct(r.errorRate)),
      el("td", { class: "n" }, fmt.int(r.calls)))));
}

function renderVariants(rows) {
  rows = rows.filter((r) => r.group !== "");
  // The best variant: the highest mean score when scored, else the
  // cheapest per request among those under the error target.
  let best = null;
  const scored = rows.filter((r) => r.meanScore != null);
  if (scored.length > 1) best = scored.reduce((a, b) => (b.meanScore > a.meanScore ? b : a));
  else if (rows.length > 1) best = rows.reduce((a, b) => (b.costPerRequestUsd < a.costPerRequestUsd ? b : a));
  const t = state.targets ? state.targets.errorRate : 0.01;
  setRows("table-variants", rows.map((r) =>
    el("tr", { "data-group": r.group },
      el("td", { class: r === best ? "best" : "" }, r.group),
      el("td", { class: "n" }, fmt.int(r.requests)),
      el("td", { class: "n" }, fmt.usd(r.costUsd)),
      el("td", { class: "n" }, fmt.usd(r.costPerRequestUsd)),
      el("td", { class: "n" }, fmt.ms(r.p50Ms)),
      latencyCell(r.p95Ms),
      el("td", { class: "n " + (r.errorRate < t ? "ok-text" : "bad-text") }, fmt.pct(r.errorRate)),
      el("td", { class: "n" }, fmt.score(r.meanScore)))), 8);
}

function renderBudgets(rows) {
  const tbody = document.querySelector("#table-budgets tbody");
  if (rows.length === 0) {
    tbody.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: "4" }, "No budgets configured")));
    return;
  }
  tbody.replaceChildren(...rows.map((b) => {
    const f = b.fraction == null ? 0 : b.fraction;
    return el("tr", { "data-group": b.name },
      el("td", {}, b.name, el("div", { class: "sub" }, b.period + ", resets " + new Date(b.resets).toISOString().slice(0, 16).replace("T", " ") + " UTC")),
      el("td", { class: "n", "data-value": b.spentUsd }, fmt.usd(b.spentUsd)),
      el("td", { class: "n" }, fmt.usd(b.limitUsd)),
      el("td", { class: "bar" }, meter(f, f >= 1 ? "over" : f >= 0.8 ? "warn" : ""), fmt.pct(b.fraction)));
  }));
}

// Calls that cost more than their budget reservation, since the server
// started: spend the budgets' atomic check did not admit. Hidden while
// there are none.
function renderOverspend(o) {
  const box = document.getElementById("overspend");
  box.dataset.calls = String(o.calls);
  box.dataset.usd = String(o.usd);
  box.hidden = o.calls === 0;
  const n = (c) => fmt.int(c) + (c === 1 ? " call" : " calls");
  box.querySelector(".line").textContent = "Over reservation: " + n(o.calls) + ", " + fmt.usd(o.usd) + " above what was reserved";
  const over = o.gateways.filter((g) => g.calls > 0);
  box.querySelector(".sub").textContent = "since the server started · " +
    over.map((g) => g.gateway + ": " + n(g.calls) + ", " + fmt.usd(g.usd)).join(" · ");
}

function renderRecent(rows) {
  setRows("table-recent", rows.map((r) => {
    const status = r.success ? el("span", { class: "tag hit" }, String(r.status))
      : el("span", { class: "tag err", title: r.errorClass || "" }, r.status + " " + (r.errorClass || ""));
    const cache = r.cached ? el("span", { class: "tag hit" }, "HIT")
      : el("span", { class: "tag miss", title: r.missReason || "" }, r.missReason ? "MISS " + r.missReason : "–");
    return el("tr", { "data-id": r.id },
      el("td", {}, fmt.time(r.time)),
      el("td", {}, r.provider),
      el("td", {}, r.model),
      el("td", {}, r.variant || ""),
      el("td", {}, r.deployment || ""),
      el("td", {}, status),
      el("td", {}, cache),
      el("td", { class: "n" }, fmt.int(r.attempts)),
      el("td", { class: "n" }, fmt.int(r.inputTokens) + " / " + fmt.int(r.outputTokens)),
      el("td", { class: "n" }, fmt.ms(r.latencyMs)),
      el("td", { class: "n" }, fmt.ms(r.ttfbMs)),
      el("td", { class: "n" }, fmt.usd(r.costUsd)));
  }), 12);
}

// ---- start ------------------------------------------------------------------

function chooseWindow(since) {
  state.since = since;
  for (const b of document.querySelectorAll("#windows button")) b.classList.toggle("active", b.dataset.since === since);
  if (location.hash !== "#since=" + since) history.replaceState(null, "", "#since=" + since);
  refresh();
}

async function start() {
  const m = /since=([0-9.]+[a-z]+)/.exec(location.hash);
  if (m) state.since = m[1];
  for (const b of document.querySelectorAll("#windows button")) b.addEventListener("click", () => chooseWindow(b.dataset.since));
  for (const b of document.querySelectorAll("#who-tabs button")) {
    b.addEventListener("click", () => {
      state.who = b.dataset.by;
      document.getElementById("who-by").textContent = b.dataset.by;
      for (const o of document.querySelectorAll("#who-tabs button")) o.classList.toggle("active", o === b);
      refresh();
    });
  }
  try {
    const cfg = await getJSON("api/config");
    state.targets = cfg.targets;
    state.refreshMs = Math.max(1000, cfg.refreshSeconds * 1000);
    document.title = cfg.title;
    document.getElementById("title").textContent = cfg.title;
  } catch (e) {
    showError(e.status === 401
      ? "A gateway token is required: open this page once as ?token=YOUR_TOKEN."
      : "Could not load the settings: " + e.message);
  }
  chooseWindow(state.since);
  state.timer = setInterval(refresh, state.refreshMs);
  let resize = null;
  window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(refresh, 200); });
}

document.addEventListener("DOMContentLoaded", start);
