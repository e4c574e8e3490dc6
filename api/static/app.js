// Naestro's web page: plain JS, no build step. Talks to the same API as every client.
"use strict";
const $ = (id) => document.getElementById(id);
const PHASES = ["pii", "plan", "approve", "implement", "verify", "refine", "review", "done"];
let current = null;

$("apikey").value = localStorage.getItem("naestro-key") || "";
$("apikey").addEventListener("change", () => { localStorage.setItem("naestro-key", $("apikey").value); boot(); });

function headers(extra) {
  return Object.assign({ "Authorization": "Bearer " + $("apikey").value }, extra || {});
}

async function api(path, options) {
  const reply = await fetch(path, Object.assign({ headers: headers({ "Content-Type": "application/json" }) }, options || {}));
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

async function loadPolicies() {
  const models = await api("/v1/models");
  const select = $("policy");
  const chosen = select.value;
  select.innerHTML = '<option value="auto">auto</option>';
  for (const m of models.data) {
    const policy = m.id.split(":")[1];
    if (policy) select.insertAdjacentHTML("beforeend", `<option value="${policy}">${policy}</option>`);
  }
  select.value = chosen || "auto";
}

function showPhase(phase) {
  const at = PHASES.indexOf(phase);
  $("phases").innerHTML = PHASES.map((p, i) =>
    `<span class="${i < at ? "done" : i === at ? "now" : ""}">${p}</span>`).join("");
}

function showResult(view) {
  const r = view.result;
  $("result").hidden = false;
  $("outcome").textContent = r.status + (view.cached ? " (cached)" : "");
  $("confidence").textContent = r.verdict ? r.verdict.score.toFixed(2) : "n/a";
  $("verification").textContent = r.verification ? (r.verification.passed ? "passed" : "failed") + " " + r.verification.summary : "not run";
  $("cost").textContent = "$" + r.spend.usd.toFixed(4) + " / " + (r.spend.input_tokens + r.spend.output_tokens) + " tokens";
  $("answer").textContent = r.answer || r.reason;
  $("status").textContent = r.status + ": " + r.reason;
  showPhase("done");
}

async function readEvents(path, onEvent, signal) {
  // Server-sent events over fetch (EventSource cannot send the Authorization header).
  const reply = await fetch(path, { headers: headers(), signal: signal });
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
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}

async function follow(taskId) {
  await readEvents(`/v1/tasks/${taskId}/events`, (event) => {
    if (event.type === "phase") { showPhase(event.data.phase); $("status").textContent = "phase " + event.data.phase; }
    if (event.type === "approval" && event.data.event === "requested") $("status").textContent = `waiting for ${event.data.stage} approval`;
    if (event.type === "waiting") $("status").textContent = `waiting for a provider: ${event.data.reason}`;
    if (event.type === "model_call") $("status").textContent = `${event.data.role} via ${event.data.provider}: ${event.data.output_tokens} tokens`;
    refreshInbox();
  });
  showResult(await api(`/v1/tasks/${taskId}`));
}

async function generate() {
  $("error").textContent = "";
  $("result").hidden = true;
  try {
    const view = await api("/v1/tasks", { method: "POST", body: JSON.stringify({
      prompt: $("prompt").value, policy: $("policy").value, kind: $("kind").value }) });
    current = view.task_id;
    $("progress").hidden = false;
    $("taskid").textContent = view.task_id;
    if (view.cached) return showResult(view);
    showPhase(view.phase);
    await follow(view.task_id);
  } catch (err) { $("error").textContent = err.message; }
}

async function decide(taskId, req, action) {
  try {
    await api(`/v1/tasks/${taskId}/approval`, { method: "POST", body: JSON.stringify({
      action: action, stage: req.stage, content_hash: req.content_hash }) });
  } catch (err) { $("error").textContent = err.message; }
  refreshInbox();
}

async function refreshInbox() {
  if (!$("apikey").value) return;
  let inbox;
  try { inbox = await api("/v1/approvals"); } catch (err) { return; }
  const box = $("inbox");
  if (!inbox.pending.length) { box.innerHTML = "<p>nothing waits for you</p>"; return; }
  box.innerHTML = "";
  for (const p of inbox.pending) {
    const item = document.createElement("div");
    item.className = "item";
    item.dataset.task = p.task_id;
    item.innerHTML = `<b>${p.request.stage}</b> of <code>${p.task_id}</code><pre></pre>
      <button class="primary approve">Approve</button> <button class="danger reject">Reject</button>`;
    item.querySelector("pre").textContent = p.request.preview;
    item.querySelector(".approve").onclick = () => decide(p.task_id, p.request, "approve");
    item.querySelector(".reject").onclick = () => decide(p.task_id, p.request, "reject");
    box.appendChild(item);
  }
}

$("generate").onclick = generate;
$("copy").onclick = async () => { await navigator.clipboard.writeText($("answer").textContent).catch(() => {}); $("note").textContent = "copied"; };
$("refine").onclick = () => { $("prompt").value = "Refine this answer:\n\n" + $("answer").textContent + "\n\nOriginal task: " + $("prompt").value; $("prompt").focus(); };
$("report").onclick = async () => {
  const comment = window.prompt("What is wrong with this result?", "");
  if (comment === null) return;
  try {
    const receipt = await api(`/v1/tasks/${current}/feedback`, { method: "POST", body: JSON.stringify({ kind: "issue", comment: comment }) });
    $("note").textContent = `issue #${receipt.id} recorded for ${current}`;
  } catch (err) { $("note").textContent = err.message; }
};

// Research jobs: the running ones, one job's view with its live events, and steering.
let researchJob = null;
let researchStream = null;

function listItem(text, button) {
  const li = document.createElement("li");
  li.textContent = text;
  if (button) { li.append(" "); li.appendChild(button); }
  return li;
}

async function refreshResearch() {
  if (!$("apikey").value) return;
  let list;
  try { list = await api("/v1/research"); } catch (err) { return; }
  const running = list.jobs.filter((j) => j.state === "running");
  const box = $("rjobs");
  box.innerHTML = running.length ? "" : "<p>no running research jobs</p>";
  for (const j of running) {
    const item = document.createElement("div");
    item.className = "item job";
    item.dataset.job = j.job_id;
    const cost = j.cost_usd == null ? "" : ` · $${j.cost_usd.toFixed(4)}`;
    item.textContent = `${j.job_id} · ${j.status || j.state}${j.iteration == null ? "" : " · iteration " + j.iteration}${cost}`;
    if (j.goal) { const goal = document.createElement("div"); goal.textContent = j.goal; item.appendChild(goal); }
    item.onclick = () => openResearch(j.job_id);
    box.appendChild(item);
  }
}

function showResearch(view) {
  $("rjob").hidden = false;
  $("rsteer").hidden = !$("apikey").value || view.status === "done";
  $("rjobid").textContent = view.job_id;
  $("rgoaltext").textContent = view.goal;
  $("rstatus").textContent = view.status + (view.stop_reason ? ` (${view.stop_reason})` : "");
  $("riteration").textContent = `${view.iteration} of ${view.budget.max_iterations} (run ${view.run})`;
  $("rspend").textContent = `$${view.spend.usd.toFixed(4)} of $${view.budget.max_usd.toFixed(2)}, ${view.spend.tokens} of ${view.budget.max_tokens} tokens`;
  $("rprogress").textContent = view.progress == null ? "n/a" : view.progress.toFixed(2);
  $("rquestions").replaceChildren(...view.questions.map((q) => {
    let drop = null;
    if (q.status === "open" && !$("rsteer").hidden) {
      drop = document.createElement("button");
      drop.textContent = "Drop";
      drop.className = "drop";
      drop.onclick = () => steer({ action: "drop_question", question_id: q.id });
    }
    return listItem(`${q.id} [${q.status}] ${q.text}`, drop);
  }));
  $("rcount").textContent = `(${view.findings} in all)`;
  $("rfindings").replaceChildren(...view.recent.slice().reverse().map((h) =>
    listItem(`iteration ${h.iteration}, ${h.question_id}: ${h.headline}${h.sources.length ? " [" + h.sources.join(", ") + "]" : ""}`)));
  $("rpending").replaceChildren(...(view.pending.length ? view.pending : [null]).map((c) =>
    listItem(c ? `${c.action} ${c.question || c.question_id || c.goal || ""}`.trim() : "none")));
}

async function loadResearch() {
  if (!researchJob) return;
  try { showResearch(await api(`/v1/research/${researchJob}`)); } catch (err) { $("rerror").textContent = err.message; }
}

async function openResearch(jobId) {
  if (researchStream) researchStream.abort();
  researchJob = jobId;
  researchStream = new AbortController();
  $("rerror").textContent = "";
  $("rnote").textContent = "";
  $("revents").textContent = "";
  await loadResearch();
  readEvents(`/v1/research/${jobId}/events`, (event) => {
    const data = Object.entries(event.data || {}).filter(([, v]) => typeof v !== "object").map(([k, v]) => `${k} ${v}`).join(", ");
    $("revents").textContent += `[${event.seq}] ${event.type}: ${data}\n`;
    $("revents").scrollTop = $("revents").scrollHeight;
    if (event.type !== "model_call") loadResearch();
  }, researchStream.signal).then(loadResearch).catch((err) => { if (err.name !== "AbortError") $("rerror").textContent = err.message; });
}

async function startResearch() {
  $("rerror").textContent = "";
  try {
    const job = await api("/v1/research", { method: "POST", body: JSON.stringify({
      goal: $("rgoal").value, budget: { max_usd: Number($("rmaxusd").value) } }) });
    await openResearch(job.job_id);
    refreshResearch();
  } catch (err) { $("rerror").textContent = err.message; }
}

async function steer(command) {
  $("rnote").textContent = "";
  try {
    const outcome = await api(`/v1/research/${researchJob}/steer`, { method: "POST",
      body: JSON.stringify(Object.assign({ reason: $("rreason").value }, command)) });
    $("rnote").textContent = `${outcome.message} (applies at iteration ${outcome.applies_at})`;
  } catch (err) { $("rnote").textContent = err.message; }
  loadResearch();
}

$("rstart").onclick = startResearch;
$("radd").onclick = () => steer({ action: "add_question", question: $("rquestion").value });
$("rredirect").onclick = () => steer({ action: "redirect", goal: $("rredirectgoal").value });
$("rbudget").onclick = () => steer({ action: "budget", max_usd: Number($("rbudgetusd").value) });
$("rpause").onclick = () => steer({ action: "pause" });
$("rresume").onclick = () => steer({ action: "resume" });
$("rstop").onclick = () => steer({ action: "stop" });

function boot() { if ($("apikey").value) { loadPolicies().catch((e) => { $("error").textContent = e.message; }); refreshInbox(); refreshResearch(); } }
boot();
setInterval(refreshInbox, 2000);
setInterval(refreshResearch, 5000);
