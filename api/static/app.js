// Naestro's web console: plain JS, no build step. Talks to the same API as every client.
// This file: helpers, the caller's config, routing (#/ and #/tasks/<id>), submitting a
// task, the approvals inbox and boot. tasks.js, task.js, engines.js, research.js: the rest.
"use strict";
const $ = (id) => document.getElementById(id);
const PHASES = ["pii", "plan", "approve", "implement", "verify", "refine", "review", "done"];
const state = { config: null };

$("apikey").value = localStorage.getItem("naestro-key") || "";
$("apikey").addEventListener("change", () => { localStorage.setItem("naestro-key", $("apikey").value); boot(); });

// An element with properties and children; text always goes in as text, never as HTML.
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const fmt = {
  usd: (x) => x === null || x === undefined ? "n/a" : "$" + Number(x).toFixed(4),
  num: (x) => x === null || x === undefined ? "n/a" : Number(x).toLocaleString("en"),
  score: (x) => x === null || x === undefined ? "n/a" : Number(x).toFixed(2),
  ms: (x) => x === null || x === undefined ? "n/a" : x >= 1000 ? (x / 1000).toFixed(1) + " s" : Math.round(x) + " ms",
  when: (iso) => iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "medium" }) : "",
  clock: (iso) => iso ? new Date(iso).toLocaleTimeString() : "",
};

function headers(extra) {
  return Object.assign({ "Authorization": "Bearer " + $("apikey").value }, extra || {});
}

async function api(path, options) {
  const reply = await fetch(path, Object.assign({ headers: headers({ "Content-Type": "application/json" }) }, options || {}));
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

// One server-sent event as {type, seq, at, data}: a progress event's body is a TaskEvent
// ({seq, type, at, data}); other events (token, end) carry their data as the body itself.
function sseEvent(name, id, text) {
  const body = JSON.parse(text);
  if (body && typeof body === "object" && typeof body.type === "string" && body.data && typeof body.data === "object") {
    return { type: body.type, seq: body.seq !== undefined ? body.seq : id, at: body.at || null, data: body.data };
  }
  return { type: name || "message", seq: id, at: null, data: body };
}

async function readEvents(path, onEvent, signal, lastId) {
  // Server-sent events over fetch (EventSource cannot send the Authorization header).
  const extra = lastId ? { "Last-Event-ID": String(lastId) } : {};
  const reply = await fetch(path, { headers: headers(extra), signal: signal });
  if (!reply.ok) throw new Error(`${path}: HTTP ${reply.status}`);
  const reader = reply.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop();
    for (const block of blocks) {
      let name = "", id = null;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        else if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("id:")) id = line.slice(3).trim();
      }
      if (data.length) onEvent(sseEvent(name, id, data.join("\n")), id);
    }
  }
}

// Follow a stream to its end (a `status` or `end` event), resuming with Last-Event-ID
// when the connection drops before it.
async function followEvents(path, onEvent, signal) {
  let lastId = null, finished = false, failures = 0;
  while (!finished) {
    try {
      await readEvents(path, (event, id) => {
        if (id) lastId = id;
        if (event.type === "status" || event.type === "end") finished = true;
        onEvent(event);
      }, signal, lastId);
      failures = 0;
    } catch (err) {
      if (err.name === "AbortError" || ++failures > 5) throw err;
    }
    if (!finished) await new Promise((done) => setTimeout(done, 1000));
  }
}

function options(select, values, first) {
  const chosen = select.value;
  select.replaceChildren(...(first ? [h("option", { value: first[0], text: first[1] })] : []),
    ...values.map((v) => h("option", { value: v, text: v })));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function loadConfig() {
  const config = await api("/v1/console");
  state.config = config;
  $("whoami").textContent = `${config.tenant}${config.admin ? " (admin)" : ""}`;
  $("temporal-ui").href = `${config.temporal_ui_url}/namespaces/${encodeURIComponent(config.namespace)}/workflows`;
  $("temporal-ui").hidden = false;
  options($("policy"), config.policies.filter((p) => p !== "default"), ["auto", "auto"]);
  options($("f-status"), config.statuses, ["", "any"]);
  options($("f-kind"), config.kinds, ["", "any"]);
  options($("f-policy"), config.policies, ["", "any"]);
  $("f-tenant-label").hidden = !config.admin;
  for (const col of document.querySelectorAll(".tenant-col")) col.hidden = !config.admin;
}

function remember(taskId, prompt) {
  // The prompt, for "refine" (the API does not give a task's prompt back); this tab only.
  try { sessionStorage.setItem("naestro-prompt:" + taskId, prompt); } catch (err) { /* full */ }
}

async function generate() {
  $("error").textContent = "";
  try {
    const view = await api("/v1/tasks", { method: "POST", body: JSON.stringify({
      prompt: $("prompt").value, policy: $("policy").value, kind: $("kind").value }) });
    remember(view.task_id, $("prompt").value);
    location.hash = "#/tasks/" + encodeURIComponent(view.task_id);
  } catch (err) { $("error").textContent = err.message; }
}

async function decide(taskId, req, action, comment) {
  await api(`/v1/tasks/${encodeURIComponent(taskId)}/approval`, { method: "POST", body: JSON.stringify({
    action: action, stage: req.stage, content_hash: req.content_hash, comment: comment || "" }) });
}

async function refreshInbox() {
  if (!$("apikey").value) return;
  let inbox;
  try { inbox = await api("/v1/approvals"); } catch (err) { return; }
  const box = $("inbox");
  if (!inbox.pending.length) { box.replaceChildren(h("p", { text: "nothing waits for you" })); return; }
  box.replaceChildren(...inbox.pending.map((p) => {
    const act = (action) => () => decide(p.task_id, p.request, action)
      .catch((err) => { $("error").textContent = err.message; }).then(refreshInbox);
    return h("div", { class: "item", dataset: { task: p.task_id } },
      h("b", { text: p.request.stage }), " of ",
      h("a", { href: "#/tasks/" + encodeURIComponent(p.task_id) }, h("code", { text: p.task_id })),
      h("pre", { text: p.request.preview }),
      h("button", { class: "primary approve", onclick: act("approve") }, "Approve"), " ",
      h("button", { class: "danger reject", onclick: act("reject") }, "Reject"));
  }));
}

function route() {
  const match = location.hash.match(/^#\/tasks\/([^/]+)$/);
  $("home").hidden = Boolean(match);
  $("task").hidden = !match;
  if (match) openTask(decodeURIComponent(match[1]));
  else { closeTask(); refreshTasks(); refreshEngines(); }
}

$("generate").onclick = generate;
window.addEventListener("hashchange", route);

async function boot() {
  if ($("apikey").value) {
    try { await loadConfig(); } catch (err) { $("error").textContent = err.message; }
    refreshInbox();
    refreshResearch();
  }
  closeTask();  // a new key: read the task again
  route();
}
window.addEventListener("DOMContentLoaded", boot);
setInterval(refreshInbox, 2000);
