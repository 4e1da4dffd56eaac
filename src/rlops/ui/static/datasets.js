// Datasets: every offline-RL dataset (rlops dataset record|import) with its env, counts, returns,
// source, size and integrity badge; verify rehashes it now, delete removes it.

import { api } from "./api.js";
import { errorPanel, loading, toast } from "./dom.js";
import { bytes, esc, num, DASH } from "./format.js";

export function integrityBadge(row) {
  const ok = row.integrity === "ok";
  const why = ok ? "hashes match the manifest" : (row.problems || []).join("; ");
  return `<span class="badge ${ok ? "good" : "bad"}" data-testid="integrity" title="${esc(why)}">${ok ? "intact" : "corrupt"}</span>`;
}

function source(row) {
  const s = row.source || {};
  if (s.kind === "record") return `recorded${s.model_id ? ` from model ${esc(s.model_id)}` : ""}${s.epsilon ? ` (ε ${esc(s.epsilon)})` : ""}`;
  if (s.kind === "import") return `imported (${esc(s.format || "?")})`;
  return esc(s.kind || DASH);
}

function rowHtml(row) {
  const r = row.returns || {};
  return `<tr data-dataset="${esc(row.name)}">
    <td class="mono">${esc(row.name)}</td><td>${esc(row.env_id ?? DASH)}</td>
    <td class="num">${esc(row.episodes)}</td><td class="num">${esc(row.steps)}</td>
    <td class="num" title="min ${esc(num(r.min))}, max ${esc(num(r.max))}">${esc(num(r.mean))} ± ${esc(num(r.std))}</td>
    <td>${source(row)}</td><td class="num">${esc(bytes(row.bytes))}</td>
    <td>${integrityBadge(row)}${row.problems && row.problems.length ? `<div class="muted" data-testid="problems">${esc(row.problems.join("; "))}</div>` : ""}</td>
    <td><button data-action="verify">Verify</button> <button data-action="delete" class="danger">Delete</button></td></tr>`;
}

export function mount(root, params = {}) {
  let disposed = false;

  async function render() {
    let r;
    try {
      r = await api("/api/datasets");
    } catch (err) {
      if (!disposed) root.innerHTML = errorPanel(err, "Could not list the datasets");
      return;
    }
    if (disposed) return;
    const rows = r.datasets || [];
    root.innerHTML = `<section class="page datasets-page">
      <div class="page-head"><h1>Datasets</h1><span class="muted" data-testid="datasets-bytes">${esc(bytes(r.bytes))} on disk</span></div>
      ${rows.length ? `<table class="grid"><thead><tr><th>Name</th><th>Env</th><th class="num">Episodes</th>
        <th class="num">Steps</th><th class="num">Return</th><th>Source</th><th class="num">Size</th><th>Integrity</th><th></th></tr></thead>
        <tbody>${rows.map(rowHtml).join("")}</tbody></table>`
        : `<div class="empty">No datasets yet: <code>rlops dataset record --model ID</code> or <code>rlops dataset import PATH</code>.</div>`}
      ${rows.length ? trainForm(rows) : ""}
    </section>`;
    const select = root.querySelector('[data-testid="train-dataset"]');
    const wanted = params.name && rows.some((row) => row.name === params.name) ? params.name : null;
    if (wanted) { // #/datasets?name=NAME (a run page's link): that row, picked out, and chosen in the form
      const row = root.querySelector(`tr[data-dataset="${CSS.escape(wanted)}"]`);
      row.setAttribute("aria-current", "true");
      row.style.outline = "2px solid var(--accent, #2563eb)";
      row.scrollIntoView({ block: "center" });
      if (select) select.value = wanted;
    }
    if (select) checkSelected(select.value);
  }

  // The offline runner's form: Start stays disabled until the chosen dataset's hashes match.
  function trainForm(rows) {
    const algos = ["discrete_cql", "discrete_bc", "cql", "iql", "td3plusbc", "bc"];
    return `<div class="panel" data-testid="train-offline"><h2>Train offline (d3rlpy)</h2>
      <label>Dataset <select data-testid="train-dataset">${rows.map((r) => `<option value="${esc(r.name)}">${esc(r.name)}</option>`).join("")}</select></label>
      <label>Algorithm <select data-testid="train-algo"><option value="">auto</option>${algos.map((a) => `<option>${a}</option>`).join("")}</select></label>
      <label>Gradient steps <input type="number" min="1" value="2000" data-testid="train-steps"></label>
      <span data-testid="train-integrity" class="muted">checking…</span>
      <button data-testid="train-start" disabled>Start</button></div>`;
  }

  async function checkSelected(name) {
    const start = root.querySelector('[data-testid="train-start"]');
    const badge = root.querySelector('[data-testid="train-integrity"]');
    if (!start) return;
    start.disabled = true;
    try {
      const row = await api(`/api/datasets/${encodeURIComponent(name)}/verify`, { method: "POST" });
      if (disposed) return;
      badge.innerHTML = integrityBadge(row);
      start.disabled = row.integrity !== "ok";
    } catch (err) {
      badge.textContent = err.message || String(err);
    }
  }

  root.addEventListener("change", (e) => {
    if (e.target.dataset.testid === "train-dataset") checkSelected(e.target.value);
  });

  root.addEventListener("click", async (e) => {
    if (e.target.dataset.testid === "train-start") {
      const name = root.querySelector('[data-testid="train-dataset"]').value;
      const body = { steps: Number(root.querySelector('[data-testid="train-steps"]').value) || 2000 };
      const algo = root.querySelector('[data-testid="train-algo"]').value;
      if (algo) body.algo = algo;
      try {
        const run = await api(`/api/datasets/${encodeURIComponent(name)}/train`, { method: "POST", body });
        window.location.hash = `#/runs/${encodeURIComponent(run.run_id)}`;
      } catch (err) {
        toast(err.message || String(err), { kind: "error" });
      }
      return;
    }
    const button = e.target.closest("button[data-action]");
    const tr = e.target.closest("tr[data-dataset]");
    if (!button || !tr) return;
    const name = tr.dataset.dataset;
    const path = `/api/datasets/${encodeURIComponent(name)}`;
    try {
      if (button.dataset.action === "verify") {
        const row = await api(`${path}/verify`, { method: "POST" });
        toast(row.integrity === "ok" ? `${name}: intact` : `${name}: ${row.problems.join("; ")}`,
          { kind: row.integrity === "ok" ? "info" : "error" });
      } else if (window.confirm(`Delete dataset ${name} and its files?`)) {
        await api(path, { method: "DELETE" });
        toast(`${name} deleted`);
      }
    } catch (err) {
      toast(err.message || String(err), { kind: "error" });
    }
    render();
  });
  render();
  return () => { disposed = true; };
}
