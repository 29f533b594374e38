// The console's shell: the views behind the hash (#fleet, #board, #symbol/SPX, #models, #ops),
// the token form, and each view's start/stop as it is shown or left.
import { setToken, token } from "./api.js";
import * as fleet from "./fleet.js";
import * as board from "./board.js";
import * as symbol from "./symbol.js";
import * as models from "./models.js";
import * as ops from "./ops.js";

const VIEWS = { fleet, board, symbol, models, ops };
let current = null;

function route() {
  const [name, arg] = (location.hash.slice(1) || "fleet").split("/");
  const view = VIEWS[name] ? name : "fleet";
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (current && current !== view && VIEWS[current].leave) VIEWS[current].leave();
  current = view;
  VIEWS[view].show(arg ? decodeURIComponent(arg) : undefined);
  document.body.dataset.view = view;
}

function tokenState() {
  document.getElementById("token-state").textContent = token() ? "token set (this tab only)" : "no token: read only";
}

document.getElementById("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("token");
  setToken(input.value.trim());
  input.value = "";
  tokenState();
});
document.getElementById("token-forget").addEventListener("click", () => { setToken(""); tokenState(); });
window.addEventListener("hashchange", route);
tokenState();
route();
