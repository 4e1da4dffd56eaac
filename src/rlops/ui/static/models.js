// The checkpoint browser: registry models as cards grouped by env and algorithm, with their
// reward, validation, file integrity and stage; import, evaluate, validate, promote, deploy, warm
// start. A model with no evaluation is offered Evaluate (rlops eval --model-id), not a red
// "failed: evaluated" with nothing to do about it.

import { api, apiOr } from "./api.js";
import { errorPanel, loading, runHref, toast } from "./dom.js";
import { ago, datetime, esc, num, shortHash, si, DASH } from "./format.js";

const STAGES = ["production", "staging", "archived", "none"];

/** validation: a list of rules (or its JSON text, or {rule: {...}}) → [{rule, held, message}] */
export function rules(validation) {
  let v = validation;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      return [];
    }
  }
  if (!v) return [];
  const list = Array.isArray(v) ? v : Array.isArray(v.rules) ? v.rules
    : Object.entries(v).map(([rule, r]) => (typeof r === "object" ? { rule, ...r } : { rule, held: Boolean(r) }));
  return list.map((r) => ({
    rule: r.rule ?? r.name ?? "rule",
    held: r.held ?? r.passed ?? r.ok ?? false,
    message: r.message ?? (r.threshold !== undefined ? `threshold ${r.threshold}` : ""),
  }));
}

const evaluated = (m) => typeof m.mean_reward === "number";

function validationBadge(m) {
  const list = rules(m.validation);
  const failed = list.filter((r) => !r.held);
  const title = list.map((r) => `${r.held ? "✓" : "✗"} ${r.rule}: ${r.message}`).join("\n");
  if (m.validated === true || m.validated === 1) return `<span class="badge good" data-testid="validation" title="${esc(title)}">validated</span>`;
  if (!evaluated(m)) {
    return `<span class="badge warn" data-testid="validation" title="${esc(title || "validation needs a score: Evaluate it first")}">needs an evaluation</span>`;
  }
  if (failed.length) {
    return `<span class="badge bad" data-testid="validation" title="${esc(title)}">failed: ${esc(failed.map((r) => r.rule).join(", "))}</span>`;
  }
  return `<span class="badge plain" data-testid="validation" title="${esc(title || "not validated yet")}">not validated</span>`;
}

function integrityBadge(m) {
  const i = m.integrity;
  if (!i) return "";
  if (i.ok) return `<span class="badge good" data-testid="integrity" title="checkpoint files match their sha256">files ok</span>`;
  const problems = i.problem ? [i.problem] : Array.isArray(i.problems) ? i.problems : [];
  const text = problems.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("; ") || "files do not match";
  return `<span class="badge bad" data-testid="integrity" title="${esc(text)}">${esc(text)}</span>`;
}

function card(m) {
  const stage = m.deployment_status || "none";
  const reward = typeof m.mean_reward === "number"
    ? `<div class="reward">${esc(num(m.mean_reward))} <small>± ${esc(num(m.std_reward ?? 0, 3))} over ${esc(m.eval_episodes ?? "?")} episodes</small></div>`
    : `<div class="reward muted"><small>not evaluated</small></div>`;
  const tags = m.tags && typeof m.tags === "object" && Object.keys(m.tags).length
    ? `<dt>tags</dt><dd title="${esc(JSON.stringify(m.tags))}">${esc(Object.entries(m.tags).map(([k, v]) => `${k}=${v}`).join(" "))}</dd>` : "";
  return `<article class="card${stage === "production" ? " production" : ""}" data-testid="model-card" data-model-id="${esc(m.id)}">
    <div class="card-head"><span class="id">#${esc(m.id)}</span>
      <span class="badge stage-${esc(stage)}" data-testid="model-stage">${esc(stage)}</span>
      ${validationBadge(m)}${integrityBadge(m)}</div>
    ${reward}
    <dl class="meta">
      <dt>steps</dt><dd title="${esc(m.total_timesteps ?? "")}">${esc(si(m.total_timesteps))}</dd>
      <dt>run</dt><dd>${m.run_id ? `<a href="${esc(runHref(m.run_id))}" title="${esc(m.run_id)}">${esc(m.run_id)}</a>` : DASH}</dd>
      <dt>created</dt><dd title="${esc(datetime(m.created ?? m.timestamp))}">${esc(ago(m.created ?? m.timestamp))}</dd>
      ${m.parent_model_id ? `<dt>lineage</dt><dd data-testid="lineage">from #${esc(m.parent_model_id)}</dd>` : ""}
      <dt>sha256</dt><dd title="${esc(m.sha256 ?? "")}">${esc(shortHash(m.sha256, 16))}</dd>
      <dt>path</dt><dd title="${esc(m.model_path ?? "")}">${esc(m.model_path ?? DASH)}</dd>
      ${tags}
    </dl>
    <div class="actions">
      ${evaluated(m) ? "" : `<button type="button" class="btn btn-small btn-primary" data-testid="evaluate" title="play eval.episodes episodes and record the score, then apply the validation rules (rlops eval --model-id ${esc(m.id)})">Evaluate</button>`}
      <button type="button" class="btn btn-small" data-testid="validate">Validate</button>
      <select data-testid="promote-to" aria-label="stage">${STAGES.map((s) => `<option value="${s}"${s === (stage === "production" ? "staging" : "production") ? " selected" : ""}>${s}</option>`).join("")}</select>
      <button type="button" class="btn btn-small" data-testid="promote">Promote</button>
      <button type="button" class="btn btn-small btn-primary" data-testid="deploy" title="promote to production; a policy server following production swaps to it">Deploy</button>
      <a class="warm-link" href="#/new?init_from=${encodeURIComponent(m.id)}" data-testid="warm-start">Warm start from this →</a>
    </div></article>`;
}

function servingHtml(s) {
  if (!s) return `<div class="muted">the server does not report serving (GET /api/serving)</div>`;
  const serving = s.serving;
  const model = serving && typeof serving === "object"
    ? (serving.model_id ?? serving.id ?? serving.model?.id) : null;
  const rows = [
    ["url", `<a href="${esc(s.url)}" target="_blank" rel="noopener">${esc(s.url)}</a>`],
    ["reachable", s.reachable ? `<span class="badge good">reachable</span>` : `<span class="badge bad">not reachable</span>`],
    ["serving", model !== null && model !== undefined ? `model #${esc(model)}` : serving ? esc(JSON.stringify(serving)) : DASH],
    // the policy server's own setting, as it reports it (the dashboard's serve.hotswap may differ)
    ["hot swap", `<span data-testid="serving-hotswap">${esc(s.hotswap ?? DASH)}</span>`],
  ];
  const extra = serving && typeof serving === "object"
    ? Object.entries(serving).filter(([k]) => !["model_id", "id", "hotswap"].includes(k)).slice(0, 6)
      .map(([k, v]) => [k, esc(typeof v === "object" ? JSON.stringify(v) : String(v))]) : [];
  return `<dl>${rows.concat(extra).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>
    ${s.reachable ? "" : `<div class="muted" style="margin-top:6px">start one with <code>rlops serve</code></div>`}`;
}

export function mount(root) {
  let disposed = false;
  let models = [];
  root.innerHTML = `<section class="page models-page">
    <div class="page-head"><h1>Models <span class="count muted" data-count></span></h1>
      <div class="toolbar"><input type="search" data-testid="models-filter" placeholder="filter env, algorithm, run, stage…" aria-label="filter">
        <select data-testid="stage-filter" aria-label="stage"><option value="">all stages</option>${STAGES.map((s) => `<option value="${s}">${s}</option>`).join("")}</select></div></div>
    <div class="models-top">
      <div class="panel"><h2>Import a checkpoint</h2>
        <div class="import-bar"><input data-testid="import-path" placeholder="/abs/path/to/checkpoint or run directory" spellcheck="false">
          <button type="button" class="btn btn-primary" data-testid="import-button">Import</button></div>
        <div class="muted" style="margin-top:6px">registers it (with its sha256) so it can be validated, promoted and served</div>
        <div class="import-result" data-testid="import-result" role="status"></div></div>
      <div class="panel serving" data-testid="serving"><h2>Serving</h2><div data-serving>${loading()}</div></div>
    </div>
    <div data-groups>${loading("Loading models…")}</div></section>`;
  const groupsEl = root.querySelector("[data-groups]");
  const filter = root.querySelector('[data-testid="models-filter"]');
  const stageFilter = root.querySelector('[data-testid="stage-filter"]');
  const importPath = root.querySelector('[data-testid="import-path"]');
  const importBtn = root.querySelector('[data-testid="import-button"]');

  function render() {
    const text = filter.value.trim().toLowerCase();
    const stage = stageFilter.value;
    const shown = models.filter((m) => (!stage || (m.deployment_status || "none") === stage) &&
      (!text || `${m.env_id} ${m.algorithm} ${m.run_id} ${m.deployment_status} #${m.id}`.toLowerCase().includes(text)));
    root.querySelector("[data-count]").textContent = models.length ? String(models.length) : "";
    if (!models.length) {
      groupsEl.innerHTML = `<div class="panel empty" data-testid="models-empty"><p>No models in the registry yet.</p>
        <p class="muted">a run registers its checkpoints as it trains — start one (New run), or import a checkpoint above.</p></div>`;
      return;
    }
    if (!shown.length) {
      groupsEl.innerHTML = `<div class="empty">No models match.</div>`;
      return;
    }
    const byEnv = new Map();
    for (const m of shown) {
      const env = m.env_id ?? "unknown env";
      const algo = m.algorithm ?? "unknown algorithm";
      if (!byEnv.has(env)) byEnv.set(env, new Map());
      const byAlgo = byEnv.get(env);
      if (!byAlgo.has(algo)) byAlgo.set(algo, []);
      byAlgo.get(algo).push(m);
    }
    const stageRank = { production: 0, staging: 1, none: 2, archived: 3 };
    groupsEl.innerHTML = [...byEnv.keys()].sort().map((env) => {
      const byAlgo = byEnv.get(env);
      const n = [...byAlgo.values()].reduce((a, l) => a + l.length, 0);
      return `<section class="group" data-env="${esc(env)}"><h2 data-testid="model-group">${esc(env)} <span class="muted">${n} model${n === 1 ? "" : "s"}</span></h2>
        ${[...byAlgo.keys()].sort().map((algo) => {
          const list = byAlgo.get(algo).slice().sort((a, b) =>
            (stageRank[a.deployment_status || "none"] ?? 2) - (stageRank[b.deployment_status || "none"] ?? 2) ||
            (b.mean_reward ?? -Infinity) - (a.mean_reward ?? -Infinity) || b.id - a.id);
          return `<h3 data-algorithm="${esc(algo)}">${esc(algo)}</h3><div class="cards">${list.map(card).join("")}</div>`;
        }).join("")}</section>`;
    }).join("");
  }

  async function load() {
    try {
      const rows = await api("/api/models?verify_files=true");
      if (disposed) return;
      models = rows ?? [];
      render();
    } catch (err) {
      if (!disposed) groupsEl.innerHTML = errorPanel(err, "Could not load the registry");
    }
  }

  async function loadServing() {
    const s = await apiOr("/api/serving", null);
    if (!disposed) root.querySelector("[data-serving]").innerHTML = servingHtml(s);
  }

  async function act(btn, fn) {
    btn.disabled = true;
    const label = btn.textContent;
    btn.textContent = "…";
    try {
      await fn();
    } catch (err) {
      toast(err);
    } finally {
      btn.disabled = false;
      btn.textContent = label;
    }
    await load();
  }

  groupsEl.addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-testid]");
    if (!btn) return;
    const cardEl = btn.closest('[data-testid="model-card"]');
    const mid = cardEl.dataset.modelId;
    const path = `/api/models/${encodeURIComponent(mid)}`;
    if (btn.dataset.testid === "evaluate") {
      act(btn, async () => {
        const r = await api(`${path}/evaluate`, { method: "POST" });
        const e = r?.eval ?? {};
        const v = r?.validation;
        const verdict = v ? (v.validated ? "validated" : `not validated: ${(v.failed ?? []).join("; ")}`) : "";
        toast(`model #${mid}: mean reward ${num(e.mean_reward)} ± ${num(e.std_reward ?? 0, 3)} over ${e.episodes ?? "?"} episodes${verdict ? `; ${verdict}` : ""}`,
          { kind: v && v.validated ? "success" : "info", timeout: 8000 });
      });
    } else if (btn.dataset.testid === "validate") {
      const unscored = !evaluated(models.find((m) => String(m.id) === mid) ?? {});
      act(btn, async () => {
        const r = await api(`${path}/validate`, { method: "POST" });
        const list = rules(r?.validation ?? r?.rules ?? r);
        const failed = list.filter((x) => !x.held).map((x) => x.rule);
        const ok = r?.validated ?? r?.ok ?? !failed.length;
        if (!ok && unscored) {
          toast(`model #${mid} has no evaluation yet: Evaluate plays its episodes and records the score, then validates`,
            { kind: "info", timeout: 8000 });
          return;
        }
        toast(ok ? `model #${mid} validated` : `model #${mid} failed validation: ${failed.join(", ") || "see its rules"}`,
          { kind: ok ? "success" : "info" });
      });
    } else if (btn.dataset.testid === "promote") {
      const to = cardEl.querySelector('[data-testid="promote-to"]').value;
      act(btn, async () => {
        const r = await api(`${path}/promote`, { method: "POST", body: { to } });
        const archived = r?.archived?.length ? ` (archived ${r.archived.map((x) => "#" + x).join(", ")})` : "";
        toast(`model #${mid} → ${to}${archived}`, { kind: "success" });
      });
    } else if (btn.dataset.testid === "deploy") {
      act(btn, async () => {
        const r = await api(`${path}/deploy`, { method: "POST" });
        const s = r?.server;
        toast(s && s.reachable
          ? `model #${mid} in production; the policy server at ${s.url} (hot swap: ${s.hotswap}) picks it up`
          : `model #${mid} in production${s ? `; no policy server answers at ${s.url} — start one with: rlops serve` : ""}`,
          { kind: "success", timeout: 8000 });
        if (s && !disposed) root.querySelector("[data-serving]").innerHTML = servingHtml(s);
      });
    }
  });

  const doImport = () => {
    const path = importPath.value.trim();
    if (!path) {
      importPath.setAttribute("aria-invalid", "true");
      toast("give the path of a checkpoint or run directory to import");
      return;
    }
    importPath.removeAttribute("aria-invalid");
    const result = root.querySelector('[data-testid="import-result"]');
    result.className = "import-result";
    result.textContent = "";
    act(importBtn, async () => {
      try {
        const m = await api("/api/models/import", { method: "POST", body: { path } });
        result.classList.add("good");
        result.textContent = `imported as model #${m?.id ?? "?"}`;
        importPath.value = "";
      } catch (err) {
        // kept beside the box, not only in a toast: "registered already as model 4" names where to look
        result.classList.add("bad");
        result.innerHTML = `<div class="message">${esc(err.message)}</div>${err.hint ? `<div class="hint">${esc(err.hint)}</div>` : ""}`;
      }
    });
  };
  importBtn.addEventListener("click", doImport);
  importPath.addEventListener("keydown", (e) => {
    if (e.key === "Enter") doImport();
  });
  filter.addEventListener("input", render);
  stageFilter.addEventListener("change", render);

  load();
  loadServing();
  const timer = setInterval(loadServing, 10000);
  return () => {
    disposed = true;
    clearInterval(timer);
  };
}
