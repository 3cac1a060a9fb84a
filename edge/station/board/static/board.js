// The ward board: tiles from /api/beds, kept current by /api/events (server-sent events),
// a bed view with 72 h trend plots drawn here as SVG. Written for capleak; no library.
// All text from the broker goes in through textContent, never as HTML.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const beds = new Map();        // bed -> latest summary
const tiles = new Map();       // bed -> tile element
let csrf = "";
let openBed = null;            // the bed view's bed, or null
let detailTimer = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
function num(v, digits) { return (typeof v === "number" && isFinite(v)) ? v.toFixed(digits) : "–"; }
function vital(b, s) { const r = b.vitals && b.vitals[s]; return r ? r.value : null; }
function clock(t) {
  const d = new Date(t * 1000);
  return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hour12: false});
}
function dayClock(t) {
  const d = new Date(t * 1000);
  return d.toLocaleDateString([], {weekday: "short"}) + " " + clock(t);
}
const PLOT_ORDER = ["sbp", "map", "dbp", "spo2", "pulse", "weight", "pi"];
function parseIso(s) { const t = Date.parse(s); return isNaN(t) ? null : t / 1000; }

// -- tiles -------------------------------------------------------------------------------
function sparkline(spark) {
  const box = svg("svg", {viewBox: "0 0 200 34", preserveAspectRatio: "none", "aria-hidden": "true"});
  const series = [["sbp", 60, 180], ["spo2", 80, 100]];
  const all = [].concat(...series.map(([s]) => (spark && spark[s]) || []));
  if (!all.length) return box;
  const t1 = Math.max(...all.map(p => p[0])), t0 = t1 - 24 * 3600;
  for (const [s, lo, hi] of series) {
    const pts = ((spark && spark[s]) || []).filter(p => p[0] >= t0);
    if (!pts.length) continue;
    const d = pts.map(p => {
      const x = (p[0] - t0) / (t1 - t0 || 1) * 200;
      const y = 33 - (Math.min(hi, Math.max(lo, p[1])) - lo) / (hi - lo) * 32;
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
    box.append(svg("polyline", {points: d, class: "spark-" + s}));
  }
  return box;
}

function stateLabel(b) {
  if (b.online === false) return "OFFLINE";
  return {alarm: "ALARM", latched: "LATCHED", acknowledged: "ACKNOWLEDGED", normal: "", offline: "OFFLINE"}[b.state] || "";
}

function renderTile(b) {
  let t = tiles.get(b.bed);
  if (!t) {
    t = el("article", {class: "tile", tabIndex: 0});
    t.addEventListener("click", () => { location.hash = "bed=" + b.bed; });
    t.addEventListener("keydown", e => { if (e.key === "Enter") location.hash = "bed=" + b.bed; });
    tiles.set(b.bed, t);
    const ward = document.getElementById("ward");
    const after = [...tiles.keys()].sort().indexOf(b.bed);
    const next = [...tiles.keys()].sort()[after + 1];
    ward.insertBefore(t, next && tiles.get(next).isConnected ? tiles.get(next) : null);
  }
  t.setAttribute("data-bed", b.bed);
  t.setAttribute("data-level", b.level);
  t.setAttribute("data-state", b.state);
  t.setAttribute("data-online", String(b.online));
  const top = (b.alerts || [])[0];
  const nibpMin = b.last_nibp ? Math.max(0, Math.round(Date.now() / 1000 - b.last_nibp) / 60) : null;
  const sbp = vital(b, "sbp"), map = vital(b, "map");
  t.replaceChildren(
    el("div", {class: "head"}, el("span", {class: "name"}, b.bed),
       el("span", {class: "badge state"}, stateLabel(b) || (b.online ? "online" : "–"))),
    el("div", {class: "alert"}, top ? `${top.priority.toUpperCase()} ${top.message || top.code}` : "no active alerts"),
    el("div", {class: "nums"},
      el("span", {}, "SBP/MAP ", el("b", {class: "v-sbp"}, `${num(sbp, 0)}/${num(map, 0)}`)),
      el("span", {}, "SpO₂ ", el("b", {class: "v-spo2"}, num(vital(b, "spo2"), 0)), " %"),
      el("span", {}, "Pulse ", el("b", {class: "v-pulse"}, num(vital(b, "pulse"), 0))),
      el("span", {}, "Wt gain ", el("b", {class: "v-weight"}, num(b.weight_gain_pct, 1)), " %"),
      el("span", {class: "v-nibp"}, nibpMin === null ? "no NIBP yet" :
         `NIBP ${nibpMin < 600 ? nibpMin.toFixed(0) + " min" : (nibpMin / 60).toFixed(0) + " h"} ago`)),
    el("div", {class: "dose"}, b.dose_verdict),
    sparkline(b.spark));
}

function update(b) {
  const old = beds.get(b.bed);
  if (!b.spark && old) b.spark = old.spark;   // events carry the sparkline only when it changed
  beds.set(b.bed, b);
  renderTile(b);
  if (openBed === b.bed) scheduleDetail();
}

async function api(path, options) {
  const r = await fetch(path, Object.assign({credentials: "same-origin"}, options || {}));
  if (r.status === 401) { location.href = "/login"; throw new Error("not logged in"); }
  return r;
}

async function loadBeds() {
  const r = await api("/api/beds");
  for (const b of await r.json()) update(b);
}

function connectEvents() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/api/events");
  es.onopen = () => { conn.dataset.conn = "open"; conn.textContent = "live"; loadBeds(); };
  es.onerror = () => { conn.dataset.conn = "lost"; conn.textContent = "reconnecting…"; };
  es.addEventListener("bed", e => update(JSON.parse(e.data).bed));
  es.addEventListener("reply", e => showReply(JSON.parse(e.data)));
  es.addEventListener("overflow", () => { es.close(); setTimeout(connectEvents, 500); });
}

// -- the bed view ------------------------------------------------------------------------
function showReply(ev) {
  if (openBed !== ev.bed) return;
  const r = ev.reply || {}, box = document.getElementById("reply");
  box.dataset.ok = String(!!r.ok);
  box.textContent = r.ok
    ? `Agent replied: ${r.command} accepted (${((r.result || {}).alerts || []).length} alert(s) changed)`
    : `Agent refused ${r.command}: ${(r.error || {}).code} ${(r.error || {}).message || ""}`;
}

async function command(name, body) {
  const box = document.getElementById("reply");
  box.dataset.ok = ""; box.textContent = `sending ${name}…`;
  const r = await api(`/api/beds/${openBed}/${name}`, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify(body),
  });
  const data = await r.json();
  if (r.status === 200) showReply({bed: openBed, reply: data.reply});
  else if (r.status === 202) box.textContent = "sent; waiting for the bed's reply…";
  else { box.dataset.ok = "false"; box.textContent = `error ${r.status}: ${data.error}`; }
}

function scheduleDetail() {
  if (detailTimer) return;
  detailTimer = setTimeout(() => { detailTimer = null; loadDetail(); }, 1000);
}

async function loadDetail() {
  if (!openBed) return;
  const r = await api(`/api/beds/${openBed}`);
  if (r.status !== 200) { document.getElementById("bedname").textContent = `${openBed}: unknown bed`; return; }
  renderDetail(await r.json());
}

function renderDetail(d) {
  document.getElementById("bedname").textContent = `${d.bed} · ${stateLabel(d) || (d.online ? "online" : "")}`;
  const list = document.getElementById("bedalerts");
  list.replaceChildren(...(d.alerts.length ? d.alerts.map(a => el("div",
    {class: "alertrow", "data-priority": a.priority, "data-kind": a.kind, "data-alert": a.alert_id},
    el("b", {}, a.priority.toUpperCase()),
    el("span", {class: "msg"}, `${a.code}${a.source ? " (" + a.source + ")" : ""}: ${a.message}`),
    el("span", {class: "st"}, `${a.state} / ${a.inactivation}`),
    el("button", {type: "button", class: "ack", onclick: () => command("ack", {alert_id: a.alert_id})}, "Acknowledge"),
    el("button", {type: "button", class: "silence", onclick: () => command("silence", {alert_id: a.alert_id})}, "Silence 2 min"),
  )) : [el("p", {}, "no active alerts")]));
  const h = d.history || {vitals: {}, alert_events: [], dose_checks: []};
  const trends = d.trends || {};
  const plots = document.getElementById("plots");
  const names = Object.keys(h.vitals).filter(s => h.vitals[s].length)
    .sort((a, b) => (PLOT_ORDER.indexOf(a) + 99) % 99 - (PLOT_ORDER.indexOf(b) + 99) % 99);
  const tEnd = Math.max(...names.map(s => Math.max(...h.vitals[s].map(p => p[0])))) + h.bucket_s;
  plots.replaceChildren(...names.map(s => plot(s, h, trends, tEnd)));
  const rows = h.alert_events.slice(-100).reverse().map(e => el("tr", {},
    el("td", {}, clock(parseIso(e.event_time) || 0)), el("td", {}, e.code), el("td", {}, e.priority),
    el("td", {}, e.phase), el("td", {}, e.state), el("td", {}, e.inactivation), el("td", {}, e.message)));
  document.querySelector("#history tbody").replaceChildren(...rows);
}

function alertBands(events) {
  const open = new Map(), bands = [];
  for (const e of events) {
    const t = parseIso(e.event_time);
    if (t === null) continue;
    if (e.phase === "end" || e.state === "inactive") {
      if (open.has(e.alert_id)) { const o = open.get(e.alert_id); bands.push([o.t, t, o.p]); open.delete(e.alert_id); }
    } else if (!open.has(e.alert_id)) open.set(e.alert_id, {t: t, p: e.priority});
  }
  for (const o of open.values()) bands.push([o.t, null, o.p]);
  return bands;
}

function plot(signal, h, trends, tEnd) {
  const pts = h.vitals[signal];
  const W = 900, H = 170, L = 42, R = 8, T = 8, B = 18;
  const t0 = tEnd - h.hours * 3600;
  const sig = (trends.signals || {})[signal] || {};
  const base = ((trends.baselines || {})[signal] || {}).value;
  const limit = typeof sig.limit === "number" ? sig.limit : null;
  const vals = [].concat(...pts.map(p => [p[2], p[3]]), base ?? [], limit ?? []);
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (hi - lo < 1) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const x = t => L + (t - t0) / (tEnd - t0) * (W - L - R);
  const y = v => T + (hi - v) / (hi - lo) * (H - T - B);
  const box = svg("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "data-signal": signal});
  for (const [a, b, p] of alertBands(h.alert_events)) {
    const xa = Math.max(L, x(a)), xb = b === null ? W - R : Math.min(W - R, x(b));
    if (xb > xa) box.append(svg("rect", {x: xa, y: T, width: xb - xa, height: H - T - B, class: "band-" + p}));
  }
  box.append(svg("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"}));
  box.append(svg("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"}));
  for (const v of [lo + pad, hi - pad]) {
    const t = svg("text", {x: 2, y: y(v) + 4}); t.textContent = v.toFixed(signal === "weight" ? 1 : 0); box.append(t);
  }
  for (let k = 0; k <= 6; k++) {
    const tt = t0 + k * (tEnd - t0) / 6;
    const t = svg("text", {x: Math.min(W - 70, Math.max(L, x(tt) - 28)), y: H - 4});
    t.textContent = dayClock(tt); box.append(t);
  }
  const top = pts.map(p => `${x(p[0]).toFixed(1)},${y(p[3]).toFixed(1)}`);
  const bottom = pts.slice().reverse().map(p => `${x(p[0]).toFixed(1)},${y(p[2]).toFixed(1)}`);
  box.append(svg("polygon", {points: top.concat(bottom).join(" "), class: "range"}));
  box.append(svg("polyline", {points: pts.map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "), class: "mean"}));
  if (typeof base === "number") box.append(svg("line", {x1: L, x2: W - R, y1: y(base), y2: y(base), class: "baseline"}));
  if (limit !== null) box.append(svg("line", {x1: L, x2: W - R, y1: y(limit), y2: y(limit), class: "limit"}));
  for (const c of h.dose_checks) {
    const t = parseIso(c.time) ?? parseIso(c.due);  // when the check was made
    if (t === null || t < t0 || t > tEnd) continue;
    box.append(svg("line", {x1: x(t), x2: x(t), y1: T, y2: H - B, class: c.hold_advised ? "dose hold" : "dose"}));
  }
  const label = svg("text", {x: L + 4, y: T + 12}); label.textContent = signal.toUpperCase(); box.append(label);
  return el("div", {class: "plot"}, box);
}

function route() {
  const m = /^#bed=(.+)$/.exec(location.hash);
  openBed = m ? decodeURIComponent(m[1]) : null;
  document.getElementById("ward").hidden = !!openBed;
  document.getElementById("bedview").hidden = !openBed;
  document.getElementById("reply").textContent = "";
  if (openBed) loadDetail();
}

async function main() {
  const r = await api("/api/session");
  const s = await r.json();
  csrf = s.csrf;
  document.getElementById("user").textContent = s.auth ? `user: ${s.user}` : "";
  document.getElementById("back").addEventListener("click", e => { e.preventDefault(); location.hash = ""; });
  document.getElementById("silence-all").addEventListener("click", () => command("silence", {}));
  window.addEventListener("hashchange", route);
  setInterval(() => { for (const b of beds.values()) renderTile(b); }, 30000);  // "min since NIBP"
  await loadBeds();
  route();
  connectEvents();
}
main();
