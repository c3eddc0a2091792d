// Station's web UI: follows a run's server-sent events and adds each step to
// the page as it happens. Everything from the server is inserted as text
// (textContent / createElement), never as HTML.

const transcript = document.querySelector("[data-run-events]");
if (transcript) follow(transcript);

function follow(list) {
  const url = list.getAttribute("data-run-events");
  const statusEl = document.querySelector("[data-run-status]");
  const liveEl = document.querySelector("[data-live]");
  const totalEl = document.querySelector("[data-run-tokens]");
  const seen = new Set(
    Array.from(list.querySelectorAll("li[data-seq]"), (li) => li.getAttribute("data-seq")),
  );
  let streaming = null;
  const source = new EventSource(url);
  source.addEventListener("step_started", (e) => {
    const ev = JSON.parse(e.data);
    if (liveEl) liveEl.textContent = "running: " + ev.kind + " " + ev.name + "…";
  });
  source.addEventListener("text_delta", (e) => {
    const ev = JSON.parse(e.data);
    if (!streaming) {
      streaming = el("li", "k-model streaming");
      streaming.append(el("div", "step-head", [el("span", "name", "model (streaming)")]));
      streaming.append(el("pre", "out", ""));
      list.append(streaming);
    }
    streaming.querySelector("pre").textContent += ev.text;
  });
  source.addEventListener("step_finished", (e) => {
    const step = JSON.parse(e.data).step;
    if (streaming && step.kind === "model") {
      streaming.remove();
      streaming = null;
    }
    const key = String(step.seq);
    if (seen.has(key)) return;
    seen.add(key);
    list.append(renderStep(step));
    if (totalEl && step.total_tokens) {
      totalEl.textContent = String(Number(totalEl.textContent || 0) + step.total_tokens);
    }
  });
  source.addEventListener("status", (e) => {
    const ev = JSON.parse(e.data);
    if (statusEl) {
      statusEl.textContent = ev.status;
      statusEl.className = "badge s-" + ev.status;
      statusEl.setAttribute("data-status", ev.status);
    }
    const final = !["queued", "running"].includes(ev.status);
    if (liveEl) liveEl.textContent = final ? "" : ev.status + "…";
    if (ev.error) {
      const errEl = document.querySelector("[data-run-error]");
      if (errEl) errEl.textContent = ev.error;
    }
    if (ev.final_response != null) {
      const answer = document.querySelector("[data-run-answer]");
      if (answer) answer.textContent = ev.final_response;
    }
    if (final) {
      source.close();
      for (const form of document.querySelectorAll("[data-while-running]")) form.hidden = true;
    }
  });
}

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (Array.isArray(content)) node.append(...content);
  else if (content != null) node.textContent = content;
  return node;
}

// The same markup as the server's `step` template in pages/runs.rs.
function renderStep(step) {
  const li = el("li", "k-" + step.kind + (step.is_error ? " err" : ""));
  li.setAttribute("data-seq", String(step.seq));
  li.setAttribute("data-kind", step.kind);
  const meta = [duration(step.duration_ms)];
  if (step.total_tokens != null) {
    meta.push((step.input_tokens ?? 0) + " in / " + (step.output_tokens ?? 0) + " out tokens");
  }
  const head = el("div", "step-head", [
    el("span", "mono muted", "#" + step.seq),
    el("span", "name", step.kind + ": " + step.name),
    el("span", "meta", meta.join(" · ")),
  ]);
  if (step.is_error) head.append(el("span", "badge s-failed", "error"));
  li.append(head);
  if (step.child_run_id != null) {
    const link = el("a", null, "sub-agent run " + step.child_run_id);
    link.href = "/runs/" + encodeURIComponent(step.child_run_id);
    li.append(el("p", null, [link]));
  }
  if (step.input != null && !(Array.isArray(step.input) && step.input.length === 0)) {
    li.append(el("div", "muted", step.kind === "model" ? "tool calls" : "arguments"));
    li.append(longText(JSON.stringify(step.input, null, 2)));
  }
  if (step.output) {
    li.append(el("div", "muted", step.kind === "model" ? "text" : "result"));
    li.append(longText(step.output));
  }
  return li;
}

// Scrollable, so reachable by keyboard (tabIndex), as the server's are.
function longText(text) {
  const pre = (className) => {
    const node = el("pre", className, text);
    node.tabIndex = 0;
    return node;
  };
  if (text.length <= 400 && text.split("\n").length <= 8) return pre("out");
  const first = text.slice(0, 120).split("\n")[0];
  const details = el("details", "out");
  details.append(el("summary", null, first + "… (" + text.length + " bytes)"));
  details.append(pre(null));
  return details;
}

function duration(ms) {
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
}
