// Retention: disk used by runs and by datasets, the largest runs, the datasets, the rules in force,
// and what `rlops gc --apply` would delete now (datasets are never pruned: `rlops dataset rm`).

import { api } from "./api.js";
import { errorPanel, loading, runHref } from "./dom.js";
import { bytes, esc, statusBadge, DASH } from "./format.js";

const RULES = [
  ["max_videos_per_run", "videos kept per run", "orchestrator.max_videos_per_run"],
  ["max_runs_per_agent", "finished runs kept per env and algorithm", "orchestrator.max_runs_per_agent"],
  ["max_age_days", "finished runs older than this many days are pruned", "orchestrator.max_age_days"],
  ["keep_top_n", "best models kept per env and algorithm", "registry.keep_top_n"],
  ["registry_max_age_days", "models older than this many days are pruned", "registry.max_age_days"],
];

export function mount(root) {
  let disposed = false;
  root.innerHTML = loading("Measuring disk use…");

  (async () => {
    let r;
    try {
      r = await api("/api/retention");
    } catch (err) {
      if (!disposed) root.innerHTML = errorPanel(err, "Could not read retention status");
      return;
    }
    if (disposed) return;
    const runs = (r.runs ?? []).slice().sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0));
    const top = runs.slice(0, 50);
    const max = Math.max(1, ...top.map((x) => x.bytes ?? 0));
    const used = r.total_bytes ?? runs.reduce((a, x) => a + (x.bytes ?? 0), 0);
    const bars = top.length ? top.map((x) => `<div class="bar-row" data-run-id="${esc(x.run_id)}">
        <span class="name"><a href="${esc(runHref(x.run_id))}" title="${esc(x.run_dir ?? x.run_id)}">${esc(x.run_id)}</a></span>
        <span class="bar-track" title="${esc(bytes(x.bytes))}"><span class="bar-fill" style="display:block;width:${(((x.bytes ?? 0) / max) * 100).toFixed(1)}%"></span></span>
        <span class="num">${esc(bytes(x.bytes))}</span>
        <span class="muted">${statusBadge(x.status)} ${esc(x.videos ?? "")}</span></div>`).join("")
      : `<div class="empty">No runs on disk.</div>`;
    const datasets = (r.datasets ?? []).slice().sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0));
    const datasetsUsed = r.datasets_bytes ?? datasets.reduce((a, x) => a + (x.bytes ?? 0), 0);
    const datasetBars = datasets.map((x) => `<div class="bar-row" data-dataset="${esc(x.name)}">
        <span class="name"><a href="#/datasets?name=${encodeURIComponent(x.name)}" title="${esc(x.path)}">${esc(x.name)}</a></span>
        <span class="bar-track" title="${esc(bytes(x.bytes))}"><span class="bar-fill" style="display:block;width:${(((x.bytes ?? 0) / Math.max(1, datasets[0].bytes ?? 0)) * 100).toFixed(1)}%"></span></span>
        <span class="num">${esc(bytes(x.bytes))}</span><span class="muted">${esc(x.env_id ?? "")}</span></div>`).join("");
    const rules = r.rules ?? {};
    const rulesHtml = `<table class="kv">${RULES.map(([key, what, option]) => {
      const v = rules[key];
      return `<tr><td title="${esc(option)}">${esc(key)}</td><td>${v === null || v === undefined ? `<span class="muted">off</span>` : esc(v)}
        <div class="muted" style="font-family:var(--font)">${esc(what)} · <code>${esc(option)}</code></div></td></tr>`;
    }).join("")}</table>`;
    const plan = r.plan ?? [];
    const pruning = plan.filter((p) => !p.kept_because);
    const showKept = plan.some((p) => p.kept_because);
    const planHtml = plan.length
      ? `<table class="grid compact"><thead><tr><th>Run</th><th>Path</th><th>Kind</th><th class="num">Size</th><th>Why</th>${showKept ? "<th>Kept because</th>" : ""}</tr></thead>
        <tbody>${plan.map((p) => `<tr><td class="mono">${p.run_id ? `<a href="${esc(runHref(p.run_id))}">${esc(p.run_id)}</a>` : DASH}</td>
          <td class="mono" title="${esc(p.path)}">${esc(p.path)}</td><td><span class="kind">${esc(p.kind ?? "")}</span></td>
          <td class="num">${esc(bytes(p.bytes))}</td><td>${esc(p.why ?? "")}</td>${showKept ? `<td class="muted">${esc(p.kept_because ?? "")}</td>` : ""}</tr>`).join("")}</tbody></table>`
      : `<div class="empty" data-testid="plan-empty">Nothing to prune: every run and model is within the rules.</div>`;
    root.innerHTML = `<section class="page retention-page">
      <div class="page-head"><h1>Retention &amp; disk use</h1></div>
      <div class="panel"><div class="disk">
        <div><div class="muted">used by runs</div><div class="big" data-testid="disk-use">${esc(bytes(used))}</div></div>
        <div><div class="muted">free on the disk</div><div class="big" data-testid="disk-free">${esc(bytes(r.free_bytes))}</div></div>
        <div><div class="muted">used by datasets</div><div class="big" data-testid="datasets-disk-use">${esc(bytes(datasetsUsed))}</div></div>
        <div><div class="muted">runs on disk</div><div class="big">${runs.length}</div></div>
        <div><div class="muted">gc would free</div><div class="big" data-testid="plan-bytes">${esc(bytes(r.plan_bytes ?? pruning.reduce((a, p) => a + (p.bytes ?? 0), 0)))}</div></div>
        ${r.root ? `<div class="muted" style="align-self:flex-end">under <code>${esc(r.root)}</code></div>` : ""}
      </div></div>
      <div class="retention-grid" style="margin-top:12px">
        <div>
          <div class="panel"><h2>Largest runs <span class="muted">${runs.length > 50 ? `top 50 of ${runs.length}` : ""}</span></h2>
            <div class="bars" data-testid="disk-bars">${bars}</div></div>
          ${datasets.length ? `<div class="panel"><h2>Datasets <span class="muted">kept until <code>rlops dataset rm</code></span></h2>
            <div class="bars" data-testid="dataset-bars">${datasetBars}</div></div>` : ""}
          <div class="panel" data-testid="gc-plan"><h2>What <code>rlops gc --apply</code> would delete now</h2>${planHtml}</div>
        </div>
        <div class="panel" data-testid="rules"><h2>Rules in force</h2>${rulesHtml}</div>
      </div></section>`;
  })();

  return () => {
    disposed = true;
  };
}
