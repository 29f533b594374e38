// Symbol: price (GET /v1/symbols/{s}/bars, from market.buffer) with the regime shaded over time
// and the enriched signals on it (GET /v1/symbols/{s}/timeline), live from the symbol's stream;
// an as-of picker asks what the fleet believed at T (GET .../regime?as_of=, .../signal?as_of=).
import { ApiError, clearErrors, fmtNum, fmtTime, get, h, showError, stream } from "./api.js";
import * as board from "./board.js";

let symbol = null, bars = [], decisions = [], signals = [], asOf = null, closeStream = null, redraw = 0;

function scale(lo, hi, a, b) { const span = hi - lo || 1; return (v) => a + ((v - lo) / span) * (b - a); }

function draw() {
  redraw = 0;
  const svg = document.getElementById("symbol-chart");
  const W = 1000, H = 320, L = 56, R = 10, T = 10, B = 28;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const times = [...bars.map((b) => b.t), ...decisions.map((d) => d.t), ...signals.map((s) => s.t)];
  if (!times.length) { svg.replaceChildren(h("text", { x: 20, y: 40 }, symbol ? `no prices, decisions or signals for ${symbol}` : "choose a symbol")); return; }
  const t0 = Math.min(...times), t1 = Math.max(...times);
  // Signals sit on the price line (the close at or before them) when there are bars, else at their own price.
  const at = (t) => { let c = null; for (const b of bars) { if (b.t > t) break; c = b.close; } return c ?? (bars.length ? bars[0].close : null); };
  const prices = bars.length ? bars.map((b) => b.close) : signals.map((s) => s.price).filter((p) => p > 0);
  const p0 = prices.length ? Math.min(...prices) : 0, p1 = prices.length ? Math.max(...prices) : 1;
  const x = scale(t0, t1, L, W - R), y = scale(p0, p1, H - B, T);
  const shades = decisions.map((d, i) => {
    const end = i + 1 < decisions.length ? decisions[i + 1].t : t1;
    return h("rect", { class: `shade ${d.regime}`, x: x(d.t), y: T, width: Math.max(1, x(end) - x(d.t)), height: H - B - T },
      h("title", {}, `${d.regime} from ${fmtTime(d.t)}`));
  });
  const line = bars.length ? h("polyline", { class: "price", points: bars.map((b) => `${x(b.t).toFixed(1)},${y(b.close).toFixed(1)}`).join(" ") }) : null;
  const marks = signals.map((s) => {
    const price = bars.length ? at(s.t) : s.price;
    const cx = x(s.t), cy = price > 0 ? y(price) : T + 8;
    const up = s.direction > 0, flat = s.direction === 0;
    const pts = up ? `${cx},${cy - 7} ${cx - 5},${cy + 3} ${cx + 5},${cy + 3}` : `${cx},${cy + 7} ${cx - 5},${cy - 3} ${cx + 5},${cy - 3}`;
    return h(flat ? "circle" : "polygon", flat ? { cx, cy, r: 3, class: "flat" } : { points: pts, class: up ? "buy" : "sell", opacity: 0.35 + 0.65 * (s.meta_confidence || 0) },
      h("title", {}, `${fmtTime(s.t)} ${up ? "buy" : flat ? "flat" : "sell"} conf ${fmtNum(s.meta_confidence, 2)} tox ${fmtNum(s.toxicity, 2)} weight ${fmtNum(s.regime_weight, 2)} ${s.model_version}${s.halted ? " HALTED" : ""}`));
  });
  const axis = [h("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    h("text", { class: "axis-label", x: L, y: H - 8 }, fmtTime(t0)),
    h("text", { class: "axis-label", x: W - R - 150, y: H - 8 }, fmtTime(t1)),
    h("text", { class: "axis-label", x: 2, y: T + 10 }, fmtNum(p1, 2)), h("text", { class: "axis-label", x: 2, y: H - B }, fmtNum(p0, 2))];
  const cursor = asOf !== null && asOf >= t0 && asOf <= t1 ? [h("line", { class: "asof", x1: x(asOf), y1: T, x2: x(asOf), y2: H - B })] : [];
  svg.replaceChildren(...shades, ...axis, ...(line ? [line] : []), ...marks, ...cursor);
  const regimes = [...new Set(decisions.map((d) => d.regime))];
  document.getElementById("symbol-legend").replaceChildren(`${bars.length} prices, ${decisions.length} decisions, ${signals.length} signals. Regimes: `,
    ...regimes.map((r) => h("span", { class: `regime ${r}` }, r)), " ▲ buy ▼ sell (opacity: calibrated confidence)");
  const body = document.querySelector("#signals tbody");
  body.replaceChildren(...signals.slice(-50).reverse().map((s) => h("tr", { "data-signal": s.signal_id, class: s.halted ? "halted" : "" },
    h("td", {}, fmtTime(s.t)), h("td", {}, s.direction > 0 ? "buy" : s.direction < 0 ? "sell" : "flat"),
    h("td", { class: "num" }, fmtNum(s.meta_confidence)), h("td", { class: "num" }, fmtNum(s.toxicity)),
    h("td", {}, h("span", { class: `regime ${s.regime}` }, s.regime)), h("td", { class: "num" }, fmtNum(s.regime_weight) + (s.halted ? " (halted)" : "")),
    h("td", {}, s.model_version))));
}

function later() { if (!redraw) redraw = setTimeout(draw, 100); }

function onEvent(type, text) {
  const e = JSON.parse(text);
  if (type === "EnrichedSignalEvent") {
    const s = e.signal;
    signals.push({ t: s.signal_ts_ms, signal_id: s.signal_id, direction: s.direction, price: s.price, meta_confidence: e.meta_confidence,
      toxicity: e.toxicity, regime: e.regime, regime_weight: e.regime_weight, model_version: e.model_version, halted: e.halted });
  } else if (type === "EngineRunCompleted" || type === "HysteresisDecisionPublished") {
    const regime = e.hysteresis_decision ? e.hysteresis_decision.current_regime : e.regime_output && e.regime_output.regime;
    const point = { t: e.engine_timestamp_ms, regime, confidence: e.regime_output ? e.regime_output.confidence : null };
    if (decisions.length && decisions[decisions.length - 1].t === point.t) decisions[decisions.length - 1] = point; else decisions.push(point);
  } else return;
  later();
}

async function load(name) {
  if (closeStream) { closeStream(); closeStream = null; }
  symbol = name; asOf = null;
  document.getElementById("h-symbol").textContent = `Symbol ${name}`;
  document.getElementById("symbol-input").value = name;
  document.getElementById("asof-answer").replaceChildren();
  const [b, tl] = await Promise.allSettled([get(`/v1/symbols/${encodeURIComponent(name)}/bars?limit=5000`), get(`/v1/symbols/${encodeURIComponent(name)}/timeline?limit=5000`)]);
  if (symbol !== name) return;
  bars = b.status === "fulfilled" ? b.value.bars : [];
  decisions = tl.status === "fulfilled" ? tl.value.decisions : [];
  signals = tl.status === "fulfilled" ? tl.value.signals : [];
  if (b.status === "rejected") showError(`prices of ${name}`, b.reason);
  if (tl.status === "rejected") showError(`timeline of ${name}`, tl.reason);
  draw();
  // From exactly where the timeline stands: nothing missed, nothing twice.
  const after = tl.status === "fulfilled" && tl.value.last_event_id ? `?last_event_id=${encodeURIComponent(tl.value.last_event_id)}` : "";
  closeStream = stream(`/v1/symbols/${encodeURIComponent(name)}/events${after}`, onEvent);
}

function asOfMs() {
  const v = document.getElementById("asof-input").value;
  return v ? Date.parse(v.length === 16 ? `${v}:00Z` : `${v}Z`) : null;
}

async function ask() {
  const t = asOfMs();
  if (!symbol || t === null || isNaN(t)) { showError("as of", new Error("choose a symbol and a time")); return; }
  asOf = t; draw();
  const box = document.getElementById("asof-answer");
  const q = `as_of=${t}`;
  const [r, s] = await Promise.allSettled([get(`/v1/symbols/${encodeURIComponent(symbol)}/regime?${q}`), get(`/v1/symbols/${encodeURIComponent(symbol)}/signal?${q}`)]);
  const said = (res, fn) => res.status === "fulfilled" ? fn(res.value) : res.reason instanceof ApiError ? `${res.reason.code}: ${res.reason.message}` : String(res.reason);
  box.replaceChildren(h("dl", { class: "kv", "data-as-of": String(t) },
    h("dt", {}, "as of"), h("dd", {}, fmtTime(t)),
    h("dt", {}, "regime then"), h("dd", { class: "asof-regime" }, said(r, (v) => `${v.regime} (confidence ${fmtNum(v.confidence, 2)}, decided ${fmtTime(v.engine_timestamp_ms)}, published ${fmtTime(v.published_ms)})`)),
    h("dt", {}, "signal then"), h("dd", { class: "asof-signal" }, said(s, (v) => `${v.signal.direction > 0 ? "buy" : v.signal.direction < 0 ? "sell" : "flat"} at ${fmtTime(v.signal.signal_ts_ms)}, confidence ${fmtNum(v.meta_confidence)}, weight ${fmtNum(v.regime_weight)}, model ${v.model_version}`))));
}

export function show(name) {
  board.ensureStarted();
  const list = document.getElementById("symbol-list"), known = board.symbols();
  if (list.children.length !== known.length) list.replaceChildren(...known.map((s) => h("option", { value: s })));
  const want = name || symbol || board.symbols()[0];
  if (want && want !== symbol) load(want).catch((err) => showError("symbol", err));
  else draw();
}
export function leave() {}

document.getElementById("symbol-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = document.getElementById("symbol-input").value.trim();
  if (name) location.hash = `#symbol/${encodeURIComponent(name)}`;
});
document.getElementById("asof-ask").addEventListener("click", () => ask().catch((err) => showError("as of", err)));
