// Local engines: GET /v1/engines (state, whether each serves its model now, breaker).
"use strict";

function readiness(engine) {
  if (engine.ready === true) return h("span", { class: "badge ok", text: "ready" });
  if (engine.ready === false) return h("span", { class: "badge bad", text: "down" });
  return h("span", { class: "badge", text: engine.engine === "replay" ? "in-process" : "unknown" });
}

function engineRow(engine) {
  const where = [engine.kind || engine.engine, engine.endpoint, engine.state ? "supervisor: " + engine.state : ""]
    .filter(Boolean).join(" · ");
  return h("tr", { dataset: { engine: engine.id } },
    h("td", {}, h("b", { text: engine.id }), h("div", { class: "summary", text: where })),
    h("td", { text: engine.model }),
    h("td", { title: engine.detail || null }, readiness(engine)),
    h("td", { text: engine.breaker || "n/a" }));
}

async function refreshEngines() {
  if (!$("apikey").value || $("home").hidden) return;
  let list;
  try { list = await api("/v1/engines"); } catch (err) { return; }
  $("engines").tBodies[0].replaceChildren(...(list.engines.length ? list.engines.map(engineRow)
    : [h("tr", {}, h("td", { colspan: 4, class: "dim", text: "no local engines configured" }))]));
}

setInterval(refreshEngines, 10000);
