// Regime board: one row per symbol (GET /v1/board), kept live by the decisions on the stream
// (GET /v1/stream, resumed from the board's own position so nothing falls between the two),
// paused/halted from the commands in effect (GET /v1/control). Rows are updated in place and
// at most once per animation frame; re-sorting waits for a quiet moment (500 symbols updating
// stay responsive: docs/console.md).
import { clearErrors, fmtNum, fmtTime, get, h, showError, stream } from "./api.js";

const DECISIONS = ["EngineRunCompleted", "HysteresisDecisionPublished"];
const RECENT = 12;
const rows = new Map(); // symbol -> {data, el, dirty}
let started = false, visible = false, closeStream = null, controlTimer = null, frame = 0, sortTimer = 0;
let commands = [];
// Measurements a test or a bench reads: each row update's (partition, offset) and wall time.
const stats = (window.consoleStats = window.consoleStats || { updates: [], events: 0 });

function regimeOf(e) {
  if (e.hysteresis_decision) return e.hysteresis_decision.current_regime;
  return e.regime_output ? e.regime_output.regime : null;
}

function controlOf(row) {
  let state = "";
  for (const c of commands) {
    const t = c.target;
    const hits = t.symbol ? t.symbol === row.symbol : t.partition === null || t.partition === undefined || t.partition === row.partition;
    if (!hits) continue;
    if (c.mode === "halt") state = "halted";
    else if (!state) state = "paused";
  }
  return state;
}

// A row's cells are made once; an update only sets their text and classes (a board of 500
// symbols updating at once rebuilds nothing).
function makeRow(symbol) {
  const el = h("div", { class: "board-row", role: "row", "data-symbol": symbol });
  const cell = (cls, ...children) => h("span", { role: "cell", class: cls }, ...children);
  const link = h("a", { href: `#symbol/${encodeURIComponent(symbol)}` }, symbol);
  const badge = h("span", { class: "regime" });
  const cells = {
    regime: badge, confidence: cell("num confidence"), since: cell("since"), updated: cell("updated"),
    timeline: h("span", { class: "timeline" }), control: cell("control"),
  };
  el.append(cell("symbol", link), cell("regime-cell", badge), cells.confidence, cells.since, cells.updated,
    cell("recent", cells.timeline), cells.control);
  return { el, cells };
}

function paint(row) {
  const d = row.data, c = row.cells, control = controlOf(d);
  c.regime.textContent = d.regime || "-";
  c.regime.className = `regime ${d.regime}`;
  c.confidence.textContent = fmtNum(d.confidence, 2);
  c.since.textContent = fmtTime(d.since_ms);
  c.updated.textContent = fmtTime(d.engine_timestamp_ms);
  c.control.textContent = control || "live";
  const spans = c.timeline.children;
  while (spans.length < d.recent.length) c.timeline.append(h("span", {}));
  while (spans.length > d.recent.length) c.timeline.lastChild.remove();
  d.recent.forEach((p, i) => {
    spans[i].className = `regime ${p.regime}`;
    spans[i].title = `${fmtTime(p.t)} ${p.regime} ${fmtNum(p.confidence, 2)}`;
  });
  c.timeline.setAttribute("aria-label", `last ${d.recent.length} decisions`);
  row.el.className = `board-row ${control}`;
  row.el.dataset.regime = d.regime || "";
  row.el.dataset.control = control || "live";
  row.el.dataset.offset = `${d.partition}:${d.offset}`;
  row.dirty = false;
}

function upsert(d) {
  let row = rows.get(d.symbol);
  if (!row) {
    row = { data: d, ...makeRow(d.symbol), dirty: true };
    rows.set(d.symbol, row);
    scheduleSort();
  } else {
    row.data = d; row.dirty = true;
  }
  if (filterText) row.el.hidden = !matches(row.data);
  return row;
}

function flush() {
  frame = 0;
  const now = Date.now();
  for (const row of rows.values()) {
    if (!row.dirty) continue;
    paint(row);
    if (row.data.fromStream) stats.updates.push({ p: row.data.partition, o: row.data.offset, at: now });
  }
  if (stats.updates.length > 20000) stats.updates.splice(0, stats.updates.length - 20000);
  if (document.getElementById("board-sort").value !== "symbol") scheduleSort(); // order by what changed
}

function schedule() { if (!frame) frame = requestAnimationFrame(flush); }
// requestAnimationFrame does not run in a hidden tab: a timer stands in.
function scheduleAny() { if (document.hidden || !visible) { if (!frame) frame = setTimeout(flush, 50); } else schedule(); }

function onDecision(type, text) {
  if (!DECISIONS.includes(type)) return;
  stats.events += 1;
  const e = JSON.parse(text);
  const prev = rows.get(e.symbol);
  const point = { t: e.engine_timestamp_ms, regime: regimeOf(e), confidence: e.regime_output ? e.regime_output.confidence : null };
  const base = prev ? prev.data : { symbol: e.symbol, recent: [], since_ms: point.t, count: 0 };
  if (prev && point.t < base.engine_timestamp_ms) return; // a late decision never rolls a row back
  const recent = base.recent.length && base.recent[base.recent.length - 1].t === point.t ? base.recent.slice(0, -1) : base.recent.slice();
  recent.push(point);
  while (recent.length > RECENT) recent.shift();
  upsert({
    symbol: e.symbol, regime: point.regime, confidence: point.confidence, engine_timestamp_ms: point.t,
    since_ms: base.regime === point.regime ? base.since_ms : point.t, recent, partition: e.partition, offset: e.offset,
    count: (base.count || 0) + 1, fromStream: true,
  });
  scheduleAny();
}

function sortKey(d, by) {
  return { regime: d.regime || "", confidence: -(d.confidence || 0), since: d.since_ms || 0, updated: -(d.engine_timestamp_ms || 0) }[by] ?? d.symbol;
}

function sortNow() {
  sortTimer = 0;
  const by = document.getElementById("board-sort").value;
  const sorted = [...rows.values()].sort((a, b) => {
    const x = sortKey(a.data, by), y = sortKey(b.data, by);
    return x < y ? -1 : x > y ? 1 : a.data.symbol < b.data.symbol ? -1 : 1;
  });
  const body = document.querySelector("#board .board-body");
  const order = sorted.map((r) => r.el);
  const current = body.children;
  // Moving 500 rows costs a relayout of each: only when the order changed.
  if (current.length !== order.length || order.some((el, i) => current[i] !== el)) body.replaceChildren(...order);
  for (const r of sorted) if (r.dirty) paint(r);
  applyFilter();
}
function scheduleSort() { if (!sortTimer) sortTimer = setTimeout(sortNow, 300); }

let filterText = "";
function matches(d) { return !filterText || d.symbol.toLowerCase().includes(filterText) || (d.regime || "").toLowerCase().includes(filterText); }

function applyFilter() {
  filterText = document.getElementById("board-filter").value.trim().toLowerCase();
  let shown = 0;
  for (const row of rows.values()) {
    const hit = matches(row.data);
    if (row.el.hidden === hit) row.el.hidden = !hit;
    shown += hit;
  }
  document.getElementById("board-count").textContent = `${shown} of ${rows.size} symbols`;
}

async function pollControl() {
  try {
    commands = (await get("/v1/control")).active;
    clearErrors("commands");
    for (const row of rows.values()) if (controlOf(row.data) !== (row.el.dataset.control === "live" ? "" : row.el.dataset.control)) row.dirty = true;
    scheduleAny();
  } catch (err) {
    showError("commands", err);
  }
  controlTimer = setTimeout(pollControl, 2000);
}

async function start() {
  started = true;
  try {
    const snapshot = await get(`/v1/board?recent=${RECENT}`);
    for (const d of snapshot.symbols) upsert({ ...d, count: d.recent.length });
    sortNow();
    const types = DECISIONS.map((t) => `event_type=${t}`).join("&");
    const after = snapshot.last_event_id ? `&last_event_id=${encodeURIComponent(snapshot.last_event_id)}` : "";
    closeStream = stream(`/v1/stream?${types}${after}`, onDecision, (s) => { document.getElementById("board-live").textContent = s; });
    clearErrors("board");
  } catch (err) {
    started = false;
    showError("board", err);
  }
  pollControl();
}

export function show() { visible = true; if (!started) start(); else sortNow(); }
export function leave() { visible = false; }
export function ensureStarted() { if (!started) start(); }
export function symbols() { return [...rows.keys()].sort(); }

document.getElementById("board-filter").addEventListener("input", applyFilter);
document.getElementById("board-sort").addEventListener("change", sortNow);
