// The runs table: every run, newest first, filtered on the client, updated live row by row.

import { api, apiOr } from "./api.js";
import { runHref, errorPanel, loading } from "./dom.js";
import { ago, datetime, duration, elapsed, esc, num, placement, si, statusBadge, STATUSES, DASH } from "./format.js";
import { subscribeRuns } from "./live.js";

const PAGE = 200; // rows rendered at once; "show more" adds the next page

const COLUMNS = [
  { key: "run_id", label: "Run" },
  { key: "status", label: "Status" },
  { key: "env_id", label: "Env" },
  { key: "algorithm", label: "Algo" },
  { key: "runner", label: "Runner" },
  // where it executes: the backend (local | ray) and the node (a local run's host)
  { key: "node", label: "Node", title: "the backend and the node the run executes on (a local run: this machine's host)" },
  { key: "elapsed", label: "Elapsed", num: true },
  { key: "env_steps", label: "Steps", num: true },
  // the mean of the last 100 episodes, as W&B and TensorBoard headline (one episode is noise)
  { key: "recent_return", label: "Return (last 100)", num: true,
    title: "mean return of the run's last 100 training episodes (fewer while it has fewer)" },
  { key: "best_eval", label: "Best eval", num: true },
  { key: "sps", label: "SPS", num: true },
  { key: "started", label: "Started", num: true },
];

function cellsHtml(run) {
  const id = esc(run.run_id);
  const live = run.status === "running" ? " data-live-elapsed" : "";
  return `<td class="sel"><input type="checkbox" data-testid="compare-select" aria-label="select ${id} to compare"></td>
    <td class="mono name"><a href="${esc(runHref(run.run_id))}">${id}</a>${run.reason ? `<div class="reason muted" title="${esc(run.reason)}">${esc(run.reason)}</div>` : ""}</td>
    <td>${statusBadge(run.status)}</td>
    <td>${esc(run.env_id ?? DASH)}</td>
    <td>${esc(run.algorithm ?? DASH)}</td>
    <td class="muted">${esc(run.runner ?? DASH)}</td>
    ${nodeCell(run)}
    <td class="num"${live}>${duration(elapsed(run))}</td>
    <td class="num" title="${esc(run.env_steps ?? "")}">${si(run.env_steps)}</td>
    <td class="num" data-col="recent-return" title="${esc(recentTitle(run))}">${num(run.recent_return)}</td>
    <td class="num">${num(run.best_eval)}</td>
    <td class="num">${si(run.sps)}</td>
    <td class="num muted" title="${esc(datetime(run.started ?? run.created))}">${ago(run.started ?? run.created)}</td>`;
}

function nodeCell(run) {
  const where = placement(run);
  return `<td class="node" data-col="node" data-backend="${esc(where.backend)}" title="${esc(where.title)}"><span class="badge plain backend">${esc(where.backend)}</span> <span class="mono">${esc(where.node)}</span></td>`;
}

function recentTitle(run) {
  if (!run.recent_episodes) return "no episodes yet";
  return `mean of the last ${run.recent_episodes} episodes; the last one: ${num(run.last_return)}`;
}

function sortValue(run, key) {
  if (key === "elapsed") return elapsed(run) ?? -1;
  if (key === "started") return run.started ?? run.created ?? -1;
  if (key === "node") return `${placement(run).backend} ${placement(run).node}`;
  const v = run[key];
  return v === null || v === undefined ? (COLUMNS.find((c) => c.key === key)?.num ? -Infinity : "") : v;
}

export function mount(root) {
  const state = {
    runs: new Map(), // run_id → summary
    order: [], // run ids, newest first
    selected: new Set(),
    shown: PAGE,
    sort: null, // {key, dir}
    filter: { status: "", runner: "", text: "" },
    visible: [], // ids currently rendered
  };
  root.innerHTML = `<section class="page runs-page">
    <div class="page-head">
      <h1>Runs <span class="count muted" data-count></span></h1>
      <div class="toolbar">
        <select data-testid="status-filter" aria-label="status" name="status-filter"><option value="">all statuses</option>
          ${STATUSES.map((s) => `<option value="${s}">${s}</option>`).join("")}</select>
        <select data-testid="runner-filter" aria-label="runner" name="runner-filter"><option value="">all runners</option></select>
        <input type="search" data-testid="runs-filter" placeholder="filter env, algorithm, run, node…" aria-label="filter">
        <button type="button" class="btn" data-testid="compare-button" disabled title="select two or more runs">Compare</button>
      </div>
    </div>
    <div class="table-wrap" data-body>${loading("Loading runs…")}</div>
  </section>`;
  const body = root.querySelector("[data-body]");
  const statusSel = root.querySelector('[data-testid="status-filter"]');
  const runnerSel = root.querySelector('[data-testid="runner-filter"]');
  const textInput = root.querySelector('[data-testid="runs-filter"]');
  const compareBtn = root.querySelector('[data-testid="compare-button"]');
  const countEl = root.querySelector("[data-count]");
  let tbody = null;
  let disposed = false;

  function matches(run) {
    const f = state.filter;
    if (f.status && run.status !== f.status) return false;
    if (f.runner && run.runner !== f.runner) return false;
    if (f.text) {
      const where = placement(run);
      const hay = `${run.env_id ?? ""} ${run.algorithm ?? ""} ${run.run_id} ${run.runner ?? ""} ${where.backend} ${where.node}`.toLowerCase();
      for (const word of f.text.toLowerCase().split(/\s+/)) if (word && !hay.includes(word)) return false;
    }
    return true;
  }

  function sortedIds() {
    const ids = state.order.filter((id) => matches(state.runs.get(id)));
    if (state.sort) {
      const { key, dir } = state.sort;
      ids.sort((a, b) => {
        const x = sortValue(state.runs.get(a), key);
        const y = sortValue(state.runs.get(b), key);
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
    }
    return ids;
  }

  // Rows of runs that are not running change only when their summary does: their cells are kept.
  const cellCache = new Map(); // run_id → [summary, html]
  function cells(run) {
    if (run.status === "running") return cellsHtml(run);
    const hit = cellCache.get(run.run_id);
    if (hit && hit[0] === run) return hit[1];
    const html = cellsHtml(run);
    cellCache.set(run.run_id, [run, html]);
    return html;
  }

  function rowHtml(run) {
    const sel = state.selected.has(run.run_id);
    return `<tr data-run-id="${esc(run.run_id)}" data-status="${esc(run.status)}"${sel ? ' class="selected"' : ""}>${cells(run)}</tr>`;
  }

  function render() {
    if (!state.order.length) {
      body.innerHTML = `<div class="empty" data-testid="runs-empty"><p>No runs yet — <a href="#/new">start one</a>.</p>
        <p class="muted">or from a terminal: <code>rlops train --env.env-id CartPole-v1</code></p></div>`;
      tbody = null;
      countEl.textContent = "";
      return;
    }
    const ids = sortedIds();
    state.visible = ids.slice(0, state.shown);
    countEl.textContent = ids.length === state.order.length ? `${ids.length}` : `${ids.length} of ${state.order.length}`;
    const head = COLUMNS.map((c) => {
      const sorted = state.sort?.key === c.key ? (state.sort.dir > 0 ? " ▲" : " ▼") : "";
      return `<th data-sort="${c.key}"${c.num ? ' class="num"' : ""}${c.title ? ` title="${esc(c.title)}"` : ""}>${c.label}${sorted}</th>`;
    }).join("");
    const rows = state.visible.map((id) => rowHtml(state.runs.get(id))).join("");
    const more = ids.length > state.visible.length
      ? `<div class="more"><button type="button" class="btn" data-more>Show ${Math.min(PAGE, ids.length - state.visible.length)} more</button>
         <span class="muted">${state.visible.length} of ${ids.length} shown</span></div>` : "";
    const none = ids.length ? "" : `<div class="empty">No runs match the filters.</div>`;
    body.innerHTML = `<table class="grid runs" data-testid="runs-table">
      <thead><tr><th class="sel"><input type="checkbox" data-select-all aria-label="select all shown"></th>${head}</tr></thead>
      <tbody>${rows}</tbody></table>${none}${more}`;
    tbody = body.querySelector("tbody");
    for (const tr of tbody.rows) {
      if (state.selected.has(tr.dataset.runId)) tr.querySelector('[data-testid="compare-select"]').checked = true;
    }
    updateCompare();
  }

  function updateCompare() {
    const n = state.selected.size;
    compareBtn.disabled = n < 2;
    compareBtn.textContent = n ? `Compare (${n})` : "Compare";
    compareBtn.title = n < 2 ? "select two or more runs" : `compare ${n} runs`;
  }

  function rowFor(id) {
    if (!tbody) return null;
    for (const tr of tbody.rows) if (tr.dataset.runId === id) return tr;
    return null;
  }

  function updateRunners() {
    const runners = new Set([...state.runs.values()].map((r) => r.runner).filter(Boolean));
    const have = new Set([...runnerSel.options].map((o) => o.value));
    for (const r of [...runners].sort()) {
      if (!have.has(r)) runnerSel.add(new Option(r, r));
    }
  }

  // Live updates: change only the rows whose summary changed; a new run re-renders (rare).
  function apply(summaries) {
    if (disposed) return;
    let structural = false;
    const changed = [];
    for (const s of summaries) {
      const old = state.runs.get(s.run_id);
      if (!old) {
        state.runs.set(s.run_id, s);
        state.order.push(s.run_id);
        structural = true;
        continue;
      }
      if (JSON.stringify(old) === JSON.stringify({ ...old, ...s })) continue;
      const merged = { ...old, ...s };
      state.runs.set(s.run_id, merged);
      if (matches(old) !== matches(merged) || state.sort) structural = true;
      else changed.push(merged);
    }
    if (structural) {
      state.order.sort((a, b) => (state.runs.get(b).created ?? 0) - (state.runs.get(a).created ?? 0));
      updateRunners();
      render();
      return;
    }
    const byId = new Map(changed.map((r) => [r.run_id, r]));
    if (!byId.size || !tbody) return;
    for (const tr of tbody.rows) {
      const run = byId.get(tr.dataset.runId);
      if (!run) continue;
      tr.dataset.status = run.status;
      tr.innerHTML = cells(run);
      if (state.selected.has(run.run_id)) tr.querySelector('[data-testid="compare-select"]').checked = true;
    }
  }

  // Events, delegated once.
  statusSel.addEventListener("change", () => { state.filter.status = statusSel.value; state.shown = PAGE; render(); });
  runnerSel.addEventListener("change", () => { state.filter.runner = runnerSel.value; state.shown = PAGE; render(); });
  textInput.addEventListener("input", () => { state.filter.text = textInput.value.trim(); state.shown = PAGE; render(); });
  compareBtn.addEventListener("click", () => {
    if (state.selected.size < 2) return;
    window.location.hash = "#/compare?ids=" + [...state.selected].map(encodeURIComponent).join(",");
  });
  body.addEventListener("click", (e) => {
    const target = e.target;
    if (target.matches("[data-more]")) {
      state.shown += PAGE;
      render();
      return;
    }
    const th = target.closest("th[data-sort]");
    if (th) {
      const key = th.dataset.sort;
      // first click: the natural order (numbers high first); second: reversed; third: newest first
      const first = COLUMNS.find((c) => c.key === key).num ? -1 : 1;
      if (state.sort?.key !== key) state.sort = { key, dir: first };
      else if (state.sort.dir === first) state.sort = { key, dir: -first };
      else state.sort = null;
      render();
      return;
    }
    if (target.matches("[data-select-all]")) {
      for (const id of state.visible) target.checked ? state.selected.add(id) : state.selected.delete(id);
      for (const tr of tbody.rows) {
        tr.querySelector('[data-testid="compare-select"]').checked = target.checked;
        tr.classList.toggle("selected", target.checked);
      }
      updateCompare();
      return;
    }
    const tr = target.closest("tr[data-run-id]");
    if (!tr) return;
    if (target.closest("td.sel")) {
      const box = tr.querySelector('[data-testid="compare-select"]');
      if (target !== box) box.checked = !box.checked;
      box.checked ? state.selected.add(tr.dataset.runId) : state.selected.delete(tr.dataset.runId);
      tr.classList.toggle("selected", box.checked);
      updateCompare();
      return;
    }
    if (target.closest("a")) return; // the link navigates itself
    if (window.getSelection()?.toString()) return; // selecting text is not a click
    window.location.hash = runHref(tr.dataset.runId);
  });

  // Elapsed ticks for running rows, once a second, touching only those cells.
  let ticks = 0;
  const ticker = setInterval(() => {
    if (++ticks % 60 === 0) cellCache.clear(); // "5m ago" moves on
    if (!tbody) return;
    for (const td of tbody.querySelectorAll("td[data-live-elapsed]")) {
      const run = state.runs.get(td.parentElement.dataset.runId);
      if (run) td.textContent = duration(elapsed(run));
    }
  }, 1000);

  let unsubscribe = null;
  (async () => {
    try {
      const [runs, runners] = await Promise.all([api("/api/runs?limit=10000"), apiOr("/api/runners", [])]);
      if (disposed) return;
      for (const r of runs) {
        state.runs.set(r.run_id, r);
        state.order.push(r.run_id);
      }
      for (const r of runners) if (r.name) runnerSel.add(new Option(r.name, r.name));
      updateRunners();
      render();
      unsubscribe = subscribeRuns(apply);
    } catch (err) {
      if (!disposed) body.innerHTML = errorPanel(err, "Could not load runs");
    }
  })();

  return () => {
    disposed = true;
    clearInterval(ticker);
    unsubscribe?.();
  };
}
