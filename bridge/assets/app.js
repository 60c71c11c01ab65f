/* Eddy's dashboard: reads the JSON API (/api/v1/...) every few seconds,
 * computes rates from the differences, follows a partition's live tail
 * (Server-Sent Events) and charts numeric fields of its JSON records with
 * uPlot. Plain DOM, no framework; record contents are only ever set as
 * text, never as HTML. */
"use strict";

const REFRESH_MS = 2000;
const TAIL_MAX = 100; /* rows kept in the live list */
const CHART_MAX = 2000; /* points kept in the chart */

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : String(k));
  return e;
}

async function get(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function bytes(n) {
  if (n === null || n === undefined || n < 0) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + " " + u[i];
}

function num(n, digits) {
  if (n === null || n === undefined || !isFinite(n)) return "–";
  return n.toLocaleString("en", { maximumFractionDigits: digits === undefined ? 1 : digits });
}

function duration(ms) {
  const s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
  const m = Math.floor(s / 60) % 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}

function retention(ms) {
  const v = Number(ms);
  if (!isFinite(v) || v < 0) return "forever";
  if (v % 86400000 === 0) return v / 86400000 + " d";
  if (v % 3600000 === 0) return v / 3600000 + " h";
  return duration(v);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
}

function card(value, label) {
  return el("div", { class: "card" }, el("b", {}, value), el("span", {}, label));
}

/* ---- rates from two snapshots ---- */

const prev = { t: 0, protocols: null, offsets: new Map() };

function perSec(now, before, dt) {
  return before === undefined || dt <= 0 ? null : Math.max(0, (now - before) / dt);
}

/* ---- overview and clients ---- */

function showOverview(ov, dt) {
  $("version").textContent = "v" + ov.version + " · node " + ov.node_id;
  const cards = [
    card(duration(ov.uptime_ms), "uptime"),
    card(num(ov.topics, 0), "topics"),
    card(num(ov.partitions, 0), "partitions"),
    card(num(ov.records_in, 0), "records in"),
    card(bytes(ov.disk.used_bytes) + (ov.disk.budget_bytes > 0 ? " / " + bytes(ov.disk.budget_bytes) : ""),
      ov.disk.budget_bytes > 0 ? "disk used of budget (" +
        Math.round(100 * ov.disk.used_bytes / ov.disk.budget_bytes) + " %)" : "disk used (no budget)"),
    card(bytes(ov.flash_written_bytes), "flash written this run"),
  ];
  const w = ov.wear;
  if (w) {
    cards.push(card(w.written_bytes_per_hour >= 0 ? bytes(w.written_bytes_per_hour) + "/h" : "–",
      "flash written per hour"));
    cards.push(card(w.days_left >= 0 ? num(w.days_left / 365, 1) + " years" : "–",
      w.endurance_bytes > 0 ? "flash life left at this rate" : "flash life (no flash.endurance.bytes)"));
    cards.push(card(bytes(w.written_bytes), "flash written, all runs"));
  } else {
    cards.push(card("–", "flash wear (no figures yet)"));
  }
  $("ov-cards").replaceChildren(...cards);
  const rows = [];
  for (const [name, p] of Object.entries(ov.protocols)) {
    const q = prev.protocols && prev.protocols[name];
    rows.push([name, num(perSec(p.records_in, q && q.records_in, dt)),
      bytes(perSec(p.bytes_in, q && q.bytes_in, dt)),
      num(perSec(p.records_out, q && q.records_out, dt)),
      bytes(perSec(p.bytes_out, q && q.bytes_out, dt))]);
  }
  fill($("ov-protocols").tBodies[0], rows);
  prev.protocols = ov.protocols;
  $("clients-cards").replaceChildren(...Object.entries(ov.connections).map(([p, n]) =>
    card(num(n, 0), p + " connections")));
}

/* Client ids, users and identities come from outside: set as text only
 * (fill and el never parse HTML). */
async function showClients() {
  const c = await get("/api/v1/clients");
  const now = Date.now();
  fill($("mqtt-clients").tBodies[0], c.mqtt.map((m) =>
    [m.client_id, m.peer, m.protocol, m.user === null ? "–" : m.user,
      duration(Math.max(0, now - m.connected_since_ms)) + " ago", m.keepalive_s + " s",
      m.persistent_session ? "persistent" : "clean", num(m.subscriptions, 0),
      num(m.in_flight_in, 0) + " / " + num(m.in_flight_out, 0)]));
  fill($("coap-clients").tBodies[0], c.coap.map((e) =>
    [e.peer, e.identity === null ? "–" : e.identity, num(e.requests, 0),
      duration(Math.max(0, now - e.last_request_ms)) + " ago"]));
  $("clients-truncated").textContent = c.truncated ? "(first 500 only)" : "";
}

/* ---- topics ---- */

let topicNames = [];

async function showTopics(dt) {
  const all = (await get("/api/v1/topics")).topics;
  const internal = $("show-internal").checked;
  const shown = all.filter((t) => internal || !t.internal);
  const details = await Promise.all(shown.map((t) =>
    get("/api/v1/topics/" + encodeURIComponent(t.name)).catch(() => null)));
  const rows = [];
  for (const d of details) {
    if (!d) continue;
    const ret = d.config["retention.ms"] ? d.config["retention.ms"].value : "";
    for (const p of d.partition_list) {
      const key = d.name + "/" + p.partition;
      const rate = perSec(p.end_offset, prev.offsets.get(key), dt);
      prev.offsets.set(key, p.end_offset);
      rows.push([d.name, p.partition, num(p.start_offset, 0), num(p.end_offset, 0), bytes(p.size_bytes),
        retention(ret), num(rate)]);
    }
  }
  fill($("topics-table").tBodies[0], rows);
  const names = all.filter((t) => !t.internal).map((t) => t.name);
  if (names.join("\n") !== topicNames.join("\n")) {
    topicNames = names;
    const sel = $("tail-topic"), cur = sel.value;
    sel.replaceChildren(el("option", { value: "" }, "(choose)"),
      ...names.map((n) => el("option", { value: n }, n)));
    if (names.includes(cur)) sel.value = cur;
  }
  return all;
}

/* ---- groups ---- */

async function showGroups() {
  const groups = (await get("/api/v1/groups")).groups;
  const rows = [];
  for (const g of groups) {
    if (!g.offsets.length) rows.push([g.group, g.state, g.members, "", "", "", "", num(g.lag, 0)]);
    for (const o of g.offsets)
      rows.push([g.group, g.state, g.members, o.topic, o.partition, num(o.committed_offset, 0),
        num(o.end_offset, 0), num(o.lag, 0)]);
  }
  fill($("groups-table").tBodies[0], rows);
}

/* ---- mirror ---- */

async function showMirror() {
  const m = await get("/api/v1/mirror");
  const bits = ["state: " + m.state];
  if (m.link) bits.push("link: " + m.link);
  if (m.upstream) bits.push("upstream: " + m.upstream);
  if (m.bytes_per_sec !== undefined) bits.push(bytes(m.bytes_per_sec) + "/s");
  if (m.last_error) bits.push("last error: " + m.last_error);
  $("mirror-summary").textContent = bits.join(" · ");
  fill($("mirror-table").tBodies[0], (m.partitions || []).map((p) =>
    [p.topic, p.partition, p.upstream, num(p.mirrored, 0), num(p.end, 0), num(p.lag, 0),
      num(p.records_per_sec, 0), p.state]));
}

/* ---- warnings ---- */

async function showWarnings() {
  const w = (await get("/api/v1/warnings")).warnings;
  const list = w.slice().reverse().map((x) =>
    el("li", { class: x.level === "ERROR" ? "error" : "" },
      new Date(x.time_ms).toISOString().replace("T", " ").slice(0, 19) + " " + x.level + " " + x.line));
  $("warnings-list").replaceChildren(...(list.length ? list : [el("li", { class: "muted" }, "none")]));
}

/* ---- live tail ---- */

let source = null, paused = false;

/* A key or header value: text when it decodes to printable UTF-8. */
function text(format, v) {
  if (v === null || v === undefined) return "null";
  if (format === "json") return JSON.stringify(v);
  try {
    const b = Uint8Array.from(atob(v), (c) => c.charCodeAt(0));
    const s = new TextDecoder("utf-8", { fatal: true }).decode(b);
    if (!/[\u0000-\u0008\u000e-\u001f]/.test(s)) return s;
  } catch (e) { /* not text: base64 below */ }
  return "base64:" + v;
}

function showRecord(r) {
  const when = new Date(r.timestamp).toISOString().replace("T", " ").slice(0, 23);
  const meta = ["#" + r.offset, when, "key " + text(r.key_format, r.key)];
  for (const h of r.headers) meta.push(h.key + "=" + text(h.value_format, h.value));
  const value = r.value_format === "json" ? JSON.stringify(r.value, null, 2) : text(r.value_format, r.value);
  const list = $("tail-list");
  list.prepend(el("div", { class: "rec" }, el("div", { class: "meta" }, meta.join(" · ")), el("pre", {}, value)));
  while (list.childElementCount > TAIL_MAX) list.lastElementChild.remove();
}

function tailPath(topic, part) {
  return "/api/v1/topics/" + encodeURIComponent(topic) + "/partitions/" + part;
}

async function startTail() {
  if (source) { source.close(); source = null; }
  const topic = $("tail-topic").value, part = $("tail-partition").value;
  $("tail-list").replaceChildren();
  chart.reset();
  if (!topic || part === "") { $("tail-state").textContent = ""; return; }
  const recent = await get(tailPath(topic, part) + "/records?limit=500");
  for (const r of recent.records) chart.add(r);
  for (const r of recent.records.slice(-20)) showRecord(r);
  chart.draw();
  source = new EventSource(tailPath(topic, part) + "/tail?offset=" + recent.next_offset);
  source.addEventListener("record", (ev) => {
    const r = JSON.parse(ev.data);
    chart.add(r);
    if (!paused) showRecord(r);
  });
  source.addEventListener("skipped", (ev) => {
    /* a busy partition: the broker skipped to its newest records */
    const g = JSON.parse(ev.data);
    if (paused) return;
    const list = $("tail-list");
    list.prepend(el("div", { class: "meta" }, "… " + (g.to - g.from) + " records skipped (#" + g.from + " to #" + (g.to - 1) + ")"));
    while (list.childElementCount > TAIL_MAX) list.lastElementChild.remove();
  });
  source.onopen = () => { $("tail-state").textContent = "live"; };
  source.onerror = () => { $("tail-state").textContent = "reconnecting"; };
}

async function choosePartitions() {
  const topic = $("tail-topic").value, sel = $("tail-partition");
  sel.replaceChildren();
  if (topic) {
    const d = await get("/api/v1/topics/" + encodeURIComponent(topic));
    sel.replaceChildren(...d.partition_list.map((p) => el("option", { value: p.partition }, p.partition)));
  }
  await startTail();
}

/* ---- chart: numeric fields of the tailed records against time ---- */

/* Numeric leaves of a JSON value, by dotted path (at most 3 deep). */
function numericFields(v, path, out, depth) {
  if (typeof v === "number" && isFinite(v)) out[path] = v;
  else if (v && typeof v === "object" && !Array.isArray(v) && depth < 3)
    for (const [k, x] of Object.entries(v)) numericFields(x, path ? path + "." + k : k, out, depth + 1);
  return out;
}

const chart = {
  rows: [], /* [seconds, fields] */
  fields: new Set(),
  plot: null,
  reset() {
    this.rows = [];
    this.fields = new Set();
    this.fillSelects();
    this.draw();
  },
  add(r) {
    if (r.value_format !== "json") return;
    const f = numericFields(r.value, "", {}, 0);
    const n = this.fields.size;
    for (const k of Object.keys(f)) this.fields.add(k);
    if (this.fields.size !== n) this.fillSelects();
    this.rows.push([r.timestamp / 1000, f]); /* uPlot's x: Unix seconds */
    if (this.rows.length > CHART_MAX) this.rows.shift();
    this.dirty = true;
  },
  fillSelects() {
    for (const [id, none] of [["chart-field", null], ["chart-field2", "(none)"]]) {
      const sel = $(id), cur = sel.value;
      const opts = [...this.fields].sort().map((k) => el("option", { value: k }, k));
      if (none) opts.unshift(el("option", { value: "" }, none));
      sel.replaceChildren(...opts);
      if (this.fields.has(cur)) sel.value = cur;
    }
  },
  series() {
    return [$("chart-field").value, $("chart-field2").value].filter((k) => k);
  },
  data() {
    const keys = this.series();
    const rows = this.rows.filter((r) => keys.some((k) => k in r[1]));
    return [rows.map((r) => r[0]), ...keys.map((k) => rows.map((r) => (k in r[1] ? r[1][k] : null)))];
  },
  draw() {
    this.dirty = false;
    const keys = this.series(), box = $("chart-plot");
    if (!keys.length) {
      if (this.plot) { this.plot.destroy(); this.plot = null; }
      $("chart-state").textContent = "pick a topic in the live tail, then a field";
      return;
    }
    const data = this.data();
    $("chart-state").textContent = data[0].length + " points";
    const sig = keys.join("\n");
    const width = Math.max(280, box.clientWidth || 600);
    if (this.plot && this.sig === sig) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    const colors = ["#0a6cbd", "#d9480f"];
    const opts = {
      width, height: 280,
      series: [{}, ...keys.map((k, i) => ({ label: k, stroke: colors[i], scale: i ? "y2" : "y", spanGaps: true }))],
      axes: [{}, { scale: "y" }, ...(keys.length > 1 ? [{ scale: "y2", side: 1, grid: { show: false } }] : [])],
    };
    this.plot = new uPlot(opts, data, box);
    this.sig = sig;
  },
};
window.eddyChart = chart; /* for tests and the curious */

/* ---- the refresh loop ---- */

async function refresh() {
  const t = performance.now() / 1000, dt = prev.t ? t - prev.t : 0;
  try {
    const ov = await get("/api/v1/overview");
    showOverview(ov, dt);
    await showTopics(dt);
    await Promise.all([showGroups(), showClients(), showMirror(), showWarnings()]);
    $("conn-state").textContent = "updated " + new Date().toLocaleTimeString();
    $("conn-state").className = "pill";
  } catch (e) {
    $("conn-state").textContent = "no answer: " + e.message;
    $("conn-state").className = "pill bad";
  }
  prev.t = t;
  document.body.dataset.refreshed = (Number(document.body.dataset.refreshed) || 0) + 1;
}

$("tail-topic").addEventListener("change", () => choosePartitions());
$("tail-partition").addEventListener("change", () => startTail());
$("tail-pause").addEventListener("click", () => {
  paused = !paused;
  $("tail-pause").textContent = paused ? "resume" : "pause";
});
$("chart-field").addEventListener("change", () => chart.draw());
$("chart-field2").addEventListener("change", () => chart.draw());
$("show-internal").addEventListener("change", () => refresh());
setInterval(() => { if (chart.dirty) chart.draw(); }, 1000);
refresh();
setInterval(refresh, REFRESH_MS);
