// Fleet: the topology (GET /v1/topology) as a graph, each worker coloured by its instances'
// lifecycle and readiness (GET /v1/workers), each input edge labelled with its group's lag
// (GET /v1/groups); polled every 2 s while shown. A worker's instances on click or Enter.
import { clearErrors, fmtTime, get, h, showError } from "./api.js";

const POLL_MS = 2000;
let topology = null, workers = [], groups = {}, selected = null, timer = null, active = false;

// A worker's state from its instances: ready, waiting (running, not ready), down, absent.
export function workerState(instances) {
  if (!instances.length) return "absent";
  // A stopped, unreachable (heartbeat stale, no group member) or draining instance is gone.
  const live = instances.filter((i) => !["stopped", "unreachable", "drained"].includes(i.lifecycle));
  if (!live.length || live.some((i) => i.lifecycle === "degraded")) return "down";
  return live.every((i) => i.ready) ? "ready" : "waiting";
}

// The edges drawn: inputs, reads and outputs (a worker's changelogs are listed in its details).
function drawn(topo) { return topo.edges.filter((e) => e.kind !== "store"); }

// Columns by depth along the inputs (a worker sits right of what it reads); a long chain wraps
// into two bands so the graph stays readable on a laptop screen.
function layout(topo) {
  const depth = {};
  for (const name of topo.order) {
    const w = topo.workers[name];
    const d = 1 + Math.max(0, ...w.inputs.map((t) => depth[t] ?? 0));
    depth[name] = d;
    for (const t of w.outputs) if (depth[t] === undefined) depth[t] = d + 1;
  }
  const linked = new Set(drawn(topo).flatMap((e) => [e.from, e.to]));
  for (const t of Object.keys(topo.topics)) if (depth[t] === undefined && linked.has(t)) depth[t] = 0;
  depth.api = 1 + Math.max(0, ...topo.services.api.reads.map((t) => depth[t] ?? 0));
  const columns = {};
  for (const [n, d] of Object.entries(depth)) if (linked.has(n) || n in topo.workers) (columns[d] = columns[d] || []).push(n);
  const cols = Object.keys(columns).map(Number).sort((a, b) => a - b);
  const perBand = cols.length > 8 ? Math.ceil(cols.length / 2) : cols.length;
  const rows = Math.max(...Object.values(columns).map((c) => c.length));
  const bandHeight = rows * 44 + 40;
  const pos = {};
  cols.forEach((d, ci) => columns[d].forEach((n, ri) => {
    pos[n] = { x: 10 + (ci % perBand) * 150, y: 20 + Math.floor(ci / perBand) * bandHeight + ri * 44 };
  }));
  return { pos, width: 10 + perBand * 150, height: 20 + Math.ceil(cols.length / perBand) * bandHeight };
}

function lagOf(worker, topic) {
  const g = groups[worker];
  if (!g) return null;
  return g.partitions.filter((r) => r.topic === topic).reduce((s, r) => s + r.lag, 0);
}

function render() {
  const svg = document.getElementById("fleet-graph");
  const { pos, width, height } = layout(topology);
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(height, 200)}`);
  const W = 128, H = 28;
  const edges = drawn(topology).filter((e) => pos[e.from] && pos[e.to]).map((e) => {
    const a = pos[e.from], b = pos[e.to];
    const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
    const back = x2 <= x1 && Math.abs(y2 - y1) < 100; // within a band: a loop below (engine -> engine.runs)
    const d = back ? `M${a.x + W / 2},${a.y + H} C${a.x + W / 2},${a.y + H + 30} ${b.x + W / 2},${b.y + H + 30} ${b.x + W / 2},${b.y + H}`
      : `M${x1},${y1} C${x1 + 30},${y1} ${x2 - 30},${y2} ${x2},${y2}`;
    const lag = e.kind === "input" ? lagOf(e.to, e.from) : null;
    const lagging = lag !== null && lag > 0;
    const g = h("g", { "data-edge": `${e.from}->${e.to}` },
      h("path", { d, class: `edge ${e.kind}${lagging ? " lagging" : ""}`, "marker-end": "url(#arrow)" }));
    if (lag !== null) {
      g.append(h("text", { x: (x1 + x2) / 2 - 14, y: (y1 + y2) / 2 - 3, class: `lag${lagging ? " lagging" : ""}` }, `lag ${lag}`));
    }
    return g;
  });
  const nodes = Object.entries(pos).map(([name, p]) => {
    const isWorker = name in topology.workers || name === "api";
    if (!isWorker) {
      return h("g", { class: "node topic", transform: `translate(${p.x},${p.y})`, "data-topic": name },
        h("rect", { width: W, height: H }), h("text", { x: 8, y: 18 }, name.length > 19 ? name.slice(0, 18) + "…" : name));
    }
    const instances = workers.filter((i) => i.worker === name);
    const state = name === "api" ? "ready" : workerState(instances);
    const g = h("g", {
      class: `node worker ${state}${selected === name ? " selected" : ""}`, transform: `translate(${p.x},${p.y})`,
      tabindex: 0, role: "button", "data-worker": name, "data-state": state,
      "aria-label": `worker ${name}: ${state}, ${instances.length} instance(s)`,
    }, h("title", {}, `${name}: ${state}`), h("rect", { width: W, height: H }), h("text", { x: 8, y: 18 }, name === "api" ? "api (this service)" : `${name} ×${instances.length}`));
    if (name !== "api") {
      g.addEventListener("click", () => select(name));
      g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(name); } });
    }
    return g;
  });
  const defs = h("defs", {});
  defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9aa0a6"/></marker>';
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.worker : null;
  svg.replaceChildren(defs, ...edges, ...nodes);
  if (focused) { const again = svg.querySelector(`[data-worker="${focused}"]`); if (again) again.focus(); }
  renderList();
  if (selected) detail(selected);
}

function renderList() {
  const body = document.querySelector("#worker-list tbody");
  body.replaceChildren(...topology.order.map((name) => {
    const instances = workers.filter((i) => i.worker === name);
    const state = workerState(instances);
    const button = h("button", { type: "button", "aria-label": `show worker ${name}` }, name);
    button.addEventListener("click", () => select(name));
    return h("tr", { "data-worker": name, "data-state": state },
      h("td", {}, button), h("td", {}, h("span", { class: `dot ${state}` }), state),
      h("td", { class: "num" }, instances.length), h("td", { class: "num" }, groups[name] ? groups[name].lag : "-"));
  }));
}

function select(name) {
  selected = name;
  for (const n of document.querySelectorAll("#fleet-graph .node.worker")) n.classList.toggle("selected", n.dataset.worker === name);
  detail(name);
}

function detail(name) {
  const box = document.getElementById("worker-detail");
  const instances = workers.filter((i) => i.worker === name);
  const spec = topology.workers[name];
  const items = instances.map((i) => h("section", { class: "instance", "data-instance": i.instance },
    h("h4", {}, h("span", { class: `dot ${workerState([i])}` }), `${i.instance}`),
    h("dl", { class: "kv" },
      h("dt", {}, "lifecycle"), h("dd", {}, `${i.lifecycle}${i.ready ? ", ready" : ", not ready"}`),
      h("dt", {}, "reasons"), h("dd", {}, Object.entries(i.reasons || {}).map(([k, v]) => `${k}: ${v}`).join("; ") || "-"),
      h("dt", {}, "partitions"), h("dd", {}, (i.partitions || []).join(", ") || "-"),
      h("dt", {}, "lag"), h("dd", {}, Object.entries(i.lag || {}).map(([k, v]) => `${k}: ${v}`).join(", ") || "-"),
      h("dt", {}, "last error"), h("dd", { class: "last-error" }, i.last_error || "none"),
      h("dt", {}, "config fingerprint"), h("dd", { class: "fingerprint" }, i.config_fingerprint || "-"),
      h("dt", {}, "version"), h("dd", {}, i.version || "-"),
      h("dt", {}, "heartbeat age"), h("dd", {}, i.heartbeat_age_s !== undefined ? `${i.heartbeat_age_s} s` : "-"))));
  box.replaceChildren(h("h3", { id: "h-worker" }, `Worker ${name}`),
    h("p", { class: "hint" }, `reads ${spec.inputs.join(", ") || "-"}; writes ${spec.outputs.join(", ") || "-"}`
      + (Object.keys(spec.stores).length ? `; stores ${Object.entries(spec.stores).map(([k, t]) => `${k} (${t})`).join(", ")}` : "")),
    ...(items.length ? items : [h("p", {}, "no instance is running")]));
}

async function poll() {
  try {
    if (!topology) topology = await get("/v1/topology");
    const [w, g] = await Promise.all([get("/v1/workers"), get("/v1/groups")]);
    workers = w.workers; groups = g.groups;
    clearErrors("fleet");
    document.getElementById("fleet-updated").textContent = `updated ${fmtTime(Date.now())}`;
  } catch (err) {
    showError("fleet", err);
  }
  if (topology) render();
}

async function loop() { if (!active) return; await poll(); if (active) timer = setTimeout(loop, POLL_MS); }
export function show() { if (!active) { active = true; loop(); } }
export function leave() { active = false; clearTimeout(timer); }
