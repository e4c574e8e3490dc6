// Research jobs: the running ones, one job's view with its live events, and steering.
"use strict";
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
setInterval(refreshResearch, 5000);
