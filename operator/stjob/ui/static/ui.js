// Live board (server-sent events) and the job page's curves. Every string goes in through textContent,
// never innerHTML: a job's status message is text, whatever it contains.
"use strict";

function setCell(tr, col, row) {
  const td = tr.querySelector(`[data-col="${col}"]`);
  if (!td) return;
  if (col === "name") {
    td.replaceChildren();
    const a = document.createElement("a");
    a.href = `/jobs/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}`;
    a.textContent = row.name;
    td.append(a);
  } else if (col === "progress") {
    td.querySelector("progress").value = row.percent;
    td.querySelector("span").textContent = row.progress;
  } else {
    td.textContent = row[col];
    if (col === "phase") td.className = `phase-${row.phase}`;
  }
}

function liveBoard(table) {
  const body = table.tBodies[0];
  const columns = ["namespace", "name", "trainer", "model", "phase", "progress", "eta", "metric", "message", "age"];
  const wanted = (row) => (!table.dataset.namespace || row.namespace === table.dataset.namespace) &&
    (!table.dataset.phase || row.phase === table.dataset.phase);
  const find = (key) => [...body.rows].find((tr) => tr.dataset.key === key);
  const source = new EventSource("/events");
  source.onmessage = (message) => {
    const changes = JSON.parse(message.data);
    for (const key of changes.remove) find(key)?.remove();
    for (const row of changes.upsert) {
      let tr = find(row.key);
      if (!wanted(row)) { tr?.remove(); continue; }
      if (!tr) {
        tr = body.insertRow();
        tr.dataset.key = row.key;
        for (const col of columns) {
          const td = tr.insertCell();
          td.dataset.col = col;
          if (col === "progress") td.append(Object.assign(document.createElement("progress"), { max: 100 }), " ", document.createElement("span"));
        }
      }
      for (const col of columns) setCell(tr, col, row);
    }
    table.dataset.updates = String(Number(table.dataset.updates || 0) + 1);
  };
}

async function drawCurves(canvas) {
  const note = document.getElementById("curves-note");
  const reply = await fetch(canvas.dataset.src);
  const data = await reply.json();
  const records = data.records || [];
  // metrics.jsonl is keyed by step; the Trainer's lines in a pod log carry the epoch only.
  const axis = records.some((r) => typeof r.step === "number") ? "step" : "epoch";
  const series = {};
  for (const r of records) {
    for (const [k, v] of Object.entries(r)) {
      if (typeof v !== "number" || ["step", "epoch", "grad_norm", "learning_rate"].includes(k)) continue;
      if (k === "loss" || k.startsWith("eval_")) (series[k] ||= []).push([r[axis] || 0, v]);
    }
  }
  const names = Object.keys(series);
  if (!names.length) {
    note.textContent = "No metrics history yet (from the run folder's metrics.jsonl, or the Trainer's lines in " +
      "the pod log); summary: " + JSON.stringify(data.summary || {});
    return;
  }
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 40;
  const maxStep = Math.max(1e-9, ...records.map((r) => r[axis] || 0));
  const colors = ["#0a6ebd", "#c0392b", "#17803d", "#8e44ad", "#d35400", "#2c3e50"];
  ctx.font = "12px sans-serif";
  names.forEach((name, i) => {
    // Each curve on its own vertical scale: losses and correlations differ by orders of magnitude.
    const ys = series[name].map((p) => p[1]);
    const lo = Math.min(...ys), hi = Math.max(...ys), span = hi - lo || 1;
    ctx.strokeStyle = ctx.fillStyle = colors[i % colors.length];
    ctx.beginPath();
    series[name].forEach(([x, y], j) => {
      const px = pad + (W - 2 * pad) * (x / maxStep), py = H - pad - (H - 2 * pad) * ((y - lo) / span);
      j ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
    });
    ctx.stroke();
    ctx.fillText(`${name} ${lo.toPrecision(3)}…${hi.toPrecision(3)}`, pad, 15 + i * 14);
  });
  ctx.fillStyle = "#777";
  ctx.fillText(`${axis} 0 … ${maxStep}`, pad, H - 10);
  canvas.dataset.curves = names.join(",");
}

// The submit form: the filled inputs as a spec (dotted data-path -> nested keys), validated by the
// server on every change; problems name the field, the YAML preview is what create would send.
function formState(form) {
  const spec = {};
  for (const input of form.querySelectorAll("[data-path]")) {
    let value;
    if (input.type === "checkbox") {
      if (String(input.checked) === input.dataset.default.toLowerCase()) continue;
      value = input.checked;
    } else {
      if (input.value === "" || (input.tagName === "SELECT" && input.options[input.selectedIndex].defaultSelected)) continue;
      value = input.dataset.kind === "integer" || input.dataset.kind === "number" ? Number(input.value) : input.value;
    }
    const keys = input.dataset.path.split(".");
    let node = spec;
    for (const key of keys.slice(0, -1)) node = node[key] ||= {};
    node[keys.at(-1)] = value;
  }
  return { name: form.elements.name.value, namespace: form.elements.namespace.value, spec };
}

async function post(url, body) {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const reply = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrf }, body: JSON.stringify(body),
  });
  return [reply.status, await reply.json()];
}

function showErrors(errors) {
  const list = document.getElementById("errors");
  list.replaceChildren(...errors.map((e) => {
    const li = document.createElement("li");
    li.textContent = `${e.field}: ${e.message}`;
    li.dataset.field = e.field;
    return li;
  }));
  if (!errors.length) list.replaceChildren(Object.assign(document.createElement("li"), { textContent: "none" }));
}

function submitForm(form) {
  let pending = 0;
  const check = async () => {
    const mine = ++pending;
    const [, data] = await post("/api/validate", formState(form));
    if (mine !== pending) return; // a newer change is on its way
    showErrors(data.errors);
    document.getElementById("preview").textContent = data.yaml || "";
    form.dataset.checked = String(Number(form.dataset.checked || 0) + 1);
  };
  form.addEventListener("input", check);
  document.getElementById("create").addEventListener("click", async () => {
    const [status, data] = await post("/api/jobs", formState(form));
    if (status === 201) window.location.href = data.url;
    else showErrors(data.errors);
  });
  check();
}

// The log tail, re-read every few seconds while the page is open (follows the trainer).
function followLogs(pre) {
  const read = async () => {
    const reply = await fetch(pre.dataset.src);
    const data = await reply.json();
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = data.error || data.text || "no trainer pod yet";
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    pre.dataset.reads = String(Number(pre.dataset.reads || 0) + 1);
  };
  read();
  setInterval(read, 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  const logs = document.getElementById("logs");
  if (logs) followLogs(logs);
  const form = document.getElementById("submit");
  if (form) submitForm(form);
  const board = document.getElementById("board");
  if (board) liveBoard(board);
  const canvas = document.getElementById("curves");
  if (canvas) drawCurves(canvas);
});
