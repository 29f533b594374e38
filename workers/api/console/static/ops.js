// Operations: pause / resume / halt a worker, a partition or a symbol (POST /v1/control/*),
// the commands in effect (GET /v1/control), replays started here with their progress and
// report (POST /v1/replays, GET /v1/replays/{id}/events), and the dead-letter queues' recent
// records with their original bytes (GET /v1/dead-letters).
import { blob, clearErrors, fmtTime, get, h, post, showError, stream } from "./api.js";

let timer = null, active = false, workersFilled = false;

function target() {
  const out = {};
  const worker = document.getElementById("cmd-worker").value;
  const symbol = document.getElementById("cmd-symbol").value.trim();
  const partition = document.getElementById("cmd-partition").value.trim();
  const reason = document.getElementById("cmd-reason").value.trim();
  if (worker) out.worker = worker;
  if (symbol) out.symbol = symbol;
  if (partition !== "") out.partition = Number(partition);
  if (reason) out.reason = reason;
  return out;
}

async function command(action, body) {
  const result = document.getElementById("cmd-result");
  try {
    const done = await post(`/v1/control/${action}`, body);
    result.textContent = `${action} recorded: ${done.commands.map((c) => c.key).join(", ")} (correlation id ${done.correlation_id})`;
    result.dataset.outcome = "ok";
    clearErrors(action);
    refresh();
  } catch (err) {
    result.textContent = `${action} refused: ${err.code || ""} ${err.message}`;
    result.dataset.outcome = "refused";
    showError(action, err);
  }
}

function describe(t) {
  const who = t.worker === "*" ? "every worker" : t.worker;
  return t.symbol ? `${who}, symbol ${t.symbol}` : t.partition !== null && t.partition !== undefined ? `${who}, partition ${t.partition}` : `${who}, everything`;
}

async function refresh() {
  try {
    const [control, dlq] = await Promise.all([get("/v1/control"), get("/v1/dead-letters?limit=50")]);
    clearErrors("operations");
    document.querySelector("#commands tbody").replaceChildren(...(control.active.length ? control.active.map((c) => {
      const end = h("button", { type: "button", "aria-label": `resume ${describe(c.target)}` }, "resume");
      const body = { mode: c.mode };
      if (c.target.worker !== "*") body.worker = c.target.worker;
      if (c.target.symbol) body.symbol = c.target.symbol;
      if (c.target.partition !== null && c.target.partition !== undefined) body.partition = c.target.partition;
      end.addEventListener("click", () => command("resume", body));
      return h("tr", { "data-key": c.key }, h("td", {}, c.mode), h("td", {}, describe(c.target)), h("td", {}, fmtTime(c.issued_at_ms)), h("td", {}, c.reason || ""), h("td", {}, end));
    }) : [h("tr", {}, h("td", { colspan: 5 }, "none: everything flows"))]));
    document.getElementById("dlq-totals").textContent = Object.entries(dlq.topics).map(([t, n]) => `${t}: ${n}`).join(", ");
    document.querySelector("#dead-letters tbody").replaceChildren(...(dlq.records.length ? dlq.records.map((r) => {
      const link = h("button", { type: "button", "aria-label": `download the original bytes of ${r.topic} ${r.partition}:${r.offset}` }, `${r.size} bytes`);
      link.addEventListener("click", () => download(r));
      return h("tr", { "data-dead-letter": `${r.topic}/${r.partition}/${r.offset}` }, h("td", {}, fmtTime(r.timestamp_ms)), h("td", {}, r.topic), h("td", {}, `${r.partition}:${r.offset}`),
        h("td", {}, r.key ?? "-"), h("td", { class: "error-code" }, r.error_code), h("td", {}, r.error_message), h("td", {}, `${r.source.topic}[${r.source.partition}]@${r.source.offset}`), h("td", {}, link));
    }) : [h("tr", {}, h("td", { colspan: 8 }, "no dead letters"))]));
  } catch (err) {
    showError("operations", err);
  }
}

async function download(r) {
  try {
    const data = await blob(r.original);
    const a = h("a", { href: URL.createObjectURL(data), download: `${r.topic}-${r.partition}-${r.offset}.bin` });
    document.body.append(a); a.click(); a.remove();
  } catch (err) {
    showError("download", err);
  }
}

async function replay(e) {
  e.preventDefault();
  const bar = document.getElementById("replay-progress"), state = document.getElementById("replay-state"), out = document.getElementById("replay-report");
  const body = { topic: document.getElementById("replay-topic").value, config_source: document.getElementById("replay-config").value };
  const symbol = document.getElementById("replay-symbol").value.trim();
  if (symbol) body.symbol = symbol;
  bar.value = 0; out.textContent = ""; state.textContent = "starting"; state.dataset.outcome = "";
  try {
    const job = await post("/v1/replays", body);
    state.textContent = `${job.job_id}: ${job.state}`;
    const close = stream(`/v1/replays/${job.job_id}/events`, (type, text) => {
      const d = JSON.parse(text);
      if (type === "progress") {
        bar.max = Math.max(d.total, 1); bar.value = d.done;
        state.textContent = `${job.job_id}: ${d.state}, ${d.done} of ${d.total}`;
      } else if (type === "report" || type === "failed") {
        close();
        bar.value = bar.max;
        const r = d.report || {};
        const verdict = type === "failed" ? `failed: ${d.error}` : r.match ? "match" : "DIVERGES";
        state.replaceChildren(`${job.job_id}: `, h("span", { class: r.match ? "match" : "diverges", id: "replay-verdict" }, verdict));
        state.dataset.outcome = type === "failed" ? "failed" : r.match ? "match" : "diverges";
        out.textContent = JSON.stringify(d.report || d, null, 2);
      }
    });
  } catch (err) {
    state.textContent = `refused: ${err.code || ""} ${err.message}`;
    state.dataset.outcome = "refused";
    showError("replay", err);
  }
}

async function fillWorkers() {
  try {
    const topo = await get("/v1/topology");
    const select = document.getElementById("cmd-worker");
    select.append(...topo.order.map((w) => h("option", { value: w }, w)));
    workersFilled = true;
  } catch (err) {
    showError("operations", err);
  }
}

async function loop() { if (!active) return; await refresh(); if (active) timer = setTimeout(loop, 3000); }
export function show() { if (!workersFilled) fillWorkers(); if (!active) { active = true; loop(); } }
export function leave() { active = false; clearTimeout(timer); }

for (const button of document.querySelectorAll("#command-form [data-action]")) {
  button.addEventListener("click", () => command(button.dataset.action, target()));
}
document.getElementById("replay-form").addEventListener("submit", replay);
