// Compare runs: one colored series per run on shared charts (the episode return, as the mean of
// the last 100 episodes, and a chosen metric), their summaries side by side, and the options in
// which they differ. A run is only asked for a metric it has (an A2C run has no train/loss).

import { api, apiOr, encodePath, runPath } from "./api.js";
import { Chart, PALETTE } from "./charts.js";
import { errorPanel, hashParams, loading, runHref, toast } from "./dom.js";
import { duration, elapsed, esc, flatten, num, show, si, statusBadge } from "./format.js";

const MAX_POINTS = 2000;
const RECENT = 100; // episodes in the running mean, as SB3's ep_rew_mean and W&B's headline

/** The mean of the last `window` values at each point. */
export function runningMean(values, window = RECENT) {
  const out = [];
  let total = 0;
  values.forEach((v, i) => {
    total += v - (i >= window ? values[i - window] : 0);
    out.push(total / Math.min(i + 1, window));
  });
  return out;
}

export function mount(root, params) {
  const ids = [...new Set(String(params.ids ?? "").split(",").map((s) => s.trim()).filter(Boolean))];
  const charts = [];
  let keysOf = new Map(); // run id -> the metric keys it has
  let disposed = false;
  if (ids.length < 1) {
    root.innerHTML = `<section class="page"><div class="panel empty"><p>Choose runs to compare on the <a href="#/">runs page</a> (tick two or more, then Compare).</p></div></section>`;
    return () => {};
  }
  root.innerHTML = loading(`Loading ${ids.length} runs…`);

  (async () => {
    const loaded = await Promise.all(ids.map((id) => api(runPath(id)).catch((err) => ({ run_id: id, __error: err }))));
    if (disposed) return;
    const runs = loaded.filter((r) => !r.__error);
    const missing = loaded.filter((r) => r.__error);
    for (const m of missing) toast(m.__error);
    if (!runs.length) {
      root.innerHTML = errorPanel(missing[0]?.__error ?? new Error("no runs"), "Nothing to compare");
      return;
    }
    const color = new Map(runs.map((r, i) => [r.run_id, PALETTE[i % PALETTE.length]]));
    const keyLists = await Promise.all(runs.map((r) => apiOr(`${runPath(r.run_id)}/metrics`, [])));
    if (disposed) return;
    const allKeys = [...new Set(keyLists.flat())].sort();
    keysOf = new Map(runs.map((r, i) => [r.run_id, new Set(keyLists[i])]));
    // The default is a key every run has, so no run's line is missing from the first view.
    const shared = allKeys.filter((k) => runs.every((r) => keysOf.get(r.run_id).has(k)));
    const defaultKey = ["rollout/ep_rew_mean", "train/value_loss", "train/loss", "entropy_mean", "sps"]
      .find((k) => shared.includes(k)) ?? shared[0] ?? allKeys[0] ?? "";
    const chosen = params.key && allKeys.includes(params.key) ? params.key : defaultKey;

    const legend = runs.map((r) => `<span class="item"><span class="swatch" style="background:${color.get(r.run_id)}"></span>
      <a href="${esc(runHref(r.run_id))}">${esc(r.run_id)}</a></span>`).join("");
    root.innerHTML = `<section class="page compare-page">
      <div class="page-head"><h1>Compare <span class="count muted">${runs.length} runs</span></h1>
        <div class="toolbar"><a class="btn" href="#/">Back to runs</a></div></div>
      <div class="legend" data-testid="compare-legend">${legend}</div>
      <div class="charts">
        <div data-testid="compare-chart"></div>
        <div data-testid="compare-chart-extra"></div>
      </div>
      <div class="charts-toolbar"><h2>Runs</h2></div>
      <div class="table-wrap">${summaryTable(runs, color)}</div>
      <div class="charts-toolbar"><h2>Options that differ</h2></div>
      <div class="table-wrap">${diffTable(runs)}</div>
    </section>`;
    const series = runs.map((r) => ({ label: r.run_id, color: color.get(r.run_id) }));
    const reward = new Chart(root.querySelector('[data-testid="compare-chart"]'), {
      name: "compare-reward", title: `episode return (mean of last ${RECENT})`, yLabel: "return", height: 280, series,
      toggles: true,
    });
    const select = `<select data-testid="compare-key" aria-label="metric">${allKeys.map((k) =>
      `<option value="${esc(k)}"${k === chosen ? " selected" : ""}>${esc(k)}</option>`).join("")}</select>`;
    const extra = new Chart(root.querySelector('[data-testid="compare-chart-extra"]'), {
      name: "compare-extra", title: "", height: 280, series, actions: select, toggles: true,
    });
    charts.push(reward, extra);
    root.querySelector('[data-testid="compare-key"]').addEventListener("change", (e) => {
      const url = new URL(window.location.href);
      const p = hashParams();
      p.set("key", e.target.value);
      url.hash = "#/compare?" + p.toString().replace(/%2C/g, ",");
      window.history.replaceState(null, "", url);
      fill(extra, runs, e.target.value);
    });
    fillReturns(reward, runs);
    if (chosen) fill(extra, runs, chosen);
    else extra.scheduleDraw();
  })().catch((err) => {
    if (!disposed) root.innerHTML = errorPanel(err, "Could not compare");
  });

  async function fillReturns(chart, runs) {
    const episodes = await Promise.all(runs.map((r) => apiOr(`${runPath(r.run_id)}/episodes?limit=${MAX_POINTS}`, [])));
    if (disposed) return;
    const arrival = performance.now();
    episodes.forEach((list, i) => chart.setSeries(i, list.map((e) => e.env_steps), runningMean(list.map((e) => e.return)), arrival));
  }

  async function fill(chart, runs, key) {
    chart.container.querySelector("h3").textContent = chart.name === "compare-extra" ? "" : key;
    chart.opts.yLabel = key; // the y axis is titled with the metric chosen
    chart.rebuild = true;
    const empty = { steps: [], values: [] };
    const data = await Promise.all(runs.map((r) => (keysOf.get(r.run_id)?.has(key)
      ? apiOr(`${runPath(r.run_id)}/metrics/${encodePath(key)}?max_points=${MAX_POINTS}`, empty) : empty)));
    if (disposed) return;
    const arrival = performance.now();
    data.forEach((d, i) => chart.setSeries(i, d.steps ?? [], d.values ?? [], arrival));
  }

  return () => {
    disposed = true;
    for (const c of charts) c.destroy();
  };
}

function summaryTable(runs, color) {
  const rows = runs.map((r) => `<tr data-run-id="${esc(r.run_id)}">
    <td><span class="swatch" style="display:inline-block;width:10px;height:10px;border-radius:2px;background:${color.get(r.run_id)}"></span></td>
    <td class="mono"><a href="${esc(runHref(r.run_id))}">${esc(r.run_id)}</a></td><td>${statusBadge(r.status)}</td>
    <td>${esc(r.env_id ?? "")}</td><td>${esc(r.algorithm ?? "")}</td>
    <td class="num">${duration(elapsed(r))}</td><td class="num">${si(r.env_steps)}</td>
    <td class="num">${num(r.recent_return)}</td><td class="num">${num(r.best_eval)}</td><td class="num">${si(r.sps)}</td></tr>`).join("");
  return `<table class="grid"><thead><tr><th></th><th>Run</th><th>Status</th><th>Env</th><th>Algo</th>
    <th class="num">Elapsed</th><th class="num">Steps</th><th class="num" title="mean return of the last 100 training episodes">Return (last 100)</th><th class="num">Best eval</th><th class="num">SPS</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

const NOISE = /^(ui|serve|infer|orchestrator)\.|\.seed$|run_name$/;

function diffTable(runs) {
  const flat = runs.map((r) => new Map(flatten(r.config ?? {})));
  const keys = [...new Set(flat.flatMap((m) => [...m.keys()]))].sort();
  const differing = keys.filter((k) => !NOISE.test(k) && new Set(flat.map((m) => JSON.stringify(m.get(k) ?? null))).size > 1);
  if (!differing.length) return `<div class="empty">The runs share all their options${runs.length < 2 ? "" : " (seeds aside)"}.</div>`;
  return `<table class="grid diff"><thead><tr><th>Option</th>${runs.map((r) => `<th class="mono">${esc(r.run_id)}</th>`).join("")}</tr></thead>
    <tbody>${differing.map((k) => `<tr><td class="mono">${esc(k)}</td>${flat.map((m) => `<td class="mono differs">${esc(show(m.get(k)))}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}
