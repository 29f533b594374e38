// The console's one way to the api: the bearer token (kept in sessionStorage only), JSON
// calls whose failures are shown on the page, and Server-Sent Events read through fetch (so
// a token can go with them, which EventSource cannot send).

const TOKEN_KEY = "regime-fleet-token";

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const out = { ...(extra || {}) };
  const t = token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

export class ApiError extends Error {
  constructor(status, code, message, correlationId) {
    super(message);
    this.status = status; this.code = code; this.correlationId = correlationId;
  }
}

// A failed call is shown in the page's error area (role=alert), never a blank.
export function showError(where, err) {
  const box = document.getElementById("errors");
  const text = err instanceof ApiError
    ? `${where}: ${err.status} ${err.code}: ${err.message}` + (err.correlationId ? ` (correlation id ${err.correlationId})` : "")
    : `${where}: ${err && err.message ? err.message : err}`;
  for (const old of box.querySelectorAll(".error")) if (old.dataset.text === text) return;
  const close = h("button", { type: "button", "aria-label": "Dismiss this error" }, "dismiss");
  const item = h("div", { class: "error", "data-text": text, "data-code": err && err.code ? err.code : "" }, h("span", {}, text), close);
  close.addEventListener("click", () => item.remove());
  box.append(item);
  while (box.children.length > 5) box.firstChild.remove();
}

export function clearErrors(where) {
  for (const e of document.querySelectorAll("#errors .error")) if (e.dataset.text.startsWith(`${where}:`)) e.remove();
}

async function failure(res) {
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  return new ApiError(res.status, body.error || `HTTP_${res.status}`, body.message || res.statusText,
    body.correlation_id || res.headers.get("X-Correlation-Id") || "");
}

// GET or POST JSON; throws ApiError with the api's code and message.
export async function call(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, "UNREACHABLE", `the api did not answer (${exc.message})`, "");
  }
  if (!res.ok) throw await failure(res);
  return res.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body || {});

// The body of a binary answer (a report's PNG, a dead letter's bytes) as a Blob.
export async function blob(path) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw await failure(res);
  return res.blob();
}

// Server-Sent Events over fetch: onEvent(type, data, id) per message; reconnects with the
// last id after a drop. Returns a function that closes the stream.
export function stream(path, onEvent, onState) {
  let lastId = null, stopped = false, controller = null;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const extra = lastId ? { "Last-Event-ID": lastId } : {};
        const res = await fetch(path, { headers: headers(extra), signal: controller.signal });
        if (!res.ok) throw await failure(res);
        if (onState) onState("live");
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          // Lines may end in \r\n (sse-starlette's) or \n (the hub's); a \r at the end waits for its \n.
          const held = buffer.endsWith("\r") ? "\r" : "";
          const frames = buffer.slice(0, buffer.length - held.length).replace(/\r\n?/g, "\n").split("\n\n");
          buffer = frames.pop() + held; // one pass over the chunk, however many frames it holds
          for (const frame of frames) {
            let type = "message", data = "", id = null;
            for (const line of frame.split("\n")) {
              if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).trimStart();
              else if (line.startsWith("event:")) type = line.slice(6).trim();
              else if (line.startsWith("id:")) id = line.slice(3).trim();
            }
            if (id) lastId = id;
            if (data) onEvent(type, data, id);
          }
        }
      } catch (exc) {
        if (stopped) return;
        if (onState) onState("reconnecting");
        if (exc instanceof ApiError) { showError(`stream ${path.split("?")[0]}`, exc); if (exc.status === 401 || exc.status === 404 || exc.status === 422) return; }
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }
  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}

// h("tag", {attr: value}, ...children): a DOM element (text children are escaped).
export function h(tag, attrs, ...children) {
  const ns = ["svg", "g", "rect", "line", "path", "text", "polyline", "circle", "polygon", "title", "tspan"].includes(tag)
    ? "http://www.w3.org/2000/svg" : null;
  const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "-";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
export function fmtNum(x, digits = 3) {
  return typeof x === "number" && isFinite(x) ? x.toFixed(digits) : "-";
}
