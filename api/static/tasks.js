// Recent tasks: GET /v1/tasks with the filters (status, kind, policy; tenant for admins).
"use strict";

function badge(view) {
  const status = view.status || view.state;
  const tone = status === "running" ? "run" : status === "succeeded" ? "ok" : "bad";
  return h("span", { class: "badge " + tone, text: status });
}

function taskRow(view, admin) {
  return h("tr", { dataset: { task: view.task_id } },
    h("td", {}, h("a", { href: "#/tasks/" + encodeURIComponent(view.task_id) }, h("code", { class: "task-id", text: view.task_id }))),
    h("td", { class: "when", text: fmt.when(view.created_at) }),
    h("td", { text: view.kind || "" }),
    h("td", { text: view.policy || "" }),
    admin ? h("td", { class: "tenant-col", text: view.tenant }) : null,
    h("td", {}, badge(view)),
    h("td", { text: view.phase || "" }),
    h("td", { class: "num", text: view.cost_usd === null ? "" : fmt.usd(view.cost_usd) }),
    h("td", { class: "num", text: view.confidence === null ? "" : fmt.score(view.confidence) }));
}

function taskQuery() {
  const params = new URLSearchParams();
  for (const [name, id] of [["status", "f-status"], ["kind", "f-kind"], ["policy", "f-policy"], ["tenant", "f-tenant"]]) {
    const value = $(id).value.trim();
    if (value && !(name === "tenant" && $("f-tenant-label").hidden)) params.set(name, value);
  }
  return params.toString();
}

let tasksAsked = 0;  // a slower, older answer never overwrites a newer one

async function refreshTasks() {
  if (!$("apikey").value || $("home").hidden) return;
  const query = taskQuery(), asked = ++tasksAsked;
  let list;
  try { list = await api("/v1/tasks" + (query ? "?" + query : "")); } catch (err) {
    $("tasks-note").textContent = err.message;
    return;
  }
  if (asked !== tasksAsked) return;
  const admin = Boolean(state.config && state.config.admin);
  const body = $("tasks").tBodies[0];
  $("tasks-note").textContent = `${list.tasks.length} task${list.tasks.length === 1 ? "" : "s"}` + (query ? " (filtered)" : "");
  body.replaceChildren(...(list.tasks.length ? list.tasks.map((t) => taskRow(t, admin))
    : [h("tr", {}, h("td", { colspan: 9, class: "dim", text: "no tasks match" }))]));
}

$("filters").addEventListener("submit", (event) => { event.preventDefault(); refreshTasks(); });
for (const id of ["f-status", "f-kind", "f-policy"]) $(id).addEventListener("change", refreshTasks);
setInterval(refreshTasks, 5000);
