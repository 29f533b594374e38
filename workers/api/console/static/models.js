// Models: the trained versions (GET /v1/models), one version's gate verdict with its criteria,
// its numbers and the report's PNG (GET /v1/models/{v}?format=json|png), and promote / roll
// back (POST .../promote, .../rollback: the token is needed).
import { blob, clearErrors, fmtNum, fmtTime, get, h, post, showError } from "./api.js";

let chosen = null, imageUrl = null;

async function list() {
  try {
    const { models } = await get("/v1/models");
    clearErrors("models");
    const body = document.querySelector("#models tbody");
    body.replaceChildren(...(models.length ? models.slice().reverse().map((m) => {
      const show = h("button", { type: "button", "aria-label": `show the report of ${m.version}` }, "report");
      const promote = h("button", { type: "button", "aria-label": `promote ${m.version}` }, "promote");
      const rollback = h("button", { type: "button", "aria-label": `roll back to ${m.version}` }, "roll back");
      show.addEventListener("click", () => detail(m.version));
      promote.addEventListener("click", () => publish(m.version, "promote"));
      rollback.addEventListener("click", () => publish(m.version, "rollback"));
      return h("tr", { "data-version": m.version }, h("td", {}, m.version), h("td", {}, fmtTime(m.trained_at_ms)),
        h("td", {}, m.summary.status || "-"), h("td", { class: "num" }, m.summary.samples ?? "-"),
        h("td", {}, show, " ", promote, " ", rollback));
    }) : [h("tr", {}, h("td", { colspan: 5 }, "no trained model under trainer.report_dir"))]));
    if (!chosen && models.length) detail(models[models.length - 1].version);
  } catch (err) {
    showError("models", err);
  }
}

function criteria(gate) {
  return h("table", { class: "criteria", "aria-label": "Gate criteria" },
    h("thead", {}, h("tr", {}, ["Criterion", "Value", "Rule", "Threshold", "Verdict"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, (gate || []).map((g) => h("tr", { "data-criterion": g.criterion },
      h("td", {}, g.criterion), h("td", { class: "num" }, fmtNum(g.value)), h("td", {}, g.rule),
      h("td", { class: "num" }, fmtNum(g.threshold)), h("td", { class: `verdict-${g.verdict}` }, g.verdict)))));
}

async function detail(version) {
  chosen = version;
  const box = document.getElementById("model-detail");
  try {
    const report = await get(`/v1/models/${encodeURIComponent(version)}?format=json`);
    const cal = report.calibration || {};
    const img = h("img", { alt: `training report of ${version}: ROC, reliability, importance, folds, gate`, id: "model-png" });
    box.replaceChildren(h("h3", {}, `Model ${version}: ${report.status || "?"}`),
      report.rejected_because ? h("p", { class: "verdict-fail" }, `rejected because ${report.rejected_because}`) : h("p", { class: "verdict-pass" }, "accepted by the gate"),
      criteria(report.gate),
      h("dl", { class: "kv" },
        h("dt", {}, "validation AUC"), h("dd", {}, fmtNum(report.validation && report.validation.auc)),
        h("dt", {}, "samples, rounds"), h("dd", {}, `${report.samples ?? "-"}, ${report.rounds ?? "-"}`),
        h("dt", {}, "calibrated ECE / Brier"), h("dd", {}, cal.calibrated ? `${fmtNum(cal.calibrated.ece)} / ${fmtNum(cal.calibrated.brier, 4)}` : "-"),
        h("dt", {}, "base-rate Brier"), h("dd", {}, fmtNum(cal.base_rate_brier, 4))),
      h("label", {}, h("input", { type: "checkbox", id: "promote-force" }), " force: promote even when the promotion rule refuses (recorded as forced)"),
      h("p", { id: "publish-result", "aria-live": "polite" }), img);
    const png = await blob(`/v1/models/${encodeURIComponent(version)}?format=png`);
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = URL.createObjectURL(png);
    img.src = imageUrl;
    clearErrors(`model ${version}`);
  } catch (err) {
    showError(`model ${version}`, err);
  }
}

async function publish(version, action) {
  const where = () => document.getElementById("publish-result");
  const force = action === "promote" && document.getElementById("promote-force")?.checked;
  try {
    const done = await post(`/v1/models/${encodeURIComponent(version)}/${action}${force ? "?force=true" : ""}`);
    const verdict = done.verdict ? (done.forced ? "; forced past the rule" : "; the rule passed") : "";
    if (where()) {
      where().textContent = `${action}: ${version} is live (sha256 ${done.sha256.slice(0, 12)}…${verdict}, correlation id ${done.correlation_id})`;
      where().dataset.outcome = "ok";
    }
    clearErrors(`${action} ${version}`);
  } catch (err) {
    if (where()) {
      where().textContent = `${action} refused: ${err.code || ""} ${err.message}`;
      where().dataset.outcome = "refused";
      where().dataset.code = err.code || "";
    }
    showError(`${action} ${version}`, err);
  }
}

export function show() { list(); }
export function leave() {}
