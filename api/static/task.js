// One task's page (#/tasks/<id>): its phases as a timeline with the model's tokens live
// under the phase that asked for them, every model call, the verification report and
// checks, the judge's verdict, the confidence, and the actions (cancel, approve, refine).
//
// The page reads GET /v1/tasks/<id> and follows GET /v1/tasks/<id>/events to its end (a
// finished task's log replays at once). `token` events ({call, phase, role, provider, text,
// final, offset}; offset: the stream's, not the text's) append to their call's live
// output; `final` closes it; `gap`: tokens the bounded stream dropped before we read them.
"use strict";
let task = null;

function closeTask() {
  if (task && task.stream) task.stream.abort();
  task = null;
}

function newTask(id) {
  return { id: id, view: null, stream: new AbortController(), entries: [], fromTrace: false, calls: [] };
}

async function openTask(id) {
  if (task && task.id === id) return;
  closeTask();
  task = newTask(id);
  const mine = task;
  $("t-timeline").replaceChildren();
  $("phases").replaceChildren();
  showApproval(null);
  for (const target of ["t-error", "note", "status"]) $(target).textContent = "";
  $("taskid").textContent = id;
  $("result").hidden = true;
  renderVerification(null, []);
  renderCalls([]);
  let view;
  try { view = await api(`/v1/tasks/${encodeURIComponent(id)}`); } catch (err) {
    if (task === mine) $("t-error").textContent = err.message;
    return;
  }
  if (task !== mine) return;
  showView(view);
  followEvents(`/v1/tasks/${encodeURIComponent(id)}/events`, (event) => { if (task === mine) onTaskEvent(event); }, mine.stream.signal)
    .then(() => { if (task === mine) reload(); })
    .catch((err) => { if (err.name !== "AbortError" && task === mine) $("t-error").textContent = err.message; });
}

async function reload() {
  if (!task) return;
  const mine = task;
  try {
    const view = await api(`/v1/tasks/${encodeURIComponent(mine.id)}`);
    if (task === mine) showView(view);
  } catch (err) { if (task === mine) $("t-error").textContent = err.message; }
}

function showPhase(phase) {
  const at = PHASES.indexOf(phase);
  $("phases").replaceChildren(...PHASES.map((p, i) =>
    h("span", { class: i < at ? "done" : i === at ? "now" : "", text: p })));
}

function showView(view) {
  task.view = view;
  const running = view.state === "running";
  $("t-state").textContent = view.status || view.state;
  $("t-state").className = "badge " + (running ? "run" : view.status === "succeeded" ? "ok" : "bad");
  $("t-kind").textContent = view.kind || "n/a";
  $("t-policy").textContent = view.policy || "n/a";
  $("t-tenant").textContent = view.tenant;
  $("t-created").textContent = fmt.when(view.created_at) || "n/a";
  $("t-round").textContent = view.round === null ? "n/a" : view.round;
  $("t-temporal").href = view.url;
  $("t-temporal").hidden = !view.url;
  if (view.spend) showSpend(view.spend.usd, view.spend.input_tokens + view.spend.output_tokens);
  else $("cost").textContent = fmt.usd(view.cost_usd);
  $("t-cancel").hidden = !running;
  showApproval(view.pending_approval);
  if (view.phase) showPhase(view.phase);
  if (!running && !view.result) {
    $("status").textContent = `the task's run ${view.state}` + (view.error ? `: ${view.error}` : "");
  }
  if (view.result) showResult(view.result, view);
  else $("confidence").textContent = fmt.score(view.confidence);
}

function showSpend(usd, tokens) {
  $("cost").textContent = `${fmt.usd(usd)} / ${fmt.num(tokens)} tokens`;
}

function showApproval(req) {
  $("t-approval").hidden = !req;
  if (!req) return;
  $("t-stage").textContent = req.stage;
  $("t-preview").textContent = req.preview;
  $("status").textContent = `waiting for ${req.stage} approval`;
}

function showResult(r, view) {
  $("result").hidden = false;
  $("outcome").textContent = r.status + (view.cached ? " (cached)" : "");
  $("confidence").textContent = fmt.score(r.confidence !== null && r.confidence !== undefined ? r.confidence : view.confidence);
  $("verification").textContent = r.verification ? (r.verification.passed ? "passed" : "failed") : "not run";
  $("t-verdict").textContent = r.verdict ? `${r.verdict.verdict} (score ${fmt.score(r.verdict.score)})` : "none";
  $("t-rationale").textContent = r.verdict && r.verdict.rationale ? "Judge: " + r.verdict.rationale : "";
  $("answer").textContent = r.answer || r.reason;
  $("t-plan").textContent = r.plan;
  $("t-plan-box").hidden = !r.plan;
  $("status").textContent = r.status + (r.reason ? ": " + r.reason : "");
  showPhase("done");
  renderCalls(r.trace);
  renderVerification(r.verification, r.checks || []);
  if (!task.entries.length) timelineFromTrace(r.trace);
  for (const entry of task.entries) entry.node.classList.remove("now");
}

// The timeline: one entry per phase the task entered (a refine round enters again).
function timelineEntry(phase, round, at) {
  if (task.fromTrace) { $("t-timeline").replaceChildren(); task.entries = []; task.fromTrace = false; }
  for (const entry of task.entries) entry.node.classList.remove("now");
  const calls = h("div", { class: "calls" });
  const node = h("li", { class: "now", dataset: { phase: phase } },
    h("div", { class: "head" }, phase + (round ? ` (round ${round})` : ""), at ? h("time", { datetime: at, text: fmt.clock(at) }) : null),
    calls);
  const entry = { phase: phase, node: node, calls: calls, live: new Map() };
  task.entries.push(entry);
  $("t-timeline").append(node);
  return entry;
}

function entryFor(phase) {
  if (task.fromTrace) return timelineEntry(phase, null, null);
  for (let i = task.entries.length - 1; i >= 0; i--) if (task.entries[i].phase === phase) return task.entries[i];
  return timelineEntry(phase, null, null);
}

function timelineFromTrace(trace) {
  let entry = null;
  for (const call of trace) {
    if (!entry || entry.phase !== call.phase) entry = timelineEntry(call.phase, null, null);
    entry.calls.append(callSummary(call));
  }
  task.fromTrace = true;
}

function callSummary(call) {
  return h("div", { class: "summary call-done" },
    `${call.role} · ${call.provider} · ${call.model} · ${fmt.num(call.input_tokens)} in / ${fmt.num(call.output_tokens)} out · ${fmt.usd(call.cost_usd)} · ${fmt.ms(call.latency_ms)}`);
}

function onToken(d) {
  const entry = entryFor(d.phase);
  let live = entry.live.get(d.call);
  if (!live) {
    const tokens = h("pre", { class: "tokens", "aria-live": "off" });
    const node = h("div", { class: "call live", dataset: { call: d.call, role: d.role } },
      h("div", { class: "summary" }, h("b", { text: d.role }), ` · ${d.provider}`), tokens);
    live = { node: node, tokens: tokens };
    entry.live.set(d.call, live);
    entry.calls.append(node);
  }
  live.tokens.textContent += d.text || "";
  if (typeof d.offset === "number") live.node.dataset.offset = d.offset;
  live.tokens.scrollTop = live.tokens.scrollHeight;
  if (d.final) live.node.classList.remove("live");
}

function onModelCall(call) {
  task.calls.push(call);
  if (!task.view || !task.view.result) {  // running: what the calls so far cost
    renderCalls(task.calls);
    showSpend(task.calls.reduce((sum, c) => sum + c.cost_usd, 0),
      task.calls.reduce((sum, c) => sum + c.input_tokens + c.output_tokens, 0));
  }
  const entry = entryFor(call.phase);
  for (const live of entry.live.values()) if (live.node.dataset.role === call.role) live.node.classList.remove("live");
  entry.calls.append(callSummary(call));
  $("status").textContent = `${call.role} via ${call.provider}: ${call.output_tokens} tokens`;
}

function onTaskEvent(event) {
  const d = event.data || {};
  if (event.type === "token") return onToken(d);
  if (event.type === "model_call") return onModelCall(d);
  if (event.type === "phase") {
    timelineEntry(d.phase, d.round, event.at);
    showPhase(d.phase);
    $("status").textContent = "phase " + d.phase;
  } else if (event.type === "verification") {
    $("t-vsummary").textContent = `${d.passed ? "passed" : "failed"}: ${d.summary || ""}`;
  } else if (event.type === "waiting") {
    $("status").textContent = `waiting for a provider: ${d.reason}`;
  } else if (event.type === "gap" && task.entries.length) {
    task.entries[task.entries.length - 1].calls.append(h("div", { class: "summary dim",
      text: "some live tokens were dropped before this page read them (the replies are in the result)" }));
  } else if (event.type === "tool_call" && task.entries.length) {
    const how = d.allowed ? `${d.outcome}, ${d.result_chars} chars in ${Math.round(d.duration_ms)} ms`
      : `refused: ${d.reason || "not allowed"}`;
    task.entries[task.entries.length - 1].calls.append(
      h("div", { class: "summary" + (d.allowed ? "" : " dim"), text: `tool ${d.name}: ${how}` }));
  } else if (event.type === "subtask" && task.entries.length) {
    task.entries[task.entries.length - 1].calls.append(
      h("div", { class: "summary", text: `subtask ${d.id || ""}: ${d.event || ""}` }));
  }
  if (event.type === "approval") reload();
}

function renderCalls(trace) {
  let input = 0, output = 0, usd = 0;
  $("t-calls").tBodies[0].replaceChildren(...trace.map((c) => {
    input += c.input_tokens; output += c.output_tokens; usd += c.cost_usd;
    return h("tr", {},
      h("td", { text: c.phase }), h("td", { text: c.role }), h("td", { text: c.provider }), h("td", { text: c.model }),
      h("td", { class: "num", text: fmt.num(c.input_tokens) }), h("td", { class: "num", text: fmt.num(c.output_tokens) }),
      h("td", { class: "num", text: fmt.usd(c.cost_usd) }), h("td", { class: "num", text: fmt.ms(c.latency_ms) }));
  }));
  $("t-in").textContent = fmt.num(input);
  $("t-out").textContent = fmt.num(output);
  $("t-usd").textContent = fmt.usd(usd);
}

function renderVerification(report, checks) {
  const tests = report ? report.tests : [];
  if (report) {
    const parts = [report.passed ? "passed" : "failed", report.summary, `${report.backend} backend`,
      report.exit_code === null ? "" : `exit ${report.exit_code}`, report.timed_out ? "timed out" : "",
      fmt.ms(report.duration_ms), report.cached ? "cached" : "", report.lint ? "lint: " + (report.lint.summary || (report.lint.passed ? "clean" : "findings")) : ""];
    $("t-vsummary").textContent = parts.filter(Boolean).join(" · ");
  } else if (task && task.view && task.view.result) {
    $("t-vsummary").textContent = checks.length ? "no sandbox run" : "not run (nothing to test for this task)";
  } else {
    $("t-vsummary").textContent = "not run yet";
  }
  $("t-tests").hidden = !tests.length;
  $("t-tests").tBodies[0].replaceChildren(...tests.map((t) => h("tr", {},
    h("td", {}, h("code", { text: t.name })),
    h("td", {}, h("span", { class: "badge " + (t.outcome === "passed" ? "ok" : t.outcome === "skipped" ? "" : "bad"), text: t.outcome })),
    h("td", { text: t.message }))));
  $("t-checks").hidden = !checks.length;
  $("t-checks").tBodies[0].replaceChildren(...checks.map((c) => h("tr", { dataset: { checker: c.checker } },
    h("td", { text: c.checker }),
    h("td", {}, h("span", { class: "badge " + (c.passed ? "ok" : "bad"), text: c.passed ? "passed" : "failed" })),
    h("td", { text: c.summary }),
    h("td", {}, Object.keys(c.details || {}).length
      ? h("details", {}, h("summary", { text: "details" }), h("pre", { text: JSON.stringify(c.details, null, 2) })) : ""))));
}

// Actions
async function act(work) {
  $("t-error").textContent = "";
  try { await work(); } catch (err) { $("t-error").textContent = err.message; }
  reload();
}

$("t-cancel").onclick = () => act(async () => {
  await api(`/v1/tasks/${encodeURIComponent(task.id)}/cancel`, { method: "POST", body: JSON.stringify({ reason: "cancelled from the web console" }) });
  $("status").textContent = "cancel sent";
});
for (const [id, action] of [["t-approve", "approve"], ["t-reject", "reject"]]) {
  $(id).onclick = () => act(() => decide(task.id, task.view.pending_approval, action, $("t-comment").value));
}
$("copy").onclick = async () => { await navigator.clipboard.writeText($("answer").textContent).catch(() => {}); $("note").textContent = "copied"; };
$("report").onclick = async () => {
  const comment = window.prompt("What is wrong with this result?", "");
  if (comment === null) return;
  try {
    const receipt = await api(`/v1/tasks/${encodeURIComponent(task.id)}/feedback`, { method: "POST", body: JSON.stringify({ kind: "issue", comment: comment }) });
    $("note").textContent = `issue #${receipt.id} recorded for ${task.id}`;
  } catch (err) { $("note").textContent = err.message; }
};

// Refine: a follow-up task with the previous answer and the user's feedback (same kind
// and policy); the original prompt too when this tab submitted it.
function refinePrompt(previous, feedback) {
  let original = null;
  try { original = sessionStorage.getItem("naestro-prompt:" + task.id); } catch (err) { /* none */ }
  return [original ? "Original task:\n" + original : null, "Previous answer:\n" + previous,
    "Feedback on that answer:\n" + feedback, "Write an improved answer that addresses the feedback."]
    .filter(Boolean).join("\n\n");
}

$("refine").onclick = () => act(async () => {
  const feedback = $("t-feedback").value.trim();
  if (!feedback) throw new Error("say what should change first");
  const view = task.view, prompt = refinePrompt($("answer").textContent, feedback);
  const next = await api("/v1/tasks", { method: "POST", body: JSON.stringify({
    prompt: prompt, kind: view.kind || "general", policy: view.policy || "auto" }) });
  remember(next.task_id, prompt);
  $("t-feedback").value = "";
  location.hash = "#/tasks/" + encodeURIComponent(next.task_id);
});
